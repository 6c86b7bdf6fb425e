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
//     default) weighs Balance and Steady 1; Exact mode only what is listed;
//     an entry of weight 0 is skipped unchecked, as in OCM. Balance, Steady,
//     ResourceAllocatableCPU/Memory and AddOn scores use OCM's formulas.
//   - Scores are recorded in PlacementDecisions (decisions[].score) and,
//     with spec.sortBy Score, order each decision group (highest first, then
//     by name); status.lastScoreUpdateTime says when they last changed. A
//     change of scores alone is written at most once per spec.scoreRateLimit
//     (default 1m); a change of the selection is written at once. This is
//     OCM API v1.3.0's placement-score-visibility design, which OCM's own
//     controller (up to v1.3.1) does not implement yet. Scores that cannot
//     change the selection are computed only when they would be written.
//   - spec.spreadPolicy (which OCM's controller accepts but ignores)
//     spreads the selection over topology domains: see spreadSelect. The
//     builtIn prioritizer Spread, listed by the API and refused by OCM, is
//     accepted and has no weight of its own.
//   - Decision groups: spec.decisionStrategy.groupStrategy.decisionGroups in
//     order, then the rest, each split by clustersPerDecisionGroup (number or
//     percentage, rounded up); PlacementDecisions are named
//     <placement>-decision-<n> (n from 1 across groups), hold at most 100
//     clusters, carry the placement, decision-group-index and
//     decision-group-name labels, and a Placement that selects nothing gets
//     one empty PlacementDecision.
//   - Conditions and reasons are OCM's: PlacementSatisfied
//     (AllDecisionsScheduled, NotAllDecisionsScheduled,
//     NoManagedClusterMatched, NoManagedClusterSetBindings, NoIntersection,
//     AllManagedClusterSetsEmpty) and PlacementMisconfigured (Misconfigured,
//     Succeedconfigured). Unlike OCM, a misconfigured Placement keeps its
//     decisions: bad input never removes a cluster that was chosen. Its
//     status has OCM's shape (PlacementSatisfied False with OCM's reason,
//     numberOfSelectedClusters and decisionGroups of what is kept) and the
//     message says the decisions were kept. The spec is checked whether or
//     not clusters are available (OCM checks predicates and tolerations only
//     against available clusters).
//
// CEL selectors see the variable managedCluster (the ManagedCluster as JSON)
// and support what OCM's do: cel-go's standard library and string
// extensions; the Kubernetes libraries for lists, regex, URLs, quantities,
// IPs, CIDRs, formats and semver; managedCluster.scores("name") (the
// AddOnPlacementScore items as {name, value}; an error, so no match, when the
// cluster has no such score) and "...".parseJSON(). Our extensions:
// versionIsGreaterThan, versionIsLessThan, quantityIsGreaterThan and
// quantityIsLessThan on strings (called "a".f("b") or f("a", "b")). An
// expression that fails on a cluster (a missing field, the cost limit) or
// yields something other than a bool does not match it.
//
// # Controller
//
// SetupWithManager registers the "placement" hub controller. It reads only
// informer caches (without copying) and re-schedules what OCM re-schedules:
// a Placement when it, its PlacementDecisions or a binding in its namespace
// change; every Placement bound to a set of a ManagedCluster that changed
// in any way (before or after the change); every Placement bound to a
// changed ManagedClusterSet; and the Placements that read a changed
// AddOnPlacementScore. It compiles a Placement once per generation, keeps
// the per-cluster decision counts for Balance from watch events, writes only
// the PlacementDecisions and status that changed, in parallel, and remembers
// its own writes so that it neither repeats them nor reacts to their echoes.
//
// # PlacementRules
//
// OCM's deprecated apps.open-cluster-management.io/v1 PlacementRule is
// scheduled by RuleDecisions (pure) and the "placementrule" controller
// (SetupRuleWithManager) into its status.decisions; MigrateRule and
// MigrateYAML print the Placement and ManagedClusterSetBinding that replace
// one.
//
// # Subscriptions
//
// TargetsFor resolves a Subscription's placement (placementRef to a
// Placement or PlacementRule, clusters, clusterSelector or local) into
// Targets.
package placement
