package tenancy

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

// TargetsFor resolves sub's placement as placement.TargetsFor does, within
// what its namespace may reach: a refused spec.executor is a DeniedError, and
// a tenant's direct placement keeps only the clusters of the sets bound to
// its namespace. Clusters left out are treated as clusters that do not exist
// (as a Placement treats them), so their names are not confirmed to a
// tenant. Reads go through c (an informer cache reader is best).
func TargetsFor(ctx context.Context, c client.Reader, sub *appsv1.Subscription, opts Options) ([]placement.Target, error) {
	ns, err := namespace(ctx, c, sub.Namespace)
	if err != nil {
		return nil, err
	}
	if err := ExecutorAllowed(ns, sub); err != nil {
		return nil, err
	}
	targets, err := placement.TargetsFor(ctx, c, sub)
	if err != nil || !Confined(opts, ns, sub) {
		return targets, err
	}
	bound, err := boundSets(ctx, c, sub.Namespace)
	if err != nil || len(bound) == 0 {
		return nil, err
	}
	for i, t := range targets {
		// placement.local's target carries no labels: read the hub's own
		// ManagedCluster.
		if t.Cluster == placement.LocalCluster && t.Labels == nil {
			mc := &clusterv1.ManagedCluster{}
			if err := c.Get(ctx, types.NamespacedName{Name: t.Cluster}, mc); client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("get ManagedCluster %s: %w", t.Cluster, err)
			}
			targets[i].Labels = mc.Labels
		}
	}
	return Confine(targets, bound), nil
}

// namespace reads a hub namespace; nil when it does not exist.
func namespace(ctx context.Context, c client.Reader, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return ns, nil
}

// boundSets reads the ManagedClusterSets bound to namespace.
func boundSets(ctx context.Context, c client.Reader, namespace string) ([]*clusterv1beta2.ManagedClusterSet, error) {
	var bindings clusterv1beta2.ManagedClusterSetBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list ManagedClusterSetBindings in %s: %w", namespace, err)
	}
	if len(bindings.Items) == 0 {
		return nil, nil
	}
	var sets clusterv1beta2.ManagedClusterSetList
	if err := c.List(ctx, &sets); err != nil {
		return nil, fmt.Errorf("list ManagedClusterSets: %w", err)
	}
	return BoundSets(namespace, ptrs(sets.Items), ptrs(bindings.Items)), nil
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
