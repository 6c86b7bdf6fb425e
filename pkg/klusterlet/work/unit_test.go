package work

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/apply"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

func TestFeedbackValues(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"status": map[string]any{
			"succeeded":  int64(3),
			"conditions": []any{map[string]any{"type": "Complete", "status": "True"}},
			"big":        map[string]any{"a": "b"},
		},
	}}
	vals, err := feedbackValues(obj, []workv1.FeedbackRule{
		{Type: workv1.WellKnownStatusType},
		{Type: workv1.JSONPathsType, JsonPaths: []workv1.JsonPath{{Name: "raw", Path: ".status.big"}, {Name: "none", Path: ".status.nope"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vals {
		switch v.Value.Type {
		case workv1.Integer:
			got[v.Name] = "int:" + strconv.FormatInt(*v.Value.Integer, 10)
		case workv1.String:
			got[v.Name] = "str:" + *v.Value.String
		case workv1.JsonRaw:
			got[v.Name] = "raw:" + *v.Value.JsonRaw
		}
	}
	want := map[string]string{"JobComplete": "str:True", "JobSucceeded": "int:3", "raw": `raw:{"a":"b"}`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("feedback = %v, want %v", got, want)
	}
	_, err = feedbackValues(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}},
		[]workv1.FeedbackRule{{Type: workv1.WellKnownStatusType}})
	if err == nil || !strings.Contains(err.Error(), "no well-known status fields for ConfigMap") {
		t.Errorf("well-known status of an unknown kind: %v", err)
	}
}

func TestFindConfigAndOwnership(t *testing.T) {
	id := workv1.ResourceIdentifier{Group: "apps", Resource: "deployments", Namespace: "ns", Name: "web"}
	exact := workv1.ManifestConfigOption{ResourceIdentifier: id}
	wild := workv1.ManifestConfigOption{ResourceIdentifier: workv1.ResourceIdentifier{Group: "apps", Resource: "deployments", Namespace: "*", Name: "w*"}}
	if got := findConfig([]workv1.ManifestConfigOption{wild, exact}, id); got == nil || got.ResourceIdentifier != id {
		t.Errorf("exact match must win: %+v", got)
	}
	if got := findConfig([]workv1.ManifestConfigOption{wild}, id); got == nil {
		t.Error("wildcard not matched")
	}
	if got := findConfig([]workv1.ManifestConfigOption{wild}, workv1.ResourceIdentifier{Group: "apps", Resource: "deployments", Name: "api"}); got != nil {
		t.Errorf("wildcard matched another name: %+v", got)
	}
	orphan := &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
		SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{workv1.OrphaningRule(id)}}}
	if ownedByWork(orphan, id) || !ownedByWork(orphan, workv1.ResourceIdentifier{Name: "other"}) || !ownedByWork(nil, id) ||
		ownedByWork(&workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}, id) {
		t.Error("delete option ownership is wrong")
	}
}

func TestDecodeManifest(t *testing.T) {
	u, err := decodeManifest([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  uid: abc\n  resourceVersion: \"7\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u.GetUID() != "" || u.GetResourceVersion() != "" || u.GetName() != "x" {
		t.Errorf("server fields kept: %v", u.Object)
	}
	if _, err := decodeManifest([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`)); err == nil || !strings.Contains(err.Error(), "no metadata.name") {
		t.Errorf("nameless manifest: %v", err)
	}
}

func TestApplyStages(t *testing.T) {
	mk := func(i int, group, kind string) *manifest {
		return &manifest{ordinal: i, obj: &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind}},
			meta: workv1.ManifestResourceMeta{Group: group, Kind: kind}}
	}
	ms := []*manifest{
		mk(0, "example.com", "Widget"), mk(1, "admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
		mk(2, "", "Namespace"), mk(3, "apiextensions.k8s.io", "CustomResourceDefinition"), mk(4, "", "ConfigMap"),
		{ordinal: 5, err: errors.New("bad")},
	}
	st := applyStages(ms)
	if len(st[stageCRDs]) != 1 || st[stageCRDs][0].ordinal != 3 || len(st[stageNamespaces]) != 1 || st[stageNamespaces][0].ordinal != 2 ||
		len(st[stageLast]) != 1 || st[stageLast][0].ordinal != 1 || len(st[stageObjects]) != 2 {
		t.Errorf("stages = %v", st)
	}
	if st[stageObjects][0].ordinal != 4 {
		t.Errorf("ConfigMaps go before custom resources: %v", st[stageObjects])
	}
}

func TestConditions(t *testing.T) {
	now := metav1.NewTime(time.Now().Add(-time.Hour))
	old := []metav1.Condition{{Type: workv1.ManifestApplied, Status: metav1.ConditionTrue, Reason: ReasonAppliedManifestComplete, LastTransitionTime: now}}
	live := &unstructured.Unstructured{Object: map[string]any{}}
	ok := &outcome{meta: workv1.ManifestResourceMeta{Kind: "ConfigMap", Name: "a", Namespace: "n"}, live: live}
	conds := manifestConditions(old, ok, 3)
	if c := find(conds, workv1.ManifestApplied); !c.LastTransitionTime.Equal(&now) || c.ObservedGeneration != 3 {
		t.Errorf("unchanged condition lost its transition time: %+v", c)
	}
	for typ, want := range map[string]metav1.ConditionStatus{
		workv1.ManifestAvailable: metav1.ConditionTrue, workv1.ManifestProgressing: metav1.ConditionFalse,
		workv1.ManifestDegraded: metav1.ConditionFalse, ConditionDrifted: metav1.ConditionFalse, ConditionStatusFeedbackSynced: metav1.ConditionTrue,
	} {
		if c := find(conds, typ); c == nil || c.Status != want {
			t.Errorf("%s = %+v, want %s", typ, c, want)
		}
	}
	drifted := &outcome{meta: workv1.ManifestResourceMeta{Kind: "Deployment", Name: "web", Namespace: "n"}, live: live, drift: drift.Drift{Fields: []string{".spec.replicas"}}}
	gone := &outcome{meta: workv1.ManifestResourceMeta{Kind: "ConfigMap", Name: "b", Namespace: "n"}, drift: drift.Drift{Deleted: true}}
	failed := &outcome{meta: workv1.ManifestResourceMeta{Kind: "ConfigMap", Name: "c", Namespace: "n"}, err: &apply.ConflictError{Err: errors.New("conflict")}}
	if c := find(manifestConditions(nil, failed, 1), workv1.ManifestApplied); c.Reason != ReasonApplyConflict {
		t.Errorf("conflict reason = %s", c.Reason)
	}
	gen1 := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	wc := buildStatus(gen1, []*outcome{ok, drifted, gone, failed}).Conditions
	if c := find(wc, ConditionDrifted); c.Status != metav1.ConditionTrue ||
		c.Message != "2 of 4 manifests drifted: Deployment n/web .spec.replicas; ConfigMap n/b object was deleted" {
		t.Errorf("work Drifted = %+v", c)
	}
	if c := find(wc, workv1.WorkApplied); c.Status != metav1.ConditionFalse || c.Reason != ReasonAppliedManifestWorkFailed {
		t.Errorf("work Applied = %+v", c)
	}
	if c := find(wc, workv1.WorkAvailable); c.Status != metav1.ConditionFalse || !strings.HasPrefix(c.Message, "2 of 4 resources are not available") {
		t.Errorf("work Available = %+v", c)
	}
	if c := find(wc, workv1.WorkDegraded); c.Status != metav1.ConditionTrue {
		t.Errorf("work Degraded = %+v", c)
	}
	if c := find(buildStatus(gen1, nil).Conditions, workv1.WorkApplied); c.Status != metav1.ConditionTrue {
		t.Errorf("empty work Applied = %+v", c)
	}
}

func find(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// The hand-off window: a hold begins at the first look, lasts the window,
// ends with the removal, and is found by the objects a new work applies.
func TestHandOffWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHandOff(10 * time.Second)
	h.now = func() time.Time { return now }
	svc := workv1.ResourceIdentifier{Resource: "services", Namespace: "app", Name: "web"}
	key := objKey{gvr: schema.GroupVersionResource{Version: "v1", Resource: "services"}, namespace: "app", name: "web"}

	if wait, began := h.wait("amw-old", "old", svc); wait != 10*time.Second || !began {
		t.Fatalf("first look: wait %s began %t, want 10s and true", wait, began)
	}
	now = now.Add(4 * time.Second)
	if wait, began := h.wait("amw-old", "old", svc); wait != 6*time.Second || began {
		t.Fatalf("4s later: wait %s began %t, want 6s and false", wait, began)
	}
	if got := h.holders([]objKey{key}, "new"); fmt.Sprint(got) != "[old]" {
		t.Errorf("holders of the objects a new work applies = %v, want [old]", got)
	}
	if got := h.holders([]objKey{key}, "old"); len(got) != 0 {
		t.Errorf("a work is not its own holder: %v", got)
	}
	now = now.Add(6 * time.Second)
	if wait, _ := h.wait("amw-old", "old", svc); wait != 0 {
		t.Fatalf("after the window: wait %s, want 0", wait)
	}
	h.done("amw-old", svc)
	if wait, began := h.wait("amw-old", "old", svc); wait != 10*time.Second || !began {
		t.Errorf("after done a removal holds anew: wait %s began %t", wait, began)
	}

	// Holds whose removal never finished are swept long after their window.
	now = now.Add(time.Hour)
	other := workv1.ResourceIdentifier{Resource: "configmaps", Namespace: "app", Name: "c"}
	h.wait("amw-x", "x", other)
	if _, ok := h.holds[svc]; ok || len(h.holds) != 1 {
		t.Errorf("holds after the sweep = %v, want only the new one", h.holds)
	}

	off := newHandOff(-1)
	if wait, began := off.wait("amw", "w", svc); wait != 0 || began {
		t.Errorf("no window: wait %s began %t, want no hold", wait, began)
	}
}

// Ownership follows OCM's OwnedByTheWork: Foreground (or none) owns all,
// Orphan none, SelectivelyOrphan all but the rules that match group,
// resource, namespace and name exactly.
func TestOwnedByWorkAsOCM(t *testing.T) {
	ns := workv1.ResourceIdentifier{Resource: "namespaces", Name: "apps"}
	cm := workv1.ResourceIdentifier{Resource: "configmaps", Namespace: "apps", Name: "cfg"}
	selective := func(rules ...workv1.OrphaningRule) *workv1.DeleteOption {
		return &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
			SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: rules}}
	}
	tests := []struct {
		name string
		opt  *workv1.DeleteOption
		id   workv1.ResourceIdentifier
		want bool
	}{
		{"no option", nil, ns, true},
		{"foreground", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground}, ns, true},
		{"orphan", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}, cm, false},
		{"selective without rules", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan}, ns, true},
		{"the namespace's rule", selective(workv1.OrphaningRule{Resource: "namespaces", Name: "apps"}), ns, false},
		{"the rule keeps only its object", selective(workv1.OrphaningRule{Resource: "namespaces", Name: "apps"}), cm, true},
		{"a namespace in the rule of a cluster-scoped object", selective(workv1.OrphaningRule{Resource: "namespaces", Namespace: "apps", Name: "apps"}), ns, true},
		{"another group", selective(workv1.OrphaningRule{Group: "apps", Resource: "namespaces", Name: "apps"}), ns, true},
		{"no wildcards", selective(workv1.OrphaningRule{Resource: "configmaps", Namespace: "apps", Name: "*"}), cm, true},
	}
	for _, tc := range tests {
		if got := ownedByWork(tc.opt, tc.id); got != tc.want {
			t.Errorf("%s: owned = %t, want %t", tc.name, got, tc.want)
		}
	}
}
