package tenancy

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

// BenchmarkConfine5000: a tenant's cluster list of 5000 clusters confined
// to the 5 bound sets among 20 (half exclusive, half by label selector).
func BenchmarkConfine5000(b *testing.B) {
	var sets []*clusterv1beta2.ManagedClusterSet
	for i := range 20 {
		s := &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("set-%d", i)}}
		if i%2 == 1 {
			s.Spec.ClusterSelector = clusterv1beta2.ManagedClusterSelector{SelectorType: clusterv1beta2.LabelSelector,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"region": fmt.Sprintf("r%d", i)}}}
		}
		sets = append(sets, s)
	}
	targets := make([]placement.Target, 5000)
	for i := range targets {
		targets[i] = placement.Target{Cluster: fmt.Sprintf("c%d", i), Labels: map[string]string{
			clusterv1beta2.ClusterSetLabel: fmt.Sprintf("set-%d", (i%10)*2), "region": fmt.Sprintf("r%d", i%20)}}
	}
	bound := sets[:5]
	b.ReportAllocs()
	for b.Loop() {
		if len(Confine(targets, bound)) == 0 {
			b.Fatal("nothing kept")
		}
	}
}
