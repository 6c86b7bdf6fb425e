package hub_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"k8s.io/utils/ptr"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// TestWorkCarriesUndeclaredNamespace: objects in a namespace the render does
// not declare (as a Helm release's are) bring that Namespace into the work,
// created only, and orphaned so that removing the work leaves it (issue 17
// item 2); a declared Namespace is the work's own and is not orphaned.
func TestWorkCarriesUndeclaredNamespace(t *testing.T) {
	e := startHub(t, "c1")
	repo := harness.NewFleet(t, map[string]string{
		"apps/chart/Chart.yaml":        "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
		"apps/chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: {{ .Release.Namespace }}\ndata:\n  k: v\n",
		"apps/own/ns.yaml":             "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: own\n",
		"apps/own/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: own\ndata:\n  k: v\n",
	})
	appSubscription(e, t, repo.URL, "chart", "apps/chart", []string{"c1"}, nil)
	appSubscription(e, t, repo.URL, "own", "apps/own", []string{"c1"}, nil)

	w := e.expectWorks(t, "chart", "c1")["c1"]
	kinds := manifestKinds(t, w)
	if len(kinds) != 2 || kinds[0] != "Namespace fleet" || kinds[1] != "ConfigMap fleet/cm" {
		t.Fatalf("manifests %v, want the release namespace first", kinds)
	}
	nsRule := workv1.OrphaningRule{Resource: "namespaces", Name: "fleet"}
	if d := w.Spec.DeleteOption; d == nil || d.PropagationPolicy != workv1.DeletePropagationPolicyTypeSelectivelyOrphan ||
		d.SelectivelyOrphan == nil || !slices.Equal(d.SelectivelyOrphan.OrphaningRules, []workv1.OrphaningRule{nsRule}) {
		t.Fatalf("delete option %+v, want the namespace orphaned", d)
	}
	for _, c := range w.Spec.ManifestConfigs {
		if c.ResourceIdentifier.Resource == "namespaces" && (c.UpdateStrategy == nil || c.UpdateStrategy.Type != workv1.UpdateStrategyTypeCreateOnly) {
			t.Fatalf("the undeclared namespace's strategy %+v, want CreateOnly", c.UpdateStrategy)
		}
	}

	own := e.expectWorks(t, "own", "c1")["c1"]
	if kinds := manifestKinds(t, own); len(kinds) != 2 || kinds[0] != "Namespace own" {
		t.Fatalf("manifests %v, want only what Git declares", kinds)
	}
	if own.Spec.DeleteOption != nil {
		t.Fatalf("a declared namespace is orphaned: %+v", own.Spec.DeleteOption)
	}
}

// manifestKinds lists a work's manifests as "Kind namespace/name".
func manifestKinds(t *testing.T, w *workv1.ManifestWork) []string {
	t.Helper()
	var out []string
	for _, m := range w.Spec.Workload.Manifests {
		var o struct {
			Kind     string `json:"kind"`
			Metadata struct{ Name, Namespace string }
		}
		if err := json.Unmarshal(m.Raw, &o); err != nil {
			t.Fatal(err)
		}
		name := o.Metadata.Name
		if o.Metadata.Namespace != "" {
			name = o.Metadata.Namespace + "/" + name
		}
		out = append(out, fmt.Sprintf("%s %s", o.Kind, name))
	}
	return out
}

// TestHeldRemovalMarksTheWork: a removal the deletion budget holds marks the
// works it keeps (appsv1.AnnotationRemovalHeld), so that agents give their
// objects to a work that is not held; the mark goes when the cluster is
// selected again.
func TestHeldRemovalMarksTheWork(t *testing.T) {
	e := startHub(t, "c1", "c2", "c3")
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	all := []string{"c1", "c2", "c3"}
	// A budget of 10%: one cluster of three leaving is held too.
	appSubscription(e, t, repo.URL, "app", "apps/app", all, func(s *appsv1.Subscription) { s.Spec.DeletionBudgetPercent = ptr.To[int32](10) })
	e.expectWorks(t, "app", all...)

	marks := func() map[string]string {
		out := map[string]string{}
		for c, w := range e.Works(t, "app") {
			if v, ok := w.Annotations[appsv1.AnnotationRemovalHeld]; ok {
				out[c] = v
			}
		}
		return out
	}
	e.update(t, "app", func(s *appsv1.Subscription) { s.Spec.Placement.Clusters = s.Spec.Placement.Clusters[:1] })
	e.expectStatus(t, "app", "c2 and c3 held and marked", func(s *appsv1.Subscription) error {
		if s.Status.Summary.Held != 2 {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		if m := marks(); len(m) != 2 || m["c2"] != "true" || m["c3"] != "true" {
			return fmt.Errorf("marks %v", m)
		}
		return nil
	})

	e.update(t, "app", func(s *appsv1.Subscription) {
		s.Spec.Placement.Clusters = append(s.Spec.Placement.Clusters, appsv1.GenericClusterReference{Name: "c2"})
	})
	e.expectStatus(t, "app", "c2 selected again, unmarked; c3 still held", func(s *appsv1.Subscription) error {
		if m := marks(); len(m) != 1 || m["c3"] != "true" {
			return fmt.Errorf("marks %v", m)
		}
		return nil
	})
}
