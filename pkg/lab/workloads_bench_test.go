package lab

import (
	"context"
	"flag"
	"sort"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/ocm-gitops/ocm-gitops/test/harness/procstat"
)

var restFor = flag.Duration("workloads.rest", time.Minute, "how long BenchmarkWorkloadCluster measures CPU at rest")

// BenchmarkWorkloadCluster measures what running pods adds to a cluster
// (docs/performance.md): two managed control planes start side by side,
// one of them with workloads and a Deployment of 4 pods; it reports the time
// StartWorkloads took, each process's memory, and each process's CPU over
// -workloads.rest at rest, the API server and etcd of both included, so the
// load the workload processes put on them is a difference in one run:
//
//	go test -run '^$' -bench WorkloadCluster -benchtime 1x ./pkg/lab/
func BenchmarkWorkloadCluster(b *testing.B) {
	ctx := context.Background()
	assets, err := FindAssets("")
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		var plain, pods *ControlPlane
		var g errgroup.Group
		g.Go(func() (err error) { plain, err = StartControlPlane(ctx, "plain", RoleManaged, assets); return err })
		g.Go(func() (err error) { pods, err = StartControlPlane(ctx, "pods", RoleManaged, assets); return err })
		err := g.Wait()
		b.Cleanup(func() { _ = plain.Stop(); _ = pods.Stop() })
		if err != nil {
			b.Fatal(err)
		}

		started := time.Now()
		if err := pods.StartWorkloads(ctx, WorkloadOptions{Dir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
		startTook := time.Since(started)
		cs, err := kubernetes.NewForConfig(pods.Config)
		if err != nil {
			b.Fatal(err)
		}
		createDeployment(b, cs, "default", "web", "nginx:1.27", 4)
		waitAvailable(b, cs, "default", "web", 4)
		readyTook := time.Since(started)

		procs := map[string]int{}
		for prefix, cp := range map[string]*ControlPlane{"plain.": plain, "pods.": pods} {
			pids, err := cp.PIDs()
			if err != nil {
				b.Fatal(err)
			}
			for name, pid := range pids {
				procs[prefix+name] = pid
			}
		}
		before := map[string]float64{}
		for name, pid := range procs {
			if before[name], err = procstat.CPU(pid); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(*restFor) // the measurement window, not a wait for a condition
		names := make([]string, 0, len(procs))
		for name := range procs {
			names = append(names, name)
		}
		sort.Strings(names)
		b.Logf("StartWorkloads took %s; 4 pods Available %s after it began", startTook.Round(10*time.Millisecond), readyTook.Round(10*time.Millisecond))
		b.Logf("%-32s %8s %8s %12s", "process", "RSS MB", "peak MB", "CPU at rest")
		for _, name := range names {
			cpu, err := procstat.CPU(procs[name])
			if err != nil {
				b.Fatal(err)
			}
			rss, peak, err := procstat.Memory(procs[name])
			if err != nil {
				b.Fatal(err)
			}
			millicores := (cpu - before[name]) / restFor.Seconds() * 1000
			b.Logf("%-32s %8.0f %8.0f %9.1f m", name, float64(rss)/1e6, float64(peak)/1e6, millicores)
			b.ReportMetric(float64(rss)/1e6, name+"-MB")
			b.ReportMetric(millicores, name+"-millicores")
		}
		b.ReportMetric(startTook.Seconds(), "start-s")
	}
}
