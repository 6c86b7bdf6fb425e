package placement

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	return resolve(sub, apiSource{ctx: ctx, c: c})
}

// apiSource reads hub state through a client.
type apiSource struct {
	ctx context.Context
	c   client.Reader
}

func (a apiSource) cluster(name string) (*clusterv1.ManagedCluster, error) {
	return getCluster(a.ctx, a.c, name)
}

func (a apiSource) clusters() ([]*clusterv1.ManagedCluster, error) {
	var list clusterv1.ManagedClusterList
	if err := a.c.List(a.ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list ManagedClusters: %w", err)
	}
	out := make([]*clusterv1.ManagedCluster, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (a apiSource) decisions(namespace, name string) ([]Group, bool, error) {
	var pl clusterv1beta1.Placement
	if err := a.c.Get(a.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &pl); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("get Placement %s/%s: %w", namespace, name, err)
	}
	var list clusterv1beta1.PlacementDecisionList
	if err := a.c.List(a.ctx, &list, client.InNamespace(namespace),
		client.MatchingLabels{clusterv1beta1.PlacementLabel: name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false, fmt.Errorf("list PlacementDecisions of %s/%s: %w", namespace, name, err)
	}
	groups := make([]Group, 0, len(list.Items))
	for i := range list.Items {
		d := &list.Items[i]
		g := Group{Name: d.Labels[clusterv1beta1.DecisionGroupNameLabel]}
		g.Index, _ = strconv.Atoi(d.Labels[clusterv1beta1.DecisionGroupIndexLabel])
		for _, dec := range d.Status.Decisions {
			g.Clusters = append(g.Clusters, dec.ClusterName)
		}
		groups = append(groups, g)
	}
	return groups, true, nil
}

func (a apiSource) rule(namespace, name string) (*appsv1.PlacementRule, error) {
	var r appsv1.PlacementRule
	if err := a.c.Get(a.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &r); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the PlacementRule CRD (apps.open-cluster-management.io/v1) is not installed on the hub; install deploy/crds or point placementRef at a Placement")
		}
		return nil, fmt.Errorf("get PlacementRule %s/%s: %w", namespace, name, err)
	}
	return &r, nil
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
