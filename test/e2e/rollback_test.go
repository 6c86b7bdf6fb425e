package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsk8s "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// webDeployment is a Deployment apps/web of one replica running image,
// labelled so a change of note rolls its pods.
func webDeployment(image, note string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {note: %q}
    spec:
      containers:
        - name: web
          image: %s
`, note, image)
}

const (
	goodImage = "registry.k8s.io/e2e-test-images/agnhost:2.53"
	badImage  = lab.UnpullableImagePrefix + "agnhost:2.53"
)

// TestHealthRolloutAndRollback runs a progressive rollout over two decision
// groups (canary: c1; rest: c2) of clusters that run pods, with their real
// agents judging health:
//   - a good change becomes healthy everywhere, and the Subscription says so;
//   - an image that cannot be pulled is reported degraded on the canary,
//     naming the Deployment, and the rollout stops there: c2 never gets it;
//   - with spec.onRolloutFailure: Rollback, the canary gets the previous
//     content back, through a hub restart between the rollback's start and
//     its restores; c2's work is never touched;
//   - a commit that renders the failed content again is held; a fix is
//     deployed everywhere.
func TestHealthRolloutAndRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("needs control planes that run pods")
	}
	ctx := context.Background()
	h := harness.NewHub(t, "c1", "c2")
	spokes := map[string]*harness.Spoke{"c1": harness.NewWorkloadSpoke(t, "c1"), "c2": harness.NewWorkloadSpoke(t, "c2")}
	for name, tier := range map[string]string{"c1": "canary", "c2": "rest"} {
		mc := &clusterv1.ManagedCluster{}
		if err := h.C.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(mc.DeepCopy())
		mc.Labels[clusterv1beta2.ClusterSetLabel] = "fleetset"
		mc.Labels["tier"] = tier
		if err := h.C.Patch(ctx, mc, patch); err != nil {
			t.Fatal(err)
		}
	}
	h.Create(t,
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "fleetset"}},
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: harness.Meta("fleet", "fleetset"), Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "fleetset"}},
		&clusterv1beta1.Placement{ObjectMeta: harness.Meta("fleet", "tiers"), Spec: clusterv1beta1.PlacementSpec{
			ClusterSets: []string{"fleetset"},
			DecisionStrategy: clusterv1beta1.DecisionStrategy{GroupStrategy: clusterv1beta1.GroupStrategy{DecisionGroups: []clusterv1beta1.DecisionGroup{
				{GroupName: "canary", ClusterSelector: clusterv1beta1.GroupClusterSelector{LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "canary"}}}},
				{GroupName: "rest", ClusterSelector: clusterv1beta1.GroupClusterSelector{LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "rest"}}}},
			}}},
		}})
	runHub := func() (stop func()) {
		return harness.RunHub(t, h.CP.Config, func(o *hub.Options) {
			o.Controllers = []string{"placement", "channel", "subscription", "registration"}
			o.Registration = reghub.Options{CACertPEM: h.CP.ClientCA.CertPEM, CAKeyPEM: h.CP.ClientCA.KeyPEM, AutoApproveUsers: []string{harness.BootstrapUser}}
		})
	}
	stopHub := runHub()
	for name, s := range spokes {
		harness.RunKlusterlet(t, h, nil, name, s)
	}

	repo := harness.NewFleet(t, map[string]string{
		"apps/web/deployment.yaml": webDeployment(goodImage, "one"),
		"apps/web/cm.yaml":         harness.ConfigMapYAML("web", "one"),
		"apps/other/cm.yaml":       harness.ConfigMapYAML("other", "one"),
	})
	sub := harness.GitSubscription("web", "repo", "c1", "c2")
	sub.Annotations[appsv1.AnnotationGitPath] = "apps/web"
	sub.Spec.Placement = &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "Placement", Name: "tiers"}}
	sub.Spec.RolloutStrategy = &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.ProgressivePerGroup, ProgressivePerGroup: &clusterv1alpha1.RolloutProgressivePerGroup{
		RolloutConfig: clusterv1alpha1.RolloutConfig{ProgressDeadline: "5m", MaxFailures: intstr.FromInt32(0)},
	}}
	h.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}}, sub)

	// A good change becomes healthy everywhere, group after group.
	healthyEverywhere(t, h, repo.Head(t))
	first := h.Works(t, "web")
	good := repo.Commit(t, "web: two", map[string]string{"apps/web/deployment.yaml": webDeployment(goodImage, "two")})
	h.RequestReconcile(t, "fleet", "repo")
	healthyEverywhere(t, h, good)
	goodWorks := h.Works(t, "web")
	for _, c := range []string{"c1", "c2"} {
		if goodWorks[c].Annotations[appsv1.AnnotationRollbackRevision] != first[c].Annotations[appsv1.AnnotationRevision] {
			t.Errorf("%s: the new work records %q to roll back to, want the healthy revision it replaced, %s",
				c, goodWorks[c].Annotations[appsv1.AnnotationRollbackRevision], first[c].Annotations[appsv1.AnnotationRevision])
		}
	}

	// An image that cannot be pulled: degraded on the canary, named; the
	// rollout stops at the first group.
	bad := repo.Commit(t, "web: an image that cannot be pulled", map[string]string{"apps/web/deployment.yaml": webDeployment(badImage, "three")})
	h.RequestReconcile(t, "fleet", "repo")
	expectSub(t, h, "the canary degraded and the rollout stopped", func(s *appsv1.Subscription) error {
		c1 := clusterOf(s, "c1")
		if c1 == nil || c1.State != appsv1.ClusterDegraded || c1.Health != appsv1.HealthDegraded ||
			!strings.Contains(c1.Message, "Deployment apps/web: ") || !strings.Contains(c1.Message, "ImagePull") {
			return fmt.Errorf("c1: %+v", c1)
		}
		if r := s.Status.Rollout; r == nil || r.Phase != appsv1.RolloutFailed || !strings.Contains(r.Revision, bad) {
			return fmt.Errorf("rollout %+v", r)
		}
		if c := harness.ConditionOf(s, appsv1.ConditionHealthy); c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonDegraded ||
			!strings.Contains(c.Message, "c1: Deployment apps/web: ") {
			return fmt.Errorf("Healthy = %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		if c := harness.ConditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Ready = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	if w := h.Works(t, "web")["c2"]; w.Generation != goodWorks["c2"].Generation || !harness.ManifestsContain(w, goodImage) {
		t.Fatalf("c2, in the second group, got the failing revision (generation %d -> %d)", goodWorks["c2"].Generation, w.Generation)
	}

	// Rollback, paused so the hub records it but restores nothing; then a
	// new hub process finishes it.
	update(t, h, "web", func(s *appsv1.Subscription) {
		s.Labels = map[string]string{appsv1.LabelSubscriptionPause: "true"}
		s.Spec.OnRolloutFailure = appsv1.RolloutFailureRollback
	})
	expectSub(t, h, "the rollback recorded", func(s *appsv1.Subscription) error {
		rb := s.Status.Rollback
		if rb == nil || rb.Revision != s.Status.Rollout.Revision || rb.Phase != appsv1.RollbackInProgress || rb.Clusters != 1 ||
			!strings.Contains(rb.Cause, "c1: Deployment apps/web: ") {
			return fmt.Errorf("rollback %+v", rb)
		}
		return nil
	})
	stopHub()
	if !harness.ManifestsContain(h.Works(t, "web")["c1"], badImage) {
		t.Fatal("a paused rollback wrote the canary's work")
	}
	update(t, h, "web", func(s *appsv1.Subscription) { delete(s.Labels, appsv1.LabelSubscriptionPause) })
	runHub()
	rolledBack := expectSub(t, h, "rolled back on the canary", func(s *appsv1.Subscription) error {
		rb := s.Status.Rollback
		if rb == nil || rb.Phase != appsv1.RollbackDone || rb.Restored != 1 || !slices.Equal(rb.RestoredRevisions, []string{"main@sha1:" + good}) {
			return fmt.Errorf("rollback %+v", rb)
		}
		if c := harness.ConditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonRolledBack {
			return fmt.Errorf("Ready = %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		if s.Status.Summary.Healthy != 2 {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		return nil
	})
	works := h.Works(t, "web")
	if w := works["c1"]; !harness.ManifestsContain(w, goodImage) || w.Annotations[appsv1.AnnotationRolledBackFrom] != rolledBack.Status.Rollback.Revision ||
		w.Annotations[appsv1.AnnotationContentHash] != goodWorks["c1"].Annotations[appsv1.AnnotationContentHash] {
		t.Fatalf("c1's work after the rollback: %v", w.Annotations)
	}
	if w := works["c2"]; w.Generation != goodWorks["c2"].Generation {
		t.Fatalf("the rollback touched c2, which never got the failing revision (generation %d -> %d)", goodWorks["c2"].Generation, w.Generation)
	}
	poll.Eventually(t, 60*time.Second, "c1 runs the good image again", func() error {
		return deploymentImage(ctx, spokes["c1"].C, goodImage)
	})

	// A commit elsewhere renders the failed content again: still held.
	other := repo.Commit(t, "other: two", map[string]string{"apps/other/cm.yaml": harness.ConfigMapYAML("other", "two")})
	h.RequestReconcile(t, "fleet", "repo")
	expectSub(t, h, "the hold kept for a commit that changes nothing here", func(s *appsv1.Subscription) error {
		if !strings.Contains(s.Status.LastAttemptedRevision, other) || s.Status.Rollback == nil {
			return fmt.Errorf("attempted %s, rollback %+v", s.Status.LastAttemptedRevision, s.Status.Rollback)
		}
		return nil
	})
	if w := h.Works(t, "web"); !harness.ManifestsContain(w["c1"], goodImage) || w["c2"].Generation != goodWorks["c2"].Generation {
		t.Fatal("a commit that renders the failed content again was sent")
	}

	// A fix is new content: the hold is lifted and it goes everywhere.
	fix := repo.Commit(t, "web: four", map[string]string{"apps/web/deployment.yaml": webDeployment(goodImage, "four")})
	h.RequestReconcile(t, "fleet", "repo")
	healthyEverywhere(t, h, fix)
	if s := h.Subscription(t, "web"); s.Status.Rollback != nil {
		t.Fatalf("the hold stayed after a fix: %+v", s.Status.Rollback)
	}
}

// healthyEverywhere waits until revision is deployed and healthy on c1 and
// c2, and the Subscription says so.
func healthyEverywhere(t *testing.T, h *harness.Hub, commit string) {
	t.Helper()
	expectSub(t, h, "healthy everywhere at "+commit[:7], func(s *appsv1.Subscription) error {
		if s.Status.LastAppliedRevision != "main@sha1:"+commit {
			return fmt.Errorf("revision %s", s.Status.LastAppliedRevision)
		}
		for _, c := range s.Status.Clusters {
			if c.State != appsv1.ClusterApplied || c.Health != appsv1.HealthHealthy {
				return fmt.Errorf("%s: %s %s %s", c.Name, c.State, c.Health, c.Message)
			}
		}
		if c := harness.ConditionOf(s, appsv1.ConditionHealthy); c.Status != metav1.ConditionTrue || c.Message != "healthy on 2/2 clusters" {
			return fmt.Errorf("Healthy = %s: %s", c.Status, c.Message)
		}
		if c := harness.ConditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %s: %s", c.Status, c.Message)
		}
		return nil
	})
}

func expectSub(t *testing.T, h *harness.Hub, what string, check func(*appsv1.Subscription) error) *appsv1.Subscription {
	t.Helper()
	var sub *appsv1.Subscription
	poll.Eventually(t, 120*time.Second, what, func() error {
		sub = h.Subscription(t, "web")
		return check(sub)
	})
	return sub
}

func clusterOf(s *appsv1.Subscription, name string) *appsv1.ClusterStatus {
	for i := range s.Status.Clusters {
		if s.Status.Clusters[i].Name == name {
			return &s.Status.Clusters[i]
		}
	}
	return nil
}

func update(t *testing.T, h *harness.Hub, name string, change func(*appsv1.Subscription)) {
	t.Helper()
	s := h.Subscription(t, name)
	patch := client.MergeFrom(s.DeepCopy())
	change(s)
	if err := h.C.Patch(h.Ctx, s, patch); err != nil {
		t.Fatal(err)
	}
}

// deploymentImage checks apps/web runs image, rolled out and available.
func deploymentImage(ctx context.Context, c client.Client, image string) error {
	d := &appsk8s.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, d); err != nil {
		return err
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		return fmt.Errorf("image %s", got)
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != 1 || d.Status.AvailableReplicas != 1 || d.Status.Replicas != 1 {
		return fmt.Errorf("status %+v", d.Status)
	}
	return nil
}
