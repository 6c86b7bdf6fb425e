package hub_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// randomChart renders differently every time, as charts that generate
// passwords or certificates do.
var randomChart = map[string]string{
	"apps/random/Chart.yaml": "apiVersion: v2\nname: random\nversion: 0.1.0\n",
	"apps/random/templates/secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: random
  namespace: apps
stringData:
  password: {{ randAlphaNum 24 | quote }}
`,
}

// TestRandomChartNotRewrittenAcrossRestart: a hub that restarts renders a
// chart using randAlphaNum again and gets other bytes, but nothing it was
// rendered from changed, so the work it wrote before stays as it is (no new
// passwords without a commit). A change of the inputs does rewrite it.
func TestRandomChartNotRewrittenAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	h := harness.NewHub(t, "east")
	repo := harness.NewFleet(t, randomChart)
	h.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}},
		harness.GitSubscription("random", "repo", "east"))

	stop := harness.RunHub(t, h.CP.Config, nil)
	poll.Eventually(t, 30*time.Second, "the work written", func() error {
		if h.Works(t, "random")["east"] == nil {
			return fmt.Errorf("no work")
		}
		return nil
	})
	stop()
	first := h.Works(t, "random")["east"]
	if first.Annotations[appsv1.AnnotationInputDigest] == "" {
		t.Fatalf("the work records no input digest: %v", first.Annotations)
	}
	h.Report(t, first) // applied while the hub was down

	harness.RunHub(t, h.CP.Config, nil) // a new process: nothing remembered, a fresh render cache
	poll.Eventually(t, 30*time.Second, "the restarted hub reports the work applied", func() error {
		if s := h.Subscription(t, "random"); s.Status.Summary.Applied != 1 {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		return nil
	})
	after := h.Works(t, "random")["east"]
	if after.Generation != first.Generation || !slices.EqualFunc(after.Spec.Workload.Manifests, first.Spec.Workload.Manifests, func(a, b workv1.Manifest) bool { return bytes.Equal(a.Raw, b.Raw) }) {
		t.Fatalf("the restarted hub rewrote the work (generation %d -> %d)", first.Generation, after.Generation)
	}

	// New inputs (a values override) are a reason to render and write again.
	(&env{h}).update(t, "random", func(s *appsv1.Subscription) {
		s.Spec.PackageOverrides = []*appsv1.Overrides{{PackageName: "random", PackageOverrides: []appsv1.PackageOverride{
			{RawExtension: runtime.RawExtension{Raw: []byte(`{"path":"spec","value":{"unused":true}}`)}}}}}
	})
	poll.Eventually(t, 30*time.Second, "the work rewritten for new inputs", func() error {
		w := h.Works(t, "random")["east"]
		if w.Annotations[appsv1.AnnotationInputDigest] == first.Annotations[appsv1.AnnotationInputDigest] {
			return fmt.Errorf("input digest unchanged")
		}
		return nil
	})
}
