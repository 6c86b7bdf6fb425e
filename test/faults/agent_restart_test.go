package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// deleteLog records the DELETE requests a client sends, by path: those it
// sent and those that succeeded. Each is slowed down a little, so that an
// agent can be stopped halfway through a large deletion.
type deleteLog struct {
	mu        sync.Mutex
	sent      map[string]int
	succeeded map[string]int
	total     int
	notify    chan struct{}
}

func (d *deleteLog) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return harness.RoundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodDelete || !strings.Contains(req.URL.Path, "/configmaps/") {
				return rt.RoundTrip(req)
			}
			time.Sleep(5 * time.Millisecond)
			d.mu.Lock()
			d.sent[req.URL.Path]++
			d.mu.Unlock()
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode < 300 {
				d.mu.Lock()
				d.succeeded[req.URL.Path]++
				d.total++
				d.mu.Unlock()
				select {
				case d.notify <- struct{}{}:
				default:
				}
			}
			return resp, err
		})
	})
	return out
}

func (d *deleteLog) deleted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// TestAgentRestartedWhileDeleting deletes a ManifestWork of 300 objects and
// stops the agent partway through removing them. Meanwhile someone creates
// an object of the same name as one already removed. A new agent finishes
// the job from the AppliedManifestWork: every object of the work is gone,
// each removed by exactly one successful DELETE, and the look-alike object,
// which the work never applied, stays.
func TestAgentRestartedWhileDeleting(t *testing.T) {
	hubCP := harness.StartControlPlane(t, "hub", lab.RoleHub)
	s := harness.NewSpoke(t, "c1")
	ctx := context.Background()
	hubC, err := client.New(hubCP.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := hubC.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	w := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "c1", Name: "bulk"}}
	for i := range n {
		raw := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%03d","namespace":"apps"},"data":{"i":"%d"}}`, i, i)
		w.Spec.Workload.Manifests = append(w.Spec.Workload.Manifests, workv1.Manifest{RawExtension: runtime.RawExtension{Raw: []byte(raw)}})
	}
	bystander := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "bystander"}}
	if err := s.C.Create(ctx, bystander); err != nil {
		t.Fatal(err)
	}

	log := &deleteLog{sent: map[string]int{}, succeeded: map[string]int{}, notify: make(chan struct{}, 1)}
	managed := log.wrap(s.CP.Config)
	startAgent := func() (stop func()) {
		a, err := work.New(work.Options{ClusterName: "c1", Hub: hubCP.Config, Managed: managed, Logger: harness.Logger(t).WithName("work")})
		if err != nil {
			t.Fatal(err)
		}
		return harness.Run(t, "work agent", a.Run)
	}
	count := func() (int, error) {
		var list corev1.ConfigMapList
		if err := s.C.List(ctx, &list, client.InNamespace("apps")); err != nil {
			return 0, err
		}
		m := 0
		for _, cm := range list.Items {
			if strings.HasPrefix(cm.Name, "cm-") {
				m++
			}
		}
		return m, nil
	}

	stop := startAgent()
	if err := hubC.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "all objects applied", func() error {
		if m, err := count(); m != n {
			return fmt.Errorf("%d of %d (%v)", m, n, err)
		}
		return nil
	})
	if err := hubC.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for log.deleted() < n/5 {
		select {
		case <-log.notify:
		case <-deadline:
			t.Fatalf("only %d deletions after 60s", log.deleted())
		}
	}
	stop()
	left, err := count()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("agent stopped after %d deletions; %d objects left", log.deleted(), left)
	if left == 0 || left == n {
		t.Fatalf("the agent stopped with %d of %d objects left; the test needs it stopped halfway", left, n)
	}
	// An object named like one already removed, created by someone else.
	lookalike := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "cm-000"}, Data: map[string]string{"owner": "someone else"}}
	if err := s.C.Create(ctx, lookalike); err != nil {
		t.Fatalf("cm-000 should be gone by now: %v", err)
	}

	startAgent()
	poll.Eventually(t, 60*time.Second, "ManifestWork, objects and AppliedManifestWork gone", func() error {
		if err := hubC.Get(ctx, client.ObjectKeyFromObject(w), &workv1.ManifestWork{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("ManifestWork still there (%v)", err)
		}
		if m, err := count(); m != 1 {
			return fmt.Errorf("%d objects named cm-* left (%v)", m, err)
		}
		var amws workv1.AppliedManifestWorkList
		if err := s.C.List(ctx, &amws); err != nil || len(amws.Items) != 0 {
			return fmt.Errorf("%d AppliedManifestWorks left (%v)", len(amws.Items), err)
		}
		return nil
	})
	got := &corev1.ConfigMap{}
	if err := s.C.Get(ctx, client.ObjectKeyFromObject(lookalike), got); err != nil || got.UID != lookalike.UID {
		t.Errorf("the look-alike cm-000 was deleted (%v)", err)
	}
	if err := s.C.Get(ctx, client.ObjectKeyFromObject(bystander), &corev1.ConfigMap{}); err != nil {
		t.Errorf("an object the work never held was deleted: %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.total != n {
		t.Errorf("%d successful deletions, want %d", log.total, n)
	}
	retried := 0
	for path, k := range log.succeeded {
		if k != 1 {
			t.Errorf("%s deleted %d times", path, k)
		}
	}
	for _, k := range log.sent {
		if k > 1 {
			retried++
		}
	}
	for i := range n {
		path := fmt.Sprintf("/api/v1/namespaces/apps/configmaps/cm-%03d", i)
		if log.succeeded[path] != 1 {
			t.Errorf("cm-%03d: %d successful deletions, want 1", i, log.succeeded[path])
		}
	}
	t.Logf("DELETE requests: %d objects, %d sent twice", len(log.sent), retried)
}
