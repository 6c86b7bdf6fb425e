package work_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	workclientset "open-cluster-management.io/api/client/work/clientset/versioned"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
)

const (
	benchWorks      = 50
	benchPerWork    = 20
	benchNamespaces = 5
)

// BenchmarkApply1000ConfigMaps measures, end to end on real control planes,
// the time from creating 50 ManifestWorks of 20 ConfigMaps each on the hub to
// every work reporting Applied, with the agent's default settings. The agent
// already runs (warmed up by one small work), as it would on a cluster.
// Update is OCM's default strategy; ServerSideApply is what the ocm-gitops
// hub asks for.
//
//	go test ./pkg/klusterlet/work/ -run '^$' -bench Apply1000 -benchtime 5x
func BenchmarkApply1000ConfigMaps(b *testing.B) {
	b.Run("Update", func(b *testing.B) { benchApply(b, false) })
	b.Run("ServerSideApply", func(b *testing.B) { benchApply(b, true) })
}

func benchApply(b *testing.B, ssa bool) {
	var total time.Duration
	cpu := map[string]float64{}
	b.StopTimer()
	iter := 0
	for ; iter < b.N; iter++ {
		elapsed, used := applyRun(b, iter, ssa, nil, benchConfigMaps)
		total += elapsed
		for k, v := range used {
			cpu[k] += v
		}
	}
	// ns/op would include the set-up of every run; these are the measured spans.
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(total.Seconds()/float64(iter), "s/1000objects")
	b.ReportMetric(float64(benchWorks*benchPerWork*iter)/total.Seconds(), "objects/s")
	for k, v := range cpu {
		b.ReportMetric(v/float64(iter), k+"-cpu-s/op")
	}
}

// BenchmarkHealthCost measures what health on the agent costs on the apply
// path (issue 14: at most ~10%): the works of BenchmarkApply1000ConfigMaps,
// as the hub writes them (server-side apply), applied by an agent with
// health and by one without (WithoutHealth: no verdicts judged, no health
// conditions written), alternately in every iteration so both see the
// same load. It reports each time, their ratio, and the agent's CPU ratio.
//
//	go test ./pkg/klusterlet/work/ -run '^$' -bench HealthCost -benchtime 5x
func BenchmarkHealthCost(b *testing.B) {
	alternately(b, "with-health", "without-health",
		func(iter int) (time.Duration, map[string]float64) {
			return applyRun(b, iter, true, nil, benchConfigMaps)
		},
		func(iter int) (time.Duration, map[string]float64) {
			return applyRun(b, iter, true, work.WithoutHealth, benchConfigMaps)
		})
}

// alternately runs two apply runs in every iteration, alternating which
// goes first so neither always meets a warmer cache, and reports each
// time (s-NAME), the time ratio of the first to the second, and the ratio
// of the agent's CPU.
func alternately(b *testing.B, first, second string, runFirst, runSecond func(iter int) (time.Duration, map[string]float64)) {
	b.StopTimer()
	var t [2]time.Duration
	var cpu [2]float64
	iter := 0
	for ; iter < b.N; iter++ {
		for k := range 2 {
			i, run := 0, runFirst
			if (iter+k)%2 != 0 {
				i, run = 1, runSecond
			}
			d, used := run(iter)
			t[i], cpu[i] = t[i]+d, cpu[i]+used["agent+test"]
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(t[0].Seconds()/float64(iter), "s-"+first)
	b.ReportMetric(t[1].Seconds()/float64(iter), "s-"+second)
	b.ReportMetric(t[0].Seconds()/t[1].Seconds(), "time-ratio")
	if cpu[1] > 0 {
		b.ReportMetric(cpu[0]/cpu[1], "agent-cpu-ratio")
	}
}

// benchObjects are what the works of an apply benchmark carry.
type benchObjects struct {
	manifest func(ns, name string, c int) string // the c-th object of a work
	list     func() client.ObjectList            // lists them on the cluster
	obj      client.Object                       // their type, to delete them
	open     func(*unstructured.Unstructured) (*unstructured.Unstructured, error)
}

var benchConfigMaps = benchObjects{
	manifest: func(ns, name string, c int) string {
		return configMap(ns, name, map[string]string{"index": fmt.Sprint(c), "payload": "some configuration value"})
	},
	list: func() client.ObjectList { return &corev1.ConfigMapList{} },
	obj:  &corev1.ConfigMap{},
}

// applyRun starts an agent (configured by configure, when set) for a new
// cluster, applies benchWorks works of benchPerWork objects and returns
// the time until all report Applied and the CPU seconds used meanwhile by
// the two API servers and this process.
func applyRun(b *testing.B, iter int, ssa bool, configure func(o *work.Options), objs benchObjects) (time.Duration, map[string]float64) {
	ctx := context.Background()
	hub := rest.CopyConfig(hubCP.Config)
	hub.QPS, hub.Burst = 0, 0 // let the agent's defaults apply, as for a kubeconfig file
	managed := rest.CopyConfig(managedCP.Config)
	managed.QPS, managed.Burst = 0, 0
	watcher, err := workclientset.NewForConfig(hubCP.Config)
	if err != nil {
		b.Fatal(err)
	}
	cluster := newCluster(b, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%1e6, iter))
	agent := startAgent(b, cluster, hub, func(o *work.Options) {
		o.Managed = managed
		if configure != nil {
			configure(o)
		}
		if objs.open != nil {
			o.Open = objs.open
		}
	})
	ns := func(w int) string { return fmt.Sprintf("%s-ns%d", cluster, w%benchNamespaces) }
	for i := range benchNamespaces {
		createNS(b, spokeC, ns(i))
	}
	createNS(b, spokeC, cluster+"-warm")
	createWork(b, manifestWork(cluster, "warmup", configMap(cluster+"-warm", "w", nil)))
	waitWorkCondition(b, cluster, "warmup", workv1.WorkApplied, metav1.ConditionTrue, 30*time.Second)

	works := make([]*workv1.ManifestWork, benchWorks)
	for w := range works {
		var ms []string
		for c := 0; c < benchPerWork; c++ {
			ms = append(ms, objs.manifest(ns(w), fmt.Sprintf("w%d-obj%d", w, c), c))
		}
		name := fmt.Sprintf("%s-work-%d", cluster, w)
		if ssa {
			works[w] = hubLikeWork(cluster, name, false, ms...)
		} else {
			works[w] = manifestWork(cluster, name, ms...)
		}
	}
	watch, err := watcher.WorkV1().ManifestWorks(cluster).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}

	cpu0 := procCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := i; w < benchWorks; w += 10 {
				if err := hubC.Create(ctx, works[w]); err != nil {
					b.Errorf("create work: %v", err)
				}
			}
		}()
	}
	applied := map[string]bool{}
	timeout := time.After(3 * time.Minute) // a loaded 2-core machine takes 40 s and more
	for len(applied) < benchWorks {
		select {
		case ev, open := <-watch.ResultChan():
			if !open {
				if watch, err = watcher.WorkV1().ManifestWorks(cluster).Watch(ctx, metav1.ListOptions{}); err != nil {
					b.Fatal(err)
				}
				continue
			}
			w, ok := ev.Object.(*workv1.ManifestWork)
			if !ok || w.Name == "warmup" {
				continue
			}
			if c := meta.FindStatusCondition(w.Status.Conditions, workv1.WorkApplied); c != nil &&
				c.Status == metav1.ConditionTrue && c.ObservedGeneration == w.Generation {
				applied[w.Name] = true
			}
		case <-timeout:
			var l workv1.ManifestWorkList
			_ = hubC.List(ctx, &l, client.InNamespace(cluster))
			for _, w := range l.Items {
				if !applied[w.Name] {
					b.Logf("%s: generation %d finalizers %v conditions %+v", w.Name, w.Generation, w.Finalizers, w.Status.Conditions)
					break
				}
			}
			b.Fatalf("only %d of %d works applied after 3m (%d works exist)", len(applied), benchWorks, len(l.Items))
		}
	}
	elapsed := time.Since(start)
	used := procCPU()
	for k, v := range cpu0 {
		used[k] -= v
	}
	b.Logf("run %d: %d objects in %d works applied in %s", iter+1, benchWorks*benchPerWork, benchWorks, elapsed.Round(time.Millisecond))
	wg.Wait()
	watch.Stop()
	agent.stop()
	checkHealthConditions(b, cluster, configure == nil)

	// Every object is there.
	var n int
	for i := 0; i < benchNamespaces; i++ {
		l := objs.list()
		if err := spokeC.List(ctx, l, client.InNamespace(ns(i))); err != nil {
			b.Fatal(err)
		}
		n += meta.LenList(l)
	}
	if n < benchWorks*benchPerWork {
		b.Fatalf("%d objects on the cluster, want %d", n, benchWorks*benchPerWork)
	}
	// Leave the cluster lean for the next run.
	for i := 0; i < benchNamespaces; i++ {
		_ = spokeC.DeleteAllOf(ctx, objs.obj, client.InNamespace(ns(i)))
	}
	return elapsed, used
}

// checkHealthConditions fails the benchmark unless the first work of the
// run carries the health conditions exactly when health was on, so the
// comparison compares what it says.
func checkHealthConditions(b *testing.B, cluster string, want bool) {
	var w workv1.ManifestWork
	if err := hubC.Get(context.Background(), client.ObjectKey{Namespace: cluster, Name: cluster + "-work-0"}, &w); err != nil {
		b.Fatal(err)
	}
	if got := meta.FindStatusCondition(w.Status.Conditions, workv1.WorkProgressing) != nil; got != want {
		b.Fatalf("work %s: Progressing present = %t, want %t (health on = %t)", w.Name, got, want, want)
	}
}

// procCPU reads the CPU seconds used so far by the two kube-apiservers and
// this process (agent and test client), from /proc; empty elsewhere.
func procCPU() map[string]float64 {
	out := map[string]float64{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	hubPort, managedPort := "--secure-port="+port(hubCP.Config.Host), "--secure-port="+port(managedCP.Config.Host)
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		name := ""
		if pid == fmt.Sprint(os.Getpid()) {
			name = "agent+test"
		} else {
			cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			args := strings.Split(string(cmd), "\x00")
			switch {
			case !strings.HasSuffix(args[0], "kube-apiserver"):
				continue
			case slices.Contains(args, hubPort):
				name = "hub"
			case slices.Contains(args, managedPort):
				name = "managed"
			default:
				continue
			}
		}
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
		var utime, stime float64
		_, _ = fmt.Sscan(f[11], &utime)
		_, _ = fmt.Sscan(f[12], &stime)
		out[name] += (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
	}
	return out
}

func port(host string) string {
	host = strings.TrimSuffix(host, "/")
	return host[strings.LastIndex(host, ":")+1:]
}
