package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/syncbuf"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestStatusCommand -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func condition(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
}

// seedHub writes a small fleet, statuses included, as the controllers and
// agents would have left it.
func seedHub(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	for _, ns := range []string{"fleet", "shop"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"},
		Spec: appsv1.ChannelSpec{Type: "Git", Pathname: "https://bot:s3cret@git.example.com/platform/fleet.git"}}
	if err := c.Create(ctx, ch); err != nil {
		t.Fatal(err)
	}
	ch.Status = appsv1.ChannelStatus{
		ObservedGeneration: ch.Generation,
		Conditions: []metav1.Condition{{Type: appsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: appsv1.ReasonSucceeded,
			Message: "1 refs fetched", ObservedGeneration: ch.Generation, LastTransitionTime: metav1.Now()}},
		Artifacts: []appsv1.ArtifactStatus{{Ref: "main", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", FetchedAt: metav1.Now()}},
	}
	if err := c.Status().Update(ctx, ch); err != nil {
		t.Fatal(err)
	}

	subs := []struct {
		ns, name string
		status   appsv1.SubscriptionStatus
	}{
		{"fleet", "hello", appsv1.SubscriptionStatus{
			LastAppliedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
			Conditions:          []metav1.Condition{condition(appsv1.ConditionReady, metav1.ConditionTrue, appsv1.ReasonSucceeded, "revision main@sha1:0123456789abcdef0123456789abcdef01234567 applied on 2/2 clusters")},
			Summary:             appsv1.ClusterSummary{Selected: 2, Applied: 2, Healthy: 2},
			Clusters: []appsv1.ClusterStatus{{Name: "east", State: appsv1.ClusterApplied, Health: appsv1.HealthHealthy},
				{Name: "west", State: appsv1.ClusterApplied, Health: appsv1.HealthHealthy}},
		}},
		{"shop", "cart", appsv1.SubscriptionStatus{
			LastAppliedRevision:   "main@sha1:1111111111111111111111111111111111111111",
			LastAttemptedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
			Conditions:            []metav1.Condition{condition(appsv1.ConditionReady, metav1.ConditionFalse, appsv1.ReasonRenderFailed, "cluster east: apps/cart/kustomization.yaml: unknown field \"resourcez\"")},
			Summary:               appsv1.ClusterSummary{Selected: 2, Applied: 1, Healthy: 1, Drifted: 1},
			Clusters: []appsv1.ClusterStatus{{Name: "west", State: appsv1.ClusterDrifted, Health: appsv1.HealthHealthy},
				{Name: "east", State: appsv1.ClusterApplied, Health: appsv1.HealthHealthy}},
		}},
	}
	for _, s := range subs {
		sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name}, Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo"}}
		if err := c.Create(ctx, sub); err != nil {
			t.Fatal(err)
		}
		sub.Status = s.status
		if err := c.Status().Update(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"east", "west", "north"} {
		mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
		if err := c.Create(ctx, mc); err != nil {
			t.Fatal(err)
		}
		status := metav1.ConditionTrue
		if name == "north" {
			status = metav1.ConditionFalse
		}
		mc.Status.Conditions = []metav1.Condition{condition(clusterv1.ManagedClusterConditionAvailable, status, "ManagedClusterAvailable", "")}
		if err := c.Status().Update(ctx, mc); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusCommand runs `ocm-gitops status` against a real API server and
// compares its table and JSON with golden files; --watch prints again when
// the fleet changes.
func TestStatusCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cp.Stop() }()
	kubeconfig := filepath.Join(t.TempDir(), "hub.kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	seedHub(t, ctx, c)

	var table, stderr bytes.Buffer
	if code := run(ctx, []string{"status", "--hub-kubeconfig", kubeconfig}, &table, &stderr); code != 0 {
		t.Fatalf("status exited %d: %s", code, stderr.String())
	}
	compareGolden(t, "status.golden", table.Bytes())

	// --wide keeps each message whole on its row; the table above wraps it
	// (issue 15 item 8: messages were cut mid-word).
	var wide bytes.Buffer
	if code := run(ctx, []string{"status", "--hub-kubeconfig", kubeconfig, "--wide"}, &wide, &stderr); code != 0 {
		t.Fatalf("status --wide exited %d: %s", code, stderr.String())
	}
	const cart = `RenderFailed: cluster east: apps/cart/kustomization.yaml: unknown field "resourcez"`
	cartRow := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "shop/cart ") {
				return l
			}
		}
		return ""
	}
	if r := cartRow(table.String()); strings.Contains(r, cart) {
		t.Errorf("the default table no longer wraps the long message, so --wide shows nothing: %q", r)
	}
	if r := cartRow(wide.String()); !strings.HasSuffix(r, cart) {
		t.Errorf("status --wide: shop/cart's row %q, want the whole message %q on it", r, cart)
	}

	var js bytes.Buffer
	if code := run(ctx, []string{"status", "--hub-kubeconfig", kubeconfig, "-o", "json"}, &js, &stderr); code != 0 {
		t.Fatalf("status -o json exited %d: %s", code, stderr.String())
	}
	compareGolden(t, "status.json.golden", js.Bytes())
	var decoded fleetstatus.Fleet
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatalf("status -o json is not a Fleet: %v", err)
	}
	if strings.Contains(table.String()+js.String(), "s3cret") {
		t.Error("status shows the credentials in a Channel URL")
	}

	// The environment doubles the flags, and bad input is a usage error.
	t.Setenv("OCM_GITOPS_HUB_KUBECONFIG", kubeconfig)
	var out bytes.Buffer
	stderr.Reset()
	if code := run(ctx, []string{"status", "--output", "yaml"}, &out, &stderr); code != 2 || !strings.Contains(stderr.String(), "want table or json") {
		t.Fatalf("--output yaml: exit %d, stderr %q; want 2 and the choices", code, stderr.String())
	}

	// --watch prints the table again once something changes.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watched := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(wctx, []string{"status", "--watch", "--interval", "100ms"}, watched, &bytes.Buffer{})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(watched.String(), "CLUSTERS") {
		if time.Now().After(deadline) {
			t.Fatalf("--watch printed nothing: %q", watched.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	north := &clusterv1.ManagedCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: "north"}, north); err != nil {
		t.Fatal(err)
	}
	north.Status.Conditions = []metav1.Condition{condition(clusterv1.ManagedClusterConditionAvailable, metav1.ConditionTrue, "ManagedClusterAvailable", "")}
	if err := c.Status().Update(ctx, north); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(watched.String(), "3/3 clusters available") {
		if time.Now().After(deadline) {
			t.Fatalf("--watch did not print the change:\n%s", watched.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(watched.String(), "FLEET "); n != 2 {
		t.Errorf("--watch printed the fleet %d times for one change, want 2:\n%s", n, watched.String())
	}
	wcancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("status --watch exited %d when interrupted, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status --watch did not stop when interrupted")
	}
}
