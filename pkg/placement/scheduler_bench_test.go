package placement

import (
	"fmt"
	"testing"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// BenchmarkScheduler schedules one Placement over 5,000 clusters without an
// API server: filtering, scoring, grouping and the PlacementDecision layout.
func BenchmarkScheduler(b *testing.B) {
	var clusters []*clusterv1.ManagedCluster
	others := map[string]int{}
	for i := range 5000 {
		name := fmt.Sprintf("c-%04d", i)
		mc := cluster(name, withLabels("group", fmt.Sprint(i%5), "zone", fmt.Sprint(i%7)))
		mc.ResourceVersion = "1" // as from an informer: CEL conversions are reused
		clusters = append(clusters, mc)
		others[name] = i % 20
	}
	w := defaultWorld(clusters...)
	w.others = others
	cases := []struct {
		name string
		spec clusterv1beta1.PlacementSpec
	}{
		{"predicate-1000-of-5000", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{labelPredicate("group", "3")}}},
		{"top-1000-of-5000-scored", clusterv1beta1.PlacementSpec{NumberOfClusters: n32(1000)}},
		{"top-1000-of-5000-spread", clusterv1beta1.PlacementSpec{NumberOfClusters: n32(1000), SpreadPolicy: clusterv1beta1.SpreadPolicy{
			SpreadConstraints: []clusterv1beta1.SpreadConstraintsTerm{{TopologyKey: "zone", TopologyKeyType: clusterv1beta1.TopologyKeyTypeLabel, MaxSkew: 1}}}}},
		{"cel-1000-of-5000", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{celPredicate(`managedCluster.metadata.labels["group"] == "3"`)}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s, err := NewScheduler(nil)
			if err != nil {
				b.Fatal(err)
			}
			p := placement(tc.spec)
			c, mis := s.Compile(p)
			if mis != nil {
				b.Fatal(mis)
			}
			in := Input{Clusters: w.clusters, ClusterSets: w.sets, Bindings: w.bindings, Existing: map[string]bool{},
				OtherDecisions: func() map[string]int { return w.others }, Now: t0}
			for b.Loop() {
				res := s.Schedule(c, in)
				if res.Selected != 1000 {
					b.Fatalf("selected %d", res.Selected)
				}
				Layout(p, res.Groups)
			}
		})
	}
}
