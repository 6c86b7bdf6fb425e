// Package tenancy decides what a Subscription's namespace may reach on a hub
// shared by teams: which Channels it may use, which clusters its direct
// placement selects from, and which ServiceAccounts its works may be applied
// as.
//
// OCM lets a Subscription use a Channel of any namespace. Here a Channel of
// another namespace serves it when the Channel carries no credentials, or
// lists its namespace in spec.allowedNamespaces; Options.ChannelAccess =
// ChannelAccessOCM keeps OCM's rule for Channels with credentials too.
//
// A namespace is a tenant's unless a hub administrator labels it
// ocm-gitops.io/tenant=false (a platform team's namespace). OCM's direct
// placement (spec.placement.clusters, clusterSelector and local) selects from
// every cluster of the hub; in a tenant's namespace it selects only from the
// clusters of the ManagedClusterSets bound to that namespace, as a Placement
// there would; so do the decisions of a PlacementRule (OCM's deprecated
// scheduler, which chooses from every cluster). Hubs used by one team keep
// OCM's behaviour everywhere with
// Options.DirectPlacement = DirectPlacementAny.
//
// spec.executor names the ServiceAccount a work is applied as on the managed
// clusters; a namespace may name only those its annotation
// ocm-gitops.io/allowed-executors lists.
package tenancy

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

const (
	// LabelTenant on a hub Namespace: "false" marks a platform team's
	// namespace, whose direct placement reaches any cluster, as in OCM.
	LabelTenant = "ocm-gitops.io/tenant"
	// AnnotationAllowedExecutors on a hub Namespace lists the ServiceAccounts
	// its Subscriptions may name in spec.executor, comma-separated, each
	// "namespace/name" or "namespace/*" (any ServiceAccount of that
	// namespace on the managed clusters).
	AnnotationAllowedExecutors = "ocm-gitops.io/allowed-executors"
)

// DirectPlacement says what OCM's direct placement of tenant namespaces
// selects from.
type DirectPlacement string

const (
	// DirectPlacementBound confines it to the clusters of the
	// ManagedClusterSets bound to the Subscription's namespace (the default).
	DirectPlacementBound DirectPlacement = "bound"
	// DirectPlacementAny lets it select any cluster of the hub, as OCM does.
	DirectPlacementAny DirectPlacement = "any"
)

// ParseDirectPlacement reads the hub flag --direct-placement.
func ParseDirectPlacement(s string) (DirectPlacement, error) {
	switch DirectPlacement(s) {
	case "", DirectPlacementBound:
		return DirectPlacementBound, nil
	case DirectPlacementAny:
		return DirectPlacementAny, nil
	}
	return "", fmt.Errorf("--direct-placement %q: want %q (tenant namespaces reach only their bound ClusterSets) or %q (any cluster, as OCM)", s, DirectPlacementBound, DirectPlacementAny)
}

// Options configure the hub's tenancy.
type Options struct {
	// DirectPlacement is DirectPlacementBound when empty.
	DirectPlacement DirectPlacement
	// ChannelAccess is ChannelAccessRestricted when empty.
	ChannelAccess ChannelAccess
}

// Confined says whether sub's placement is direct (clusters,
// clusterSelector, local or a PlacementRule rather than a Placement) and must
// select only from the sets bound to its namespace. ns is the Subscription's namespace, nil
// when it cannot be read.
func Confined(opts Options, ns *corev1.Namespace, sub *appsv1.Subscription) bool {
	if opts.DirectPlacement == DirectPlacementAny || (ns != nil && ns.Labels[LabelTenant] == "false") {
		return false
	}
	return direct(sub)
}

// direct says whether sub places without a Placement: directly, or through
// a PlacementRule, which chooses from every cluster as direct placement does.
// local wins over placementRef, as in placement.TargetsFor.
func direct(sub *appsv1.Subscription) bool {
	p := sub.Spec.Placement
	return p != nil && ((p.Local != nil && *p.Local) || p.PlacementRef == nil || p.PlacementRef.Kind == "PlacementRule")
}

// Confine keeps the targets that are members of one of bound (the sets bound
// to the Subscription's namespace). A target's Labels say which sets it is in.
func Confine(targets []placement.Target, bound []*clusterv1beta2.ManagedClusterSet) []placement.Target {
	member := placement.InAnySet(bound)
	out := targets[:0:0]
	mc := &clusterv1.ManagedCluster{}
	for _, t := range targets {
		mc.Name, mc.Labels = t.Cluster, t.Labels
		if member(mc) {
			out = append(out, t)
		}
	}
	return out
}

// BoundSets returns those of sets that bindings bind to namespace (and are
// not being deleted).
func BoundSets(namespace string, sets []*clusterv1beta2.ManagedClusterSet, bindings []*clusterv1beta2.ManagedClusterSetBinding) []*clusterv1beta2.ManagedClusterSet {
	byName := make(map[string]*clusterv1beta2.ManagedClusterSet, len(sets))
	for _, s := range sets {
		if s.DeletionTimestamp == nil {
			byName[s.Name] = s
		}
	}
	var out []*clusterv1beta2.ManagedClusterSet
	for name := range placement.BoundSetNames(namespace, byName, bindings) {
		out = append(out, byName[name])
	}
	return out
}

// DeniedError is a Subscription asking for more than its namespace may.
type DeniedError struct{ msg string }

func (e *DeniedError) Error() string { return e.msg }

// IsDenied says whether err is (or wraps) a DeniedError.
func IsDenied(err error) bool {
	var d *DeniedError
	return errors.As(err, &d)
}

func denied(sub *appsv1.Subscription, format string, args ...any) error {
	return &DeniedError{msg: fmt.Sprintf("subscription %s/%s: ", sub.Namespace, sub.Name) + fmt.Sprintf(format, args...)}
}

// ExecutorAllowed says whether sub may name its spec.executor (nil when it
// names none): a ServiceAccount its namespace's annotation
// AnnotationAllowedExecutors lists, never one of a kube-* namespace. ns is
// the Subscription's namespace, nil when it cannot be read.
func ExecutorAllowed(ns *corev1.Namespace, sub *appsv1.Subscription) error {
	exec := sub.Spec.Executor
	if exec == nil {
		return nil
	}
	sa := exec.Subject.ServiceAccount
	if exec.Subject.Type != workv1.ExecutorSubjectTypeServiceAccount || sa == nil || sa.Namespace == "" || sa.Name == "" {
		return denied(sub, "spec.executor must name a ServiceAccount (subject.type ServiceAccount, with serviceAccount.namespace and name)")
	}
	id := sa.Namespace + "/" + sa.Name
	if strings.HasPrefix(sa.Namespace, "kube-") {
		return denied(sub, "spec.executor names ServiceAccount %s, in a system namespace of the managed clusters; works are never applied as a system ServiceAccount", id)
	}
	var list string
	if ns != nil {
		list = ns.Annotations[AnnotationAllowedExecutors]
	}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == id || entry == sa.Namespace+"/*" {
			return nil
		}
	}
	return denied(sub, "spec.executor names ServiceAccount %s, which namespace %s may not use: a hub administrator allows it by adding %q to the namespace's annotation %s",
		id, sub.Namespace, id, AnnotationAllowedExecutors)
}
