package deploy_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsk8s "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// These tests install a deploy/ base on a real API server and run the hub
// as the ServiceAccount it creates, with the flags its Deployment passes:
// whatever the controllers do beyond their RBAC shows up as "forbidden".

// logCapture collects log lines that report authorization failures, from the
// hub's logger and from client-go's (klog).
type logCapture struct {
	mu        sync.Mutex
	forbidden []string
}

func (l *logCapture) logger(t *testing.T) logr.Logger {
	return funcr.New(func(prefix, args string) {
		line := prefix + " " + args
		// A joining cluster's agent (in the same process, logging through
		// klog too) is refused until the hub grants it access: not the hub's.
		agent := strings.Contains(line, "system:open-cluster-management:")
		if !agent && (strings.Contains(line, "forbidden") || strings.Contains(line, "Forbidden")) {
			l.mu.Lock()
			l.forbidden = append(l.forbidden, line)
			l.mu.Unlock()
		}
		t.Log(line)
	}, funcr.Options{Verbosity: 0})
}

func (l *logCapture) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.forbidden {
		t.Errorf("the hub was refused something its RBAC should grant: %s", line)
	}
}

// hubEnv is a control plane with a deploy/ base applied and the hub running
// as its ServiceAccount.
type hubEnv struct {
	ctx         context.Context
	cp          *lab.ControlPlane
	admin       client.Client
	metricsAddr string
	webhookAddr string
	healthAddr  string
	logs        *logCapture
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDeployedHub applies deploy/<dir> to a new control plane of role and
// runs hub.Run with the Deployment's flags, impersonating its ServiceAccount.
// setup runs with an admin client before the hub starts.
func startDeployedHub(t *testing.T, dir string, role lab.Role, setup func(ctx context.Context, admin client.Client), configure ...func(*hub.Options, *lab.ControlPlane)) *hubEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	cp, err := lab.StartControlPlane(ctx, "hub", role, assets)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	admin, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	objs := build(t, dir)
	if err := apply(ctx, admin, objs); err != nil {
		t.Fatalf("apply deploy/%s: %v", dir, err)
	}
	setup(ctx, admin)

	d := typed[appsk8s.Deployment](t, objs, "Deployment", hubNamespace, "ocm-gitops-hub")
	args := hubArgs(t, d)
	e := &hubEnv{ctx: ctx, cp: cp, admin: admin, metricsAddr: freeAddr(t), webhookAddr: freeAddr(t), healthAddr: freeAddr(t), logs: &logCapture{}}
	opts := hub.Options{
		CacheDir:    t.TempDir(),
		MetricsAddr: e.metricsAddr, HealthAddr: e.healthAddr, WebhookAddr: e.webhookAddr,
		// In the pod, controller-runtime reads the namespace from the
		// ServiceAccount mount.
		LeaderElectionNamespace: d.Namespace,
		Logger:                  e.logs.logger(t),
		AllowNetworks:           egress.Loopback(),
	}
	for name, value := range args {
		switch name {
		case "leader-elect":
			opts.LeaderElection = value == "true"
		case "controllers":
			opts.Controllers = strings.Split(value, ",")
		case "metrics-addr", "health-addr", "webhook-addr", "cache-dir", "log-format", "log-level":
			// Test addresses and folders replace the pod's.
		default:
			t.Fatalf("the Deployment passes --%s, which this test does not know how to map to hub.Options", name)
		}
	}
	for _, f := range configure {
		f(&opts, cp)
	}
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", d.Namespace, d.Spec.Template.Spec.ServiceAccountName)}
	// As `ocm-gitops hub` does: controller-runtime's informers report
	// refused lists and watches through its global logger, client-go's
	// through klog.
	ctrl.SetLogger(e.logs.logger(t))
	klog.SetLogger(e.logs.logger(t))

	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, cfg, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("hub did not stop within 30s")
		}
		klog.ClearLogger()
		_ = cp.Stop()
	})
	return e
}

// fleetRepo is a repository on a lab Git server with a working clone.
type fleetRepo struct{ url, clone string }

func newFleetRepo(t *testing.T, files map[string]string) *fleetRepo {
	t.Helper()
	seed := t.TempDir()
	writeFiles(t, seed, files)
	srv, err := lab.StartGitServer(t.TempDir(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	url, err := srv.CreateRepo(context.Background(), "fleet.git", seed)
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := lab.Git(context.Background(), "", "clone", "--quiet", url, clone); err != nil {
		t.Fatal(err)
	}
	return &fleetRepo{url: url, clone: clone}
}

func (r *fleetRepo) commit(t *testing.T, msg string, files map[string]string) {
	t.Helper()
	writeFiles(t, r.clone, files)
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", msg}, {"push", "--quiet", "origin", "main"}} {
		if err := lab.Git(context.Background(), r.clone, args...); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func configMapYAML(value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: apps\ndata:\n  value: %q\n", value)
}

func createAll(t *testing.T, ctx context.Context, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// platformNamespace is a namespace whose direct placement reaches any cluster.
func platformNamespace(name string) *corev1.Namespace {
	ns := namespace(name)
	ns.Labels = map[string]string{tenancy.LabelTenant: "false"}
	return ns
}

func managedCluster(name string) *clusterv1.ManagedCluster {
	return &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "test"}},
		Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
}

func (e *hubEnv) works(t *testing.T) map[string]*workv1.ManifestWork {
	t.Helper()
	var list workv1.ManifestWorkList
	if err := e.admin.List(e.ctx, &list, client.MatchingLabels{appsv1.LabelSubscription: "fleet.settings"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*workv1.ManifestWork{}
	for i := range list.Items {
		out[list.Items[i].Namespace] = &list.Items[i]
	}
	return out
}

func (e *hubEnv) subscription(t *testing.T) *appsv1.Subscription {
	t.Helper()
	sub := &appsv1.Subscription{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: "fleet", Name: "settings"}, sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

// report writes a work's status as an agent would; drift names a drifted field.
func (e *hubEnv) report(t *testing.T, w *workv1.ManifestWork, drift string) {
	t.Helper()
	fresh := &workv1.ManifestWork{}
	if err := e.admin.Get(e.ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
		t.Fatal(err)
	}
	cond := func(typ, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: fresh.Generation, LastTransitionTime: metav1.Now()}
	}
	fresh.Status.Conditions = []metav1.Condition{cond(workv1.WorkApplied, "Applied", "applied"), cond(workv1.WorkAvailable, "Available", "available")}
	fresh.Status.ResourceStatus.Manifests = nil
	if drift != "" {
		fresh.Status.Conditions = append(fresh.Status.Conditions, cond(appsv1.WorkConditionDrifted, "DriftDetected", "1 of 1 manifests drifted"))
		fresh.Status.ResourceStatus.Manifests = []workv1.ManifestCondition{{
			ResourceMeta: workv1.ManifestResourceMeta{Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "apps", Name: "settings"},
			Conditions:   []metav1.Condition{cond(appsv1.WorkConditionDrifted, "DriftDetected", drift)},
		}}
	}
	if err := e.admin.Status().Update(e.ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// push sends a signed GitHub push event for the repository to the hub's
// webhook receiver and returns the Subscriptions it stamped.
// push sends a signed push for repoURL; the receiver answers every push
// alike, so what it stamped is read from the Subscription.
func (e *hubEnv) push(t *testing.T, repoURL, secret string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "repository": map[string]string{"clone_url": repoURL, "default_branch": "main"}})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, "http://"+e.webhookAddr+"/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("push webhook: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push webhook answered %s: %s", resp.Status, data)
	}
}

// scrape reads the hub's metrics endpoint.
func (e *hubEnv) scrape(t *testing.T) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + e.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape metrics: %s %v", resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return mfs, data
}

// sample returns the value of the series name{labels}: a counter's or
// gauge's value, a histogram's sample count.
func sample(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !labelsMatch(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
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

type seriesCheck struct {
	name   string
	labels map[string]string
	ok     func(float64) bool
	want   string
}

func atLeast(n float64) (func(float64) bool, string) {
	return func(v float64) bool { return v >= n }, fmt.Sprintf(">= %v", n)
}

func exactly(n float64) (func(float64) bool, string) {
	return func(v float64) bool { return v == n }, fmt.Sprintf("= %v", n)
}

func series(name string, labels map[string]string, cmp func(float64) (func(float64) bool, string), n float64) seriesCheck {
	ok, want := cmp(n)
	return seriesCheck{name: name, labels: labels, ok: ok, want: want}
}

// waitForSeries scrapes until every check holds.
func (e *hubEnv) waitForSeries(t *testing.T, checks []seriesCheck) map[string]*dto.MetricFamily {
	t.Helper()
	var mfs map[string]*dto.MetricFamily
	poll.Eventually(t, 30*time.Second, "metrics", func() error {
		mfs, _ = e.scrape(t)
		var failed []string
		for _, c := range checks {
			v, found := sample(mfs, c.name, c.labels)
			if !found || !c.ok(v) {
				failed = append(failed, fmt.Sprintf("%s%v = %v (present %t), want %s", c.name, c.labels, v, found, c.want))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("%s", strings.Join(failed, "; "))
		}
		return nil
	})
	return mfs
}

// TestStandaloneHubRunsWithItsRBAC installs deploy/hub on an API server that
// has none of OCM's hub CRDs, runs every controller as the hub's
// ServiceAccount, and walks a Subscription placed by a Placement through a
// deploy, drift, a broken commit and a fix announced by signed push
// webhooks, reading credentials from Secrets. On the way it scrapes the
// metrics endpoint for the series the hub promises.
func TestStandaloneHubRunsWithItsRBAC(t *testing.T) {
	repo := newFleetRepo(t, map[string]string{"apps/settings/cm.yaml": configMapYAML("one")})
	const hookSecret = "push-secret-123"
	e := startDeployedHub(t, "hub", lab.RoleManaged, func(ctx context.Context, c client.Client) {
		createAll(t, ctx, c,
			platformNamespace("fleet"), registration.ClusterNamespace("east"), registration.ClusterNamespace("west"),
			managedCluster("east"), managedCluster("west"),
			&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "all"},
				Spec: clusterv1beta2.ManagedClusterSetSpec{ClusterSelector: clusterv1beta2.ManagedClusterSelector{
					SelectorType: clusterv1beta2.LabelSelector, LabelSelector: &metav1.LabelSelector{}}}},
			&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "all"},
				Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "all"}},
			&clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "everywhere"},
				Spec: clusterv1beta1.PlacementSpec{ClusterSets: []string{"all"}}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "git-credentials"},
				StringData: map[string]string{"user": "bot", "accessToken": "token-456"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "push-hook"},
				StringData: map[string]string{"secret": hookSecret}},
			&appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo", Annotations: map[string]string{
				appsv1.AnnotationWebhookEnabled: "true", appsv1.AnnotationWebhookSecret: "push-hook"}},
				Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.url, SecretRef: &corev1.ObjectReference{Name: "git-credentials"}}},
			&appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "settings", Annotations: map[string]string{
				appsv1.AnnotationGitPath: "apps/settings", appsv1.AnnotationGitBranch: "main"}},
				Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo", Placement: &appsv1.Placement{
					PlacementRef: &corev1.ObjectReference{Kind: "Placement", Name: "everywhere"}}}},
		)
	})

	// Placed by the Placement, one work per cluster.
	poll.Eventually(t, 60*time.Second, "works on east and west", func() error {
		if ws := e.works(t); len(ws) != 2 || ws["east"] == nil || ws["west"] == nil {
			return fmt.Errorf("works in %d namespaces", len(ws))
		}
		return nil
	})
	ws := e.works(t)
	e.report(t, ws["east"], "")
	e.report(t, ws["west"], ".data.value")
	poll.Eventually(t, 30*time.Second, "drift summed up", func() error {
		if s := e.subscription(t).Status.Summary; s.Applied != 1 || s.Drifted != 1 {
			return fmt.Errorf("summary %+v", s)
		}
		return nil
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + e.healthAddr + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	lease := &coordinationv1.Lease{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: hubNamespace, Name: "ocm-gitops-hub"}, lease); err != nil || lease.Spec.HolderIdentity == nil {
		t.Errorf("no leader-election Lease held in %s: %v", hubNamespace, err)
	}

	e.waitForSeries(t, []seriesCheck{
		// controller-runtime's own
		series("controller_runtime_reconcile_time_seconds", map[string]string{"controller": "subscription"}, atLeast, 1),
		series("controller_runtime_reconcile_time_seconds", map[string]string{"controller": "placement"}, atLeast, 1),
		series("workqueue_depth", map[string]string{"name": "subscription"}, atLeast, 0),
		// the hub's
		series("ocm_gitops_source_fetch_duration_seconds", map[string]string{"type": "git", "result": "success"}, atLeast, 1),
		series("ocm_gitops_render_duration_seconds", map[string]string{"kind": "plain", "result": "success"}, atLeast, 1),
		series("ocm_gitops_render_cache_hits_total", nil, atLeast, 1), // the second cluster reuses the render
		series("ocm_gitops_manifestwork_writes_total", map[string]string{"op": "create", "result": "success"}, atLeast, 2),
		series("ocm_gitops_subscription_clusters", map[string]string{"namespace": "fleet", "name": "settings", "state": "Applied"}, exactly, 1),
		series("ocm_gitops_subscription_clusters", map[string]string{"namespace": "fleet", "name": "settings", "state": "Drifted"}, exactly, 1),
		series("ocm_gitops_clusters_by_state", map[string]string{"state": "Drifted"}, exactly, 1),
		series("ocm_gitops_clusters_by_state", map[string]string{"state": "Failed"}, exactly, 0),
		series("ocm_gitops_drifted_clusters", nil, exactly, 1),
		series("ocm_gitops_subscriptions", map[string]string{"ready": "False", "reason": appsv1.ReasonDriftDetected}, exactly, 1),
		series("ocm_gitops_managed_clusters", map[string]string{"available": "Unknown"}, exactly, 2),
	})
	_, raw := e.scrape(t)
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "ocm_gitops_") {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
	}

	// A broken commit, announced by a signed push: the hub keeps the works,
	// says why in the status and in an Event.
	repo.commit(t, "broken", map[string]string{"apps/settings/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [not, a, map\n"})
	before := e.subscription(t).Annotations[appsv1.AnnotationReconcileRequestedAt]
	e.push(t, repo.url, hookSecret)
	if after := e.subscription(t).Annotations[appsv1.AnnotationReconcileRequestedAt]; after == "" || after == before {
		t.Fatalf("the signed push did not stamp fleet/settings (%q, before %q)", after, before)
	}
	poll.Eventually(t, 30*time.Second, "render failure reported", func() error {
		c := meta.FindStatusCondition(e.subscription(t).Status.Conditions, appsv1.ConditionRendered)
		if c == nil || c.Reason != appsv1.ReasonRenderFailed {
			return fmt.Errorf("Rendered = %+v", c)
		}
		var events corev1.EventList
		if err := e.admin.List(e.ctx, &events, client.InNamespace("fleet")); err != nil {
			return err
		}
		for _, ev := range events.Items {
			if ev.Reason == appsv1.ReasonRenderFailed && ev.InvolvedObject.Name == "settings" {
				return nil
			}
		}
		return fmt.Errorf("no RenderFailed Event among %d events", len(events.Items))
	})

	// The fix, pushed: new content reaches both works.
	repo.commit(t, "fixed", map[string]string{"apps/settings/cm.yaml": configMapYAML("two")})
	e.push(t, repo.url, hookSecret)
	poll.Eventually(t, 30*time.Second, "works updated", func() error {
		for cluster, w := range e.works(t) {
			if len(w.Spec.Workload.Manifests) != 2 || !strings.Contains(string(w.Spec.Workload.Manifests[1].Raw), `"value":"two"`) { // the Namespace first
				return fmt.Errorf("work on %s not updated yet", cluster)
			}
		}
		return nil
	})
	e.waitForSeries(t, []seriesCheck{
		series("ocm_gitops_source_fetch_duration_seconds", map[string]string{"type": "git", "result": "success"}, atLeast, 3),
		series("ocm_gitops_render_duration_seconds", map[string]string{"kind": "plain", "result": "invalid_input"}, atLeast, 1),
		series("ocm_gitops_manifestwork_writes_total", map[string]string{"op": "patch", "result": "success"}, atLeast, 2),
		series("ocm_gitops_subscription_clusters", map[string]string{"namespace": "fleet", "name": "settings", "state": "Progressing"}, exactly, 2),
	})
	e.logs.check(t)
}

// TestBesideOCMHubRunsWithItsRBAC installs deploy/hub/beside-ocm next to
// OCM's CRDs and runs the controllers it enables as its ServiceAccount.
func TestBesideOCMHubRunsWithItsRBAC(t *testing.T) {
	repo := newFleetRepo(t, map[string]string{"apps/settings/cm.yaml": configMapYAML("one")})
	e := startDeployedHub(t, "hub/beside-ocm", lab.RoleHub, func(ctx context.Context, c client.Client) {
		createAll(t, ctx, c,
			platformNamespace("fleet"), registration.ClusterNamespace("east"), registration.ClusterNamespace("west"),
			managedCluster("east"), managedCluster("west"),
			&appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"},
				Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.url}},
			&appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "settings", Annotations: map[string]string{
				appsv1.AnnotationGitPath: "apps/settings", appsv1.AnnotationGitBranch: "main"}},
				Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo", Placement: &appsv1.Placement{
					Clusters: []appsv1.GenericClusterReference{{Name: "east"}, {Name: "west"}}}}},
		)
	})
	poll.Eventually(t, 60*time.Second, "works on east and west", func() error {
		if ws := e.works(t); len(ws) != 2 {
			return fmt.Errorf("works in %d namespaces", len(ws))
		}
		return nil
	})
	poll.Eventually(t, 30*time.Second, "Channel status", func() error {
		ch := &appsv1.Channel{}
		if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: "fleet", Name: "repo"}, ch); err != nil {
			return err
		}
		if len(ch.Status.Artifacts) != 1 {
			return fmt.Errorf("artifacts %+v", ch.Status.Artifacts)
		}
		return nil
	})
	e.waitForSeries(t, []seriesCheck{
		series("ocm_gitops_subscription_clusters", map[string]string{"namespace": "fleet", "name": "settings", "state": "Progressing"}, exactly, 2),
		series("ocm_gitops_manifestwork_writes_total", map[string]string{"op": "create", "result": "success"}, atLeast, 2),
	})
	var decisions clusterv1beta1.PlacementDecisionList
	if err := e.admin.List(e.ctx, &decisions); err != nil || len(decisions.Items) != 0 {
		t.Errorf("beside OCM the hub must leave placement to OCM: %d PlacementDecisions (%v)", len(decisions.Items), err)
	}
	e.logs.check(t)
}
