package metrics

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// BenchmarkRenderCacheHit measures what the Recorder adds to the hottest
// render path, a cache hit for one more cluster of a fleet:
//
//	go test ./pkg/metrics -run '^$' -bench RenderCacheHit -count 6 | benchstat -col /recorder -
func BenchmarkRenderCacheHit(b *testing.B) {
	dir, err := filepath.Abs("../render/testdata/fleet")
	if err != nil {
		b.Fatal(err)
	}
	art := &source.Artifact{Revision: "main@sha1:0123456789abcdef", Dir: dir}
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "shop", Annotations: map[string]string{appsv1.AnnotationGitPath: "apps/plain"}},
		Spec:       appsv1.SubscriptionSpec{Channel: "apps/fleet"},
	}
	clusters := make([]render.Cluster, 1000)
	for i := range clusters {
		clusters[i] = render.Cluster{Name: fmt.Sprintf("cluster-%04d", i)}
	}
	for _, withRecorder := range []bool{false, true} {
		b.Run(fmt.Sprintf("recorder=%t", withRecorder), func(b *testing.B) {
			opts := render.Options{}
			if withRecorder {
				rec, err := NewRecorder(prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				opts.Observer = rec
			}
			r := render.NewRenderer(opts)
			ctx := context.Background()
			if _, err := r.Render(ctx, art, sub, clusters[0]); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				if _, err := r.Render(ctx, art, sub, clusters[n%len(clusters)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkObserve is the cost of one observation of each kind.
func BenchmarkObserve(b *testing.B) {
	rec, err := NewRecorder(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for n := 0; n < b.N; n++ {
		rec.ObserveFetch(appsv1.ChannelTypeGit, 40*time.Millisecond, nil)
		rec.ObserveRender("plain", time.Millisecond, nil)
		rec.ObserveRenderCache(true)
	}
}
