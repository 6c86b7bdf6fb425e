package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlacementRule scheduler names this project's controller answers to (OCM's
// "default" and "mcm"; empty means default). PlacementRules naming another
// scheduler are left to it.
const (
	SchedulerNameDefault = "default"
	SchedulerNameMCM     = "mcm"
)

// ClusterConditionFilter asks for ManagedClusters whose condition of this type
// has this status. As in OCM, a cluster without a condition of that type
// passes.
type ClusterConditionFilter struct {
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Status metav1.ConditionStatus `json:"status,omitempty"`
}

// ResourceType is what a ResourceHint sorts clusters by.
// +kubebuilder:validation:Enum="";cpu;memory
type ResourceType string

// Resource types.
const (
	ResourceTypeCPU    ResourceType = "cpu"
	ResourceTypeMemory ResourceType = "memory"
)

// SelectionOrder is the order of a ResourceHint.
// +kubebuilder:validation:Enum="";desc;asc
type SelectionOrder string

// Selection orders.
const (
	SelectionOrderDesc SelectionOrder = "desc"
	SelectionOrderAsc  SelectionOrder = "asc"
)

// ResourceHint orders clusters by their allocatable resources before
// clusterReplicas picks the first ones.
type ResourceHint struct {
	// +optional
	Type ResourceType `json:"type,omitempty"`
	// Order is desc (the default: most allocatable first) or asc.
	// +optional
	Order SelectionOrder `json:"order,omitempty"`
}

// PlacementRuleSpec chooses clusters the way OCM's PlacementRule did.
type PlacementRuleSpec struct {
	// SchedulerName picks the controller: "", default or mcm are ours.
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// ClusterReplicas is how many clusters to choose at most (all when unset).
	// +optional
	// +kubebuilder:validation:Minimum=0
	ClusterReplicas *int32 `json:"clusterReplicas,omitempty"`
	// Clusters names the ManagedClusters to choose from; when set,
	// clusterSelector is ignored.
	// +optional
	Clusters []GenericClusterReference `json:"clusters,omitempty"`
	// ClusterSelector selects ManagedClusters by label (all when unset).
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
	// ClusterConditions keep the clusters whose conditions have these statuses.
	// +optional
	ClusterConditions []ClusterConditionFilter `json:"clusterConditions,omitempty"`
	// ResourceHint orders the clusters by allocatable CPU or memory.
	// +optional
	ResourceHint *ResourceHint `json:"resourceHint,omitempty"`
	// Policies is accepted for compatibility and, as in OCM, has no effect.
	// +optional
	Policies []corev1.ObjectReference `json:"policies,omitempty"`
}

// PlacementRuleDecision is one chosen cluster.
type PlacementRuleDecision struct {
	ClusterName      string `json:"clusterName,omitempty"`
	ClusterNamespace string `json:"clusterNamespace,omitempty"`
}

// PlacementRuleStatus holds the chosen clusters.
type PlacementRuleStatus struct {
	// Decisions are the chosen clusters, sorted by name (or in resourceHint
	// order).
	// +optional
	Decisions []PlacementRuleDecision `json:"decisions,omitempty"`
	// Conditions: Ready says whether the rule could be evaluated, and why not.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PlacementRule is OCM's older way to choose clusters
// (apps.open-cluster-management.io/v1), supported so existing YAML keeps
// working. Deprecated: use a cluster.open-cluster-management.io Placement
// with a ManagedClusterSetBinding; `ocm-gitops migrate --placementrules FILE`
// prints the equivalent objects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=plr
// +kubebuilder:deprecatedversion:warning="apps.open-cluster-management.io/v1 PlacementRule is deprecated; use a cluster.open-cluster-management.io/v1beta1 Placement (ocm-gitops migrate --placementrules FILE prints one)"
// +kubebuilder:printcolumn:name="Replicas",type="integer",JSONPath=".spec.clusterReplicas"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type PlacementRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PlacementRuleSpec   `json:"spec,omitempty"`
	Status PlacementRuleStatus `json:"status,omitempty"`
}

// PlacementRuleList is a list of PlacementRules.
// +kubebuilder:object:root=true
type PlacementRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PlacementRule `json:"items"`
}
