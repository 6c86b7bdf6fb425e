package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

// benchFleet is what one Subscription reconcile at 5,000 clusters works on:
// the targets, the rendered bundles and the existing works (all current and
// reported applied; with health, also healthy as ocm-gitops' agent reports
// it: Progressing=False, Degraded=False).
type benchFleet struct {
	r        *SubscriptionReconciler
	sub      *appsv1.Subscription
	art      *source.Artifact
	targets  []placement.Target
	desired  map[string]*want
	existing map[string][]*workv1.ManifestWork
}

func newBenchFleet(b *testing.B, clusters int, health bool) *benchFleet {
	b.Helper()
	dir := b.TempDir()
	app := filepath.Join(dir, "apps", "web")
	if err := os.MkdirAll(app, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 5 {
		cm := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n  namespace: web\ndata:\n  v: %q\n", i, "x")
		if err := os.WriteFile(filepath.Join(app, fmt.Sprintf("c%d.yaml", i)), []byte(cm), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	f := &benchFleet{
		r: &SubscriptionReconciler{
			Renderer: render.NewRenderer(render.Options{CacheDir: filepath.Join(dir, "charts")}),
			bundles:  newBundleCache(512),
			written:  &writes.Records{TTL: writeRecordTTL},
		},
		sub: &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "web", Annotations: map[string]string{
			appsv1.AnnotationGitPath: "apps/web",
		}}},
		art:      &source.Artifact{Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Dir: dir},
		existing: map[string][]*workv1.ManifestWork{},
	}
	for i := range clusters {
		f.targets = append(f.targets, placement.Target{Cluster: fmt.Sprintf("cluster-%05d", i),
			Labels: map[string]string{"region": []string{"east", "west"}[i%2], "name": fmt.Sprintf("cluster-%05d", i)}})
	}
	var err error
	f.desired, err = f.r.renderAll(context.Background(), f.sub, f.art, render.Access{}, f.targets, f.existing)
	if err != nil {
		b.Fatal(err)
	}
	now := metav1.Now()
	for _, t := range f.targets {
		bd := f.desired[t.Cluster]
		w := desiredWork(f.sub, t.Cluster, f.art.Revision, bd, 0)
		w.Spec.Workload.Manifests, w.Spec.ManifestConfigs = nil, nil // as the cache holds them
		w.Generation = 1
		w.Status.Conditions = []metav1.Condition{
			{Type: workv1.WorkApplied, Status: metav1.ConditionTrue, ObservedGeneration: 1, LastTransitionTime: now, Reason: "AppliedManifestWorkComplete"},
			{Type: workv1.WorkAvailable, Status: metav1.ConditionTrue, ObservedGeneration: 1, LastTransitionTime: now, Reason: "ResourcesAvailable"},
		}
		if health {
			w.Status.Conditions = append(w.Status.Conditions,
				metav1.Condition{Type: workv1.WorkProgressing, Status: metav1.ConditionFalse, ObservedGeneration: 1, LastTransitionTime: now, Reason: workv1.WorkProgressingReasonCompleted},
				metav1.Condition{Type: workv1.WorkDegraded, Status: metav1.ConditionFalse, ObservedGeneration: 1, LastTransitionTime: now, Reason: "AsExpected"})
		}
		f.existing[t.Cluster] = []*workv1.ManifestWork{w}
	}
	return f
}

// BenchmarkRenderAll5000 is the render step of one reconcile at 5,000
// clusters with nothing new: every cluster's render is a cache hit and every
// bundle is already encoded.
func BenchmarkRenderAll5000(b *testing.B) {
	f := newBenchFleet(b, 5000, false)
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.r.renderAll(ctx, f.sub, f.art, render.Access{}, f.targets, f.existing); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncNoop5000 is the rest of a reconcile at 5,000 clusters with
// nothing to write: rollout standing, gate, write decisions (none) and the
// status summary; with works that report no health (OCM's agent, or ours
// before it judged health) and with works that report it.
func BenchmarkSyncNoop5000(b *testing.B) {
	for _, health := range []bool{false, true} {
		b.Run(fmt.Sprintf("health=%t", health), func(b *testing.B) { benchSyncNoop(b, newBenchFleet(b, 5000, health)) })
	}
}

func benchSyncNoop(b *testing.B, f *benchFleet) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clusters := rolloutClusters(f.targets, f.existing, f.desired, true)
		g := f.r.gate(f.sub, clusters, f.targets, f.existing, f.art.Revision)
		send := make(map[string]*want, len(g.Send))
		for _, c := range g.Send {
			send[c] = f.desired[c]
		}
		if err := f.r.syncWorks(ctx, f.sub, f.art.Revision, send, f.existing, g.Remove); err != nil {
			b.Fatal(err)
		}
		hashes := make(map[string]string, len(clusters))
		for _, c := range clusters {
			hashes[c.Name] = f.desired[c.Name].hash
		}
		summarize(f.sub, outcome{targets: f.targets, existing: f.existing, hashes: hashes, waiting: g.Held, revision: f.art.Revision})
		if f.sub.Status.Summary.Applied != 5000 || f.sub.Status.Summary.Healthy != 5000 {
			b.Fatalf("summary %+v, want 5000 applied and healthy", f.sub.Status.Summary)
		}
	}
}

// BenchmarkStatusBatcher is the cost a status report adds to its watch event.
func BenchmarkStatusBatcher(b *testing.B) {
	sb := newStatusBatcher(time.Second)
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("app-%d", i)
	}
	i := 0
	for b.Loop() {
		sb.delay(types.NamespacedName{Namespace: "fleet", Name: keys[i%len(keys)]})
		i++
	}
}
