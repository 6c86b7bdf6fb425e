package faults_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestHubAPIServerRestart stops the hub's kube-apiserver and etcd under a
// running hub and klusterlet and starts them again with the same data. The
// cluster keeps its objects and corrects drift alone meanwhile; afterwards
// the hub and the agent carry on without a restart of their own: a new
// commit reaches the cluster, the status follows, nothing was recreated.
func TestHubAPIServerRestart(t *testing.T) {
	e := harness.NewHub(t, "c1")
	s := harness.NewSpoke(t, "c1")
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	harness.RunFullHub(t, e)
	harness.RunKlusterlet(t, e, nil, "c1", s)
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}},
		harness.GitSubscription("app", "repo", "c1"))

	poll.Eventually(t, 60*time.Second, "revision one applied and reported", func() error {
		if v, err := s.Value("app"); v != "one" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		if c := harness.ConditionOf(e.Subscription(t, "app"), appsv1.ConditionReady); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %s: %s", c.Status, c.Message)
		}
		return nil
	})
	work := e.Works(t, "app")["c1"]
	sub := e.Subscription(t, "app")
	cm := &corev1.ConfigMap{}
	if err := s.C.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "app"}, cm); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := e.CP.StopServers(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	// While the hub is gone the cluster runs on and still corrects drift.
	s.SetValue(t, "app", "edited")
	poll.Eventually(t, 20*time.Second, "drift corrected with the hub down", func() error {
		if v, err := s.Value("app"); v != "one" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		return nil
	})
	t.Logf("drift corrected after %s", time.Since(start).Round(time.Millisecond))
	if err := e.CP.StartServers(); err != nil {
		t.Fatal(err)
	}
	t.Logf("hub control plane down for %s", time.Since(start).Round(time.Millisecond))

	// State survived: same objects, and the agent reports again.
	if got := e.Works(t, "app")["c1"]; got == nil || got.UID != work.UID || got.Generation != work.Generation {
		t.Fatalf("the ManifestWork did not survive the restart as it was: %+v", got)
	}
	if got := e.Subscription(t, "app"); got.UID != sub.UID {
		t.Fatal("the Subscription was recreated")
	}
	poll.Eventually(t, 60*time.Second, "cluster available after the restart", func() error {
		if st, err := e.ClusterAvailable("c1"); st != metav1.ConditionTrue {
			return fmt.Errorf("Available %q (%v)", st, err)
		}
		return nil
	})

	// A new commit goes all the way through the restarted API server.
	repo.Commit(t, "two", map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "two")})
	e.RequestReconcile(t, "fleet", "repo")
	poll.Eventually(t, 60*time.Second, "revision two applied and reported", func() error {
		if v, err := s.Value("app"); v != "two" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		sub := e.Subscription(t, "app")
		if sub.Status.LastAppliedRevision == work.Annotations[appsv1.AnnotationRevision] {
			return fmt.Errorf("status still on %s", sub.Status.LastAppliedRevision)
		}
		if c := harness.ConditionOf(sub, appsv1.ConditionReady); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %s: %s", c.Status, c.Message)
		}
		return nil
	})
	got := &corev1.ConfigMap{}
	if err := s.C.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "app"}, got); err != nil || got.UID != cm.UID {
		t.Fatalf("the object was recreated instead of updated (%v)", err)
	}
}
