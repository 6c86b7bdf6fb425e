// Package harness holds what the system-level tests under test/ share: a
// hub control plane with clusters, the hub's controllers and klusterlets run
// in-process until the test ends, a Git repository on the lab's server, and
// bounded waits.
package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
)

// Logger shows component logs with OCM_GITOPS_TEST_LOG=1, else discards them.
func Logger(t *testing.T) logr.Logger {
	if os.Getenv("OCM_GITOPS_TEST_LOG") != "" {
		return testr.NewWithOptions(t, testr.Options{Verbosity: 1})
	}
	return logr.Discard()
}

// Hub is a hub control plane with cluster namespaces and ManagedClusters.
type Hub struct {
	CP  *lab.ControlPlane
	C   client.Client
	Ctx context.Context
}

// StartControlPlane starts a control plane of role, stopped when the test ends.
func StartControlPlane(t *testing.T, name string, role lab.Role) *lab.ControlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := lab.StartControlPlane(context.Background(), name, role, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	return cp
}

// NewHub starts a hub control plane with the namespace "fleet" (a platform
// namespace, whose direct placement reaches any cluster) and an accepted
// ManagedCluster (and namespace) per name in clusters.
func NewHub(t *testing.T, clusters ...string) *Hub {
	t.Helper()
	cp := StartControlPlane(t, "hub", lab.RoleHub)
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	e := &Hub{CP: cp, C: c, Ctx: context.Background()}
	e.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}})
	for _, name := range clusters {
		e.Create(t, registration.ClusterNamespace(name),
			&clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "test"}},
				Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})
	}
	return e
}

// Meta is the ObjectMeta of namespace/name.
func Meta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

// Create creates objs on the hub, failing the test on an error.
func (e *Hub) Create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := e.C.Create(e.Ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// RunHub runs the hub's controllers on cfg until stop is called (or the
// test ends). configure may change the options (channel and subscription
// controllers, a fresh cache folder by default).
func RunHub(t *testing.T, cfg *rest.Config, configure func(*hub.Options)) (stop func()) {
	t.Helper()
	opts := hub.Options{
		Controllers: []string{"channel", "subscription"},
		CacheDir:    t.TempDir(),
		Logger:      Logger(t).WithName("hub"),
		MetricsAddr: "0", HealthAddr: "0",
		// Test sources are served on 127.0.0.1.
		AllowNetworks: egress.Loopback(),
	}
	if configure != nil {
		configure(&opts)
	}
	return Run(t, "hub", func(ctx context.Context) error { return hub.Run(ctx, cfg, opts) })
}

// Run runs f in the background; stop cancels its context and
// waits (bounded) for it to return without error.
func Run(t *testing.T, what string, f func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s stopped with error: %v", what, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30s", what)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Works returns the ManifestWorks of fleet/<sub> by cluster namespace.
func (e *Hub) Works(t *testing.T, sub string) map[string]*workv1.ManifestWork {
	t.Helper()
	var list workv1.ManifestWorkList
	if err := e.C.List(e.Ctx, &list, client.MatchingLabels{appsv1.LabelSubscription: "fleet." + sub}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*workv1.ManifestWork{}
	for i := range list.Items {
		w := &list.Items[i]
		if out[w.Namespace] != nil {
			t.Fatalf("two ManifestWorks of %s in %s: %s and %s", sub, w.Namespace, out[w.Namespace].Name, w.Name)
		}
		out[w.Namespace] = w
	}
	return out
}

// Subscription reads fleet/<name>.
func (e *Hub) Subscription(t *testing.T, name string) *appsv1.Subscription {
	t.Helper()
	sub := &appsv1.Subscription{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: name}, sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

// ConditionOf returns the Subscription's condition typ (zero when absent).
func ConditionOf(sub *appsv1.Subscription, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(sub.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// Report sets a work's status as an agent that applied it would.
func (e *Hub) Report(t *testing.T, w *workv1.ManifestWork) {
	t.Helper()
	fresh := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	fresh.Status.Conditions = []metav1.Condition{
		{Type: workv1.WorkApplied, Status: metav1.ConditionTrue, Reason: "Applied", ObservedGeneration: fresh.Generation, LastTransitionTime: now},
		{Type: workv1.WorkAvailable, Status: metav1.ConditionTrue, Reason: "Available", ObservedGeneration: fresh.Generation, LastTransitionTime: now},
	}
	if err := e.C.Status().Update(e.Ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// RequestReconcile asks the hub to look at a Channel's source now.
func (e *Hub) RequestReconcile(t *testing.T, namespace, name string) {
	t.Helper()
	ch := &appsv1.Channel{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: namespace, Name: name}, ch); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ch.DeepCopy())
	if ch.Annotations == nil {
		ch.Annotations = map[string]string{}
	}
	ch.Annotations[appsv1.AnnotationReconcileRequestedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	if err := e.C.Patch(e.Ctx, ch, patch); err != nil {
		t.Fatal(err)
	}
}

// GitSubscription is a Subscription of fleet/<channel> at apps/<name>,
// branch main, on the listed clusters.
func GitSubscription(name, channel string, clusters ...string) *appsv1.Subscription {
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet", Annotations: map[string]string{
			appsv1.AnnotationGitPath: "apps/" + name, appsv1.AnnotationGitBranch: "main",
		}},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/" + channel, Placement: &appsv1.Placement{}},
	}
	for _, c := range clusters {
		sub.Spec.Placement.Clusters = append(sub.Spec.Placement.Clusters, appsv1.GenericClusterReference{Name: c})
	}
	return sub
}

// Fleet is a Git repository on the lab's Git server with a working clone.
type Fleet struct {
	Server *lab.GitServer
	URL    string
	Clone  string
}

func NewFleet(t *testing.T, files map[string]string) *Fleet {
	t.Helper()
	ctx := context.Background()
	seed := t.TempDir()
	writeFiles(t, seed, files)
	srv, err := lab.StartGitServer(t.TempDir(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	url, err := srv.CreateRepo(ctx, "fleet.git", seed)
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := lab.Git(ctx, "", "clone", "--quiet", url, clone); err != nil {
		t.Fatal(err)
	}
	return &Fleet{Server: srv, URL: url, Clone: clone}
}

// Commit writes files (empty content deletes) and pushes; it returns the commit.
func (f *Fleet) Commit(t *testing.T, msg string, files map[string]string) string {
	t.Helper()
	writeFiles(t, f.Clone, files)
	ctx := context.Background()
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", msg}, {"push", "--quiet", "origin", "main"}} {
		if err := lab.Git(ctx, f.Clone, args...); err != nil {
			t.Fatal(err)
		}
	}
	return f.Head(t)
}

// Head returns the commit the clone's main branch is at.
func (f *Fleet) Head(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.Clone, ".git", "refs", "heads", "main"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if content == "" {
			_ = os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ConfigMapYAML is a ConfigMap apps/<name> holding value.
func ConfigMapYAML(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: apps\ndata:\n  value: %q\n", name, value)
}

// ManifestsContain reports whether any manifest of w contains s.
func ManifestsContain(w *workv1.ManifestWork, s string) bool {
	for _, m := range w.Spec.Workload.Manifests {
		if strings.Contains(string(m.Raw), s) {
			return true
		}
	}
	return false
}

// WriteCounter counts the write requests a client configuration sends, by
// "METHOD resource" (e.g. "PATCH manifestworks").
type WriteCounter struct {
	mu     sync.Mutex
	counts map[string]int
	total  atomic.Int64
}

// Wrap returns a copy of cfg whose successful writes w counts.
func (w *WriteCounter) Wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return RoundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if req.Method != http.MethodGet && err == nil && resp.StatusCode < 300 {
				w.mu.Lock()
				if w.counts == nil {
					w.counts = map[string]int{}
				}
				w.counts[req.Method+" "+resourceOf(req.URL.Path)]++
				w.mu.Unlock()
				w.total.Add(1)
			}
			return resp, err
		})
	})
	return out
}

// Get is the count of key, "METHOD resource".
func (w *WriteCounter) Get(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[key]
}

// String shows the counts.
func (w *WriteCounter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprint(w.counts)
}

// resourceOf picks the resource (with subresource) out of an API path:
// /apis/g/v/namespaces/ns/manifestworks/name/status -> manifestworks/status.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > 0 && parts[0] == "api" {
		parts = parts[2:]
	} else if len(parts) > 2 {
		parts = parts[3:]
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return ""
	case 1, 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}

// RoundTripFunc is an http.RoundTripper made of a function.
type RoundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f RoundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// BootstrapUser is the identity RunKlusterlet joins with; RunFullHub
// accepts its clusters without an administrator.
const BootstrapUser = "system:bootstrap:harness"

// Spoke is a managed cluster control plane with a client.
type Spoke struct {
	CP *lab.ControlPlane
	C  client.Client
}

// NewSpoke starts a managed cluster control plane with the namespace "apps".
func NewSpoke(t *testing.T, name string) *Spoke {
	t.Helper()
	cp := StartControlPlane(t, name, lab.RoleManaged)
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
		t.Fatal(err)
	}
	return &Spoke{CP: cp, C: c}
}

// NewWorkloadSpoke is NewSpoke on a cluster that runs pods: it adds
// kube-controller-manager, kube-scheduler and kwok with fake nodes
// (lab.ControlPlane.StartWorkloads), so Deployments become Available, Jobs
// complete, and images starting with lab.UnpullableImagePrefix wait in
// ImagePullBackOff. It costs a few seconds and about 250 MB more than
// NewSpoke (docs/performance.md): use it only where pods must run, and share
// one cluster between the subtests of a test where they can.
func NewWorkloadSpoke(t *testing.T, name string) *Spoke {
	t.Helper()
	s := NewSpoke(t, name)
	StartWorkloads(t, s.CP)
	return s
}

// StartWorkloads makes a started control plane run pods (see
// NewWorkloadSpoke); they stop with it.
func StartWorkloads(t *testing.T, cp *lab.ControlPlane) {
	t.Helper()
	if err := cp.StartWorkloads(context.Background(), lab.WorkloadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Value reads the value of the ConfigMap apps/<name>.
func (s *Spoke) Value(name string) (string, error) {
	cm := &corev1.ConfigMap{}
	if err := s.C.Get(context.Background(), client.ObjectKey{Namespace: "apps", Name: name}, cm); err != nil {
		return "", err
	}
	return cm.Data["value"], nil
}

// SetValue changes the value of the ConfigMap apps/<name>, as drift would.
func (s *Spoke) SetValue(t *testing.T, name, value string) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := s.C.Get(context.Background(), client.ObjectKey{Namespace: "apps", Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["value"] = value
	if err := s.C.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
}

// RunFullHub runs the channel, subscription and registration controllers,
// signing cluster certificates with the control plane's client CA, as the
// lab does.
func RunFullHub(t *testing.T, e *Hub) (stop func()) {
	return RunHub(t, e.CP.Config, func(o *hub.Options) {
		o.Controllers = []string{"channel", "subscription", "registration"}
		o.Registration = reghub.Options{
			CACertPEM: e.CP.ClientCA.CertPEM, CAKeyPEM: e.CP.ClientCA.KeyPEM,
			AutoApproveUsers: []string{BootstrapUser},
		}
	})
}

// RunKlusterlet joins the hub (through hubAddr's address when given) with a bootstrap
// identity and runs the whole agent.
func RunKlusterlet(t *testing.T, e *Hub, hubAddr *rest.Config, name string, s *Spoke) (stop func()) {
	t.Helper()
	bootstrap, err := e.CP.UserConfig(BootstrapUser, registration.DefaultBootstrapGroup)
	if err != nil {
		t.Fatal(err)
	}
	if hubAddr != nil {
		bootstrap.Host = hubAddr.Host
	}
	opts := klusterlet.Options{
		ClusterName: name, Managed: s.CP.Config, Bootstrap: bootstrap,
		HubKubeconfigPath: filepath.Join(t.TempDir(), "hub.kubeconfig"),
		LeaseInterval:     time.Second,
		Logger:            Logger(t).WithName("klusterlet"),
	}
	return Run(t, "klusterlet "+name, func(ctx context.Context) error { return klusterlet.Run(ctx, opts) })
}

// ClusterAvailable is the ManagedCluster's Available condition status.
func (e *Hub) ClusterAvailable(name string) (metav1.ConditionStatus, error) {
	mc := &clusterv1.ManagedCluster{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, mc); err != nil {
		return "", err
	}
	c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
	if c == nil {
		return "", nil
	}
	return c.Status, nil
}

// StartLab starts a lab of n managed clusters (each a control plane with its
// work agent) in dir, stopped when the test ends. configure may change the
// options, e.g. WithWorkloads.
func StartLab(t *testing.T, n int, dir string, configure ...func(*lab.Options)) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a lab")
	}
	opts := lab.Options{Clusters: n, Dir: dir, GitAddr: "127.0.0.1:0", Logger: logr.Discard()}
	for _, f := range configure {
		f(&opts)
	}
	l, err := lab.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("lab stop: %v", err)
		}
	})
	return l
}

// WithWorkloads makes StartLab's managed clusters run pods, as
// NewWorkloadSpoke's does.
func WithWorkloads(o *lab.Options) { o.Workloads = true }

// ServeRepo serves the files in seed as a Git repository fleet.git from a
// Git server on 127.0.0.1 keeping its data in dir, and returns its URL.
func ServeRepo(t *testing.T, dir, seed string) string {
	t.Helper()
	git, err := lab.StartGitServer(dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = git.Close() })
	url, err := git.CreateRepo(context.Background(), "fleet.git", seed)
	if err != nil {
		t.Fatal(err)
	}
	return url
}
