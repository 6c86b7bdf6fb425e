package placement_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	. "github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

const (
	benchClusters   = 5000
	benchPlacements = 100
	benchGroups     = 5 // each Placement selects benchClusters/benchGroups clusters
)

// BenchmarkSchedule5000 measures, on a real API server, the time from
// creating 100 Placements (each selecting 1,000 of 5,000 ManagedClusters by
// label) until every Placement's PlacementDecisions hold its 1,000 clusters
// and its status says so, with the controller's default options. Creating
// the clusters is not measured. Reported as s/complete.
func BenchmarkSchedule5000(b *testing.B) {
	needHub(b)
	ctx := context.Background()
	createBenchClusters(b)
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-%d", iter)
		createNS(b, ns)
		must(b, testHub.c.Create(ctx, Binding(ns, "bench")))
		watch := watchNamespace(b, ns)
		b.StartTimer()

		cpu0 := childCPU()
		start := time.Now()
		var wg sync.WaitGroup
		for i := range benchPlacements {
			wg.Go(func() {
				p := &clusterv1beta1.Placement{}
				p.Namespace, p.Name = ns, fmt.Sprintf("p-%03d", i)
				p.Spec.Predicates = []clusterv1beta1.ClusterPredicate{LabelPredicate("bench-group", fmt.Sprint(i%benchGroups))}
				if err := testHub.c.Create(ctx, p); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		watch.waitComplete(b, 60*time.Second)
		elapsed := time.Since(start)

		b.StopTimer()
		cpu := childCPUDelta(cpu0, childCPU())
		b.ReportMetric(cpu["kube-apiserver"], "apiserver-cpu-s")
		b.ReportMetric(cpu["etcd"], "etcd-cpu-s")
		b.ReportMetric(cpu["placement.test"], "test-process-cpu-s")
		b.ReportMetric(elapsed.Seconds(), "s/complete")
		b.Logf("%d placements x %d clusters over %d ManagedClusters: all PlacementDecisions complete in %s",
			benchPlacements, benchClusters/benchGroups, benchClusters, elapsed.Round(time.Millisecond))
		watch.stop()
		b.StartTimer()
	}
}

// createBenchClusters creates the ManagedClusters and their set once, and
// waits until the controller's cache holds them.
func createBenchClusters(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	var set clusterv1beta2.ManagedClusterSet
	if err := testHub.c.Get(ctx, client.ObjectKey{Name: "bench"}, &set); err == nil {
		return
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= benchClusters {
					return
				}
				mc := Cluster(fmt.Sprintf("bench-%04d", i), InSet("bench"), WithLabels("bench-group", fmt.Sprint(i%benchGroups)))
				if err := testHub.c.Create(ctx, mc); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	must(b, testHub.c.Create(ctx, ExclusiveSet("bench")))
	eventually(b, 60*time.Second, func() error {
		var list clusterv1.ManagedClusterList
		if err := testHub.mgr.GetCache().List(ctx, &list, client.HasLabels{"bench-group"}, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		if len(list.Items) != benchClusters {
			return fmt.Errorf("controller cache holds %d of %d clusters", len(list.Items), benchClusters)
		}
		return nil
	})
	b.Logf("created %d ManagedClusters in %s (not measured)", benchClusters, time.Since(start).Round(time.Millisecond))
}

// nsWatch is an independent informer cache on one namespace, standing in for
// a consumer that waits for the decisions.
type nsWatch struct {
	ns     string
	cache  cache.Cache
	cancel context.CancelFunc
}

func watchNamespace(b *testing.B, ns string) *nsWatch {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := cache.New(testHub.cfg, cache.Options{Scheme: scheme.New(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	must(b, err)
	for _, obj := range []client.Object{&clusterv1beta1.PlacementDecision{}, &clusterv1beta1.Placement{}} {
		_, err := c.GetInformer(ctx, obj)
		must(b, err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		b.Fatal("bench cache did not sync")
	}
	return &nsWatch{ns: ns, cache: c, cancel: cancel}
}

func (w *nsWatch) stop() { w.cancel() }

// waitComplete waits until every Placement selected its clusters: decisions
// hold exactly benchClusters/benchGroups distinct clusters and the status
// reports them.
func (w *nsWatch) waitComplete(b *testing.B, timeout time.Duration) {
	b.Helper()
	want := benchClusters / benchGroups
	ctx := context.Background()
	eventually(b, timeout, func() error {
		var ps clusterv1beta1.PlacementList
		if err := w.cache.List(ctx, &ps, client.InNamespace(w.ns), client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		if len(ps.Items) != benchPlacements {
			return fmt.Errorf("%d placements", len(ps.Items))
		}
		for i := range ps.Items {
			if n := ps.Items[i].Status.NumberOfSelectedClusters; n != int32(want) {
				return fmt.Errorf("placement %s reports %d clusters", ps.Items[i].Name, n)
			}
		}
		var ds clusterv1beta1.PlacementDecisionList
		if err := w.cache.List(ctx, &ds, client.InNamespace(w.ns), client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		per := map[string]map[string]bool{}
		for i := range ds.Items {
			d := &ds.Items[i]
			p := d.Labels[clusterv1beta1.PlacementLabel]
			if per[p] == nil {
				per[p] = map[string]bool{}
			}
			for _, c := range d.Status.Decisions {
				per[p][c.ClusterName] = true
			}
		}
		for i := range benchPlacements {
			p := fmt.Sprintf("p-%03d", i)
			if len(per[p]) != want {
				return fmt.Errorf("placement %s has %d of %d clusters decided", p, len(per[p]), want)
			}
		}
		return nil
	})
}

// childCPU reads the CPU seconds used so far by this process and its
// children (the test control plane's etcd and kube-apiserver), by name.
func childCPU() map[string]float64 {
	out := map[string]float64{}
	entries, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndex(s, ")")
		name := s[strings.Index(s, "(")+1 : i]
		f := strings.Fields(s[i+2:])
		ppid, _ := strconv.Atoi(f[1])
		if ppid != me && pid != me {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[name] += (u + st) / 100
	}
	return out
}

// childCPUDelta is b - a per name.
func childCPUDelta(a, b map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range b {
		out[k] = v - a[k]
	}
	return out
}
