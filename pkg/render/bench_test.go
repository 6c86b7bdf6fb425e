package render

import (
	"context"
	"fmt"
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// The two benchmarks below render one revision from a cold Renderer: for one
// cluster, and for 1,000 clusters (distinct names and labels, equal inputs).
// Their ratio is what a fleet costs over a single cluster:
//
//	go test ./pkg/render -run '^$' -bench 'BenchmarkRender(1Cluster|1000ClustersSharedRevision)' -benchtime 20x
var benchSubs = map[string]func(testing.TB) *appsv1.Subscription{
	"helm": func(t testing.TB) *appsv1.Subscription {
		s := subscription("web", "shop", "apps/helm/webapp")
		s.Spec.PackageOverrides = []*appsv1.Overrides{helmOverride(t, "webapp", map[string]any{"metrics": map[string]any{"enabled": true}})}
		s.Spec.Overrides = []appsv1.ClusterOverrides{{ClusterName: "not-in-the-fleet", ClusterOverrides: []appsv1.ClusterOverride{
			{RawExtension: rawJSON(t, map[string]any{"path": "spec.replicas", "value": 3})}}}}
		return s
	},
	"kustomize": func(testing.TB) *appsv1.Subscription {
		return subscription("gb", "ops", "apps/kustomize/overlays/prod")
	},
	"plain": func(testing.TB) *appsv1.Subscription {
		return subscription("shop", "apps", "apps/plain")
	},
}

func benchRender(b *testing.B, clusters int) {
	for _, kind := range []string{"helm", "kustomize", "plain"} {
		b.Run(kind, func(b *testing.B) {
			art := fleet(b)
			sub := benchSubs[kind](b)
			targets := make([]Cluster, clusters)
			for i := range targets {
				targets[i] = Cluster{
					Name:   fmt.Sprintf("cluster-%04d", i),
					Labels: map[string]string{"region": []string{"eu", "us", "ap"}[i%3], "name": fmt.Sprint(i)},
				}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				r := NewRenderer()
				var first *Output
				for _, c := range targets {
					out, err := r.Render(ctx, art, sub, c)
					if err != nil {
						b.Fatal(err)
					}
					if first == nil {
						first = out
					} else if out != first {
						b.Fatal("clusters with equal inputs got different Outputs")
					}
				}
			}
		})
	}
}

func BenchmarkRender1Cluster(b *testing.B) { benchRender(b, 1) }

func BenchmarkRender1000ClustersSharedRevision(b *testing.B) { benchRender(b, 1000) }

// BenchmarkClusterValuesTemplate renders for 1,000 clusters whose values come
// from spec.clusterValuesTemplate (three distinct results): the template runs
// once per cluster.
func BenchmarkClusterValuesTemplate(b *testing.B) {
	art := fleet(b)
	sub := subscription("web", "shop", "apps/helm/webapp")
	sub.Spec.ClusterValuesTemplate = `
replicaCount: {{ if eq .Cluster.Labels.region "us" }}5{{ else }}2{{ end }}
config:
  settings:
    region: {{ .Cluster.Labels.region | default "none" | quote }}
    zones: {{ range $i, $z := splitList "," "a,b,c" }}{{ if $i }},{{ end }}{{ $z | upper }}{{ end }}
`
	targets := make([]Cluster, 1000)
	for i := range targets {
		targets[i] = Cluster{Name: fmt.Sprintf("cluster-%04d", i), Labels: map[string]string{"region": []string{"eu", "us", "ap"}[i%3]}}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := NewRenderer()
		for _, c := range targets {
			if _, err := r.Render(ctx, art, sub, c); err != nil {
				b.Fatal(err)
			}
		}
	}
}
