package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"
)

// PackageFilter narrows what a Subscription takes from its Channel. For HelmRepo
// channels Version is a semver range ("1.2.x", ">=1.2.0 <2", "~1.4").
type PackageFilter struct {
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	FilterRef *corev1.LocalObjectReference `json:"filterRef,omitempty"`
}

// PackageOverride is one override document, as OCM writes it: for Helm charts
// {path: spec, value: {...values...}}; for Kustomize roots (packageName
// "kustomization") {value: {...kustomization fields...}}.
// +kubebuilder:pruning:PreserveUnknownFields
// +kubebuilder:validation:Type=object
type PackageOverride struct {
	runtime.RawExtension `json:",inline"`
}

// Overrides applies PackageOverrides to the package named PackageName (a chart
// name, or "kustomization" for Kustomize roots).
type Overrides struct {
	// +optional
	PackageAlias string `json:"packageAlias,omitempty"`
	PackageName  string `json:"packageName"`
	// +optional
	PackageOverrides []PackageOverride `json:"packageOverrides,omitempty"`
}

// AllowDenyItem selects resources by apiVersion and kinds ("*" for all kinds).
type AllowDenyItem struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +optional
	Kinds []string `json:"kinds,omitempty"`
}

// TimeWindow is OCM's deployment window: while active, changes are sent only
// inside the hours on the days listed; while blocked, never inside them.
type TimeWindow struct {
	// +kubebuilder:validation:Enum={active,blocked,Active,Blocked}
	// +optional
	WindowType string `json:"windowtype,omitempty"`
	// Location is an IANA time zone such as "America/Toronto"; UTC when empty.
	// +optional
	Location string `json:"location,omitempty"`
	// Daysofweek are English weekday names ("Monday"…); every day when empty.
	// +optional
	Daysofweek []string `json:"daysofweek,omitempty"`
	// Hours are ranges in Kitchen format ("8:00AM" to "5:30PM").
	// +optional
	Hours []HourRange `json:"hours,omitempty"`
}

// HourRange is a span of the day in Kitchen format, such as "3:04PM".
type HourRange struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// MaintenanceWindow opens at each time of a cron schedule and stays open for
// Duration (ocm-gitops extension).
type MaintenanceWindow struct {
	// Schedule is a standard five-field cron expression.
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open, e.g. "2h".
	Duration metav1.Duration `json:"duration"`
	// Location is an IANA time zone; UTC when empty.
	// +optional
	Location string `json:"location,omitempty"`
}

// ClusterOverride is one override document for one cluster. OCM's form is
// {path: spec.replicas, value: 3}, applied to every object that has the path.
// +kubebuilder:pruning:PreserveUnknownFields
// +kubebuilder:validation:Type=object
type ClusterOverride struct {
	runtime.RawExtension `json:",inline"`
}

// ClusterOverrides are the overrides for one named cluster.
type ClusterOverrides struct {
	ClusterName string `json:"clusterName"`
	// +kubebuilder:validation:MinItems=1
	ClusterOverrides []ClusterOverride `json:"clusterOverrides"`
}

// GenericClusterReference names a ManagedCluster.
type GenericClusterReference struct {
	Name string `json:"name"`
}

// Placement chooses the clusters a Subscription deploys to: a Placement
// (placementRef), a list of cluster names, a label selector, or the hub itself.
type Placement struct {
	// +optional
	Clusters []GenericClusterReference `json:"clusters,omitempty"`
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
	// PlacementRef names a cluster.open-cluster-management.io Placement in the
	// Subscription's namespace.
	// +optional
	PlacementRef *corev1.ObjectReference `json:"placementRef,omitempty"`
	// Local deploys on the hub itself.
	// +optional
	Local *bool `json:"local,omitempty"`
}

// DriftPolicy says what happens when a live object stops matching what was applied.
// +kubebuilder:validation:Enum=Correct;ReportOnly
type DriftPolicy string

// Drift policies.
const (
	DriftCorrect    DriftPolicy = "Correct"
	DriftReportOnly DriftPolicy = "ReportOnly"
)

// SubscriptionSpec says what to deploy from which Channel, where, and when.
type SubscriptionSpec struct {
	// Channel is "namespace/name" of the Channel to deploy from.
	Channel string `json:"channel"`
	// SecondaryChannel is tried when Channel cannot be reached.
	// +optional
	SecondaryChannel string `json:"secondaryChannel,omitempty"`
	// Package is the chart name for HelmRepo channels.
	// +optional
	Package string `json:"name,omitempty"`
	// +optional
	PackageFilter *PackageFilter `json:"packageFilter,omitempty"`
	// +optional
	PackageOverrides []*Overrides `json:"packageOverrides,omitempty"`
	// +optional
	Placement *Placement `json:"placement,omitempty"`
	// Overrides change rendered objects for single clusters.
	// +optional
	Overrides []ClusterOverrides `json:"overrides,omitempty"`
	// +optional
	TimeWindow *TimeWindow `json:"timewindow,omitempty"`
	// +optional
	HookSecretRef *corev1.ObjectReference `json:"hooksecretref,omitempty"`
	// Allow, when set, keeps only the resources it lists.
	// +optional
	Allow []*AllowDenyItem `json:"allow,omitempty"`
	// Deny drops the resources it lists.
	// +optional
	Deny []*AllowDenyItem `json:"deny,omitempty"`
	// +optional
	WatchHelmNamespaceScopedResources bool `json:"watchHelmNamespaceScopedResources,omitempty"`

	// ClusterValuesTemplate is a Go text/template that yields YAML Helm values per
	// cluster, merged over the packageOverrides values. It sees .Cluster.Name,
	// .Cluster.Labels and .Cluster.Claims (ocm-gitops extension). Clusters that
	// yield the same values share one render.
	// +optional
	ClusterValuesTemplate string `json:"clusterValuesTemplate,omitempty"`

	// MaintenanceWindows, when set, restrict changes to these cron windows, in
	// addition to timewindow (ocm-gitops extension).
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`

	// RolloutStrategy spreads a new revision over the Placement's decision groups
	// (OCM's rollout API; ocm-gitops extension). All clusters at once when empty.
	// +optional
	RolloutStrategy *clusterv1alpha1.RolloutStrategy `json:"rolloutStrategy,omitempty"`

	// DriftPolicy is Correct (the default: the agent restores what was applied) or
	// ReportOnly (ocm-gitops extension).
	// +optional
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// DeletionBudgetPercent holds a change that would remove this Subscription's
	// objects from more than this share of its clusters at once, until confirmed
	// (ocm-gitops extension). The hub's default applies when unset.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	DeletionBudgetPercent *int32 `json:"deletionBudgetPercent,omitempty"`

	// DeleteOption is passed to the ManifestWorks: Foreground (default) deletes
	// what was applied when the Subscription or a cluster goes away; Orphan and
	// SelectivelyOrphan keep it (ocm-gitops extension).
	// +optional
	DeleteOption *workv1.DeleteOption `json:"deleteOption,omitempty"`

	// Executor is the identity the agent applies with on managed clusters, instead
	// of its own (ocm-gitops extension).
	// +optional
	Executor *workv1.ManifestWorkExecutor `json:"executor,omitempty"`

	// Health says what Ready and a rollout wait for on each cluster: every
	// object applied and healthy when unset (ocm-gitops extension).
	// +optional
	Health *HealthPolicy `json:"health,omitempty"`

	// OnRolloutFailure is what happens when the rollout of new content fails,
	// that is when more clusters fail than the rolloutStrategy's maxFailures
	// allows (with type All or no strategy: when more than all.maxFailures, 0
	// by default, fail). A cluster fails when a workload is degraded, an apply
	// fails, or progressDeadline passes before it is healthy. Stop (the
	// default) sends the content to no further cluster; Rollback also gives
	// every cluster that received it back the content of the last revision
	// that was healthy there, and sends nothing new until a commit or a spec
	// change gives other content (ocm-gitops extension).
	// +optional
	OnRolloutFailure RolloutFailureAction `json:"onRolloutFailure,omitempty"`
}

// HealthPolicy says what counts as done on a cluster.
type HealthPolicy struct {
	// WaitFor is Healthy (the default: every object applied and healthy as the
	// agent judges it, from kstatus and conditionRules) or Applied (applied is
	// enough: health is still reported, but holds neither Ready nor a rollout).
	// +optional
	WaitFor HealthWait `json:"waitFor,omitempty"`
}

// HealthWait is what Ready and a rollout wait for on each cluster.
// +kubebuilder:validation:Enum=Healthy;Applied
type HealthWait string

// What Ready and a rollout wait for.
const (
	WaitForHealthy HealthWait = "Healthy"
	WaitForApplied HealthWait = "Applied"
)

// WaitsForHealth reports whether Ready and a rollout wait for health.
func (s *SubscriptionSpec) WaitsForHealth() bool {
	return s.Health == nil || s.Health.WaitFor != WaitForApplied
}

// RolloutFailureAction is what a failed rollout does.
// +kubebuilder:validation:Enum=Stop;Rollback
type RolloutFailureAction string

// What a failed rollout does.
const (
	RolloutFailureStop     RolloutFailureAction = "Stop"
	RolloutFailureRollback RolloutFailureAction = "Rollback"
)

// SubscriptionPhase is OCM's coarse state, kept for existing tooling.
type SubscriptionPhase string

// Phases as OCM names them.
const (
	SubscriptionPropagated        SubscriptionPhase = "Propagated"
	SubscriptionPropagationFailed SubscriptionPhase = "PropagationFailed"
)

// ClusterState is where one cluster stands with a Subscription.
type ClusterState string

// Cluster states, from best to worst.
const (
	// ClusterApplied: every object of the deployed revision is applied and
	// healthy (available, where the agent reports no health).
	ClusterApplied ClusterState = "Applied"
	// ClusterProgressing: sent, not yet applied or not yet healthy.
	ClusterProgressing ClusterState = "Progressing"
	// ClusterPending: selected but not sent yet (rollout, window or budget).
	ClusterPending ClusterState = "Pending"
	// ClusterDrifted: a live object differs from what was applied.
	ClusterDrifted ClusterState = "Drifted"
	// ClusterFailed: applying failed.
	ClusterFailed ClusterState = "Failed"
	// ClusterOffline: the cluster's agent has not reported recently.
	ClusterOffline ClusterState = "Offline"
	// ClusterStale: the cluster holds, applied, what an earlier revision or
	// spec gave; the latest cannot be deployed (it fails to render, or its
	// source cannot be read), so it keeps that until the cause is fixed.
	ClusterStale ClusterState = "Stale"
	// ClusterHeld: the placement no longer selects the cluster, but the
	// removal of the Subscription's objects from it waits: for the deletion
	// budget's confirmation, the pause label or a deployment window.
	ClusterHeld ClusterState = "Held"
	// ClusterDegraded: applied, and a workload is failing (an image that
	// cannot be pulled, a crashing container, a failed Job).
	ClusterDegraded ClusterState = "Degraded"
)

// WorkloadHealth is how the objects a cluster applied are doing, as its
// agent judges them.
type WorkloadHealth string

// Workload health, from best to worst.
const (
	// HealthHealthy: every object is healthy (kstatus Current, or what its
	// conditionRules say); where the agent reports no health, every object
	// is available.
	HealthHealthy WorkloadHealth = "Healthy"
	// HealthProgressing: some object is not healthy yet.
	HealthProgressing WorkloadHealth = "Progressing"
	// HealthUnknown: some object's health could not be read.
	HealthUnknown WorkloadHealth = "Unknown"
	// HealthDegraded: some object is failing.
	HealthDegraded WorkloadHealth = "Degraded"
)

// ClusterSummary counts clusters by state.
type ClusterSummary struct {
	Selected    int32 `json:"selected"`
	Applied     int32 `json:"applied"`
	Progressing int32 `json:"progressing"`
	Pending     int32 `json:"pending"`
	Drifted     int32 `json:"drifted"`
	Failed      int32 `json:"failed"`
	Offline     int32 `json:"offline"`
	// Stale counts selected clusters holding an earlier revision or spec
	// because the latest cannot be deployed.
	// +optional
	Stale int32 `json:"stale,omitempty"`
	// Held counts clusters no longer selected whose removal waits; they are
	// not among Selected.
	// +optional
	Held int32 `json:"held,omitempty"`
	// Healthy counts the clusters whose workloads of the deployed content
	// are healthy.
	// +optional
	Healthy int32 `json:"healthy"`
	// Degraded counts the clusters where a workload is failing.
	// +optional
	Degraded int32 `json:"degraded"`
}

// ObjectReference names one Kubernetes object on a managed cluster.
type ObjectReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// DriftedObject is one live object that differs from what was applied.
type DriftedObject struct {
	ObjectReference `json:",inline"`
	// Fields are the paths that differ, such as ".spec.replicas"; empty when the
	// object was deleted.
	// +optional
	Fields []string `json:"fields,omitempty"`
	// Deleted is true when the object is gone.
	// +optional
	Deleted bool `json:"deleted,omitempty"`
}

// ClusterStatus is one cluster's standing with the Subscription.
type ClusterStatus struct {
	Name  string       `json:"name"`
	State ClusterState `json:"state"`
	// Revision is the revision the cluster holds.
	// +optional
	Revision string `json:"revision,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Health is how the workloads of the content the cluster holds are
	// doing, once it is applied.
	// +optional
	Health WorkloadHealth `json:"health,omitempty"`
	// Drift lists up to ten drifted objects.
	// +optional
	Drift []DriftedObject `json:"drift,omitempty"`
	// Overrides lists, as namespace/name, up to ten other Subscriptions
	// that apply objects of this one on the cluster with different content
	// and lose to it: this Subscription's content is what runs there, and
	// theirs is not applied (the Overrides condition says which objects).
	// +optional
	Overrides []string `json:"overrides,omitempty"`
}

// RolloutPhase is where a progressive rollout stands.
type RolloutPhase string

// Rollout phases.
const (
	RolloutProgressing RolloutPhase = "Progressing"
	RolloutSucceeded   RolloutPhase = "Succeeded"
	RolloutFailed      RolloutPhase = "Failed"
	RolloutPaused      RolloutPhase = "Paused"
	RolloutWaiting     RolloutPhase = "Waiting"
)

// RolloutStatus is the progress of the current revision across clusters.
type RolloutStatus struct {
	Revision string       `json:"revision"`
	Phase    RolloutPhase `json:"phase"`
	// Updated is how many clusters have been sent the revision.
	Updated int32 `json:"updated"`
	// Succeeded is how many of those have applied it and stayed healthy.
	Succeeded int32 `json:"succeeded"`
	// Failed is how many failed or timed out.
	Failed int32 `json:"failed"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
}

// SubscriptionStatus is what the hub observed of a Subscription across its clusters.
type SubscriptionStatus struct {
	// Phase is OCM's coarse state: Propagated or PropagationFailed.
	// +optional
	Phase SubscriptionPhase `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`

	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready sums up; SourceReady, Rendered, Placed, Applied, Drifted,
	// RolloutProgressing, WindowOpen and DeletionHeld say why.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastAttemptedRevision is the newest revision the hub tried to deploy.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastAppliedRevision is the newest revision rendered and sent to clusters.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// Summary counts the selected clusters by state.
	// +optional
	Summary ClusterSummary `json:"summary,omitempty"`

	// Clusters lists the clusters that are not Applied first, then the others, up
	// to 100 entries, with the clusters whose removal is held (state Held);
	// ClustersTruncated says when some were left out.
	// +optional
	Clusters []ClusterStatus `json:"clusters,omitempty"`
	// +optional
	ClustersTruncated bool `json:"clustersTruncated,omitempty"`

	// Rollout is the progress of a progressive rollout.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`

	// NextWindow is when the next deployment window opens, while one is closed.
	// +optional
	NextWindow *metav1.Time `json:"nextWindow,omitempty"`

	// LastHandledReconcileAt is the newest "reconcile now" request (the
	// reconcile-requested-at or manual-refresh-time annotation of the
	// Subscription or of its Channel, as RFC 3339) a reconcile has handled,
	// as Flux's lastHandledReconcileAt; 'ocm-gitops reconcile' waits for it.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// Rollback is the automatic rollback of a revision whose rollout failed
	// (spec.onRolloutFailure: Rollback), while it holds the Subscription.
	// +optional
	Rollback *RollbackStatus `json:"rollback,omitempty"`
}

// RollbackPhase is where an automatic rollback stands.
type RollbackPhase string

// Rollback phases.
const (
	// RollbackInProgress: some cluster still holds the failed content.
	RollbackInProgress RollbackPhase = "RollingBack"
	// RollbackDone: every cluster that received the failed content and can
	// be restored holds the content of its last healthy revision again.
	RollbackDone RollbackPhase = "RolledBack"
)

// MaxFailedContent bounds RollbackStatus.FailedContent.
const MaxFailedContent = 16

// RollbackStatus records an automatic rollback. It holds the Subscription:
// nothing new is sent while the source's revision is Revision or renders
// content listed in FailedContent for some cluster.
type RollbackStatus struct {
	// Revision is the revision whose rollout failed.
	Revision string `json:"revision"`
	// Phase is RollingBack or RolledBack.
	Phase RollbackPhase `json:"phase"`
	// Cause says why the rollout failed: the failing clusters and objects.
	Cause string `json:"cause"`
	// FailedContent are the content hashes (the ManifestWorks'
	// content-hash annotation) of what failed, at most MaxFailedContent.
	// +optional
	FailedContent []string `json:"failedContent,omitempty"`
	// Clusters counts the clusters that received the failed content;
	// Restored those holding the content of their last healthy revision
	// again; Unrestorable those that cannot get it (Message says why).
	Clusters int32 `json:"clusters"`
	// +optional
	Restored int32 `json:"restored"`
	// +optional
	Unrestorable int32 `json:"unrestorable,omitempty"`
	// RestoredRevisions are the revisions the clusters got back, sorted,
	// at most five.
	// +optional
	RestoredRevisions []string `json:"restoredRevisions,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the rollout was found failed.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=appsub
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastAppliedRevision`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.summary.applied`
// +kubebuilder:printcolumn:name="Healthy",type=integer,JSONPath=`.status.summary.healthy`
// +kubebuilder:printcolumn:name="Selected",type=integer,JSONPath=`.status.summary.selected`
// +kubebuilder:printcolumn:name="Drifted",type=integer,JSONPath=`.status.summary.drifted`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Subscription deploys a package from a Channel to the clusters its placement picks.
type Subscription struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SubscriptionSpec   `json:"spec"`
	Status SubscriptionStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SubscriptionList is a list of Subscriptions.
type SubscriptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Subscription `json:"items"`
}
