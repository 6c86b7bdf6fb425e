package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChannelType is where a Channel's desired state lives.
// +kubebuilder:validation:Enum={Git,GitHub,git,github,HelmRepo,helmrepo,ObjectBucket,objectbucket,Namespace,namespace}
type ChannelType string

// Channel types. OCM accepts both spellings of each; use Normalized to compare.
const (
	ChannelTypeGit          ChannelType = "git"
	ChannelTypeGitHub       ChannelType = "github"
	ChannelTypeHelmRepo     ChannelType = "helmrepo"
	ChannelTypeObjectBucket ChannelType = "objectbucket"
	ChannelTypeNamespace    ChannelType = "namespace"
)

// ChannelGate is OCM's promotion gate. It is accepted for compatibility; Git,
// HelmRepo and ObjectBucket channels do not use it.
type ChannelGate struct {
	Name          string                `json:"name,omitempty"`
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	Annotations   map[string]string     `json:"annotations,omitempty"`
}

// ChannelSpec says where a fleet's desired state lives and how to reach it.
type ChannelSpec struct {
	// Type of the source: Git (GitHub is a synonym), HelmRepo or ObjectBucket.
	Type ChannelType `json:"type"`

	// Pathname is the source's address: a Git URL (https://, http://, ssh://,
	// git@host:path or file://), a Helm repository URL (http(s):// or oci://), or
	// an S3 endpoint with the bucket as first path element.
	Pathname string `json:"pathname"`

	// SecretRef names a Secret in the Channel's namespace with credentials, using
	// OCM's keys: user, accessToken, password, sshKey, passphrase, clientKey,
	// clientCert, caCerts (Git and Helm); AccessKeyID, SecretAccessKey, Region (buckets).
	// +optional
	SecretRef *corev1.ObjectReference `json:"secretRef,omitempty"`

	// ConfigMapRef names a ConfigMap in the Channel's namespace; its caCerts key is
	// a PEM bundle trusted in addition to the system roots.
	// +optional
	ConfigMapRef *corev1.ObjectReference `json:"configMapRef,omitempty"`

	// InsecureSkipVerify turns off TLS certificate and SSH host key checks.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`

	// +optional
	Gates *ChannelGate `json:"gates,omitempty"`

	// +optional
	// +listType=set
	SourceNamespaces []string `json:"sourceNamespaces,omitempty"`

	// CommitStatus reports rollout and drift back to the Git forge as commit
	// statuses on the deployed commit (ocm-gitops extension).
	// +optional
	CommitStatus *CommitStatusSpec `json:"commitStatus,omitempty"`

	// AllowedNamespaces lists the namespaces whose Subscriptions may use this
	// Channel besides its own; "*" allows all (ocm-gitops extension).
	// +optional
	// +listType=set
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
}

// GitProvider names a Git forge API.
// +kubebuilder:validation:Enum=github;gitlab;gitea;bitbucket
type GitProvider string

// Git forges that commit statuses can be posted to.
const (
	GitProviderGitHub    GitProvider = "github"
	GitProviderGitLab    GitProvider = "gitlab"
	GitProviderGitea     GitProvider = "gitea"
	GitProviderBitbucket GitProvider = "bitbucket"
)

// CommitStatusSpec configures commit statuses for a Git Channel.
type CommitStatusSpec struct {
	// Provider is the forge's API flavour.
	Provider GitProvider `json:"provider"`

	// APIURL is the forge's API root; defaults to the provider's public service.
	// +optional
	APIURL string `json:"apiURL,omitempty"`

	// Repository is the repository on the forge ("owner/name", or a GitLab project
	// path); derived from the Channel's pathname when empty.
	// +optional
	Repository string `json:"repository,omitempty"`

	// SecretRef names a Secret in the Channel's namespace whose "token" key holds
	// the API token (Bitbucket: "user" and "token" for an app password).
	SecretRef corev1.LocalObjectReference `json:"secretRef"`

	// ContextPrefix starts every status context, so several hubs can report on one
	// repository without overwriting each other. Defaults to "ocm-gitops".
	// +optional
	ContextPrefix string `json:"contextPrefix,omitempty"`

	// PerCluster also posts one status per cluster.
	// +optional
	PerCluster bool `json:"perCluster,omitempty"`
}

// ChannelStatus is what the hub observed of a Channel's source.
type ChannelStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready says whether the source could be reached and read.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Artifacts are the revisions fetched, one per ref in use by Subscriptions.
	// +optional
	// +listType=map
	// +listMapKey=ref
	Artifacts []ArtifactStatus `json:"artifacts,omitempty"`
}

// ArtifactStatus is the last good fetch of one ref of a Channel.
type ArtifactStatus struct {
	// Ref is what was asked for: a branch, tag or commit, a chart and version
	// range, or a bucket prefix.
	Ref string `json:"ref"`
	// Revision is what the ref resolved to, e.g. "main@sha1:0123abcd…".
	Revision string `json:"revision"`
	// FetchedAt is when the revision was last confirmed current.
	FetchedAt metav1.Time `json:"fetchedAt"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=chn
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Pathname",type=string,JSONPath=`.spec.pathname`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Channel is a source of desired state: a Git repository, a Helm repository or
// an S3-compatible bucket.
type Channel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChannelSpec   `json:"spec,omitempty"`
	Status ChannelStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ChannelList is a list of Channels.
type ChannelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Channel `json:"items"`
}
