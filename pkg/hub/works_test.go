package hub

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
)

func object(apiVersion, kind, name, option string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetName(name)
	o.SetNamespace("apps")
	if option != "" {
		o.SetAnnotations(map[string]string{appsv1.AnnotationReconcileOption: option})
	}
	return o
}

// TestEncodeBundleUpdateStrategies checks each manifest's update strategy
// follows its reconcile option or the Subscription's, and that the option is
// part of the content hash.
func TestEncodeBundleUpdateStrategies(t *testing.T) {
	out := &render.Output{Objects: []*unstructured.Unstructured{
		object("v1", "ConfigMap", "plain", ""),
		object("v1", "ConfigMap", "own", "mergeAndOwn"),
		object("v1", "ConfigMap", "whole", "Replace"),
		object("v1", "Service", "web", "replace"),
		object("apps.open-cluster-management.io/v1", "Subscription", "nested", ""),
	}}
	// The objects' namespace "apps" is not declared: the work carries it
	// first, create-only whatever the option.
	tests := []struct {
		subOption string
		want      []workv1.UpdateStrategyType
	}{
		{"", []workv1.UpdateStrategyType{"CreateOnly", "ServerSideApply", "ServerSideApply", "Update", "ServerSideApply", "Update"}},
		{"merge", []workv1.UpdateStrategyType{"CreateOnly", "ServerSideApply", "ServerSideApply", "Update", "ServerSideApply", "Update"}},
		{"replace", []workv1.UpdateStrategyType{"CreateOnly", "Update", "ServerSideApply", "Update", "ServerSideApply", "Update"}},
	}
	hashes := map[string]bool{}
	for _, tt := range tests {
		sub := &appsv1.Subscription{}
		sub.Annotations = map[string]string{appsv1.AnnotationReconcileOption: tt.subOption}
		b, err := encodeBundle(out, settingsOf(sub), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range b.configs[0] {
			if c.UpdateStrategy.Type != tt.want[i] {
				t.Errorf("option %q: %s %s gets %s, want %s", tt.subOption, c.ResourceIdentifier.Resource, c.ResourceIdentifier.Name, c.UpdateStrategy.Type, tt.want[i])
			}
			if ssa := c.UpdateStrategy.ServerSideApply; ssa != nil && (!ssa.Force || ssa.FieldManager != FieldManager) {
				t.Errorf("server-side apply %+v", ssa)
			}
		}
		hashes[b.hash] = true
	}
	// No option and merge are the same content; replace is not.
	if len(hashes) != 2 {
		t.Errorf("%d distinct hashes, want 2", len(hashes))
	}

	bad := &render.Output{Objects: []*unstructured.Unstructured{object("v1", "ConfigMap", "typo", "overwrite")}}
	_, err := encodeBundle(bad, workSettings{}, nil)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap apps/typo") || !strings.Contains(err.Error(), "use merge, mergeAndOwn or replace") {
		t.Fatalf("error = %v", err)
	}
}

// TestCacheKeepsWriteTimes checks the informer transform keeps when a work
// was last written, which starts the progressDeadline of an update the agent
// has not picked up yet (rollout.FromWorks).
func TestCacheKeepsWriteTimes(t *testing.T) {
	created := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	updated := created.Add(48 * time.Hour)
	w := &workv1.ManifestWork{}
	w.Generation = 2
	w.CreationTimestamp = metav1.NewTime(created)
	w.Annotations = map[string]string{appsv1.AnnotationContentHash: "h2"}
	w.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "hub", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: updated}, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}},
		{Manager: "agent", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &metav1.Time{Time: updated.Add(time.Hour)}},
	}
	w.Status.Conditions = []metav1.Condition{{Type: workv1.WorkApplied, Status: metav1.ConditionTrue, ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(created)}}
	obj, err := stripManifests(w)
	if err != nil {
		t.Fatal(err)
	}
	w = obj.(*workv1.ManifestWork)
	if len(w.ManagedFields) != 2 || w.ManagedFields[0].FieldsV1 != nil {
		t.Fatalf("managed fields %+v", w.ManagedFields)
	}
	current, state, since := rollout.FromWorks([]*workv1.ManifestWork{w}, "h2", true)
	if !current || state != rollout.Progressing || !since.Equal(updated) {
		t.Fatalf("FromWorks = %v %s %s, want the update time %s", current, state, since, updated)
	}
}
