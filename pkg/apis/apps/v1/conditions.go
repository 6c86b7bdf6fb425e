package v1

// Condition types on Channels and Subscriptions.
const (
	// ConditionReady sums up: True when the object is fully reconciled.
	ConditionReady = "Ready"
	// ConditionSourceReady: the Channel's artifact for this Subscription was fetched.
	ConditionSourceReady = "SourceReady"
	// ConditionRendered: the artifact rendered into objects without error.
	ConditionRendered = "Rendered"
	// ConditionPlaced: the placement resolved to a set of clusters.
	ConditionPlaced = "Placed"
	// ConditionApplied: every selected cluster applied the deployed revision.
	ConditionApplied = "Applied"
	// ConditionDrifted: some cluster reports live objects differing from what was applied.
	ConditionDrifted = "Drifted"
	// ConditionRolloutProgressing: a progressive rollout is under way.
	ConditionRolloutProgressing = "RolloutProgressing"
	// ConditionWindowOpen: changes may be sent now.
	ConditionWindowOpen = "WindowOpen"
	// ConditionDeletionHeld: a removal beyond the deletion budget waits for confirmation.
	ConditionDeletionHeld = "DeletionHeld"
	// ConditionHealthy: every selected cluster's workloads of the deployed
	// revision are healthy.
	ConditionHealthy = "Healthy"
	// ConditionOverrides: on some cluster another Subscription applies an
	// object of this one with different content, and this one's takes
	// precedence (a warning, as Argo CD's SharedResourceWarning: the app
	// runs, the other Subscription's content for that object does not).
	// Present only while True.
	ConditionOverrides = "Overrides"
)

// Condition reasons.
const (
	ReasonSucceeded          = "Succeeded"
	ReasonProgressing        = "Progressing"
	ReasonFetchFailed        = "FetchFailed"
	ReasonAuthFailed         = "AuthenticationFailed"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonChannelNotFound    = "ChannelNotFound"
	ReasonAccessDenied       = "AccessDenied"
	ReasonRenderFailed       = "RenderFailed"
	ReasonPlacementNotFound  = "PlacementNotFound"
	ReasonNoClusters         = "NoClustersSelected"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonDriftDetected      = "DriftDetected"
	ReasonNoDrift            = "NoDrift"
	ReasonWorkWriteFailed    = "ManifestWorkWriteFailed"
	ReasonPaused             = "Paused"
	ReasonWindowClosed       = "WindowClosed"
	ReasonWindowOpen         = "WindowOpen"
	ReasonDeletionHeld       = "DeletionBudgetExceeded"
	ReasonRolloutFailed      = "RolloutFailed"
	ReasonRolloutSucceeded   = "RolloutSucceeded"
	ReasonDependencyNotReady = "DependencyNotReady"
	// ReasonDegraded: a workload is failing on some cluster.
	ReasonDegraded = "Degraded"
	// ReasonRollingBack and ReasonRolledBack: a failed rollout is being, or
	// has been, rolled back (spec.onRolloutFailure: Rollback).
	ReasonRollingBack = "RollingBack"
	ReasonRolledBack  = "RolledBack"
	// ReasonManifestConflict is the reason of a manifest's Applied=False (and
	// of the work's) when another ManifestWork applies the same object with
	// different content and wins: the message names that ManifestWork.
	ReasonManifestConflict = "ManifestConflict"
	// ReasonTakesPrecedence is the reason of the winner's Overrides
	// condition, on its manifest and on its Subscription.
	ReasonTakesPrecedence = "TakesPrecedence"
	// ReasonStale: clusters hold an earlier revision or spec because the
	// latest cannot be deployed.
	ReasonStale = "Stale"
)

// Normalized returns the channel type in lower case with GitHub folded into Git.
func (t ChannelType) Normalized() ChannelType {
	switch t {
	case "Git", "git", "GitHub", "github":
		return ChannelTypeGit
	case "HelmRepo", "helmrepo":
		return ChannelTypeHelmRepo
	case "ObjectBucket", "objectbucket":
		return ChannelTypeObjectBucket
	case "Namespace", "namespace":
		return ChannelTypeNamespace
	}
	return t
}
