// Package placement chooses clusters: an OCM-compatible Placement scheduler
// and controller, and the resolution of a Subscription's placement field.
//
// # Scheduler (pure)
//
// Scheduler.Compile parses a cluster.open-cluster-management.io/v1beta1
// Placement once; Scheduler.Schedule runs it against an Input (clusters,
// sets, bindings, current decisions, other Placements' decision counts, the
// time) and returns decision groups and the PlacementSatisfied condition;
// Layout and Status turn that into PlacementDecisions and Placement status.
// It follows OCM's placement controller:
//
//   - Clusters come from the ManagedClusterSets bound to the Placement's
//     namespace (ManagedClusterSetBindings whose set exists, matched by the
//     binding's name), intersected with spec.clusterSets. Exclusive sets hold
//     the clusters labelled cluster.open-cluster-management.io/clusterset;
//     LabelSelector sets hold the clusters their selector matches.
//   - Clusters being deleted, and (unlike OCM, which relies on the
//     registration controller's unreachable taint) clusters whose
//     spec.hubAcceptsClient is false, are never chosen.
//   - Predicates are ORed; in each, the label, claim and CEL selectors are
//     ANDed. Taints: NoSelect needs a toleration, NoSelectIfNew only for
//     clusters not yet decided, PreferNoSelect never excludes (as in OCM);
//     tolerationSeconds counts from the taint's timeAdded, and the Placement
//     is re-scheduled when a toleration runs out.
//   - With numberOfClusters, prioritizers score in [-100, 100] and the sum of
//     weight × score ranks clusters, ties by name. Additive mode (the
//     default) weighs Balance and Steady 1; Exact mode only what is listed.
//     Balance, Steady, ResourceAllocatableCPU/Memory and AddOn scores use
//     OCM's formulas. Without numberOfClusters (or when every feasible cluster
//     fits) scoring is skipped: it cannot change the outcome.
//   - spec.spreadPolicy (which OCM v1.0.0 accepts but ignores) spreads the
//     selection over topology domains: see spreadSelect.
//   - Decision groups: spec.decisionStrategy.groupStrategy.decisionGroups in
//     order, then the rest, each split by clustersPerDecisionGroup (number or
//     percentage, rounded up); PlacementDecisions are named
//     <placement>-decision-<n> (n from 1 across groups), hold at most 100
//     clusters sorted by name, carry the placement, decision-group-index and
//     decision-group-name labels, and a Placement that selects nothing gets
//     one empty PlacementDecision.
//   - Conditions and reasons are OCM's: PlacementSatisfied
//     (AllDecisionsScheduled, NotAllDecisionsScheduled,
//     NoManagedClusterMatched, NoManagedClusterSetBindings, NoIntersection,
//     AllManagedClusterSetsEmpty) and PlacementMisconfigured (Misconfigured,
//     Succeedconfigured). Unlike OCM, a misconfigured Placement keeps its
//     decisions: bad input never removes a cluster that was chosen.
//
// CEL selectors see the variable managedCluster (the ManagedCluster as JSON)
// and support: cel-go's standard library and string extensions; the
// Kubernetes libraries for lists, regex, URLs, quantities, IPs, CIDRs,
// formats and semver; and OCM's functions managedCluster.scores("name")
// (the AddOnPlacementScore items as {name, value}), versionIsGreaterThan,
// versionIsLessThan, quantityIsGreaterThan and quantityIsLessThan (called
// "a".f("b") or f("a", "b")). An expression that fails on a cluster (a
// missing field, the cost limit) does not match it. The scores items carry
// no quantity field.
//
// # Controller
//
// SetupWithManager registers the "placement" hub controller. It reads only
// informer caches (without copying), maps each ManagedCluster, set, binding
// and AddOnPlacementScore event to the Placements it can affect, compiles a
// Placement once per generation, writes only the PlacementDecisions and
// status that changed, in parallel, and remembers its own writes so that it
// neither repeats them nor reacts to their echoes.
//
// # Subscriptions
//
// TargetsFor resolves a Subscription's placement (placementRef, clusters,
// clusterSelector or local) into Targets.
package placement
