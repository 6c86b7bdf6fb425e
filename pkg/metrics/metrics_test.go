package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// histogramCount returns the sample count of the histogram series with labels.
func histogramCount(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, labels) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestRecorderSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec, err := NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec.ObserveFetch("Git", 120*time.Millisecond, nil)
	rec.ObserveFetch("GitHub", time.Second, &source.Error{Kind: source.KindAuth})
	rec.ObserveFetch(appsv1.ChannelTypeHelmRepo, time.Second, fmt.Errorf("wrapped: %w", context.DeadlineExceeded))
	rec.ObserveRender("helm", 30*time.Millisecond, nil)
	rec.ObserveRender("kustomize", time.Millisecond, &render.Error{File: "apps/x", Err: errors.New("bad")})
	rec.ObserveRender("plain", time.Millisecond, context.Canceled)
	rec.ObserveRenderCache(true)
	rec.ObserveRenderCache(true)
	rec.ObserveRenderCache(false)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   uint64
	}{
		{SourceFetchDuration, map[string]string{"type": "git", "result": "success"}, 1},
		{SourceFetchDuration, map[string]string{"type": "git", "result": "auth_failed"}, 1},
		{SourceFetchDuration, map[string]string{"type": "helmrepo", "result": "canceled"}, 1},
		{SourceFetchDuration, map[string]string{"type": "objectbucket", "result": "success"}, 0},
		{RenderDuration, map[string]string{"kind": "helm", "result": "success"}, 1},
		{RenderDuration, map[string]string{"kind": "kustomize", "result": "invalid_input"}, 1},
		{RenderDuration, map[string]string{"kind": "plain", "result": "error"}, 1},
	} {
		if got := histogramCount(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v count = %d, want %d", c.name, c.labels, got, c.want)
		}
	}
	if got := testutil.ToFloat64(rec.hits); got != 2 {
		t.Errorf("cache hits = %v, want 2", got)
	}
	if got := testutil.ToFloat64(rec.misses); got != 1 {
		t.Errorf("cache misses = %v, want 1", got)
	}
	// Series with known labels exist before any event, so absent() alerts work.
	if n := testutil.CollectAndCount(rec.writes, ManifestWorkWrites); n != 4 {
		t.Errorf("%s has %d series before any write, want 4 (create, update, patch, delete)", ManifestWorkWrites, n)
	}

	// A second hub in the process shares the series instead of failing.
	again, err := NewRecorder(reg)
	if err != nil {
		t.Fatalf("second NewRecorder on the same registry: %v", err)
	}
	again.ObserveRenderCache(true)
	if got := testutil.ToFloat64(rec.hits); got != 3 {
		t.Errorf("cache hits after the second recorder counted = %v, want 3", got)
	}
}

func TestMetricNamesFollowPrometheusConventions(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewRecorder(reg); err != nil {
		t.Fatal(err)
	}
	// The fleet series need a cache; the hub test lints a full scrape.
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	ch := make(chan *prometheus.Desc, 16)
	newFleetCollector(nil).Describe(ch)
	close(ch)
	for d := range ch {
		if !strings.Contains(d.String(), `fqName: "ocm_gitops_`) {
			t.Errorf("fleet metric outside the ocm_gitops_ namespace: %s", d)
		}
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func condition(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason}
}

func TestComputeFleet(t *testing.T) {
	sub := func(name string, ready *metav1.Condition, sum appsv1.ClusterSummary) appsv1.Subscription {
		s := appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name}}
		if ready != nil {
			s.Status.Conditions = []metav1.Condition{*ready}
		}
		s.Status.Summary = sum
		return s
	}
	cluster := func(name string, available *metav1.ConditionStatus) clusterv1.ManagedCluster {
		mc := clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if available != nil {
			mc.Status.Conditions = []metav1.Condition{condition(clusterv1.ManagedClusterConditionAvailable, *available, "x")}
		}
		return mc
	}
	ok := condition(appsv1.ConditionReady, metav1.ConditionTrue, appsv1.ReasonSucceeded)
	drift := condition(appsv1.ConditionReady, metav1.ConditionFalse, appsv1.ReasonDriftDetected)
	yes, no := metav1.ConditionTrue, metav1.ConditionFalse

	g := computeFleet(
		[]appsv1.Subscription{
			sub("web", &ok, appsv1.ClusterSummary{Selected: 3, Applied: 3}),
			sub("db", &drift, appsv1.ClusterSummary{Selected: 4, Applied: 1, Drifted: 2, Offline: 1}),
			sub("new", nil, appsv1.ClusterSummary{}),
			sub("cache", &drift, appsv1.ClusterSummary{Selected: 2, Progressing: 1, Pending: 0, Failed: 0, Drifted: 1}),
			sub("shop", &drift, appsv1.ClusterSummary{Selected: 3, Applied: 2, Healthy: 2, Degraded: 1}),
		},
		[]clusterv1.ManagedCluster{cluster("a", &yes), cluster("b", &yes), cluster("c", &no), cluster("d", nil)},
	)
	wantSubs := map[readyKey]int{
		{"True", appsv1.ReasonSucceeded}:      1,
		{"False", appsv1.ReasonDriftDetected}: 3,
		{"Unknown", ""}:                       1,
	}
	if fmt.Sprint(g.subscriptions) != fmt.Sprint(wantSubs) {
		t.Errorf("subscriptions = %v, want %v", g.subscriptions, wantSubs)
	}
	// Applied, Progressing, Pending, Drifted, Failed, Offline, Degraded
	if want := []int64{6, 1, 0, 3, 0, 1, 1}; fmt.Sprint(g.byState) != fmt.Sprint(want) {
		t.Errorf("byState = %v, want %v", g.byState, want)
	}
	if g.byState[driftedIndex] != 3 || states()[driftedIndex] != appsv1.ClusterDrifted {
		t.Errorf("driftedIndex does not point at Drifted")
	}
	if g.healthy != 2 {
		t.Errorf("healthy = %d, want 2", g.healthy)
	}
	if len(g.perSubscription) != 5 || g.perSubscription[1].name != "db" || fmt.Sprint(g.perSubscription[1].counts) != "[1 0 0 2 0 1 0]" {
		t.Errorf("perSubscription = %+v", g.perSubscription)
	}
	if want := map[string]int{"True": 2, "False": 1, "Unknown": 1}; fmt.Sprint(g.managed) != fmt.Sprint(want) {
		t.Errorf("managed = %v, want %v", g.managed, want)
	}
}

func TestFetchResult(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "success"},
		{&source.Error{Kind: source.KindAuth}, "auth_failed"},
		{&source.Error{Kind: source.KindNotFound}, "not_found"},
		{&source.Error{Kind: source.KindInvalid}, "invalid"},
		{&source.Error{Kind: source.KindUnavailable}, "unavailable"},
		{errors.New("connection refused"), "unavailable"},
		{context.Canceled, "canceled"},
	} {
		if got := fetchResult(c.err); got != c.want {
			t.Errorf("fetchResult(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
