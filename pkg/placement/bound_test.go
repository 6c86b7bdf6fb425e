package placement

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

// TestUnboundBindingsAreIgnored: a binding the hub marked unbound
// (Bound=False) gives the namespace's Placements no clusters (issue 16 item 14).
func TestUnboundBindingsAreIgnored(t *testing.T) {
	unbound := binding("ns", "default")
	unbound.Status.Conditions = []metav1.Condition{{Type: clusterv1beta2.ClusterSetBindingBoundType, Status: metav1.ConditionFalse, Reason: "ClusterSetNotFound"}}
	bound := binding("ns", "default")
	bound.Status.Conditions = []metav1.Condition{{Type: clusterv1beta2.ClusterSetBindingBoundType, Status: metav1.ConditionTrue, Reason: "ClusterSetBound"}}
	w := defaultWorld(cluster("c1"), cluster("c2"))
	runCases(t, []schedCase{
		{name: "bound", w: world{clusters: w.clusters, sets: w.sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{bound}},
			spec: clusterv1beta1.PlacementSpec{}, want: ":[c1 c2]", reason: ReasonAllScheduled},
		{name: "not looked at yet", w: w, spec: clusterv1beta1.PlacementSpec{}, want: ":[c1 c2]", reason: ReasonAllScheduled},
		{name: "unbound", w: world{clusters: w.clusters, sets: w.sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{unbound}},
			spec: clusterv1beta1.PlacementSpec{}, want: ":[]", reason: ReasonNoBindings},
	})
}
