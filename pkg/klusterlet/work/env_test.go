package work_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// Real control planes shared by the package's tests; each test uses its own
// cluster name (hub namespace) and its own namespaces on the managed cluster.
var (
	hubCP, managedCP *lab.ControlPlane
	hubC, spokeC     client.Client
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// Only the tests that need no control plane run (newCluster skips the others).
		return m.Run()
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	hub, clusters, err := lab.StartControlPlanes(ctx, assets, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control planes:", err)
		return 1
	}
	hubCP, managedCP = hub, clusters[0]
	defer func() { _ = hubCP.Stop(); _ = managedCP.Stop() }()
	s := scheme.New()
	if hubC, err = client.New(hubCP.Config, client.Options{Scheme: s}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if spokeC, err = client.New(managedCP.Config, client.Options{Scheme: s}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testCluster is a cluster namespace on the hub with a running agent.
type testCluster struct {
	name  string
	agent *work.Agent
	stop  func()
}

// newCluster creates the hub namespace for a fresh cluster name. Every test
// on the control planes starts with it: in -short mode it skips the test.
func newCluster(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs control planes; skipped in -short mode")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := hubC.Create(context.Background(), ns); err != nil {
		t.Fatalf("create cluster namespace %s: %v", name, err)
	}
	return name
}

type agentOpt func(*work.Options)

// startAgent runs a work agent for cluster until the test ends (or stop is called).
func startAgent(t testing.TB, cluster string, hub *rest.Config, opts ...agentOpt) *testCluster {
	t.Helper()
	// A short hand-off window keeps removals quick; the hand-off tests set theirs.
	o := work.Options{ClusterName: cluster, Hub: hub, Managed: managedCP.Config, Logger: testLogger(t), HandOffWindow: 500 * time.Millisecond}
	if hub == nil {
		o.Hub = hubCP.Config
	}
	for _, f := range opts {
		f(&o)
	}
	a, err := work.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("agent of %s did not stop within 30s", cluster)
			}
		})
	}
	t.Cleanup(stop)
	return &testCluster{name: cluster, agent: a, stop: stop}
}

func testLogger(t testing.TB) logr.Logger {
	if os.Getenv("KLUSTERLET_TEST_LOG") != "" {
		if tt, ok := t.(*testing.T); ok {
			return testr.NewWithOptions(tt, testr.Options{Verbosity: 1})
		}
	}
	return logr.Discard()
}

// obj builds an unstructured object from a compact JSON literal.
func obj(t testing.TB, js string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatalf("bad test object %s: %v", js, err)
	}
	return u
}

func configMap(ns, name string, data map[string]string) string {
	d, _ := json.Marshal(data)
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":%q},"data":%s}`, name, ns, d)
}

// manifestWork builds a ManifestWork from JSON manifests.
func manifestWork(cluster, name string, manifests ...string) *workv1.ManifestWork {
	w := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster}}
	for _, m := range manifests {
		w.Spec.Workload.Manifests = append(w.Spec.Workload.Manifests, workv1.Manifest{RawExtension: runtime.RawExtension{Raw: []byte(m)}})
	}
	return w
}

func ssaConfig(group, resource, ns, name string, force bool, fieldManager string) workv1.ManifestConfigOption {
	return workv1.ManifestConfigOption{
		ResourceIdentifier: workv1.ResourceIdentifier{Group: group, Resource: resource, Namespace: ns, Name: name},
		UpdateStrategy: &workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeServerSideApply,
			ServerSideApply: &workv1.ServerSideApplyConfig{Force: force, FieldManager: fieldManager}},
	}
}

func strategyConfig(group, resource, ns, name string, t workv1.UpdateStrategyType) workv1.ManifestConfigOption {
	return workv1.ManifestConfigOption{
		ResourceIdentifier: workv1.ResourceIdentifier{Group: group, Resource: resource, Namespace: ns, Name: name},
		UpdateStrategy:     &workv1.UpdateStrategy{Type: t},
	}
}

func createWork(t testing.TB, w *workv1.ManifestWork) {
	t.Helper()
	if err := hubC.Create(context.Background(), w); err != nil {
		t.Fatalf("create ManifestWork %s/%s: %v", w.Namespace, w.Name, err)
	}
}

// holds turns a check's verdict into poll's form: nil when ok, else an
// error carrying what was seen.
func holds(ok bool, seen string) error {
	if ok {
		return nil
	}
	return errors.New(seen)
}

func getWork(t testing.TB, cluster, name string) *workv1.ManifestWork {
	t.Helper()
	w := &workv1.ManifestWork{}
	if err := hubC.Get(context.Background(), client.ObjectKey{Namespace: cluster, Name: name}, w); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatalf("get ManifestWork %s/%s: %v", cluster, name, err)
	}
	return w
}

// workCondition returns a work-level condition at the current generation.
func workCondition(w *workv1.ManifestWork, typ string) *metav1.Condition {
	if w == nil {
		return nil
	}
	c := meta.FindStatusCondition(w.Status.Conditions, typ)
	if c == nil || c.ObservedGeneration != w.Generation {
		return nil
	}
	return c
}

func manifestCondition(w *workv1.ManifestWork, ordinal int, typ string) *metav1.Condition {
	for _, m := range w.Status.ResourceStatus.Manifests {
		if int(m.ResourceMeta.Ordinal) == ordinal {
			return meta.FindStatusCondition(m.Conditions, typ)
		}
	}
	return nil
}

// waitWorkCondition waits for a work condition with the given status.
func waitWorkCondition(t testing.TB, cluster, name, typ string, status metav1.ConditionStatus, timeout time.Duration) *workv1.ManifestWork {
	t.Helper()
	var w *workv1.ManifestWork
	poll.Eventually(t, timeout, fmt.Sprintf("ManifestWork %s %s=%s", name, typ, status), func() error {
		w = getWork(t, cluster, name)
		c := workCondition(w, typ)
		if c == nil {
			return errors.New("no condition yet")
		}
		return holds(c.Status == status, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	})
	return w
}

func getSpoke(t testing.TB, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out := &unstructured.Unstructured{}
	out.SetGroupVersionKind(u.GroupVersionKind())
	err := spokeC.Get(context.Background(), client.ObjectKeyFromObject(u), out)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", u.GetName(), err)
	}
	return out
}

func getCM(t testing.TB, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	err := spokeC.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get ConfigMap %s/%s: %v", ns, name, err)
	}
	return cm
}

func createNS(t testing.TB, c client.Client, name string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// hubVia returns the hub's admin config pointed at addr.
func hubVia(addr string) *rest.Config {
	cfg := rest.CopyConfig(hubCP.Config)
	cfg.Host = "https://" + addr
	return cfg
}

func hostPort(cfg *rest.Config) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(cfg.Host, "https://"), "http://"), "/")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
