package work

import (
	"encoding/json"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/health"
)

// statusBytes is the JSON size of the status the agent writes for n
// Deployments judged v.
func statusBytes(t *testing.T, n int, v health.Verdict) int {
	t.Helper()
	live := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment"}}
	outcomes := make([]*outcome, n)
	for i := range outcomes {
		outcomes[i] = &outcome{live: live, verdict: v, meta: workv1.ManifestResourceMeta{
			Ordinal: int32(i), Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments",
			Namespace: "shop", Name: fmt.Sprintf("frontend-%02d", i)}}
	}
	st := buildStatus(&workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Generation: 4}}, outcomes)
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestStatusSize measures the status the agent writes for a work of 5, 50
// and 100 Deployments, healthy and all failing (docs/performance.md; run
// with -v).
func TestStatusSize(t *testing.T) {
	failing := health.Verdict{Status: health.Failed, Reason: "ImagePullBackOff", Message: "0/1 ready: ImagePullBackOff"}
	for _, n := range []int{5, 50, 100} {
		healthy, failed := statusBytes(t, n, health.Verdict{Status: health.Current}), statusBytes(t, n, failing)
		t.Logf("%2d Deployments: healthy %6d B (%d B per manifest), all failing %6d B", n, healthy, healthy/n, failed)
		// Six conditions of fixed fields and no messages, about 1 KiB each,
		// and the work's own conditions.
		if limit := n*1100 + 1000; healthy > limit {
			t.Errorf("%d manifests: healthy status %d B, want at most %d", n, healthy, limit)
		}
		if limit := healthy + n*len(failing.Message) + 1000; failed > limit {
			t.Errorf("%d manifests: failing status %d B, want at most %d", n, failed, limit)
		}
	}
}
