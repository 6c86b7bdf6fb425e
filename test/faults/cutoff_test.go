package faults_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/netcut"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestKlusterletCutOffCatchesUp puts a TCP proxy between a klusterlet and
// its hub and severs it for a while. The cluster keeps running what it has
// and corrects drift on its own; the hub marks the cluster offline and
// queues a new revision in the ManifestWork; when the link returns the
// agent applies the new revision and the hub's status catches up.
func TestKlusterletCutOffCatchesUp(t *testing.T) {
	e := harness.NewHub(t, "c1")
	mc := &clusterv1.ManagedCluster{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "c1"}, mc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(mc.DeepCopy())
	mc.Spec.LeaseDurationSeconds = 1 // unknown after 5 s without a renewal
	if err := e.C.Patch(e.Ctx, mc, patch); err != nil {
		t.Fatal(err)
	}
	s := harness.NewSpoke(t, "c1")
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	proxy := netcut.New(t, strings.TrimSuffix(strings.TrimPrefix(e.CP.Config.Host, "https://"), "/"))
	harness.RunFullHub(t, e)
	harness.RunKlusterlet(t, e, &rest.Config{Host: "https://" + proxy.Addr()}, "c1", s)
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

	start := time.Now()
	proxy.Down()
	poll.Eventually(t, 30*time.Second, "hub sees the cluster offline", func() error {
		if st, err := e.ClusterAvailable("c1"); st != metav1.ConditionUnknown {
			return fmt.Errorf("Available %q (%v)", st, err)
		}
		if sum := e.Subscription(t, "app").Status.Summary; sum.Offline != 1 {
			return fmt.Errorf("summary %+v", sum)
		}
		return nil
	})
	t.Logf("offline after %s", time.Since(start).Round(time.Millisecond))
	// Cut off, the cluster still corrects drift from what it last knew.
	s.SetValue(t, "app", "edited")
	poll.Eventually(t, 20*time.Second, "drift corrected while cut off", func() error {
		if v, err := s.Value("app"); v != "one" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		return nil
	})
	// A new revision waits in the hub.
	repo.Commit(t, "two", map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "two")})
	e.RequestReconcile(t, "fleet", "repo")
	poll.Eventually(t, 30*time.Second, "revision two written on the hub", func() error {
		if w := e.Works(t, "app")["c1"]; w == nil || !harness.ManifestsContain(w, `"value":"two"`) {
			return fmt.Errorf("work not updated")
		}
		return nil
	})
	poll.Consistently(t, 2*time.Second, "nothing reaches the cluster while cut off", func() error {
		if v, err := s.Value("app"); v != "one" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		return nil
	})

	t.Logf("cut off for %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	proxy.Up(t)
	poll.Eventually(t, 60*time.Second, "caught up after reconnecting", func() error {
		if v, err := s.Value("app"); v != "two" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		if st, err := e.ClusterAvailable("c1"); st != metav1.ConditionTrue {
			return fmt.Errorf("Available %q (%v)", st, err)
		}
		sub := e.Subscription(t, "app")
		if sum := sub.Status.Summary; sum.Applied != 1 || sum.Offline != 0 {
			return fmt.Errorf("summary %+v", sum)
		}
		if c := harness.ConditionOf(sub, appsv1.ConditionReady); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "healthy on 1/1") {
			return fmt.Errorf("Ready %s: %s", c.Status, c.Message)
		}
		return nil
	})
	t.Logf("caught up %s after reconnecting", time.Since(start).Round(time.Millisecond))
}
