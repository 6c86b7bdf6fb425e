package v1

// Annotations and labels shared with OCM's application-lifecycle API. Their names
// and meanings are OCM's, so Subscriptions written for OCM keep working.
const (
	// AnnotationGitPath is the folder inside a Git channel that a Subscription deploys.
	AnnotationGitPath = "apps.open-cluster-management.io/git-path"
	// AnnotationGithubPath is the older spelling of AnnotationGitPath.
	AnnotationGithubPath = "apps.open-cluster-management.io/github-path"
	// AnnotationGitBranch selects the branch to follow.
	AnnotationGitBranch = "apps.open-cluster-management.io/git-branch"
	// AnnotationGithubBranch is the older spelling of AnnotationGitBranch.
	AnnotationGithubBranch = "apps.open-cluster-management.io/github-branch"
	// AnnotationGitTag pins a tag.
	AnnotationGitTag = "apps.open-cluster-management.io/git-tag"
	// AnnotationGitDesiredCommit pins an exact commit.
	AnnotationGitDesiredCommit = "apps.open-cluster-management.io/git-desired-commit"
	// AnnotationGitCloneDepth bounds the history fetched.
	AnnotationGitCloneDepth = "apps.open-cluster-management.io/git-clone-depth"
	// AnnotationGitCurrentCommit is written by the hub: the commit now deployed.
	AnnotationGitCurrentCommit = "apps.open-cluster-management.io/git-current-commit"
	// AnnotationBucketPath is the key prefix inside an ObjectBucket channel.
	AnnotationBucketPath = "apps.open-cluster-management.io/bucket-path"
	// AnnotationReconcileOption is merge, replace or mergeAndOwn (on the Subscription or on a resource).
	AnnotationReconcileOption = "apps.open-cluster-management.io/reconcile-option"
	// AnnotationReconcileRate is off, low, medium or high (on the Channel or the Subscription).
	AnnotationReconcileRate = "apps.open-cluster-management.io/reconcile-rate"
	// AnnotationManualRefreshTime asks for an immediate reconcile when its value changes.
	AnnotationManualRefreshTime = "apps.open-cluster-management.io/manual-refresh-time"
	// AnnotationWebhookEnabled opts a Channel in to push webhooks.
	AnnotationWebhookEnabled = "apps.open-cluster-management.io/webhook-enabled"
	// AnnotationWebhookSecret names the Secret holding the webhook's shared secret.
	AnnotationWebhookSecret = "apps.open-cluster-management.io/webhook-secret"
	// AnnotationHostingSubscription marks what a Subscription created, as "namespace/name".
	AnnotationHostingSubscription = "apps.open-cluster-management.io/hosting-subscription"
	// AnnotationDoNotDelete on a resource keeps it on the cluster when the Subscription drops it.
	AnnotationDoNotDelete = "apps.open-cluster-management.io/do-not-delete"
	// LabelSubscriptionPause set to "true" stops a Subscription from sending anything new.
	LabelSubscriptionPause = "subscription-pause"
)

// Annotations and labels that ocm-gitops adds.
const (
	// AnnotationReconcileRequestedAt asks for an immediate fetch and reconcile when
	// its value changes (the value is free-form, a timestamp by convention).
	AnnotationReconcileRequestedAt = "apps.open-cluster-management.io/reconcile-requested-at"
	// AnnotationConfirmDeletion, set to the value the hub shows in the
	// DeletionHeld condition, releases a removal held by the deletion budget.
	AnnotationConfirmDeletion = "apps.open-cluster-management.io/confirm-deletion"

	// LabelSubscription is put on every ManifestWork a Subscription owns. Its value
	// is "namespace.name" (shortened with a hash when longer than a label allows).
	LabelSubscription = "apps.open-cluster-management.io/subscription"
	// AnnotationRevision on a ManifestWork is the source revision it carries.
	AnnotationRevision = "apps.open-cluster-management.io/revision"
	// AnnotationContentHash on a ManifestWork is a digest of its spec, so the hub
	// rewrites it only when the content changes.
	AnnotationContentHash = "apps.open-cluster-management.io/content-hash"
	// AnnotationInputDigest on a ManifestWork is a digest of what its content
	// was rendered from (revision, path, values, overrides, cluster inputs,
	// renderer version): while it stays the same the hub does not rewrite the
	// work, even when rendering again gives other bytes.
	AnnotationInputDigest = "apps.open-cluster-management.io/input-digest"
	// AnnotationRollbackRevision on a ManifestWork is the last revision whose
	// content was healthy on the cluster before the work's content, recorded
	// when the content is written: what an automatic rollback restores.
	AnnotationRollbackRevision = "apps.open-cluster-management.io/rollback-revision"
	// AnnotationRolledBackFrom on a ManifestWork the hub restored is the
	// revision whose failed rollout it undid.
	AnnotationRolledBackFrom = "apps.open-cluster-management.io/rolled-back-from"
	// AnnotationDriftPolicy on a ManifestWork tells the agent what to do on drift:
	// Correct (the default) or ReportOnly.
	AnnotationDriftPolicy = "apps.open-cluster-management.io/drift-policy"
	// AnnotationRemovalHeld on a ManifestWork says the hub would remove the work
	// but holds the removal (the deletion budget). Any value but "false" counts.
	// Where two works apply one object with different content, a held work never
	// wins against one that is not held (see the work agent in docs/reference.md).
	AnnotationRemovalHeld = "apps.open-cluster-management.io/removal-held"
)

// Reconcile options, as OCM defines them.
const (
	ReconcileMerge       = "merge"
	ReconcileReplace     = "replace"
	ReconcileMergeAndOwn = "mergeAndOwn"
)

// Reconcile rates, as OCM defines them.
const (
	ReconcileRateOff    = "off"
	ReconcileRateLow    = "low"
	ReconcileRateMedium = "medium"
	ReconcileRateHigh   = "high"
)

// Conditions the ocm-gitops work agent adds to ManifestWork status, beside OCM's
// Applied, Available, Progressing and Degraded. On a manifest, Drifted is True
// when the live object differs from what was applied; its message lists the
// fields (".spec.replicas, .data.key") or says the object was deleted. On the
// work, Drifted is True when any manifest is. On a manifest, Overrides is
// True while other works apply the object with different content and this
// work takes precedence; its message names them ("ManifestWork ns/name of
// Subscription ns/name", comma-separated) and it is removed when the
// contest ends. The losers report Applied=False with ReasonManifestConflict.
const (
	WorkConditionDrifted   = "Drifted"
	WorkConditionOverrides = "Overrides"
)
