package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/procstat"
)

// fleetOptions are the fleet command's flags.
type fleetOptions struct {
	clusters, subscriptions []int
	spec                    fleetSpec
	ackDelay                time.Duration
	agentWorkers            int
	agentsMode              string
	rawCount, rawParallel   int
	hubBinary               string
	hubQPS                  float64
	hubBurst                int
	change, resync          bool
	leasePeriod             time.Duration
	idle                    time.Duration
	profileDir              string
	profileSeconds          int
	profileDelay            time.Duration
	timeout                 time.Duration
	jsonPath                string
	dir                     string
}

func runFleetCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o fleetOptions
	var clusters, subs, placement string
	fs.StringVar(&clusters, "clusters", "1000", "simulated clusters; a comma-separated list runs each size in turn")
	fs.StringVar(&subs, "subscriptions", "10", "Subscriptions, each deploying its own app to every cluster; a list runs each in turn")
	fs.IntVar(&o.spec.Objects, "objects", 5, "objects (ConfigMaps) per Subscription")
	fs.IntVar(&o.spec.ObjectSize, "object-size", 1024, "bytes per object")
	fs.StringVar(&placement, "placement", "placement", "how Subscriptions select clusters: placement (a Placement each, scheduled by the hub) or selector (spec.placement.clusterSelector)")
	fs.DurationVar(&o.ackDelay, "ack-delay", 0, "how long a simulated agent waits after seeing a new generation before reporting it applied")
	fs.IntVar(&o.agentWorkers, "agent-workers", 32, "status writers shared by the simulated agents")
	fs.StringVar(&o.agentsMode, "agents", "concurrent", "concurrent: agents report while the hub writes; after-fanout: agents hold their reports until every work is written (times the hub's writes alone)")
	fs.IntVar(&o.rawCount, "raw-count", 5000, "works created raw for the API server's baseline create rate (0: skip)")
	fs.IntVar(&o.rawParallel, "raw-parallel", 64, "parallel unthrottled creators for the baseline")
	fs.StringVar(&o.hubBinary, "hub", "self", "the hub to run: self (this program's hub command, with pprof) or the path of an ocm-gitops binary")
	fs.Float64Var(&o.hubQPS, "hub-qps", 0, "--kube-api-qps for the hub (0: the hub's default)")
	fs.IntVar(&o.hubBurst, "hub-burst", 0, "--kube-api-burst for the hub (with -hub-qps)")
	fs.DurationVar(&o.leasePeriod, "lease-period", leaseSeconds*time.Second, "how often each simulated cluster renews its Lease, as a registration agent does (0: never)")
	fs.DurationVar(&o.idle, "idle", 15*time.Second, "how long to measure the hub at rest (leases renewing, nothing to deploy) before the first rollout")
	fs.BoolVar(&o.change, "change", true, "after the first rollout, push a commit changing every object and time its rollout")
	fs.BoolVar(&o.resync, "resync", true, "finally ask the hub to reconcile every Subscription without a change and count its API requests")
	fs.StringVar(&o.profileDir, "profile-dir", "", "write CPU profiles of the hub and kube-apiserver during the first rollout and a heap profile of the hub at the end here")
	fs.IntVar(&o.profileSeconds, "profile-seconds", 30, "length of the CPU profiles")
	fs.DurationVar(&o.profileDelay, "profile-delay", 0, "start the CPU profiles this long after the first rollout starts")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "bound on each measured phase")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.dir, "dir", "", "working folder (default: a temporary folder, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.clusters, err = intList(clusters); err != nil {
		return fmt.Errorf("-clusters: %w", err)
	}
	if o.subscriptions, err = intList(subs); err != nil {
		return fmt.Errorf("-subscriptions: %w", err)
	}
	switch placement {
	case "placement":
	case "selector":
		o.spec.Selector = true
	default:
		return fmt.Errorf("-placement %q: want placement or selector", placement)
	}
	if o.agentsMode != "concurrent" && o.agentsMode != "after-fanout" {
		return fmt.Errorf("-agents %q: want concurrent or after-fanout", o.agentsMode)
	}
	if o.spec.Objects < 1 || o.spec.ObjectSize < 100 {
		return errors.New("-objects must be at least 1 and -object-size at least 100")
	}
	if o.hubBinary != "self" {
		if o.hubBinary, err = filepath.Abs(o.hubBinary); err != nil {
			return err
		}
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "ocm-gitops-scale-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "machine: %s\n", machine())
	var results []*fleetResult
	for _, n := range o.clusters {
		for _, s := range o.subscriptions {
			spec := o.spec
			spec.Clusters, spec.Subscriptions = n, s
			dir := filepath.Join(o.dir, fmt.Sprintf("%dx%d", n, s))
			res, err := runFleet(ctx, spec, o, dir, stdout)
			if err != nil {
				return fmt.Errorf("%d clusters x %d subscriptions: %w", n, s, err)
			}
			results = append(results, res)
		}
	}
	fmt.Fprintln(stdout)
	printSummary(stdout, results)
	if o.jsonPath != "" {
		data, _ := json.MarshalIndent(map[string]any{"machine": machine(), "results": results}, "", "  ")
		return os.WriteFile(o.jsonPath, data, 0o644)
	}
	return nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// fleetResult is what one run measured.
type fleetResult struct {
	Spec  fleetSpec     `json:"spec"`
	Setup time.Duration `json:"setup"`
	// Startup is how long the hub took, once ready, to have nothing left to
	// do with the fleet (registration of every cluster).
	Startup time.Duration `json:"startup"`
	// Idle is the hub at rest: API requests per second and CPU share.
	Idle     *idleResult    `json:"idle,omitempty"`
	Phases   []*phaseResult `json:"phases"`
	Raw      *rawResult     `json:"raw,omitempty"`
	WorkSize int            `json:"workBytes"`
	// Hub memory: peak RSS and peak Go heap in use over the run, and both
	// at the end.
	PeakRSS  int64   `json:"peakRSS"`
	PeakHeap float64 `json:"peakHeap"`
	EndRSS   int64   `json:"endRSS"`
	EndHeap  float64 `json:"endHeap"`
	Resync   *resync `json:"resync,omitempty"`
	Load     string  `json:"load"`
}

// idleResult is the load of a hub with nothing to deploy.
type idleResult struct {
	Seconds     float64            `json:"seconds"`
	RequestRate map[string]float64 `json:"requestsPerSecond"`
	CPU         map[string]float64 `json:"cpuShare"`
}

// phaseResult times one rollout, from the change to its full report.
type phaseResult struct {
	Name     string `json:"name"`
	Revision string `json:"revision"`
	// Durations from the start of the phase.
	Placed     time.Duration `json:"placed,omitempty"`
	FirstWrite time.Duration `json:"firstWrite"`
	AllWritten time.Duration `json:"allWritten"`
	AllAcked   time.Duration `json:"allReported"`
	Converged  time.Duration `json:"converged"`
	// FanoutRate is works per second from the first to the last written.
	FanoutRate float64            `json:"fanoutRate"`
	CPU        map[string]float64 `json:"cpuSeconds"`
	Requests   map[string]float64 `json:"requests"`
	// Latency is the API server's mean time per request, in ms.
	Latency map[string]float64 `json:"latencyMillis"`
}

// resync counts the API requests of a reconcile of every Subscription that
// has nothing to change.
type resync struct {
	Reconciles float64            `json:"reconciles"`
	Requests   map[string]float64 `json:"requests"`
	Writes     float64            `json:"writes"`
	Lists      float64            `json:"lists"`
}

func runFleet(ctx context.Context, spec fleetSpec, o fleetOptions, dir string, out io.Writer) (*fleetResult, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := &fleetResult{Spec: spec}
	fmt.Fprintf(out, "\n== %d clusters x %d subscriptions (%d objects of %d bytes each) ==\n", spec.Clusters, spec.Subscriptions, spec.Objects, spec.ObjectSize)
	assets, err := lab.FindAssets("")
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cp, err := lab.StartControlPlane(runCtx, "scale-hub", lab.RoleHub, assets)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cp.Stop() }()
	kubeconfig := filepath.Join(dir, "hub.kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	apiHTTP, err := rest.HTTPClientFor(cp.Config)
	if err != nil {
		return nil, err
	}
	apiMetrics := func() metrics {
		m, err := scrape(runCtx, apiHTTP, strings.TrimSuffix(cp.Config.Host, "/")+"/metrics")
		if err != nil {
			fmt.Fprintf(out, "warning: kube-apiserver metrics: %v\n", err)
		}
		return m
	}

	start := time.Now()
	f, err := newFleet(runCtx, cp.Config, spec, dir)
	if err != nil {
		return nil, err
	}
	defer f.git.Close()
	res.Setup = time.Since(start)
	fmt.Fprintf(out, "setup: %d namespaces and ManagedClusters in %s\n", spec.Clusters, res.Setup.Round(time.Millisecond))

	track := newTracker(spec.works())
	ag, err := newAgents(cp.Config, spec, o.ackDelay, o.agentWorkers, track)
	if err != nil {
		return nil, err
	}
	if err := ag.start(runCtx); err != nil {
		return nil, err
	}
	w, err := newWatcher(runCtx, cp.Config, spec)
	if err != nil {
		return nil, err
	}

	hubLog, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		return nil, err
	}
	defer hubLog.Close()
	h, err := startHubProcess(runCtx, o.hubBinary, kubeconfig, dir, o.hubQPS, o.hubBurst, hubLog)
	if err != nil {
		return nil, err
	}
	defer h.stop()
	mem := sampleMemory(h.pid(), h.metricsURL, 500*time.Millisecond)
	defer mem.close()
	go f.renewLeases(runCtx, o.leasePeriod)
	ready := time.Now()
	if _, err := until(runCtx, o.timeout, "clusters registered", func() (bool, string) { return w.registered(runCtx) }); err != nil {
		return nil, err
	}
	if _, err := until(runCtx, o.timeout, "hub idle after start", hubIdle(runCtx, h.metricsURL)); err != nil {
		return nil, err
	}
	res.Startup = time.Since(ready)
	fmt.Fprintf(out, "hub: ready, then done with %d clusters after %s\n", spec.Clusters, res.Startup.Round(time.Millisecond))
	pids := procstat.Children()
	for name, pid := range pids {
		if pid == h.pid() {
			delete(pids, name)
		}
	}
	pids["hub"] = h.pid()
	pids["harness"] = os.Getpid()

	if o.idle > 0 {
		before := apiMetrics()
		cpu := newCPUMeter(pids)
		time.Sleep(o.idle)
		idle := &idleResult{Seconds: o.idle.Seconds(), RequestRate: requestDelta(before, apiMetrics()), CPU: cpu.used()}
		for k := range idle.RequestRate {
			idle.RequestRate[k] /= idle.Seconds
		}
		for k := range idle.CPU {
			idle.CPU[k] /= idle.Seconds
		}
		res.Idle = idle
		fmt.Fprintf(out, "idle for %s: requests/s %s; CPU share %s\n", o.idle, formatMap(idle.RequestRate, "%.1f"), formatMap(idle.CPU, "%.2f"))
	}

	// First rollout.
	revision, err := f.head(runCtx)
	if err != nil {
		return nil, err
	}
	if o.agentsMode == "after-fanout" {
		ag.hold()
	}
	profiles := make(chan error, 2)
	deploy := &phaseResult{Name: "deploy", Revision: revision}
	err = measure(runCtx, deploy, pids, apiMetrics, func(t0 time.Time) error {
		if o.profileDir != "" {
			q := fmt.Sprintf("?seconds=%d", o.profileSeconds)
			go func() {
				time.Sleep(o.profileDelay)
				profiles <- h.profile(runCtx, "profile", q, filepath.Join(o.profileDir, fmt.Sprintf("hub-cpu-%dx%d.pprof", spec.Clusters, spec.Subscriptions)))
			}()
			go func() {
				time.Sleep(o.profileDelay)
				profiles <- download(runCtx, apiHTTP, strings.TrimSuffix(cp.Config.Host, "/")+"/debug/pprof/profile"+q, filepath.Join(o.profileDir, fmt.Sprintf("apiserver-cpu-%dx%d.pprof", spec.Clusters, spec.Subscriptions)))
			}()
		}
		if err := f.deploy(runCtx); err != nil {
			return err
		}
		if !spec.Selector {
			placed, err := until(runCtx, o.timeout, "placement decisions", func() (bool, string) { return w.placed(runCtx) })
			if err != nil {
				return err
			}
			deploy.Placed = placed.Sub(t0)
		}
		return rollout(runCtx, deploy, t0, track, ag, w, o.timeout)
	})
	if err != nil {
		return nil, err
	}
	report(out, deploy, spec)
	if o.profileDir != "" {
		for range 2 {
			if err := <-profiles; err != nil {
				fmt.Fprintf(out, "warning: profile: %v\n", err)
			}
		}
	}

	// The API server's own create rate for works of the same size.
	var template workv1.ManifestWork
	if err := f.c.Get(runCtx, client.ObjectKey{Namespace: clusterName(0), Name: fleetNamespace + "." + appName(0)}, &template); err != nil {
		return nil, fmt.Errorf("read a hub-written work: %w", err)
	}
	size, _ := json.Marshal(&template)
	res.WorkSize = len(size)
	if o.rawCount > 0 {
		raw, err := rawCreates(runCtx, cp.Config, &template, spec.Clusters, o.rawCount, o.rawParallel)
		if err != nil {
			return nil, err
		}
		res.Raw = &raw
		fmt.Fprintf(out, "raw creates: %d works of %d bytes (hub's: %d bytes with status) by %d unthrottled creators in %s: %.0f/s; hub fan-out was %.0f/s = %.0f%%\n",
			raw.Count, raw.Bytes, res.WorkSize, raw.Parallel, raw.Elapsed.Round(time.Millisecond), raw.Rate, deploy.FanoutRate, 100*deploy.FanoutRate/raw.Rate)
	}
	res.Phases = append(res.Phases, deploy)

	if o.change {
		ag.release()
		if o.agentsMode == "after-fanout" {
			ag.hold()
		}
		change := &phaseResult{Name: "change"}
		err = measure(runCtx, change, pids, apiMetrics, func(t0 time.Time) error {
			rev, err := f.commit(runCtx)
			if err != nil {
				return err
			}
			change.Revision = rev
			if err := f.requestReconcile(runCtx); err != nil {
				return err
			}
			return rollout(runCtx, change, t0, track, ag, w, o.timeout)
		})
		if err != nil {
			return nil, err
		}
		report(out, change, spec)
		res.Phases = append(res.Phases, change)
		revision = change.Revision
	}
	ag.release()

	if o.resync {
		rs, err := measureResync(runCtx, f, h.metricsURL, apiMetrics, spec.Subscriptions, o.timeout)
		if err != nil {
			return nil, err
		}
		res.Resync = rs
		fmt.Fprintf(out, "no-op resync: %.0f reconciles, %.0f writes, %.0f lists; requests %v\n", rs.Reconciles, rs.Writes, rs.Lists, rs.Requests)
		if ok, why := w.converged(runCtx, revision); !ok {
			return nil, fmt.Errorf("after the resync: %s", why)
		}
	}

	res.PeakRSS, res.PeakHeap = mem.peaks()
	res.EndRSS, _, _ = procstat.Memory(h.pid())
	if m, err := scrape(runCtx, http.DefaultClient, h.metricsURL); err == nil {
		res.EndHeap = m.sum("go_memstats_heap_inuse_bytes", nil)
	}
	if o.profileDir != "" {
		if err := h.profile(runCtx, "heap", "?gc=1", filepath.Join(o.profileDir, fmt.Sprintf("hub-heap-%dx%d.pprof", spec.Clusters, spec.Subscriptions))); err != nil {
			fmt.Fprintf(out, "warning: heap profile: %v\n", err)
		}
	}
	res.Load = loadAverage()
	fmt.Fprintf(out, "hub memory: peak RSS %s, peak heap in use %s; at the end RSS %s, heap %s; agent reports %d (errors %d); load %s\n",
		mib(float64(res.PeakRSS)), mib(res.PeakHeap), mib(float64(res.EndRSS)), mib(res.EndHeap), ag.reports.Load(), ag.errors.Load(), res.Load)
	return res, nil
}

// measure runs a phase, recording the CPU every process used and the API
// requests the API server served during it.
func measure(ctx context.Context, p *phaseResult, pids map[string]int, apiMetrics func() metrics, body func(t0 time.Time) error) error {
	before := apiMetrics()
	cpu := newCPUMeter(pids)
	t0 := time.Now()
	if err := body(t0); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	p.CPU = cpu.used()
	after := apiMetrics()
	p.Requests = requestDelta(before, after)
	p.Latency = latencyDelta(before, after)
	return nil
}

// rollout waits for a revision's works to be written and reported and for
// every Subscription to say so.
func rollout(ctx context.Context, p *phaseResult, t0 time.Time, track *tracker, ag *agents, w *watcher, timeout time.Duration) error {
	target := w.spec.works()
	if _, err := until(ctx, timeout, "works written", func() (bool, string) {
		n, _ := track.counts(p.Revision)
		return n >= target, fmt.Sprintf("%d of %d works written", n, target)
	}); err != nil {
		return err
	}
	ag.release()
	if _, err := until(ctx, timeout, "works reported", func() (bool, string) {
		_, n := track.counts(p.Revision)
		return n >= target, fmt.Sprintf("%d of %d works reported", n, target)
	}); err != nil {
		return err
	}
	converged, err := until(ctx, timeout, "subscriptions converged", func() (bool, string) { return w.converged(ctx, p.Revision) })
	if err != nil {
		return err
	}
	first, written, acked := track.times(p.Revision)
	p.FirstWrite, p.AllWritten, p.AllAcked, p.Converged = first.Sub(t0), written.Sub(t0), acked.Sub(t0), converged.Sub(t0)
	if d := written.Sub(first).Seconds(); d > 0 {
		p.FanoutRate = float64(target) / d
	}
	return nil
}

// hubIdle reports whether the hub's work queues have been empty, with no
// reconcile running, for three checks in a row.
func hubIdle(ctx context.Context, metricsURL string) func() (bool, string) {
	quiet := 0
	return func() (bool, string) {
		m, err := scrape(ctx, http.DefaultClient, metricsURL)
		if err != nil {
			quiet = 0
			return false, err.Error()
		}
		depth, active := m.sum("workqueue_depth", nil), m.sum("controller_runtime_active_workers", nil)
		if depth > 0 || active > 0 {
			quiet = 0
			return false, fmt.Sprintf("%.0f queued, %.0f reconciling", depth, active)
		}
		quiet++
		return quiet >= 3, "settling"
	}
}

// measureResync asks the hub to reconcile every Subscription with nothing
// changed and counts the requests the API server serves meanwhile.
func measureResync(ctx context.Context, f *fleet, hubMetrics string, apiMetrics func() metrics, subs int, timeout time.Duration) (*resync, error) {
	reconciles := func() float64 {
		m, err := scrape(ctx, http.DefaultClient, hubMetrics)
		if err != nil {
			return -1
		}
		return m.sum("controller_runtime_reconcile_total", map[string]string{"controller": "subscription"})
	}
	idle := func() bool {
		m, err := scrape(ctx, http.DefaultClient, hubMetrics)
		return err == nil && m.sum("workqueue_depth", map[string]string{"name": "subscription"}) == 0 &&
			m.sum("controller_runtime_active_workers", map[string]string{"controller": "subscription"}) == 0
	}
	// Let the last status reports settle.
	if _, err := until(ctx, timeout, "hub idle", func() (bool, string) { return idle(), "subscription queue busy" }); err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	r0 := reconciles()
	before := apiMetrics()
	if err := f.requestReconcile(ctx); err != nil {
		return nil, err
	}
	if _, err := until(ctx, timeout, "resync done", func() (bool, string) {
		n := reconciles() - r0
		return n >= float64(subs) && idle(), fmt.Sprintf("%.0f of %d reconciles", n, subs)
	}); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	rs := &resync{Reconciles: reconciles() - r0, Requests: requestDelta(before, apiMetrics())}
	for k, v := range rs.Requests {
		verb, resource, _ := strings.Cut(k, " ")
		resource, _, _ = strings.Cut(resource, " ")
		switch strings.Split(resource, "/")[0] {
		case "manifestworks", "subscriptions", "placementdecisions", "placements":
		default:
			continue // the Channel's status, leases and registration are not the Subscriptions' doing
		}
		switch verb {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION":
			rs.Writes += v
		}
	}
	for k, v := range rs.Requests {
		if strings.HasPrefix(k, "LIST ") {
			rs.Lists += v
		}
	}
	return rs, nil
}

// requestDelta is the number of API requests served between two scrapes, by
// "VERB resource[/subresource][ code]", leaving out watches.
func requestDelta(before, after metrics) map[string]float64 {
	return metricDelta(before, after, "apiserver_request_total", true)
}

// latencyDelta is the mean time the API server took per request between two
// scrapes, in milliseconds, by "VERB resource[/subresource]".
func latencyDelta(before, after metrics) map[string]float64 {
	sum := metricDelta(before, after, "apiserver_request_duration_seconds_sum", false)
	count := metricDelta(before, after, "apiserver_request_duration_seconds_count", false)
	out := map[string]float64{}
	for k, n := range count {
		if n > 0 {
			out[k] = 1000 * sum[k] / n
		}
	}
	return out
}

func metricDelta(before, after metrics, name string, withCode bool) map[string]float64 {
	key := func(s sample) string {
		r := s.labels["resource"]
		if sub := s.labels["subresource"]; sub != "" {
			r += "/" + sub
		}
		k := s.labels["verb"] + " " + r
		if c := s.labels["code"]; withCode && c != "" && c[0] != '2' {
			k += " " + c
		}
		return k
	}
	out := map[string]float64{}
	for i, ms := range []metrics{after, before} {
		sign := 1.0
		if i == 1 {
			sign = -1
		}
		for _, s := range ms {
			if s.name == name && s.labels["verb"] != "WATCH" && s.labels["resource"] != "" {
				out[key(s)] += sign * s.value
			}
		}
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

func report(out io.Writer, p *phaseResult, spec fleetSpec) {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	fmt.Fprintf(out, "%s (%s): placed %s, first work %s, all %d written %s (%.0f works/s), all reported %s, all Subscriptions converged %s\n",
		p.Name, p.Revision, ms(p.Placed), ms(p.FirstWrite), spec.works(), ms(p.AllWritten), p.FanoutRate, ms(p.AllAcked), ms(p.Converged))
	fmt.Fprintf(out, "  cpu seconds: %s\n", formatMap(p.CPU, "%.1f"))
	fmt.Fprintf(out, "  api requests: %s\n", formatMap(p.Requests, "%.0f"))
	fmt.Fprintf(out, "  api mean ms: %s\n", formatMap(p.Latency, "%.1f"))
}

func formatMap(m map[string]float64, f string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+fmt.Sprintf(f, m[k]))
	}
	return strings.Join(parts, " ")
}

// printSummary prints one Markdown table row per run.
func printSummary(out io.Writer, results []*fleetResult) {
	fmt.Fprintln(out, "| clusters | subs | works | deploy: written | fan-out/s | raw creates/s | fan-out % of raw | deploy: converged | change: converged | hub CPU s (deploy) | apiserver CPU s (deploy) | hub peak RSS | hub peak heap | resync writes/lists |")
	fmt.Fprintln(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		d := r.Phases[0]
		change := "-"
		if len(r.Phases) > 1 {
			change = secs(r.Phases[1].Converged)
		}
		raw, pct := "-", "-"
		if r.Raw != nil {
			raw, pct = fmt.Sprintf("%.0f", r.Raw.Rate), fmt.Sprintf("%.0f%%", 100*d.FanoutRate/r.Raw.Rate)
		}
		rs := "-"
		if r.Resync != nil {
			rs = fmt.Sprintf("%.0f/%.0f", r.Resync.Writes, r.Resync.Lists)
		}
		fmt.Fprintf(out, "| %d | %d | %d | %s | %.0f | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s |\n",
			r.Spec.Clusters, r.Spec.Subscriptions, r.Spec.works(), secs(d.AllWritten), d.FanoutRate, raw, pct,
			secs(d.Converged), change, d.CPU["hub"], d.CPU["kube-apiserver"], mib(float64(r.PeakRSS)), mib(r.PeakHeap), rs)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// machine describes where the figures were taken.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	memTotal := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				memTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s, load %s", runtime.NumCPU(), model, memTotal, runtime.Version(), loadAverage())
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
