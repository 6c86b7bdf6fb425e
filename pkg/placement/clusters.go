// Package placement chooses clusters: an OCM-compatible Placement scheduler and
// controller, and the resolution of a Subscription's placement field.
package placement

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// LocalCluster is the cluster name used for the hub itself (placement.local).
const LocalCluster = "local-cluster"

// Target is one cluster a Subscription deploys to.
type Target struct {
	// Cluster is the ManagedCluster name, which is also its namespace on the hub.
	Cluster string
	// GroupIndex and GroupName are the Placement decision group (0 and "" otherwise).
	GroupIndex int
	GroupName  string
	// Labels and Claims of the ManagedCluster, for per-cluster rendering.
	Labels map[string]string
	Claims map[string]string
}

// TargetsFor resolves a Subscription's placement into clusters, sorted by name.
// ManagedClusters that do not exist are left out; a missing Placement is an error.
func TargetsFor(ctx context.Context, c client.Reader, sub *appsv1.Subscription) ([]Target, error) {
	p := sub.Spec.Placement
	if p == nil {
		return nil, fmt.Errorf("subscription %s/%s: spec.placement is empty; set placementRef, clusters or clusterSelector", sub.Namespace, sub.Name)
	}
	if p.Local != nil && *p.Local {
		return []Target{{Cluster: LocalCluster}}, nil
	}
	var clusters clusterv1.ManagedClusterList
	if err := c.List(ctx, &clusters); err != nil {
		return nil, fmt.Errorf("list ManagedClusters: %w", err)
	}
	byName := make(map[string]*clusterv1.ManagedCluster, len(clusters.Items))
	for i := range clusters.Items {
		byName[clusters.Items[i].Name] = &clusters.Items[i]
	}
	var out []Target
	switch {
	case p.PlacementRef != nil:
		var decisions clusterv1beta1.PlacementDecisionList
		if err := c.List(ctx, &decisions, client.InNamespace(sub.Namespace),
			client.MatchingLabels{clusterv1beta1.PlacementLabel: p.PlacementRef.Name}); err != nil {
			return nil, fmt.Errorf("list PlacementDecisions of %s/%s: %w", sub.Namespace, p.PlacementRef.Name, err)
		}
		for _, d := range decisions.Items {
			for _, dec := range d.Status.Decisions {
				if mc, ok := byName[dec.ClusterName]; ok {
					out = append(out, targetOf(mc))
				}
			}
		}
	case len(p.Clusters) > 0:
		for _, ref := range p.Clusters {
			if mc, ok := byName[ref.Name]; ok {
				out = append(out, targetOf(mc))
			}
		}
	case p.ClusterSelector != nil:
		sel, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
		if err != nil {
			return nil, fmt.Errorf("subscription %s/%s: spec.placement.clusterSelector: %w", sub.Namespace, sub.Name, err)
		}
		for _, mc := range byName {
			if sel.Matches(labels.Set(mc.Labels)) {
				out = append(out, targetOf(mc))
			}
		}
	default:
		return nil, fmt.Errorf("subscription %s/%s: spec.placement selects nothing; set placementRef, clusters, clusterSelector or local", sub.Namespace, sub.Name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out, nil
}

func targetOf(mc *clusterv1.ManagedCluster) Target {
	claims := map[string]string{}
	for _, c := range mc.Status.ClusterClaims {
		claims[c.Name] = c.Value
	}
	return Target{Cluster: mc.Name, Labels: mc.Labels, Claims: claims}
}
