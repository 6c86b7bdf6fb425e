package hub

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	workv1 "open-cluster-management.io/api/work/v1"
)

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	return o
}

func TestUndeclaredNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []*unstructured.Unstructured
		want []string
	}{
		{"none", nil, nil},
		{"cluster-scoped only", []*unstructured.Unstructured{obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r")}, nil},
		{"helm release namespace", []*unstructured.Unstructured{obj("v1", "ConfigMap", "web", "a"), obj("apps/v1", "Deployment", "web", "d")}, []string{"web"}},
		{"declared", []*unstructured.Unstructured{obj("v1", "Namespace", "", "web"), obj("v1", "ConfigMap", "web", "a")}, nil},
		{"declared after use", []*unstructured.Unstructured{obj("v1", "ConfigMap", "web", "a"), obj("v1", "Namespace", "", "web")}, nil},
		{"some declared, sorted", []*unstructured.Unstructured{obj("v1", "ConfigMap", "zeta", "a"), obj("v1", "Namespace", "", "web"),
			obj("v1", "ConfigMap", "web", "b"), obj("v1", "Secret", "alpha", "s")}, []string{"alpha", "zeta"}},
		{"a kind named Namespace elsewhere declares nothing", []*unstructured.Unstructured{obj("example.com/v1", "Namespace", "", "web"), obj("v1", "ConfigMap", "web", "a")}, []string{"web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := undeclaredNamespaces(tc.objs); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWithNamespacesPutsThemFirst(t *testing.T) {
	cm := obj("v1", "ConfigMap", "web", "a")
	got := withNamespaces([]*unstructured.Unstructured{cm}, []string{"web"})
	if len(got) != 2 || !isNamespace(got[0]) || got[0].GetName() != "web" || got[0].GetNamespace() != "" || got[1] != cm {
		t.Fatalf("got %v", got)
	}
	if same := withNamespaces([]*unstructured.Unstructured{cm}, nil); len(same) != 1 {
		t.Fatalf("no namespaces changed the objects: %v", same)
	}
}

func TestOrphanNamespaces(t *testing.T) {
	web := workv1.OrphaningRule{Resource: "namespaces", Name: "web"}
	keep := workv1.OrphaningRule{Resource: "configmaps", Namespace: "web", Name: "keep"}
	selective := func(rules ...workv1.OrphaningRule) *workv1.DeleteOption {
		return &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
			SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: rules}}
	}
	for _, tc := range []struct {
		name  string
		opt   *workv1.DeleteOption
		names []string
		want  *workv1.DeleteOption
	}{
		{"no namespaces keeps nil", nil, nil, nil},
		{"nil (Foreground) becomes selective", nil, []string{"web"}, selective(web)},
		{"Foreground becomes selective, TTL kept",
			&workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground, TTLSecondsAfterFinished: ptr.To[int64](5)}, []string{"web"},
			&workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan, TTLSecondsAfterFinished: ptr.To[int64](5),
				SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{web}}}},
		{"Orphan stays", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}, []string{"web"},
			&workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}},
		{"selective gains the rule", selective(keep), []string{"web"}, selective(keep, web)},
		{"selective keeps one copy", selective(web), []string{"web"}, selective(web)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := orphanNamespaces(tc.opt, tc.names); !equalJSON(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// The Subscription's own option is not changed in place.
	spec := selective(keep)
	orphanNamespaces(spec, []string{"web"})
	if len(spec.SelectivelyOrphan.OrphaningRules) != 1 {
		t.Fatalf("the Subscription's delete option was changed: %+v", spec)
	}
}

func TestHeldMarks(t *testing.T) {
	work := func(ns string, annotations map[string]string) *workv1.ManifestWork {
		w := &workv1.ManifestWork{}
		w.Namespace, w.Name, w.Annotations = ns, "fleet.app", annotations
		return w
	}
	held := map[string]string{"c1": "the deletion budget", "c3": "the deletion budget"}
	bare := work("c1", nil)
	heldFalse := work("c3", map[string]string{"apps.open-cluster-management.io/removal-held": "false"})
	marked := work("c2", map[string]string{"apps.open-cluster-management.io/removal-held": "true"})
	current := work("c4", map[string]string{"apps.open-cluster-management.io/removal-held": "true"})
	got := heldMarks(map[string][]*workv1.ManifestWork{
		"c1": {bare}, "c2": {marked}, "c3": {heldFalse}, "c4": {work("c4", nil)},
	}, held)
	if len(got) != 3 || got[bare] == nil || *got[bare] != "true" || got[heldFalse] == nil || *got[heldFalse] != "true" {
		t.Fatalf("marks %v", got)
	}
	if v, ok := got[marked]; !ok || v != nil {
		t.Fatalf("a work no longer held keeps its mark: %v", got)
	}
	if _, ok := got[current]; ok {
		t.Fatal("unrelated work changed")
	}
	// Already right: nothing to write.
	if got := heldMarks(map[string][]*workv1.ManifestWork{"c1": {work("c1", map[string]string{"apps.open-cluster-management.io/removal-held": "true"})}}, held); len(got) != 0 {
		t.Fatalf("marks %v", got)
	}
}
