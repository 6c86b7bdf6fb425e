package hub_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestReportOnlyDriftAsTheTourSays checks the README tour's drift paragraph
// on a real hub and cluster (issue 15 item 14): under ReportOnly a hand edit
// stays and is reported; a commit that changes the Subscription's output
// but not that object leaves it so; a commit that changes the object
// restores it; and once edited again, setting driftPolicy back to Correct
// restores it too.
func TestReportOnlyDriftAsTheTourSays(t *testing.T) {
	if testing.Short() {
		t.Skip("needs control planes")
	}
	e, _, spokes := labHub(t, 1)
	spoke := spokes[0]
	repo := harness.NewFleet(t, map[string]string{"apps/web/web.yaml": harness.ConfigMapYAML("web", "one")})
	appSubscription(e, t, repo.URL, "web", "apps/web", []string{lab.ClusterName(1)}, func(s *appsv1.Subscription) {
		s.Spec.DriftPolicy = appsv1.DriftReportOnly
	})
	value := func() string {
		cm := &corev1.ConfigMap{}
		if err := spoke.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, cm); err != nil {
			return err.Error()
		}
		return cm.Data["value"]
	}
	is := func(what, want string) {
		t.Helper()
		poll.Eventually(t, 60*time.Second, what, func() error {
			if v := value(); v != want {
				return fmt.Errorf("value %q, want %q", v, want)
			}
			return nil
		})
	}
	drifted := func(what string, n int32) {
		t.Helper()
		poll.Eventually(t, 60*time.Second, what, func() error {
			s := e.Subscription(t, "web")
			// A drifted cluster counts as drifted, not applied.
			if sum := s.Status.Summary; sum.Drifted != n || sum.Applied != 1-n || sum.Failed != 0 {
				return fmt.Errorf("summary %+v", s.Status.Summary)
			}
			return nil
		})
	}
	edit := func() {
		t.Helper()
		cm := &corev1.ConfigMap{}
		if err := spoke.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, cm); err != nil {
			t.Fatal(err)
		}
		cm.Data["value"] = "by hand"
		if err := spoke.Update(e.Ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	is("applied", "one")
	drifted("applied, no drift", 0)
	edit()
	drifted("the hand edit reported", 1)

	// A commit that adds another object: the work changes, the edited object
	// does not, and its drift stays, reported.
	repo.Commit(t, "another object", map[string]string{"apps/web/other.yaml": harness.ConfigMapYAML("other", "x")})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	poll.Eventually(t, 60*time.Second, "the other object applied", func() error {
		cm := &corev1.ConfigMap{}
		return spoke.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "other"}, cm)
	})
	drifted("the drift still reported after a commit that leaves the object as it was", 1)
	if v := value(); v != "by hand" {
		t.Fatalf("a commit that does not change the object restored it: value %q", v)
	}

	// A commit that changes the object applies it.
	repo.Commit(t, "web two", map[string]string{"apps/web/web.yaml": harness.ConfigMapYAML("web", "two")})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	is("a commit changing the object restores it", "two")
	drifted("no drift once the object is applied again", 0)

	// Edited again, then the policy goes back to Correct: restored.
	edit()
	drifted("the second hand edit reported", 1)
	e.update(t, "web", func(s *appsv1.Subscription) { s.Spec.DriftPolicy = "" })
	is("driftPolicy back to Correct restores it", "two")
	drifted("no drift under Correct", 0)
}
