package lab

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestControlPlaneServesCRDs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cp, err := StartControlPlane(context.Background(), "hub", RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	t.Logf("control plane up in %s", time.Since(start))

	s := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(s)
	c, err := client.New(cp.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "subscriptions.apps.open-cluster-management.io"}, crd); err != nil {
		t.Fatalf("Subscription CRD not served: %v", err)
	}
}

// startManaged starts a managed control plane for the test (skipped in
// -short) and stops it at the end.
func startManaged(t *testing.T, name string) *ControlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := StartControlPlane(context.Background(), name, RoleManaged, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	return cp
}

// TestControlPlaneRestartKeepsData restarts etcd and kube-apiserver: the
// same Config reaches the restarted apiserver and the objects are still there.
func TestControlPlaneRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	cp := startManaged(t, "restart")
	c, err := client.New(cp.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kept"}, Data: map[string]string{"k": "v"}}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cp.StopServers(); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err == nil {
		t.Fatal("the apiserver still answers after StopServers")
	}
	if err := cp.StartServers(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(start).Round(time.Millisecond))
	got := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil || got.Data["k"] != "v" || got.UID != cm.UID {
		t.Fatalf("after the restart: %v %+v", err, got)
	}
}
