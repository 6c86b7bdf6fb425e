package lab

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestSubscriptionReady(t *testing.T) {
	sub := func(gen, observed int64, status metav1.ConditionStatus, reason string) *appsv1.Subscription {
		s := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Generation: gen}}
		s.Status.ObservedGeneration = observed
		if status != "" {
			s.Status.Conditions = []metav1.Condition{{Type: appsv1.ConditionReady, Status: status, Reason: reason, Message: "m"}}
		}
		return s
	}
	for name, tc := range map[string]struct {
		sub  *appsv1.Subscription
		want bool
		why  string
	}{
		"ready":                {sub(2, 2, metav1.ConditionTrue, appsv1.ReasonSucceeded), true, ""},
		"no status yet":        {sub(1, 0, "", ""), false, "not reconciled yet"},
		"older generation":     {sub(3, 2, metav1.ConditionTrue, appsv1.ReasonSucceeded), false, "not reconciled yet"},
		"placed nowhere":       {sub(1, 1, metav1.ConditionFalse, appsv1.ReasonNoClusters), true, ""},
		"not applied":          {sub(1, 1, metav1.ConditionFalse, appsv1.ReasonRolloutFailed), false, appsv1.ReasonRolloutFailed + ": m"},
		"ready condition gone": {sub(1, 1, "", ""), false, "not reconciled yet"},
	} {
		ok, why := subscriptionReady(tc.sub)
		if ok != tc.want || why != tc.why {
			t.Errorf("%s: got %v %q, want %v %q", name, ok, why, tc.want, tc.why)
		}
	}
}

func TestClusterLabels(t *testing.T) {
	for i, want := range map[int]string{
		1: "map[cluster.open-cluster-management.io/clusterset:default env:dev name:cluster1 region:east]",
		2: "map[cluster.open-cluster-management.io/clusterset:default env:prod name:cluster2 region:west]",
		3: "map[cluster.open-cluster-management.io/clusterset:default env:prod name:cluster3 region:east]",
	} {
		if got := fmt.Sprint(ClusterLabels(i)); got != want {
			t.Errorf("ClusterLabels(%d) = %s, want %s", i, got, want)
		}
	}
}
