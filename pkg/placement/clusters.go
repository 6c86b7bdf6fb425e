package placement

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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

// TargetsFor resolves a Subscription's placement into clusters, sorted by name:
//   - placementRef: the clusters in the Placement's PlacementDecisions, with
//     their decision group;
//   - clusters: the listed ManagedClusters;
//   - clusterSelector: the ManagedClusters whose labels match;
//   - local: the hub itself (LocalCluster).
//
// ManagedClusters that do not exist or are being deleted are left out, and the
// selector skips clusters the hub has not accepted. A missing Placement is an
// error. Reads go through c (an informer cache reader is best).
func TargetsFor(ctx context.Context, c client.Reader, sub *appsv1.Subscription) ([]Target, error) {
	p := sub.Spec.Placement
	if p == nil {
		return nil, fmt.Errorf("subscription %s/%s: spec.placement is empty; set placementRef, clusters, clusterSelector or local", sub.Namespace, sub.Name)
	}
	if p.Local != nil && *p.Local {
		return []Target{{Cluster: LocalCluster}}, nil
	}
	var out []Target
	switch {
	case p.PlacementRef != nil:
		ref := p.PlacementRef
		if ref.Kind != "" && ref.Kind != "Placement" {
			return nil, fmt.Errorf("subscription %s/%s: spec.placement.placementRef.kind %q is not supported; refer to a cluster.open-cluster-management.io Placement", sub.Namespace, sub.Name, ref.Kind)
		}
		if ref.Name == "" {
			return nil, fmt.Errorf("subscription %s/%s: spec.placement.placementRef.name is empty; name a Placement in namespace %s", sub.Namespace, sub.Name, sub.Namespace)
		}
		var pl clusterv1beta1.Placement
		if err := c.Get(ctx, types.NamespacedName{Namespace: sub.Namespace, Name: ref.Name}, &pl); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("subscription %s/%s: Placement %s/%s not found; create it or fix spec.placement.placementRef", sub.Namespace, sub.Name, sub.Namespace, ref.Name)
			}
			return nil, fmt.Errorf("get Placement %s/%s: %w", sub.Namespace, ref.Name, err)
		}
		var decisions clusterv1beta1.PlacementDecisionList
		if err := c.List(ctx, &decisions, client.InNamespace(sub.Namespace),
			client.MatchingLabels{clusterv1beta1.PlacementLabel: ref.Name}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list PlacementDecisions of %s/%s: %w", sub.Namespace, ref.Name, err)
		}
		seen := map[string]bool{}
		for i := range decisions.Items {
			d := &decisions.Items[i]
			idx, _ := strconv.Atoi(d.Labels[clusterv1beta1.DecisionGroupIndexLabel])
			name := d.Labels[clusterv1beta1.DecisionGroupNameLabel]
			for _, dec := range d.Status.Decisions {
				if dec.ClusterName == "" || seen[dec.ClusterName] {
					continue
				}
				mc, err := getCluster(ctx, c, dec.ClusterName)
				if err != nil {
					return nil, err
				}
				if mc == nil {
					continue
				}
				seen[dec.ClusterName] = true
				t := targetOf(mc)
				t.GroupIndex, t.GroupName = idx, name
				out = append(out, t)
			}
		}
	case len(p.Clusters) > 0:
		seen := map[string]bool{}
		for _, ref := range p.Clusters {
			if ref.Name == "" || seen[ref.Name] {
				continue
			}
			seen[ref.Name] = true
			mc, err := getCluster(ctx, c, ref.Name)
			if err != nil {
				return nil, err
			}
			if mc != nil {
				out = append(out, targetOf(mc))
			}
		}
	case p.ClusterSelector != nil:
		sel, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
		if err != nil {
			return nil, fmt.Errorf("subscription %s/%s: spec.placement.clusterSelector: %w", sub.Namespace, sub.Name, err)
		}
		var clusters clusterv1.ManagedClusterList
		if err := c.List(ctx, &clusters, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list ManagedClusters: %w", err)
		}
		for i := range clusters.Items {
			mc := &clusters.Items[i]
			if mc.DeletionTimestamp == nil && mc.Spec.HubAcceptsClient && sel.Matches(labels.Set(mc.Labels)) {
				out = append(out, targetOf(mc))
			}
		}
	default:
		return nil, fmt.Errorf("subscription %s/%s: spec.placement selects nothing; set placementRef, clusters, clusterSelector or local", sub.Namespace, sub.Name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out, nil
}

// getCluster returns the ManagedCluster, or nil when it is missing or being deleted.
func getCluster(ctx context.Context, c client.Reader, name string) (*clusterv1.ManagedCluster, error) {
	var mc clusterv1.ManagedCluster
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &mc, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get ManagedCluster %s: %w", name, err)
	}
	if mc.DeletionTimestamp != nil {
		return nil, nil
	}
	return &mc, nil
}

// targetOf copies what a Target needs: cached objects must not be shared.
func targetOf(mc *clusterv1.ManagedCluster) Target {
	return Target{Cluster: mc.Name, Labels: maps.Clone(mc.Labels), Claims: claimsOf(mc)}
}
