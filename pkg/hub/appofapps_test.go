package hub_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// childYAML is the Subscription fleet/web the app of apps deploys: the
// ConfigMap in apps/web on the first cluster, drift only reported.
func childYAML() string {
	return fmt.Sprintf(`apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata:
  name: web
  namespace: fleet
  annotations:
    apps.open-cluster-management.io/git-branch: main
    apps.open-cluster-management.io/git-path: apps/web
spec:
  channel: fleet/repo
  driftPolicy: ReportOnly
  placement:
    clusters:
      - name: %s
`, lab.ClusterName(1))
}

// TestAppOfAppsHealthyWhileAChildDrifts checks, on a real hub that is its
// own managed cluster, that a Subscription deploying another one stays
// healthy while the child reports drift: the child's Ready=False is the
// child's own state, not progress of the parent's content.
func TestAppOfAppsHealthyWhileAChildDrifts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs control planes")
	}
	e, _, spokes := labHub(t, 1, func(o *lab.Options) { o.LocalCluster = true })
	repo := harness.NewFleet(t, map[string]string{
		"apps/web/web.yaml": harness.ConfigMapYAML("web", "one"),
		"hub/web.yaml":      childYAML(),
	})
	local := true
	appSubscription(e, t, repo.URL, "parent", "hub", nil, func(s *appsv1.Subscription) { s.Spec.Placement.Local = &local })
	poll.Eventually(t, 90*time.Second, "the child applied by the parent and its ConfigMap by the child", func() error {
		cm := &corev1.ConfigMap{}
		if err := spokes[0].Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, cm); err != nil {
			return err
		}
		if s := e.Subscription(t, "parent"); s.Status.Summary.Healthy != 1 {
			return fmt.Errorf("parent summary %+v", s.Status.Summary)
		}
		return nil
	})

	cm := &corev1.ConfigMap{}
	if err := spokes[0].Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["value"] = "by hand"
	if err := spokes[0].Update(e.Ctx, cm); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "the child reports the drift, not Ready", func() error {
		s := e.Subscription(t, "web")
		if r := harness.ConditionOf(s, appsv1.ConditionReady); s.Status.Summary.Drifted != 1 || r.Status != metav1.ConditionFalse {
			return fmt.Errorf("child summary %+v, Ready %s %s", s.Status.Summary, r.Status, r.Reason)
		}
		return nil
	})

	// A commit to the parent's content makes its agent sync and judge the
	// child again, now that the child is not Ready.
	repo.Commit(t, "another hub object", map[string]string{"hub/other.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: fleet\n"})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	poll.Eventually(t, 60*time.Second, "the parent's new object applied and the child judged healthy", func() error {
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: "other"}, &corev1.ConfigMap{}); err != nil {
			return err
		}
		return childJudged(e, t)
	})
	s := e.Subscription(t, "parent")
	if sum := s.Status.Summary; sum.Healthy != 1 || sum.Applied != 1 || sum.Progressing != 0 || sum.Degraded != 0 {
		t.Errorf("parent summary %+v while its child drifts, want applied and healthy", sum)
	}
	if r := harness.ConditionOf(s, appsv1.ConditionReady); r.Status != metav1.ConditionTrue {
		t.Errorf("parent Ready %s %s: %s", r.Status, r.Reason, r.Message)
	}
}

// childJudged checks the parent's work on the hub: the manifest of the
// child Subscription is neither progressing nor degraded.
func childJudged(e *env, t *testing.T) error {
	w := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: lab.LocalClusterName, Name: "fleet.parent"}, w); err != nil {
		return err
	}
	for _, m := range w.Status.ResourceStatus.Manifests {
		if m.ResourceMeta.Kind != "Subscription" || m.ResourceMeta.Name != "web" {
			continue
		}
		p := meta.FindStatusCondition(m.Conditions, workv1.ManifestProgressing)
		d := meta.FindStatusCondition(m.Conditions, workv1.ManifestDegraded)
		if p == nil || p.Status != metav1.ConditionFalse || p.ObservedGeneration != w.Generation || d == nil || d.Status != metav1.ConditionFalse {
			return fmt.Errorf("child manifest conditions %+v", m.Conditions)
		}
		return nil
	}
	return fmt.Errorf("no status of the child Subscription in work %s", w.Name)
}
