package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
)

// rawLabel marks the baseline's works; neither the hub nor the agents see them.
const rawLabel = "scale.ocm-gitops.io/raw"

// rawResult is the API server's create rate for copies of a hub-written work.
type rawResult struct {
	Count    int           `json:"count"`
	Parallel int           `json:"parallel"`
	Bytes    int           `json:"bytes"`
	Elapsed  time.Duration `json:"elapsed"`
	Rate     float64       `json:"createsPerSecond"`
}

// rawCreates creates count copies of template (its spec, labels and
// annotations; another name and no subscription label), spread over the
// cluster namespaces, from parallel unthrottled creators, and times them. The
// copies are deleted afterwards (not timed).
func rawCreates(ctx context.Context, cfg *rest.Config, template *workv1.ManifestWork, clusters, count, parallelism int) (rawResult, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, -1
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return rawResult{}, err
	}
	labels := map[string]string{rawLabel: "true"}
	for k, v := range template.Labels {
		if k != appsv1.LabelSubscription {
			labels[k] = v
		}
	}
	build := func(i int) *workv1.ManifestWork {
		return &workv1.ManifestWork{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("raw-%d", i/clusters), Namespace: clusterName(i % clusters),
				Labels: labels, Annotations: template.Annotations,
			},
			Spec: *template.Spec.DeepCopy(), // the response is decoded into it
		}
	}
	size, _ := json.Marshal(build(0))
	start := time.Now()
	err = parallel(ctx, count, parallelism, func(ctx context.Context, i int) error {
		if err := c.Create(ctx, build(i)); err != nil {
			return fmt.Errorf("raw create %d: %w", i, err)
		}
		return nil
	})
	elapsed := time.Since(start)
	res := rawResult{Count: count, Parallel: parallelism, Bytes: len(size), Elapsed: elapsed, Rate: float64(count) / elapsed.Seconds()}
	if err != nil {
		return res, err
	}
	// Clean up, namespace by namespace.
	return res, parallel(ctx, min(count, clusters), parallelism, func(ctx context.Context, i int) error {
		return c.DeleteAllOf(ctx, &workv1.ManifestWork{}, client.InNamespace(clusterName(i)), client.HasLabels{rawLabel})
	})
}
