// Package metrics defines ocm-gitops's Prometheus metrics. They are
// registered on controller-runtime's registry, which the manager serves on
// --metrics-addr next to controller-runtime's own series
// (controller_runtime_reconcile_time_seconds, workqueue_depth, ...).
//
// A Recorder times source fetches and renders (it implements source.Observer
// and render.Observer) and counts ManifestWork writes (through NewClient).
// The fleet collector (AddFleetCollector) computes gauges at scrape time from
// the manager's informer cache, so nothing is kept per Subscription between
// scrapes.
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Metric names, for dashboards, alerts and tests.
const (
	SourceFetchDuration  = "ocm_gitops_source_fetch_duration_seconds"
	RenderDuration       = "ocm_gitops_render_duration_seconds"
	RenderCacheHits      = "ocm_gitops_render_cache_hits_total"
	RenderCacheMisses    = "ocm_gitops_render_cache_misses_total"
	ManifestWorkWrites   = "ocm_gitops_manifestwork_writes_total"
	Subscriptions        = "ocm_gitops_subscriptions"
	SubscriptionClusters = "ocm_gitops_subscription_clusters"
	ClustersByState      = "ocm_gitops_clusters_by_state"
	DriftedClusters      = "ocm_gitops_drifted_clusters"
	HealthyClusters      = "ocm_gitops_healthy_clusters"
	ManagedClusters      = "ocm_gitops_managed_clusters"
	FleetCollectorErrors = "ocm_gitops_fleet_collector_errors_total"
)

// Values of the result label.
const (
	resultSuccess      = "success"
	resultError        = "error"
	resultCanceled     = "canceled"
	resultAuthFailed   = "auth_failed"
	resultNotFound     = "not_found"
	resultInvalid      = "invalid"
	resultUnavailable  = "unavailable"
	resultInvalidInput = "invalid_input"
)

// Values of the op label.
const (
	opCreate = "create"
	opUpdate = "update"
	opPatch  = "patch"
	opDelete = "delete"
)

// Recorder records fetch and render timings and ManifestWork writes. It is
// safe for concurrent use. Several Recorders on one registry share the
// registered series, so hubs started one after another in a process (tests,
// the lab) keep counting into the same series.
type Recorder struct {
	fetch  *prometheus.HistogramVec
	render *prometheus.HistogramVec
	hits   prometheus.Counter
	misses prometheus.Counter
	writes *prometheus.CounterVec
}

var (
	_ source.Observer = (*Recorder)(nil)
	_ render.Observer = (*Recorder)(nil)
)

// NewRecorder registers the Recorder's series on reg; nil means
// controller-runtime's metrics.Registry, which the manager serves.
func NewRecorder(reg prometheus.Registerer) (*Recorder, error) {
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	r := &Recorder{}
	var err error
	if r.fetch, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: SourceFetchDuration,
		Help: "Time to fetch a Channel's source (fetches served from the hub's cache are not counted), by channel type and result.",
		// 50ms (a no-op Git fetch) to about 7 minutes (a first clone of a big repository).
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	}, []string{"type", "result"})); err != nil {
		return nil, err
	}
	if r.render, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: RenderDuration,
		Help: "Time to render one unit of a Subscription's path (a Helm chart, a Kustomize root or a plain YAML file), by kind and result.",
		// 1ms (a small YAML file) to about 33s (a big chart with dependencies).
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"kind", "result"})); err != nil {
		return nil, err
	}
	if r.hits, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: RenderCacheHits,
		Help: "Render requests answered from the renderer's cache (the same revision, path and values were rendered before).",
	})); err != nil {
		return nil, err
	}
	if r.misses, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: RenderCacheMisses,
		Help: "Render requests that had to render.",
	})); err != nil {
		return nil, err
	}
	if r.writes, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: ManifestWorkWrites,
		Help: "ManifestWork writes by the hub, by operation (create, update, patch, delete) and result.",
	}, []string{"op", "result"})); err != nil {
		return nil, err
	}
	// Series with known label values exist from the start, so rate() and
	// absent() work before the first event.
	for _, typ := range []appsv1.ChannelType{appsv1.ChannelTypeGit, appsv1.ChannelTypeHelmRepo, appsv1.ChannelTypeObjectBucket} {
		r.fetch.WithLabelValues(string(typ), resultSuccess)
	}
	for _, kind := range []string{"helm", "kustomize", "plain"} {
		r.render.WithLabelValues(kind, resultSuccess)
	}
	for _, op := range []string{opCreate, opUpdate, opPatch, opDelete} {
		r.writes.WithLabelValues(op, resultSuccess)
	}
	return r, nil
}

// register registers c, or returns the collector already registered under
// the same descriptor.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, err
	}
	return c, nil
}

// ObserveFetch implements source.Observer.
func (r *Recorder) ObserveFetch(typ appsv1.ChannelType, took time.Duration, err error) {
	r.fetch.WithLabelValues(string(typ.Normalized()), fetchResult(err)).Observe(took.Seconds())
}

// fetchResult turns a fetch error into a small, fixed set of label values.
func fetchResult(err error) string {
	switch {
	case err == nil:
		return resultSuccess
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return resultCanceled
	case source.IsAuthError(err):
		return resultAuthFailed
	case source.IsNotFound(err):
		return resultNotFound
	}
	var fe *source.Error
	if errors.As(err, &fe) && fe.Kind == source.KindInvalid {
		return resultInvalid
	}
	return resultUnavailable
}

// ObserveRender implements render.Observer.
func (r *Recorder) ObserveRender(kind string, took time.Duration, err error) {
	result := resultSuccess
	if err != nil {
		result = resultError
		var re *render.Error
		if errors.As(err, &re) {
			result = resultInvalidInput // the commit or the Subscription is at fault
		}
	}
	r.render.WithLabelValues(kind, result).Observe(took.Seconds())
}

// ObserveRenderCache implements render.Observer.
func (r *Recorder) ObserveRenderCache(hit bool) {
	if hit {
		r.hits.Inc()
	} else {
		r.misses.Inc()
	}
}

// NewClient is a client.NewClientFunc for ctrl.Options.NewClient: the
// manager's client, counting ManifestWork writes.
func (r *Recorder) NewClient(cfg *rest.Config, opts client.Options) (client.Client, error) {
	c, err := client.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	return r.WrapClient(c), nil
}

// WrapClient returns c counting its ManifestWork writes.
func (r *Recorder) WrapClient(c client.Client) client.Client {
	return &countingClient{Client: c, rec: r}
}

func (r *Recorder) countWrite(obj runtime.Object, op string, err error) {
	if !isManifestWork(obj) {
		return
	}
	result := resultSuccess
	if err != nil {
		result = resultError
	}
	r.writes.WithLabelValues(op, result).Inc()
}

func isManifestWork(obj runtime.Object) bool {
	if _, ok := obj.(*workv1.ManifestWork); ok {
		return true
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return gvk.Group == workv1.GroupName && gvk.Kind == "ManifestWork"
}

// countingClient counts the ManifestWork writes going through it.
type countingClient struct {
	client.Client
	rec *Recorder
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	err := c.Client.Create(ctx, obj, opts...)
	c.rec.countWrite(obj, opCreate, err)
	return err
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	err := c.Client.Update(ctx, obj, opts...)
	c.rec.countWrite(obj, opUpdate, err)
	return err
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	err := c.Client.Patch(ctx, obj, patch, opts...)
	c.rec.countWrite(obj, opPatch, err)
	return err
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	err := c.Client.Delete(ctx, obj, opts...)
	c.rec.countWrite(obj, opDelete, err)
	return err
}
