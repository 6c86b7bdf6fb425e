package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// The regression fleet: small enough for `make test`, large enough that
// per-cluster work in the hub shows.
const (
	testClusters      = 500
	testSubscriptions = 2
	// testBound is the most a rollout to the test fleet may take. A healthy
	// hub needs a few seconds on 2 cores; rendering per cluster or writing
	// works twice takes it well past this.
	testBound = 90 * time.Second
)

// TestFleetRollout runs the hub in this process against a real API server
// with 500 simulated clusters and 2 Subscriptions, and checks the three
// properties the hub's scale rests on: every work is written exactly once per
// change (creates, then one patch each for a changed commit), both rollouts
// converge within testBound, and a reconcile of every Subscription with
// nothing changed sends no write and no list to the API server.
func TestFleetRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := lab.StartControlPlane(ctx, "scale-test", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })

	spec := fleetSpec{Clusters: testClusters, Subscriptions: testSubscriptions, Objects: 3, ObjectSize: 512}
	f, err := newFleet(ctx, cp.Config, spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.git.Close() })
	track := newTracker(spec.works())
	ag, err := newAgents(cp.Config, spec, 0, 16, track)
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.start(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := newWatcher(ctx, cp.Config, spec)
	if err != nil {
		t.Fatal(err)
	}

	// The hub, with every request it sends counted.
	calls := &requestCounter{}
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = defaultHubQPS, defaultHubBurst
	cfg.Wrap(calls.wrap)
	harness.Run(t, "hub", func(ctx context.Context) error {
		return hub.Run(ctx, cfg, hub.Options{
			Controllers: []string{"placement", "channel", "subscription"},
			CacheDir:    t.TempDir(), Logger: logr.Discard(), MetricsAddr: "0", HealthAddr: "0",
			AllowNetworks: egress.Loopback(),
		})
	})

	// First rollout: one create per work, nothing else written to works.
	revision, err := f.head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls.reset()
	start := time.Now()
	if err := f.deploy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := until(ctx, testBound, "first rollout", func() (bool, string) { return w.converged(ctx, revision) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d works written and reported, %d Subscriptions converged in %s", spec.works(), spec.Subscriptions, time.Since(start).Round(time.Millisecond))
	got := calls.snapshot()
	if n := got["CREATE manifestworks"]; n != spec.works() {
		t.Errorf("first rollout created %d ManifestWorks, want %d (requests: %v)", n, spec.works(), got)
	}
	if n := got["PATCH manifestworks"] + got["UPDATE manifestworks"]; n != 0 {
		t.Errorf("first rollout rewrote ManifestWorks %d times, want 0 (requests: %v)", n, got)
	}

	// A commit changing every object: one patch per work.
	calls.reset()
	start = time.Now()
	revision, err = f.commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.requestReconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := until(ctx, testBound, "second rollout", func() (bool, string) { return w.converged(ctx, revision) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("a change reached %d works and was reported back in %s", spec.works(), time.Since(start).Round(time.Millisecond))
	got = calls.snapshot()
	if n := got["PATCH manifestworks"]; n != spec.works() {
		t.Errorf("second rollout patched %d ManifestWorks, want %d (requests: %v)", n, spec.works(), got)
	}
	if n := got["CREATE manifestworks"] + got["UPDATE manifestworks"]; n != 0 {
		t.Errorf("second rollout created or replaced ManifestWorks %d times, want 0 (requests: %v)", n, got)
	}

	// Nothing changed: every Subscription reconciles without a write or a list.
	if _, err := until(ctx, 30*time.Second, "subscription queue idle", func() (bool, string) {
		return subscriptionIdle(t), "busy"
	}); err != nil {
		t.Fatal(err)
	}
	before := reconciles(t)
	calls.reset()
	if err := f.requestReconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := until(ctx, 30*time.Second, "resync", func() (bool, string) {
		n := reconciles(t) - before
		return n >= testSubscriptions && subscriptionIdle(t), fmt.Sprintf("%.0f reconciles", n)
	}); err != nil {
		t.Fatal(err)
	}
	got = calls.snapshot()
	for k, n := range got {
		verb, resource, _ := strings.Cut(k, " ")
		if verb == "LIST" {
			t.Errorf("a resync with nothing changed listed %s %d times (requests: %v)", resource, n, got)
		}
		// The one write allowed: each Subscription records, once, that it
		// handled the request (status.lastHandledReconcileAt, as Flux does).
		if k == "PATCH subscriptions/status" && n <= testSubscriptions {
			continue
		}
		if verb != "GET" && verb != "WATCH" && !strings.HasPrefix(resource, "channels") && resource != "events" {
			t.Errorf("a resync with nothing changed wrote %s %d times (requests: %v)", k, n, got)
		}
	}
	subs := &appsv1.SubscriptionList{}
	if err := f.c.List(ctx, subs, client.InNamespace(fleetNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, sub := range subs.Items {
		if sub.Status.LastHandledReconcileAt == "" {
			t.Errorf("Subscription %s handled the requested reconcile without recording it in status.lastHandledReconcileAt", sub.Name)
		}
	}
	t.Logf("resync of %.0f reconciles sent: %v", reconciles(t)-before, got)
}

// subscriptionIdle reports an empty subscription queue with no reconcile running.
func subscriptionIdle(t *testing.T) bool {
	m := gather(t)
	return m.sum("workqueue_depth", map[string]string{"name": "subscription"}) == 0 &&
		m.sum("controller_runtime_active_workers", map[string]string{"controller": "subscription"}) == 0
}

func reconciles(t *testing.T) float64 {
	return gather(t).sum("controller_runtime_reconcile_total", map[string]string{"controller": "subscription"})
}

// gather reads controller-runtime's metrics registry, which the in-process
// hub reports to.
func gather(t *testing.T) metrics {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out metrics
	for _, f := range families {
		for _, m := range f.GetMetric() {
			s := sample{name: f.GetName(), labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			default:
				continue
			}
			out = append(out, s)
		}
	}
	return out
}

// requestCounter counts API requests by "VERB resource[/subresource]", with
// the verbs of Kubernetes' authorization (LIST, WATCH, GET, CREATE, UPDATE,
// PATCH, DELETE).
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		key := classify(req.Method, req.URL)
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[key]++
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	c.n = map[string]int{}
	c.mu.Unlock()
}

func (c *requestCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// classify names a request by verb and resource from its method and path
// (/api/v1/... or /apis/GROUP/VERSION/..., optionally namespaced).
func classify(method string, u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return method + " " + u.Path
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return method + " " + u.Path
	}
	resource, named := parts[0], len(parts) > 1
	if len(parts) > 2 {
		resource += "/" + parts[2]
	}
	verb := map[string]string{http.MethodPost: "CREATE", http.MethodPut: "UPDATE", http.MethodPatch: "PATCH", http.MethodDelete: "DELETE"}[method]
	if method == http.MethodGet {
		switch {
		case u.Query().Get("watch") == "true" || u.Query().Get("watch") == "1":
			verb = "WATCH"
		case named:
			verb = "GET"
		default:
			verb = "LIST"
		}
	}
	return verb + " " + resource
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct{ method, url, want string }{
		{"GET", "/apis/work.open-cluster-management.io/v1/manifestworks?limit=500", "LIST manifestworks"},
		{"GET", "/apis/work.open-cluster-management.io/v1/manifestworks?watch=true", "WATCH manifestworks"},
		{"POST", "/apis/work.open-cluster-management.io/v1/namespaces/c1/manifestworks", "CREATE manifestworks"},
		{"PATCH", "/apis/work.open-cluster-management.io/v1/namespaces/c1/manifestworks/w", "PATCH manifestworks"},
		{"PATCH", "/apis/apps.open-cluster-management.io/v1/namespaces/fleet/subscriptions/s/status", "PATCH subscriptions/status"},
		{"GET", "/api/v1/namespaces/fleet/secrets/creds", "GET secrets"},
		{"GET", "/api/v1/namespaces/fleet", "GET namespaces"},
		{"GET", "/apis/cluster.open-cluster-management.io/v1/managedclusters", "LIST managedclusters"},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := classify(tt.method, u); got != tt.want {
			t.Errorf("%s %s: got %q, want %q", tt.method, tt.url, got, tt.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x
apiserver_request_total{code="201",resource="manifestworks",subresource="",verb="POST"} 12
apiserver_request_total{code="409",resource="manifestworks",subresource="",verb="POST"} 3
go_memstats_heap_inuse_bytes 1.5e+07
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.sum("apiserver_request_total", map[string]string{"verb": "POST"}); got != 15 {
		t.Errorf("POSTs = %v, want 15", got)
	}
	if got := m.sum("go_memstats_heap_inuse_bytes", nil); got != 1.5e7 {
		t.Errorf("heap = %v, want 1.5e7", got)
	}
	d := requestDelta(m[:1], m)
	if d["POST manifestworks 409"] != 3 || len(d) != 1 {
		t.Errorf("delta = %v, want only 3 conflicts", d)
	}
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
