package placement

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func withCondition(typ string, status metav1.ConditionStatus) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) {
		mc.Status.Conditions = append(mc.Status.Conditions, metav1.Condition{Type: typ, Status: status})
	}
}

func withMemory(alloc string) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) {
		if mc.Status.Allocatable == nil {
			mc.Status.Allocatable = clusterv1.ResourceList{}
		}
		mc.Status.Allocatable[clusterv1.ResourceMemory] = resource.MustParse(alloc)
	}
}

func TestRuleDecisions(t *testing.T) {
	available := clusterv1.ManagedClusterConditionAvailable
	deleting := cluster("c6", withLabels("env", "prod"))
	deleting.DeletionTimestamp = &metav1.Time{}
	unaccepted := cluster("c7", withLabels("env", "prod"))
	unaccepted.Spec.HubAcceptsClient = false
	clusters := []*clusterv1.ManagedCluster{
		cluster("c3", withLabels("env", "prod"), withCondition(available, metav1.ConditionTrue), withMemory("4Gi")),
		cluster("c1", withLabels("env", "prod"), withCondition(available, metav1.ConditionFalse), withMemory("8Gi")),
		cluster("c2", withLabels("env", "dev"), withMemory("2Gi")),
		cluster("c4", withLabels("env", "prod"), withMemory("16Gi")),
		cluster("c5", withLabels("env", "prod"), withCondition(available, metav1.ConditionUnknown)),
		deleting, unaccepted,
	}
	prod := &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	rule := func(spec appsv1.PlacementRuleSpec, decided ...string) *appsv1.PlacementRule {
		r := &appsv1.PlacementRule{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"}, Spec: spec}
		for _, d := range decided {
			r.Status.Decisions = append(r.Status.Decisions, appsv1.PlacementRuleDecision{ClusterName: d, ClusterNamespace: d})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		rule *appsv1.PlacementRule
		want string
		err  string
	}{
		{name: "no selector: every accepted cluster", rule: rule(appsv1.PlacementRuleSpec{}), want: "c1 c2 c3 c4 c5"},
		{name: "label selector", rule: rule(appsv1.PlacementRuleSpec{ClusterSelector: prod}), want: "c1 c3 c4 c5"},
		{name: "a cluster list wins over the selector", rule: rule(appsv1.PlacementRuleSpec{ClusterSelector: prod,
			Clusters: []appsv1.GenericClusterReference{{Name: "c2"}, {Name: "c6"}, {Name: "missing"}}}), want: "c2"},
		{name: "conditions: a cluster without the condition passes", rule: rule(appsv1.PlacementRuleSpec{ClusterSelector: prod,
			ClusterConditions: []appsv1.ClusterConditionFilter{{Type: available, Status: metav1.ConditionTrue}}}), want: "c3 c4"},
		{name: "replicas take decided clusters first", rule: rule(appsv1.PlacementRuleSpec{ClusterSelector: prod, ClusterReplicas: n32(2)}, "c5", "c9"), want: "c1 c5"},
		{name: "replicas 0", rule: rule(appsv1.PlacementRuleSpec{ClusterReplicas: n32(0)}, "c1"), want: ""},
		{name: "memory, most first", rule: rule(appsv1.PlacementRuleSpec{ClusterSelector: prod, ClusterReplicas: n32(2),
			ResourceHint: &appsv1.ResourceHint{Type: appsv1.ResourceTypeMemory}}), want: "c4 c1"},
		{name: "memory, least first", rule: rule(appsv1.PlacementRuleSpec{ClusterReplicas: n32(3),
			ResourceHint: &appsv1.ResourceHint{Type: appsv1.ResourceTypeMemory, Order: appsv1.SelectionOrderAsc}}), want: "c5 c2 c3"},
		{name: "invalid selector", rule: rule(appsv1.PlacementRuleSpec{ClusterSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}}), err: "spec.clusterSelector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RuleDecisions(tc.rule, clusters)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range got {
				if d.ClusterNamespace != d.ClusterName {
					t.Errorf("decision %+v: namespace is not the cluster's", d)
				}
				names = append(names, d.ClusterName)
			}
			if strings.Join(names, " ") != tc.want {
				t.Errorf("decisions = %v, want %s", names, tc.want)
			}
		})
	}
	if IsOurRule(rule(appsv1.PlacementRuleSpec{SchedulerName: "other"})) || !IsOurRule(rule(appsv1.PlacementRuleSpec{SchedulerName: "mcm"})) {
		t.Error("IsOurRule: only \"\", default and mcm are ours")
	}
}

func TestResolveTargetsPlacementRule(t *testing.T) {
	clusters := []*clusterv1.ManagedCluster{cluster("a", withLabels("env", "prod")), cluster("b")}
	rule := &appsv1.PlacementRule{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "prod"},
		Spec: appsv1.PlacementRuleSpec{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}}
	sub := func(kind, name string) *appsv1.Subscription {
		return &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Spec: appsv1.SubscriptionSpec{
			Placement: &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: kind, Name: name}}}}
	}
	noPlacements := func(string, string) ([]Group, bool, error) { return nil, false, nil }
	got, err := ResolveTargets(sub("PlacementRule", "prod"), clusters, noPlacements, rule)
	if err != nil || len(got) != 1 || got[0].Cluster != "a" {
		t.Errorf("targets = %+v, %v", got, err)
	}
	if _, err := ResolveTargets(sub("PlacementRule", "missing"), clusters, noPlacements, rule); err == nil || !strings.Contains(err.Error(), "PlacementRule ns/missing not found") {
		t.Errorf("missing rule: %v", err)
	}
	if _, err := ResolveTargets(sub("Deployable", "x"), clusters, noPlacements); err == nil || !strings.Contains(err.Error(), `kind "Deployable" is not supported`) {
		t.Errorf("unknown kind: %v", err)
	}
}
