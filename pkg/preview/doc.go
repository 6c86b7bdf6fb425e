// Package preview reviews a change of a fleet repository before it merges:
// for every Subscription, the clusters it gains, loses and keeps, and what
// changes on them, grouped by identical change.
//
// # Inputs
//
// Run compares two revisions of a local Git clone (exported with
// `git archive`) against an Inventory: the hub's ManagedClusters,
// ManagedClusterSets and bindings, AddOnPlacementScores, Placements and
// PlacementDecisions, Channels and Subscriptions. Export reads it from a hub;
// Marshal and ParseInventory keep it in a file, so CI needs no hub access.
//
// Hub objects in the repository: every .yaml, .yml and .json file (outside
// hidden folders and Helm charts, under Options.ObjectsPath when set) is
// searched for apps.open-cluster-management.io/v1 Subscriptions and Channels
// and cluster.open-cluster-management.io Placements (v1beta1),
// ManagedClusterSets and ManagedClusterSetBindings (v1beta2), as plain
// files, not built. An object without a namespace is in "default". An object
// the repository defines at either revision is taken from the repository at
// each revision (absent there means deleted); the others come from the
// inventory at both. So Subscriptions the hub holds whose content lives in
// the repository are previewed too.
//
// # Placement
//
// A Subscription's placement is resolved with placement.ResolveTargets:
// clusters, clusterSelector and local directly; a placementRef by running
// the Placement through placement.Scheduler at each revision against the
// inventory's clusters, with the Placement's current decisions as existing
// ones (Steady, NoSelectIfNew). A Placement the hub knows only by its
// decisions keeps them. A Placement that is missing or misconfigured at a
// revision is a Problem, not a removal: the hub keeps what is deployed.
//
// # Content
//
// A Subscription is rendered (with render.Renderer, per cluster, exactly as
// the hub does) when its Channel is this repository: one of
// Options.Channels when given, else a Git Channel whose pathname is one of
// the clone's remotes (https, ssh and scp-like spellings compare equal), or
// any Git Channel when the clone has no remote (paths compare with their
// case, except on public forges that ignore it: source.RepoKey). Others are
// compared by placement only, with a note saying why, unless the change
// moves the inputs that choose their content (a chart's version range, a
// branch, a path, the Channel): that is a change (SubscriptionChange.Source),
// and with Options.Sources the content is fetched at both revisions,
// without credentials, and rendered and diffed like this repository's; when
// it cannot be, the report says so. A Subscription pinned with git-tag
// or git-desired-commit renders the pinned commit, so only moving the pin
// changes its content; with Options.Branch set, one following another
// branch is compared by placement only.
//
// Objects are matched by group, kind, namespace and name and diffed as YAML
// with sorted keys; Secret values are replaced by an HMAC under a key drawn
// for each run (equal values match within a report, guesses cannot be
// checked against it). Clusters sharing
// a render share a render.Output, so each distinct (base, head) pair of
// outputs is diffed once, and clusters are grouped by identical change.
//
// # Safety
//
// A Subscription is flagged when the clusters it disappears from (lost, or
// kept with nothing left to deploy) are more than MaxRemovalPercent of its
// clusters at base. A Subscription that cannot be placed or rendered at head,
// when it could at base, is failing. Post sets a failure commit status for
// either, and keeps one pull-request comment up to date.
//
// Subscriptions the repository defines at neither revision (the hub's own,
// from the inventory) are marked NotInRepository; the markdown lists those
// the change does not touch apart.
//
// The JSON form of Report is stable (fields are only added); Markdown renders
// it for a pull-request comment within a size cap, with every note the JSON
// has.
package preview
