package reconcileopt

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

const manager = "work-agent-ocm-gitops"

var (
	ssa    = &workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeServerSideApply, ServerSideApply: &workv1.ServerSideApplyConfig{Force: true, FieldManager: manager}}
	update = &workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeUpdate}
)

func object(apiVersion, kind, namespace, name string, annotations map[string]string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	o.SetAnnotations(annotations)
	return o
}

func TestForObject(t *testing.T) {
	opt := func(v string) map[string]string { return map[string]string{appsv1.AnnotationReconcileOption: v} }
	cases := []struct {
		name      string
		obj       *unstructured.Unstructured
		subOption string
		want      *workv1.UpdateStrategy
		err       string
	}{
		{name: "default is merge", obj: object("apps/v1", "Deployment", "web", "web", nil), want: ssa},
		{name: "subscription merge", obj: object("apps/v1", "Deployment", "web", "web", nil), subOption: "merge", want: ssa},
		{name: "subscription mergeAndOwn", obj: object("apps/v1", "Deployment", "web", "web", nil), subOption: "mergeAndOwn", want: ssa},
		{name: "subscription replace", obj: object("apps/v1", "Deployment", "web", "web", nil), subOption: "replace", want: update},
		{name: "options in any case", obj: object("v1", "ConfigMap", "web", "c", nil), subOption: "REPLACE", want: update},
		{name: "resource overrides subscription", obj: object("v1", "ConfigMap", "web", "c", opt("merge")), subOption: "replace", want: ssa},
		{name: "resource replace", obj: object("v1", "ConfigMap", "web", "c", opt("Replace")), want: update},
		{name: "services are never replaced", obj: object("v1", "Service", "web", "web", opt("replace")), want: ssa},
		{name: "service accounts are never replaced", obj: object("v1", "ServiceAccount", "web", "web", nil), subOption: "replace", want: ssa},
		{name: "namespaces are never replaced", obj: object("v1", "Namespace", "", "web", nil), subOption: "replace", want: ssa},
		{name: "a Service of another group is not special", obj: object("example.com/v1", "Service", "web", "s", nil), subOption: "replace", want: update},
		{name: "nested subscriptions are always replaced", obj: object("apps.open-cluster-management.io/v1", "Subscription", "web", "s", opt("merge")), want: update},
		{name: "bad resource option", obj: object("v1", "ConfigMap", "web", "c", opt("overwrite")),
			err: `ConfigMap web/c: annotation apps.open-cluster-management.io/reconcile-option on the resource: "overwrite" is not a reconcile option; use merge, mergeAndOwn or replace`},
		{name: "bad subscription option", obj: object("v1", "Namespace", "", "web", nil), subOption: "ownAll",
			err: `Namespace web: annotation apps.open-cluster-management.io/reconcile-option on the Subscription: "ownAll"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ForObject(tc.obj, tc.subOption, manager)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct{ sub, res, want string }{
		{"", "", "merge"}, {"replace", "", "replace"}, {"replace", "mergeandown", "mergeAndOwn"}, {"MERGE", "", "merge"},
	} {
		if got, err := Resolve(tc.sub, tc.res); err != nil || got != tc.want {
			t.Errorf("Resolve(%q, %q) = %q, %v; want %q", tc.sub, tc.res, got, err, tc.want)
		}
	}
}

func TestDeleteOption(t *testing.T) {
	keep := map[string]string{appsv1.AnnotationDoNotDelete: "true"}
	deploy := object("apps/v1", "Deployment", "web", "web", nil)
	keptCM := object("v1", "ConfigMap", "web", "settings", keep)
	keptNS := object("v1", "Namespace", "", "web", map[string]string{appsv1.AnnotationDoNotDelete: "True"})
	keptCR := object("example.com/v1", "Widget", "web", "w", keep)
	cmRule := workv1.OrphaningRule{Group: "", Resource: "configmaps", Namespace: "web", Name: "settings"}
	nsRule := workv1.OrphaningRule{Group: "", Resource: "namespaces", Name: "web"}
	widgetRule := workv1.OrphaningRule{Group: "example.com", Resource: "gadgets", Namespace: "web", Name: "w"}
	userRule := workv1.OrphaningRule{Group: "apps", Resource: "deployments", Namespace: "web", Name: "web"}
	goneRule := workv1.OrphaningRule{Group: "", Resource: "secrets", Namespace: "web", Name: "old"}
	selective := func(rules ...workv1.OrphaningRule) *workv1.DeleteOption {
		return &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
			SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: rules}}
	}
	mapper := func(gvk schema.GroupVersionKind) (string, bool) {
		if gvk.Kind == "Widget" {
			return "gadgets", true // a CRD whose plural is not the guessed one
		}
		return "", false
	}
	cases := []struct {
		name     string
		spec     *workv1.DeleteOption
		objs     []*unstructured.Unstructured
		previous *workv1.DeleteOption
		want     *workv1.DeleteOption
		err      string
	}{
		{name: "nothing marked, no option", objs: []*unstructured.Unstructured{deploy}, want: nil},
		{name: "nothing marked, foreground kept",
			spec: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground},
			objs: []*unstructured.Unstructured{deploy}, want: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground}},
		{name: "marked objects are orphaned, sorted", objs: []*unstructured.Unstructured{deploy, keptNS, keptCM},
			want: selective(cmRule, nsRule)},
		{name: "the mapper names custom resources", objs: []*unstructured.Unstructured{keptCR}, want: selective(widgetRule)},
		{name: "orphan stays orphan",
			spec: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan},
			objs: []*unstructured.Unstructured{keptCM}, want: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}},
		{name: "user rules and marks join, TTL kept",
			spec: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan, TTLSecondsAfterFinished: int64p(60),
				SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{userRule, cmRule}}},
			objs: []*unstructured.Unstructured{deploy, keptCM},
			want: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan, TTLSecondsAfterFinished: int64p(60),
				SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{cmRule, userRule}}}},
		{name: "a kept object dropped from Git stays orphaned", objs: []*unstructured.Unstructured{deploy},
			previous: selective(cmRule, goneRule), want: selective(cmRule, goneRule)},
		{name: "an object unmarked while still sent is no longer orphaned",
			objs:     []*unstructured.Unstructured{object("v1", "ConfigMap", "web", "settings", nil)},
			previous: selective(cmRule), want: nil},
		{name: "marked false", objs: []*unstructured.Unstructured{object("v1", "ConfigMap", "web", "c", map[string]string{appsv1.AnnotationDoNotDelete: "false"})}, want: nil},
		{name: "unclear mark", objs: []*unstructured.Unstructured{object("v1", "ConfigMap", "web", "c", map[string]string{appsv1.AnnotationDoNotDelete: "yes"})},
			err: `ConfigMap web/c: annotation apps.open-cluster-management.io/do-not-delete is "yes"`},
		{name: "unknown policy", spec: &workv1.DeleteOption{PropagationPolicy: "Later"}, err: `spec.deleteOption.propagationPolicy: "Later"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeleteOption(tc.spec, tc.objs, mapper, tc.previous)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if tc.spec != nil && got == tc.spec {
				t.Fatal("result aliases the Subscription's spec")
			}
		})
	}
}

func int64p(v int64) *int64 { return &v }
