package placement_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	. "github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// expectRule waits until the PlacementRule's decisions are want and returns it.
func expectRule(t *testing.T, ns, name string, want ...string) *appsv1.PlacementRule {
	t.Helper()
	var r appsv1.PlacementRule
	poll.Eventually(t, 20*time.Second, "decisions of PlacementRule "+ns+"/"+name, func() error {
		if err := testHub.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &r); err != nil {
			return err
		}
		var got []string
		for _, d := range r.Status.Decisions {
			got = append(got, d.ClusterName)
		}
		if !slices.Equal(got, want) || meta.FindStatusCondition(r.Status.Conditions, RuleConditionReady) == nil {
			return fmt.Errorf("PlacementRule %s/%s decisions = %v (conditions %+v), want %v", ns, name, got, r.Status.Conditions, want)
		}
		return nil
	})
	return &r
}

// TestControllerPlacementRule: OCM's PlacementRule is scheduled into its
// status, follows cluster changes, keeps its decisions on a bad spec, and a
// Subscription's placementRef can name it.
func TestControllerPlacementRule(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "rules")
	for _, n := range []string{"rule-1", "rule-2", "rule-3"} {
		createCluster(t, Cluster(n, WithLabels("app", "web", "suite", "rules")))
	}
	rule := &appsv1.PlacementRule{ObjectMeta: metav1.ObjectMeta{Namespace: "rules", Name: "web"}, Spec: appsv1.PlacementRuleSpec{
		ClusterReplicas: N32(2),
		ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "suite": "rules"}},
	}}
	must(t, testHub.c.Create(ctx, rule))
	expectRule(t, "rules", "web", "rule-1", "rule-2")

	// A chosen cluster stops matching: the next one takes its place.
	updateCluster(t, "rule-1", func(mc *clusterv1.ManagedCluster) { mc.Labels["app"] = "db" })
	expectRule(t, "rules", "web", "rule-2", "rule-3")

	// A Subscription's placementRef may name the PlacementRule.
	sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "rules", Name: "s"}, Spec: appsv1.SubscriptionSpec{
		Placement: &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "PlacementRule", Name: "web"}}}}
	targets, err := TargetsFor(ctx, testHub.c, sub)
	if err != nil || len(targets) != 2 || targets[0].Cluster != "rule-2" || targets[1].Cluster != "rule-3" {
		t.Errorf("targets through the PlacementRule = %+v, %v", targets, err)
	}

	// A bad spec keeps the decisions and says why.
	var live appsv1.PlacementRule
	must(t, testHub.c.Get(ctx, client.ObjectKeyFromObject(rule), &live))
	live.Spec.ClusterSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
	must(t, testHub.c.Update(ctx, &live))
	poll.Eventually(t, 20*time.Second, "the PlacementRule marked invalid", func() error {
		must(t, testHub.c.Get(ctx, client.ObjectKeyFromObject(rule), &live))
		c := meta.FindStatusCondition(live.Status.Conditions, RuleConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonRuleInvalid || !strings.Contains(c.Message, "spec.clusterSelector") {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	if len(live.Status.Decisions) != 2 {
		t.Errorf("decisions after a bad spec = %+v, want the two kept", live.Status.Decisions)
	}

	// clusterReplicas 0 clears the decisions.
	live.Spec.ClusterSelector, live.Spec.ClusterReplicas = nil, N32(0)
	must(t, testHub.c.Update(ctx, &live))
	expectRule(t, "rules", "web")

	// Another scheduler's PlacementRule is left alone.
	other := &appsv1.PlacementRule{ObjectMeta: metav1.ObjectMeta{Namespace: "rules", Name: "theirs"}, Spec: appsv1.PlacementRuleSpec{SchedulerName: "custom"}}
	must(t, testHub.c.Create(ctx, other))
	mine := &appsv1.PlacementRule{ObjectMeta: metav1.ObjectMeta{Namespace: "rules", Name: "mine"}, Spec: appsv1.PlacementRuleSpec{
		ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"suite": "rules"}}}}
	must(t, testHub.c.Create(ctx, mine))
	expectRule(t, "rules", "mine", "rule-1", "rule-2", "rule-3")
	must(t, testHub.c.Get(ctx, client.ObjectKeyFromObject(other), other))
	if len(other.Status.Decisions) != 0 || len(other.Status.Conditions) != 0 {
		t.Errorf("a rule for another scheduler got a status: %+v", other.Status)
	}
}
