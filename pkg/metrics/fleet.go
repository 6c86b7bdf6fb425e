package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// states lists the cluster states in the order fleet counts are indexed.
func states() []appsv1.ClusterState {
	return []appsv1.ClusterState{
		appsv1.ClusterApplied, appsv1.ClusterProgressing, appsv1.ClusterPending,
		appsv1.ClusterDrifted, appsv1.ClusterFailed, appsv1.ClusterOffline, appsv1.ClusterDegraded,
	}
}

// driftedIndex is ClusterDrifted's index in states().
const driftedIndex = 3

// collectTimeout bounds one scrape's reads of the cache.
const collectTimeout = 10 * time.Second

// AddFleetCollector adds to mgr the fleet gauges, computed at every scrape
// from mgr's informer cache (no state is kept between scrapes):
//
//	ocm_gitops_subscriptions{ready,reason}                 Subscriptions by their Ready condition
//	ocm_gitops_subscription_clusters{namespace,name,state} each Subscription's clusters by state
//	ocm_gitops_clusters_by_state{state}                    (Subscription, cluster) pairs by state, fleet-wide
//	ocm_gitops_drifted_clusters                            (Subscription, cluster) pairs reporting drift
//	ocm_gitops_healthy_clusters                            (Subscription, cluster) pairs whose workloads are healthy
//	ocm_gitops_managed_clusters{available}                 ManagedClusters by their Available condition
//
// The per-Subscription series are 7 per Subscription. The collector is
// registered on reg (nil: controller-runtime's registry) only while mgr
// leads, so standby replicas do not report the fleet twice. It reads
// Subscriptions and ManagedClusters, which the subscription controller
// caches and may read: add it with that controller.
func AddFleetCollector(mgr manager.Manager, reg prometheus.Registerer) error {
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	return mgr.Add(&fleetRunnable{
		cache:     mgr.GetCache(),
		reg:       reg,
		collector: newFleetCollector(mgr.GetCache()),
		log:       mgr.GetLogger().WithName("metrics"),
	})
}

// fleetRunnable registers the collector once the cache is warm and removes
// it when the manager stops.
type fleetRunnable struct {
	cache     cache.Cache
	reg       prometheus.Registerer
	collector *fleetCollector
	log       logr.Logger
}

// NeedLeaderElection: only the leader reports the fleet.
func (f *fleetRunnable) NeedLeaderElection() bool { return true }

func (f *fleetRunnable) Start(ctx context.Context) error {
	// Start the informers now, so no scrape waits for a first list.
	for _, obj := range []client.Object{&appsv1.Subscription{}, &clusterv1.ManagedCluster{}} {
		if _, err := f.cache.GetInformer(ctx, obj); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fleet metrics: start informer for %T: %w", obj, err)
		}
	}
	if !f.cache.WaitForCacheSync(ctx) {
		return nil
	}
	if err := f.reg.Register(f.collector); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("fleet metrics: %w", err)
		}
		// Another hub in this process (the lab, tests) reports its fleet.
		f.log.Info("fleet metrics are already reported by another hub in this process")
		<-ctx.Done()
		return nil
	}
	<-ctx.Done()
	f.reg.Unregister(f.collector)
	return nil
}

// fleetCollector is a prometheus.Collector reading the cache at scrape time.
type fleetCollector struct {
	reader client.Reader

	subscriptions *prometheus.Desc
	subClusters   *prometheus.Desc
	byState       *prometheus.Desc
	drifted       *prometheus.Desc
	healthy       *prometheus.Desc
	managed       *prometheus.Desc
	errors        prometheus.Counter
}

func newFleetCollector(r client.Reader) *fleetCollector {
	return &fleetCollector{
		reader: r,
		subscriptions: prometheus.NewDesc(Subscriptions,
			"Subscriptions by the status and reason of their Ready condition (Unknown: not reconciled yet).",
			[]string{"ready", "reason"}, nil),
		subClusters: prometheus.NewDesc(SubscriptionClusters,
			"Clusters selected by a Subscription, by state (Applied, Progressing, Pending, Drifted, Failed, Offline, Degraded).",
			[]string{"namespace", "name", "state"}, nil),
		byState: prometheus.NewDesc(ClustersByState,
			"(Subscription, cluster) pairs by state, summed over all Subscriptions.",
			[]string{"state"}, nil),
		drifted: prometheus.NewDesc(DriftedClusters,
			"(Subscription, cluster) pairs whose live objects drifted from what was applied.",
			nil, nil),
		healthy: prometheus.NewDesc(HealthyClusters,
			"(Subscription, cluster) pairs whose workloads of the deployed content are healthy, as their agents judge them.",
			nil, nil),
		managed: prometheus.NewDesc(ManagedClusters,
			"ManagedClusters by the status of their Available condition (Unknown: never reported).",
			[]string{"available"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: FleetCollectorErrors,
			Help: "Scrapes whose fleet gauges could not be read from the cache.",
		}),
	}
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.subscriptions, c.subClusters, c.byState, c.drifted, c.healthy, c.managed} {
		ch <- d
	}
	c.errors.Describe(ch)
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	defer c.errors.Collect(ch)

	var subs appsv1.SubscriptionList
	var clusters clusterv1.ManagedClusterList
	if err := c.reader.List(ctx, &subs, client.UnsafeDisableDeepCopy); err != nil {
		c.errors.Inc()
		return
	}
	if err := c.reader.List(ctx, &clusters, client.UnsafeDisableDeepCopy); err != nil {
		c.errors.Inc()
		return
	}
	g := computeFleet(subs.Items, clusters.Items)
	all := states()
	for k, n := range g.subscriptions {
		ch <- prometheus.MustNewConstMetric(c.subscriptions, prometheus.GaugeValue, float64(n), k.ready, k.reason)
	}
	for _, s := range g.perSubscription {
		for i, st := range all {
			ch <- prometheus.MustNewConstMetric(c.subClusters, prometheus.GaugeValue, float64(s.counts[i]), s.namespace, s.name, string(st))
		}
	}
	for i, st := range all {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(g.byState[i]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.drifted, prometheus.GaugeValue, float64(g.byState[driftedIndex]))
	ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, float64(g.healthy))
	for _, av := range []string{string(metav1.ConditionTrue), string(metav1.ConditionFalse), string(metav1.ConditionUnknown)} {
		ch <- prometheus.MustNewConstMetric(c.managed, prometheus.GaugeValue, float64(g.managed[av]), av)
	}
}

// fleet is what one scrape reports.
type fleet struct {
	subscriptions   map[readyKey]int
	perSubscription []subscriptionCounts
	byState         []int64 // indexed like states()
	healthy         int64
	managed         map[string]int
}

type readyKey struct{ ready, reason string }

type subscriptionCounts struct {
	namespace, name string
	counts          []int64 // indexed like states()
}

// computeFleet sums the Subscriptions' status summaries and the clusters'
// availability.
func computeFleet(subs []appsv1.Subscription, clusters []clusterv1.ManagedCluster) fleet {
	g := fleet{
		subscriptions:   map[readyKey]int{},
		perSubscription: make([]subscriptionCounts, 0, len(subs)),
		byState:         make([]int64, len(states())),
		managed:         map[string]int{},
	}
	for i := range subs {
		s := &subs[i]
		k := readyKey{ready: string(metav1.ConditionUnknown)}
		if c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady); c != nil {
			k = readyKey{ready: string(c.Status), reason: c.Reason}
		}
		g.subscriptions[k]++
		sum := s.Status.Summary
		counts := []int64{int64(sum.Applied), int64(sum.Progressing), int64(sum.Pending), int64(sum.Drifted), int64(sum.Failed), int64(sum.Offline), int64(sum.Degraded)}
		for j, n := range counts {
			g.byState[j] += n
		}
		g.healthy += int64(sum.Healthy)
		g.perSubscription = append(g.perSubscription, subscriptionCounts{namespace: s.Namespace, name: s.Name, counts: counts})
	}
	for i := range clusters {
		av := string(metav1.ConditionUnknown)
		if c := meta.FindStatusCondition(clusters[i].Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c != nil {
			av = string(c.Status)
		}
		g.managed[av]++
	}
	return g
}
