package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
)

func TestKlusterletCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"klusterlet", "--hub-kubeconfig", "h"}, "--cluster-name is required"},
		{[]string{"klusterlet", "--cluster-name", "c"}, "give --hub-kubeconfig"},
		{[]string{"klusterlet", "--cluster-name", "c", "--bootstrap-kubeconfig", "b"}, "needs --hub-kubeconfig PATH or --hub-kubeconfig-secret"},
	} {
		code, _, errOut := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	code, _, errOut := runCmd(t, "klusterlet", "--cluster-name", "c", "--hub-kubeconfig", filepath.Join(t.TempDir(), "missing"), "--kubeconfig", "/nonexistent")
	if code != 1 || !strings.Contains(errOut, "--kubeconfig /nonexistent") {
		t.Errorf("missing kubeconfig: exit %d, stderr %q", code, errOut)
	}
}

// The klusterlet command runs an already-registered agent from kubeconfig files.
func TestKlusterletCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var hub, managed *lab.ControlPlane
	var herr, merr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); hub, herr = lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets) }()
	go func() {
		defer wg.Done()
		managed, merr = lab.StartControlPlane(ctx, "managed", lab.RoleManaged, assets)
	}()
	wg.Wait()
	t.Cleanup(func() { _ = hub.Stop(); _ = managed.Stop() })
	if herr != nil || merr != nil {
		t.Fatal(herr, merr)
	}
	dir := t.TempDir()
	hubPath, managedPath := filepath.Join(dir, "hub"), filepath.Join(dir, "managed")
	if err := hub.WriteKubeconfig(hubPath); err != nil {
		t.Fatal(err)
	}
	if err := managed.WriteKubeconfig(managedPath); err != nil {
		t.Fatal(err)
	}
	hubC, err := client.New(hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := hubC.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cli"}}); err != nil {
		t.Fatal(err)
	}
	w := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "cli"}}
	w.Spec.Workload.Manifests = []workv1.Manifest{{RawExtension: runtime.RawExtension{
		Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hello","namespace":"default"},"data":{"k":"v"}}`)}}}
	if err := hubC.Create(ctx, w); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		var out bytes.Buffer
		done <- run(runCtx, []string{"klusterlet", "--hub-kubeconfig", hubPath, "--kubeconfig", managedPath, "--cluster-name", "cli"}, &out, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := &workv1.ManifestWork{}
		if err := hubC.Get(ctx, client.ObjectKeyFromObject(w), got); err == nil && meta.IsStatusConditionTrue(got.Status.Conditions, workv1.WorkApplied) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("work not applied by the klusterlet command; stderr:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the context ended; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal(fmt.Sprintf("the klusterlet command did not stop; stderr:\n%s", stderr.String()))
	}
}
