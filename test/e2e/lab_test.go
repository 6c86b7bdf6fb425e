package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsk8s "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestLabExample starts the lab as `make lab` does, with the repository's
// own fleet-repo-example, channels/ and subscriptions/, and checks the whole
// example: the local Subscription puts the hub objects from Git on the hub,
// every app Subscription is Ready on the clusters its Placement chooses (by
// environment and region, with decision groups), Kustomize overlays differ
// per environment, Helm values per region, the Helm repository's version is
// the newest in the range; then that one push reaches every cluster and the
// hub through the webhook; that the example's encrypted Secret is opened on
// every cluster, rotated by a push, and never plain on the hub; and that the
// lab stops without leaving processes or goroutines behind.
func TestLabExample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	before := ourGoroutines()
	var progress bytes.Buffer
	errs := &errorLog{}
	started := time.Now()
	l, err := lab.Start(ctx, lab.Options{
		Clusters: 3, Dir: dir, GitAddr: "127.0.0.1:0", Logger: logr.New(errs), Progress: &progress,
		Workloads:  true,
		Example:    true,
		ExampleDir: filepath.Join(root, "fleet-repo-example"),
		ApplyDirs:  []string{filepath.Join(root, "channels"), filepath.Join(root, "subscriptions")},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = l.Stop()
		}
	})
	up := time.Since(started)
	if err := l.WaitReconciled(ctx, 60*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab up in %s, example fleet reconciled %s later", up.Round(time.Millisecond), (time.Since(started) - up).Round(time.Millisecond))
	for _, name := range []string{"local-cluster", "cluster1", "cluster2", "cluster3"} {
		if !strings.Contains(progress.String(), name+" joined") {
			t.Errorf("progress does not say %s joined:\n%s", name, progress.String())
		}
	}
	// Agents start once the hub has granted their identities access: no
	// failed first attempts.
	if bad := errs.matching("forbidden", "joining the hub failed"); len(bad) > 0 {
		t.Errorf("start-up logged errors:\n%s", strings.Join(bad, "\n"))
	}

	hub := mustClient(t, l.Hub)
	clusters := map[string]client.Client{"local-cluster": hub}
	for _, cp := range l.Clusters {
		clusters[cp.Name] = mustClient(t, cp)
	}

	// The hub is a managed cluster of itself, outside the cluster sets.
	local := &clusterv1.ManagedCluster{}
	if err := hub.Get(ctx, client.ObjectKey{Name: "local-cluster"}, local); err != nil {
		t.Fatal(err)
	}
	if local.Labels["local-cluster"] != "true" || local.Labels[clusterv1beta2.ClusterSetLabel] != "" {
		t.Errorf("local-cluster labels %v", local.Labels)
	}

	// The hub objects came from Git through the local Subscription.
	work := &workv1.ManifestWork{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: "local-cluster", Name: "fleet.hub"}, work); err != nil {
		t.Fatalf("the local Subscription's ManifestWork: %v", err)
	}
	for _, o := range []client.Object{
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "production"}},
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "node-probe", Name: "production"}},
		&clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: "guestbook", Name: "prod"}},
	} {
		if err := hub.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Errorf("hub object from hub/ in Git: %v", err)
		}
	}

	// Every Subscription is Ready and applied exactly where its Placement says.
	want := map[string][]string{
		"fleet/hub":                {"local-cluster"},
		"hello/hello":              {"cluster1", "cluster2", "cluster3"},
		"guestbook/guestbook-dev":  {"cluster1"},
		"guestbook/guestbook-prod": {"cluster2", "cluster3"},
		"status-page/status-page":  {"cluster1", "cluster2", "cluster3"},
		"node-probe/node-probe":    {"cluster2", "cluster3"},
	}
	// Ready comes before health: a Deployment's pods need a moment on the
	// simulated nodes, and until its agent reports them the cluster is
	// Progressing. Wait (bounded) until every selected cluster is applied
	// and healthy, then check the details.
	var subs appsv1.SubscriptionList
	poll.Eventually(t, 90*time.Second, "every Subscription applied and healthy where selected", func() error {
		if err := hub.List(ctx, &subs); err != nil {
			return err
		}
		for _, s := range subs.Items {
			if sum := s.Status.Summary; sum.Applied != sum.Selected || int(sum.Selected) != len(want[s.Namespace+"/"+s.Name]) {
				return fmt.Errorf("%s/%s: summary %+v", s.Namespace, s.Name, sum)
			}
		}
		return nil
	})
	got := map[string][]string{}
	for _, s := range subs.Items {
		key := s.Namespace + "/" + s.Name
		got[key] = []string{}
		for _, c := range s.Status.Clusters {
			if c.State != appsv1.ClusterApplied {
				t.Errorf("%s on %s: %s %s", key, c.Name, c.State, c.Message)
			}
			got[key] = append(got[key], c.Name)
		}
		sort.Strings(got[key])
		if int(s.Status.Summary.Applied) != len(want[key]) || s.Status.Summary.Selected != s.Status.Summary.Applied {
			t.Errorf("%s: summary %+v, want applied on %d", key, s.Status.Summary, len(want[key]))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Subscriptions and their clusters:\n got %v\nwant %v", got, want)
	}
	prod := &appsv1.Subscription{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: "guestbook", Name: "guestbook-prod"}, prod); err != nil {
		t.Fatal(err)
	}
	if r := prod.Status.Rollout; r == nil || r.Phase != appsv1.RolloutSucceeded || r.Updated != 2 {
		t.Errorf("guestbook-prod rolls out per group: rollout status %+v, want Succeeded on 2", r)
	}

	// Decision groups: production by region, east first.
	for placement, groups := range map[string]string{
		"guestbook/prod":        "0:east=[cluster3] 1:west=[cluster2]",
		"status-page/by-region": "0:east=[cluster1 cluster3] 1:west=[cluster2]",
		"node-probe/production": "0:=[cluster2 cluster3]",
	} {
		if g := decisionGroups(t, hub, placement); g != groups {
			t.Errorf("Placement %s decision groups: %s, want %s", placement, g, groups)
		}
	}

	// What each cluster runs: overlays by environment, Helm values by region,
	// the newest 1.x chart of the Helm repository on production only.
	type expect struct {
		env, region, replicas string
		probe                 string // chart version, "" for none
	}
	for name, e := range map[string]expect{
		"cluster1": {env: "dev", region: "east", replicas: "3"},
		"cluster2": {env: "prod", region: "west", replicas: "1", probe: "1.3.1"},
		"cluster3": {env: "prod", region: "east", replicas: "3", probe: "1.3.1"},
	} {
		c := clusters[name]
		if v := configValue(ctx, c, "hello", "hello-config", "color"); v != "blue" {
			t.Errorf("%s: hello color %q, want blue", name, v)
		}
		gb := map[string]string{"dev": "1", "prod": "3"}[e.env]
		if got := deploymentReplicas(ctx, c, "guestbook", "guestbook"); got != gb {
			t.Errorf("%s (%s): guestbook replicas %s, want %s from overlays/%s", name, e.env, got, gb, e.env)
		}
		if got := guestbookEnvironment(ctx, c); got != e.env {
			t.Errorf("%s: guestbook ENVIRONMENT %q, want %q", name, got, e.env)
		}
		if r, reg := configValue(ctx, c, "status-page", "status-page-config", "replicas"), configValue(ctx, c, "status-page", "status-page-config", "region"); r != e.replicas || reg != e.region {
			t.Errorf("%s: status-page values replicas=%q region=%q, want %q %q", name, r, reg, e.replicas, e.region)
		}
		if got := deploymentReplicas(ctx, c, "status-page", "status-page"); got != e.replicas {
			t.Errorf("%s: status-page Deployment replicas %s, want %s", name, got, e.replicas)
		}
		if got := configValue(ctx, c, "node-probe", "node-probe", "chartVersion"); got != e.probe {
			t.Errorf("%s: node-probe chart %q, want %q", name, got, e.probe)
		}
	}
	// The managed clusters run the example's pods: every Deployment is
	// Available, node-probe runs on each fake node of the production clusters.
	if !strings.Contains(progress.String(), "starting workloads on 3 managed clusters") {
		t.Errorf("progress does not say the clusters run workloads:\n%s", progress.String())
	}
	for _, name := range []string{"cluster1", "cluster2", "cluster3"} {
		c := clusters[name]
		poll.Eventually(t, 60*time.Second, name+" runs the example's pods", func() error { return workloadsReady(ctx, c) })
	}
	// The example's encrypted Secret, opened by each cluster's agent with
	// the demo fleet key the lab installed at join.
	exampleSecret(ctx, t, hub, clusters)

	// The hub runs only what the local Subscription gives it.
	if v := configValue(ctx, hub, "hello", "hello-config", "color"); v != "" {
		t.Errorf("the hub (local-cluster) got the hello app, which is for managed clusters")
	}

	// One push: an app change and a hub change (node-probe's version range).
	clone := filepath.Join(dir, "clone")
	if err := lab.Git(ctx, "", "clone", "--quiet", l.FleetURL, clone); err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(clone, "apps/hello/configmap.yaml"), "color: blue", "color: green")
	edit(t, filepath.Join(clone, "hub/node-probe.yaml"), `version: ">=1.2.0 <2.0.0"`, `version: ">=2.0.0"`)
	if err := lab.Git(ctx, clone, "commit", "--quiet", "-am", "hello: green; node-probe 2"); err != nil {
		t.Fatal(err)
	}
	// The Git server sends the webhook before the push returns: count from
	// the start of the push.
	pushed := time.Now()
	if err := lab.Git(ctx, clone, "push", "--quiet", "origin", "main"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	check := func(what string, f func() string) {
		defer wg.Done()
		deadline := time.Now().Add(20 * time.Second)
		for {
			msg := f()
			if msg == "" {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				failures = append(failures, what+": "+msg)
				mu.Unlock()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var took sync.Map
	for _, name := range []string{"cluster1", "cluster2", "cluster3"} {
		c := clusters[name]
		wg.Add(1)
		go check(name+" turns green", func() string {
			if v := configValue(ctx, c, "hello", "hello-config", "color"); v != "green" {
				return "color " + v
			}
			took.Store(name+" hello", time.Since(pushed))
			return ""
		})
		if name != "cluster1" {
			wg.Add(1)
			go check(name+" runs node-probe 2.0.0", func() string {
				if v := configValue(ctx, c, "node-probe", "node-probe", "chartVersion"); v != "2.0.0" {
					return "chart " + v
				}
				took.Store(name+" node-probe", time.Since(pushed))
				return ""
			})
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("after the push:\n%s", strings.Join(failures, "\n"))
	}
	var slowest time.Duration
	took.Range(func(_, v any) bool { slowest = max(slowest, v.(time.Duration)); return true })
	t.Logf("the push reached 3 clusters (app) and the hub (Subscription from hub/) through the webhook %s after git push started", slowest.Round(time.Millisecond))

	tourDrift(t, clone, hub, clusters["cluster1"])
	tourRotateSecret(ctx, t, clone, hub, clusters)
	if bad := errs.matching(examplePassword, rotatedPassword, "cannot decrypt"); len(bad) > 0 {
		t.Errorf("logged errors about the encrypted Secret (or holding its value):\n%s", strings.Join(bad, "\n"))
	}

	// Stop: no control plane process and no goroutine of ours left.
	if running := len(ourGoroutines()) - len(before); running < 10 {
		t.Errorf("the goroutine check sees only %d goroutines of the running lab", running)
	}
	children := childProcesses(t)
	if len(children) != 8+3*3 {
		t.Errorf("running lab: %d child processes, want 8 kube-apiserver/etcd and 3 workload processes per managed cluster: %v", len(children), children)
	}
	stopped = true
	stopStart := time.Now()
	if err := l.Stop(); err != nil {
		t.Fatalf("lab did not stop cleanly: %v", err)
	}
	t.Logf("lab stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	if left := childProcesses(t); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	var leaked []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaked = leaked[:0]
		for id, stack := range ourGoroutines() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(leaked) > 0 {
		t.Errorf("%d goroutines left after Stop, e.g.:\n%s", len(leaked), leaked[0])
	}
}

// tourDrift follows the README tour's drift step on cluster1: with
// guestbook-dev reporting drift, a hand edit stays and is reported; a commit
// that leaves the Deployment as it was leaves it so, and one that changes the
// Deployment restores it (issue 15 item 14: the tour said any next commit did).
func tourDrift(t *testing.T, clone string, hub, cluster1 client.Client) {
	t.Helper()
	ctx := context.Background()
	commit := func(msg, file, from, to string) {
		t.Helper()
		edit(t, filepath.Join(clone, file), from, to)
		for _, args := range [][]string{{"commit", "--quiet", "-am", msg}, {"push", "--quiet", "origin", "main"}} {
			if err := lab.Git(ctx, clone, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit("guestbook-dev: report drift", "hub/guestbook.yaml", "# driftPolicy: ReportOnly", "driftPolicy: ReportOnly")
	poll.Eventually(t, 30*time.Second, "cluster1's guestbook-dev work reports drift only, and is applied", func() error {
		w := &workv1.ManifestWork{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: "cluster1", Name: "guestbook.guestbook-dev"}, w); err != nil {
			return err
		}
		applied := meta.FindStatusCondition(w.Status.Conditions, workv1.WorkApplied)
		if w.Annotations[appsv1.AnnotationDriftPolicy] != string(appsv1.DriftReportOnly) || applied == nil || applied.ObservedGeneration != w.Generation {
			return fmt.Errorf("drift policy %q, Applied %+v at generation %d", w.Annotations[appsv1.AnnotationDriftPolicy], applied, w.Generation)
		}
		return nil
	})
	scale := func(n int32) {
		t.Helper()
		d := &appsk8s.Deployment{}
		if err := cluster1.Get(ctx, client.ObjectKey{Namespace: "guestbook", Name: "guestbook"}, d); err != nil {
			t.Fatal(err)
		}
		d.Spec.Replicas = &n
		if err := cluster1.Update(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	driftReported := func() error {
		sub := &appsv1.Subscription{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: "guestbook", Name: "guestbook-dev"}, sub); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(sub.Status.Conditions, appsv1.ConditionReady); c == nil || !strings.Contains(c.Message, "drift") || !strings.Contains(c.Message, ".spec.replicas") {
			return fmt.Errorf("Ready condition %+v", c)
		}
		return nil
	}
	scale(5)
	poll.Eventually(t, 30*time.Second, "guestbook-dev reports the drift", driftReported)

	commit("hello: blue", "apps/hello/configmap.yaml", "color: green", "color: blue")
	poll.Eventually(t, 30*time.Second, "cluster1 runs hello blue", func() error {
		if v := configValue(ctx, cluster1, "hello", "hello-config", "color"); v != "blue" {
			return fmt.Errorf("color %q", v)
		}
		return nil
	})
	if got := deploymentReplicas(ctx, cluster1, "guestbook", "guestbook"); got != "5" {
		t.Errorf("a commit to another app changed the drifted guestbook: %s replicas, want 5 (kept, reported)", got)
	}
	if err := driftReported(); err != nil {
		t.Errorf("after a commit to another app the drift is no longer reported: %v", err)
	}

	commit("guestbook-dev: longer name", "apps/guestbook/overlays/dev/kustomization.yaml", "ENVIRONMENT=dev\n", "ENVIRONMENT=development\n")
	poll.Eventually(t, 30*time.Second, "a commit that changes the dev Deployment restores its replicas", func() error {
		if got := deploymentReplicas(ctx, cluster1, "guestbook", "guestbook"); got != "1" {
			return fmt.Errorf("%s replicas", got)
		}
		return nil
	})
}

// decisionGroups renders a Placement's decisions as "index:name=[clusters] …".
func decisionGroups(t *testing.T, c client.Client, placement string) string {
	t.Helper()
	ns, name, _ := strings.Cut(placement, "/")
	var list clusterv1beta1.PlacementDecisionList
	if err := c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{clusterv1beta1.PlacementLabel: name}); err != nil {
		t.Fatal(err)
	}
	groups := map[int]string{}
	members := map[int][]string{}
	for _, d := range list.Items {
		i, _ := strconv.Atoi(d.Labels[clusterv1beta1.DecisionGroupIndexLabel])
		groups[i] = d.Labels[clusterv1beta1.DecisionGroupNameLabel]
		for _, cd := range d.Status.Decisions {
			members[i] = append(members[i], cd.ClusterName)
		}
	}
	var out []string
	for i := 0; i < len(groups); i++ {
		sort.Strings(members[i])
		out = append(out, fmt.Sprintf("%d:%s=%v", i, groups[i], members[i]))
	}
	return strings.Join(out, " ")
}

// configValue is a ConfigMap's value, "" when the ConfigMap or key is missing.
func configValue(ctx context.Context, c client.Client, ns, name, key string) string {
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		return ""
	}
	return cm.Data[key]
}

func deploymentReplicas(ctx context.Context, c client.Client, ns, name string) string {
	d := &appsk8s.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			return "none"
		}
		return err.Error()
	}
	if d.Spec.Replicas == nil {
		return "unset"
	}
	return strconv.Itoa(int(*d.Spec.Replicas))
}

// guestbookEnvironment reads the Kustomize-generated (hash-named) ConfigMap.
func guestbookEnvironment(ctx context.Context, c client.Client) string {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace("guestbook"), client.MatchingLabels{"app.kubernetes.io/name": "guestbook"}); err != nil || len(list.Items) != 1 {
		return fmt.Sprintf("%d ConfigMaps (%v)", len(list.Items), err)
	}
	return list.Items[0].Data["ENVIRONMENT"]
}

func edit(t *testing.T, path, from, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(from)) {
		t.Fatalf("%s does not contain %q", path, from)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(from), []byte(to), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// workloadsReady says why a cluster's Deployments and DaemonSets are not
// all Available, or nil when they are.
func workloadsReady(ctx context.Context, c client.Client) error {
	var deployments appsk8s.DeploymentList
	if err := c.List(ctx, &deployments); err != nil {
		return err
	}
	var daemonSets appsk8s.DaemonSetList
	if err := c.List(ctx, &daemonSets); err != nil {
		return err
	}
	if len(deployments.Items) == 0 {
		return fmt.Errorf("no Deployments")
	}
	for _, d := range deployments.Items {
		if d.Spec.Replicas == nil || d.Status.AvailableReplicas != *d.Spec.Replicas {
			return fmt.Errorf("Deployment %s/%s: %d available", d.Namespace, d.Name, d.Status.AvailableReplicas)
		}
	}
	for _, d := range daemonSets.Items {
		if d.Status.DesiredNumberScheduled != lab.DefaultNodes || d.Status.NumberReady != d.Status.DesiredNumberScheduled {
			return fmt.Errorf("DaemonSet %s/%s: %d of %d ready, want one per fake node", d.Namespace, d.Name, d.Status.NumberReady, d.Status.DesiredNumberScheduled)
		}
	}
	return nil
}

// childProcesses lists this process's control plane children: kube-apiserver,
// etcd and the workload processes.
func childProcesses(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, fields := s[open+1:end], strings.Fields(s[end+1:])
		// comm is cut to 15 characters: "kube-controller".
		if len(fields) > 1 && fields[1] == self && slices.Contains([]string{"kube-apiserver", "etcd", "kube-controller", "kube-scheduler", "kwok"}, comm) {
			out = append(out, comm+"/"+e.Name())
		}
	}
	return out
}

// ourGoroutines maps the id of every goroutine running code of this module
// (outside the tests), of controller-runtime or of client-go's informers to
// its stack.
func ourGoroutines() map[string]string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		m := goroutineID.FindStringSubmatch(g)
		if m == nil || strings.Contains(g, "test/e2e.ourGoroutines") {
			continue
		}
		if slices.ContainsFunc(ownFrames, func(f string) bool { return strings.Contains(g, f) }) {
			out[m[1]] = g
		}
	}
	return out
}

var (
	goroutineID = regexp.MustCompile(`^goroutine (\d+) `)
	ownFrames   = []string{
		"github.com/ocm-gitops/ocm-gitops/pkg/",
		"sigs.k8s.io/controller-runtime/pkg/",
		"k8s.io/client-go/tools/cache.",
	}
)

// errorLog is a logr sink that keeps the messages of Error calls.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (e *errorLog) Init(logr.RuntimeInfo)          {}
func (e *errorLog) Enabled(int) bool               { return false }
func (e *errorLog) Info(int, string, ...any)       {}
func (e *errorLog) WithValues(...any) logr.LogSink { return e }
func (e *errorLog) WithName(string) logr.LogSink   { return e }
func (e *errorLog) Error(err error, msg string, kv ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Sprintf("%s: %v %v", msg, err, kv))
}

// matching returns the logged errors containing any of the words.
func (e *errorLog) matching(words ...string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.errs {
		if slices.ContainsFunc(words, func(w string) bool { return strings.Contains(m, w) }) {
			out = append(out, m)
		}
	}
	return out
}

var _ logr.LogSink = (*errorLog)(nil)
