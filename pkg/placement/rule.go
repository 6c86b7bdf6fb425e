package placement

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// IsOurRule reports whether this project's controller schedules the
// PlacementRule: spec.schedulerName is empty, "default" or "mcm", as in OCM.
func IsOurRule(rule *appsv1.PlacementRule) bool {
	switch rule.Spec.SchedulerName {
	case "", appsv1.SchedulerNameDefault, appsv1.SchedulerNameMCM:
		return true
	}
	return false
}

// RuleDecisions chooses the clusters of a PlacementRule the way OCM's
// PlacementRule controller did:
//   - spec.clusters names the candidates (spec.clusterSelector is then
//     ignored); otherwise spec.clusterSelector selects them by label, and
//     without a selector every cluster is a candidate;
//   - spec.clusterConditions keeps the clusters whose conditions of the
//     listed types have the listed status (a cluster without such a
//     condition passes, as in OCM);
//   - spec.resourceHint orders them by allocatable CPU or memory (desc by
//     default, ties by name); without it the clusters already decided come
//     first, then the rest by name;
//   - spec.clusterReplicas takes the first ones (all when unset, none at 0);
//   - the decisions are sorted by name unless a resourceHint orders them.
//
// Clusters being deleted are never chosen, and (unlike OCM, as for
// Placements) neither are clusters the hub has not accepted. OCM matched
// spec.clusters through the "name" label its registration puts on every
// cluster; this matches the cluster's name itself.
func RuleDecisions(rule *appsv1.PlacementRule, clusters []*clusterv1.ManagedCluster) ([]appsv1.PlacementRuleDecision, error) {
	spec := rule.Spec
	if spec.ClusterReplicas != nil && *spec.ClusterReplicas <= 0 {
		return []appsv1.PlacementRuleDecision{}, nil
	}
	match, err := ruleCandidates(spec)
	if err != nil {
		return nil, err
	}
	var cands []*clusterv1.ManagedCluster
	for _, mc := range clusters {
		if mc.DeletionTimestamp == nil && mc.Spec.HubAcceptsClient && match(mc) && conditionsMatch(mc, spec.ClusterConditions) {
			cands = append(cands, mc)
		}
	}
	if spec.ResourceHint != nil {
		sortByResource(cands, spec.ResourceHint)
	} else {
		decided := map[string]bool{}
		for _, d := range rule.Status.Decisions {
			decided[d.ClusterName] = true
		}
		sort.Slice(cands, func(i, j int) bool {
			if decided[cands[i].Name] != decided[cands[j].Name] {
				return decided[cands[i].Name]
			}
			return cands[i].Name < cands[j].Name
		})
	}
	if spec.ClusterReplicas != nil && int(*spec.ClusterReplicas) < len(cands) {
		cands = cands[:*spec.ClusterReplicas]
	}
	if spec.ResourceHint == nil {
		sort.Slice(cands, func(i, j int) bool { return cands[i].Name < cands[j].Name })
	}
	out := make([]appsv1.PlacementRuleDecision, len(cands))
	for i, mc := range cands {
		out[i] = appsv1.PlacementRuleDecision{ClusterName: mc.Name, ClusterNamespace: mc.Name}
	}
	return out, nil
}

// ruleCandidates returns the test spec.clusters or spec.clusterSelector make.
func ruleCandidates(spec appsv1.PlacementRuleSpec) (func(*clusterv1.ManagedCluster) bool, error) {
	if len(spec.Clusters) > 0 {
		names := make(map[string]bool, len(spec.Clusters))
		for _, c := range spec.Clusters {
			names[c.Name] = true
		}
		return func(mc *clusterv1.ManagedCluster) bool { return names[mc.Name] }, nil
	}
	if spec.ClusterSelector == nil {
		return func(*clusterv1.ManagedCluster) bool { return true }, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.ClusterSelector)
	if err != nil {
		return nil, fmt.Errorf("spec.clusterSelector: %w", err)
	}
	return func(mc *clusterv1.ManagedCluster) bool { return sel.Matches(labels.Set(mc.Labels)) }, nil
}

func conditionsMatch(mc *clusterv1.ManagedCluster, filters []appsv1.ClusterConditionFilter) bool {
	for _, f := range filters {
		if c := meta.FindStatusCondition(mc.Status.Conditions, f.Type); c != nil && c.Status != f.Status {
			return false
		}
	}
	return true
}

func sortByResource(cands []*clusterv1.ManagedCluster, hint *appsv1.ResourceHint) {
	name := clusterv1.ResourceName("")
	switch hint.Type {
	case appsv1.ResourceTypeCPU:
		name = clusterv1.ResourceCPU
	case appsv1.ResourceTypeMemory:
		name = clusterv1.ResourceMemory
	}
	value := func(mc *clusterv1.ManagedCluster) resource.Quantity {
		if name == "" {
			return resource.Quantity{}
		}
		return mc.Status.Allocatable[name]
	}
	asc := hint.Order == appsv1.SelectionOrderAsc
	sort.SliceStable(cands, func(i, j int) bool {
		vi, vj := value(cands[i]), value(cands[j])
		if c := vi.Cmp(vj); c != 0 {
			return (c < 0) == asc
		}
		return cands[i].Name < cands[j].Name
	})
}
