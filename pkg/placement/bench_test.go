package placement_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	. "github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
	"github.com/ocm-gitops/ocm-gitops/test/harness/procstat"
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
	// Namespaces of this invocation: -count runs the benchmark again on the
	// same API server.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench-%s-%d", run, iter)
		createNS(b, ns)
		must(b, testHub.c.Create(ctx, Binding(ns, "bench")))
		watch := watchNamespace(b, ns)
		b.StartTimer()

		cpu0 := childCPU()
		writes0 := apiWrites(b)
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
		writes := apiWrites(b) - writes0
		b.ReportMetric(cpu["kube-apiserver"], "apiserver-cpu-s")
		b.ReportMetric(cpu["etcd"], "etcd-cpu-s")
		b.ReportMetric(cpu["placement.test"], "test-process-cpu-s")
		b.ReportMetric(elapsed.Seconds(), "s/complete")
		b.ReportMetric(writes, "api-writes")
		watch.stop()

		// The same writes without the controller, in the same run.
		cpu0 = childCPU()
		floor := rawFloor(b, ns, fmt.Sprintf("raw-%s-%d", run, iter))
		cpu = childCPUDelta(cpu0, childCPU())
		b.ReportMetric(floor.Seconds(), "raw-floor-s")
		b.ReportMetric(cpu["kube-apiserver"], "raw-apiserver-cpu-s")
		b.Logf("%d placements x %d clusters over %d ManagedClusters: all PlacementDecisions complete in %s; the same writes done raw took %s (%.0f%%)",
			benchPlacements, benchClusters/benchGroups, benchClusters, elapsed.Round(time.Millisecond), floor.Round(time.Millisecond),
			100*floor.Seconds()/elapsed.Seconds())
		b.StartTimer()
	}
}

// apiWrites is the number of writes (creates, updates, patches, deletes) the
// API server has served, from its metrics.
func apiWrites(b *testing.B) float64 {
	b.Helper()
	hc, err := rest.HTTPClientFor(testHub.cfg)
	must(b, err)
	resp, err := hc.Get(strings.TrimSuffix(testHub.cfg.Host, "/") + "/metrics")
	must(b, err)
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		for _, verb := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`} {
			if strings.Contains(line, verb) {
				v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				total += v
			}
		}
	}
	must(b, sc.Err())
	return total
}

// rawFloorWriters bounds the raw writes in flight: as many as the
// controller's defaults allow (10 Placements at once, 10 writes each).
const rawFloorWriters = 100

// rawFloor makes, with an unthrottled client and no controller in the way, the
// API writes a scheduling run consists of, copying the controller's output
// from namespace from into namespace ns: per Placement, its create, a create
// and a status write for each of its PlacementDecisions, and its status patch,
// Placements in parallel as the controller does. The copies are marked
// disabled, so the controller leaves them alone. It returns how long the
// writes took: the API server's floor for the benchmark's work.
func rawFloor(b *testing.B, from, ns string) time.Duration {
	b.Helper()
	ctx := context.Background()
	var ps clusterv1beta1.PlacementList
	must(b, testHub.c.List(ctx, &ps, client.InNamespace(from)))
	var ds clusterv1beta1.PlacementDecisionList
	must(b, testHub.c.List(ctx, &ds, client.InNamespace(from)))
	decisions := map[string][]*clusterv1beta1.PlacementDecision{}
	for i := range ds.Items {
		d := &ds.Items[i]
		decisions[d.Labels[clusterv1beta1.PlacementLabel]] = append(decisions[d.Labels[clusterv1beta1.PlacementLabel]], d)
	}
	createNS(b, ns)
	sem := make(chan struct{}, rawFloorWriters)
	write := func(f func() error) error {
		sem <- struct{}{}
		defer func() { <-sem }()
		return f()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range ps.Items {
		orig := &ps.Items[i]
		wg.Go(func() {
			p := &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: orig.Name,
				Annotations: map[string]string{clusterv1beta1.PlacementDisableAnnotation: "true"}}, Spec: orig.Spec}
			if err := write(func() error { return testHub.c.Create(ctx, p) }); err != nil {
				b.Error(err)
				return
			}
			var inner sync.WaitGroup
			for _, d := range decisions[orig.Name] {
				inner.Go(func() {
					c := &clusterv1beta1.PlacementDecision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name, Labels: d.Labels,
						OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(p, schema.GroupVersion(clusterv1beta1.GroupVersion).WithKind("Placement"))}}}
					if err := write(func() error { return testHub.c.Create(ctx, c) }); err != nil {
						b.Error(err)
						return
					}
					c.Status = d.Status
					if err := write(func() error { return testHub.c.Status().Update(ctx, c) }); err != nil {
						b.Error(err)
					}
				})
			}
			inner.Wait()
			patch, _ := json.Marshal(map[string]any{"status": orig.Status})
			if err := write(func() error {
				return testHub.c.Status().Patch(ctx, p, client.RawPatch(types.MergePatchType, patch))
			}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if b.Failed() {
		b.FailNow()
	}
	return elapsed
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
	poll.Eventually(b, 60*time.Second, "the bench clusters in the cache", func() error {
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
	poll.Eventually(b, timeout, "every Placement of "+w.ns+" scheduled", func() error {
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

// childCPU reads the CPU seconds used so far by the test control plane's
// etcd and kube-apiserver, and by this process as "placement.test".
func childCPU() map[string]float64 {
	pids := procstat.Children()
	pids["placement.test"] = os.Getpid()
	out := map[string]float64{}
	for name, pid := range pids {
		out[name], _ = procstat.CPU(pid)
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
