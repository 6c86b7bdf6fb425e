package placement

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

// labelSet adapts a label map without copying it.
func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

// membership decides which ManagedClusters belong to a ManagedClusterSet:
// ExclusiveClusterSetLabel sets (the default) hold the clusters labelled
// cluster.open-cluster-management.io/clusterset=<set>; LabelSelector sets
// hold the clusters their selector matches (an empty selector: all).
type membership struct {
	exclusive string
	selector  labels.Selector
}

// newMembership returns false for a set that selects nothing (a nil or
// invalid label selector, an unknown selector type).
func newMembership(cs *clusterv1beta2.ManagedClusterSet) (membership, bool) {
	if cs == nil {
		return membership{}, false
	}
	sel := cs.Spec.ClusterSelector
	switch sel.SelectorType {
	case "", clusterv1beta2.ExclusiveClusterSetLabel:
		return membership{exclusive: cs.Name}, true
	case clusterv1beta2.LabelSelector:
		if sel.LabelSelector == nil {
			return membership{}, false
		}
		s, err := metav1.LabelSelectorAsSelector(sel.LabelSelector)
		if err != nil {
			return membership{}, false
		}
		return membership{selector: s}, true
	}
	return membership{}, false
}

func (m membership) contains(mc *clusterv1.ManagedCluster) bool {
	if m.selector != nil {
		return m.selector.Matches(labelSet(mc.Labels))
	}
	return mc.Labels[clusterv1beta2.ClusterSetLabel] == m.exclusive
}

// InAnySet returns whether a cluster is a member of one of sets, with the
// sets' selectors compiled once.
func InAnySet(sets []*clusterv1beta2.ManagedClusterSet) func(*clusterv1.ManagedCluster) bool {
	ms := make([]membership, 0, len(sets))
	for _, cs := range sets {
		if m, ok := newMembership(cs); ok {
			ms = append(ms, m)
		}
	}
	return func(mc *clusterv1.ManagedCluster) bool {
		for _, m := range ms {
			if m.contains(mc) {
				return true
			}
		}
		return false
	}
}

// SetsOf returns the names of the sets among sets that contain the cluster.
func SetsOf(mc *clusterv1.ManagedCluster, sets []*clusterv1beta2.ManagedClusterSet) []string {
	var out []string
	for _, cs := range sets {
		if m, ok := newMembership(cs); ok && m.contains(mc) {
			out = append(out, cs.Name)
		}
	}
	return out
}

// BoundSetNames returns the names of the sets bound to namespace: those of
// sets (by name) that one of bindings binds there and that is Bound.
func BoundSetNames(namespace string, sets map[string]*clusterv1beta2.ManagedClusterSet, bindings []*clusterv1beta2.ManagedClusterSetBinding) map[string]bool {
	bound := map[string]bool{}
	for _, b := range bindings {
		// OCM keys bindings by name (which must equal spec.clusterSet).
		if _, ok := sets[b.Name]; ok && b.Namespace == namespace && Bound(b) {
			bound[b.Name] = true
		}
	}
	return bound
}

// Bound says whether a ManagedClusterSetBinding counts. The hub's
// registration marks a binding unbound (Bound=False) when its set is gone;
// who may create a binding at all is checked at admission (the
// managedclustersets/bind permission). A binding the registration has not
// looked at yet counts, as in OCM's placement.
func Bound(b *clusterv1beta2.ManagedClusterSetBinding) bool {
	return !meta.IsStatusConditionFalse(b.Status.Conditions, clusterv1beta2.ClusterSetBindingBoundType)
}
