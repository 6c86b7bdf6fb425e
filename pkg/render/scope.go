package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// clusterScoped are the cluster-scoped kinds of Kubernetes 1.37
// (TestClusterScopedKindsMatchKubernetes compares them with a real
// kube-apiserver's discovery), of OCM, and of widely used add-ons whose CRDs
// are often installed apart from the apps that use them. Any other kind is
// namespaced unless a CustomResourceDefinition in the render says otherwise;
// the agent clears the namespace of what its cluster's discovery says is
// cluster-scoped.
var clusterScoped = kinds(map[string][]string{
	"": {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"admissionregistration.k8s.io": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"apiextensions.k8s.io":               {"CustomResourceDefinition"},
	"apiregistration.k8s.io":             {"APIService"},
	"authentication.k8s.io":              {"TokenReview", "SelfSubjectReview"},
	"authorization.k8s.io":               {"SubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview"},
	"certificates.k8s.io":                {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io":       {"FlowSchema", "PriorityLevelConfiguration"},
	"internal.apiserver.k8s.io":          {"StorageVersion"},
	"networking.k8s.io":                  {"IngressClass", "IPAddress", "ServiceCIDR"},
	"node.k8s.io":                        {"RuntimeClass"},
	"policy":                             {"PodSecurityPolicy"},
	"rbac.authorization.k8s.io":          {"ClusterRole", "ClusterRoleBinding"},
	"resource.k8s.io":                    {"DeviceClass", "ResourceSlice", "DeviceTaintRule"},
	"scheduling.k8s.io":                  {"PriorityClass"},
	"storage.k8s.io":                     {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass"},
	"storagemigration.k8s.io":            {"StorageVersionMigration"},
	"cluster.open-cluster-management.io": {"ManagedCluster", "ManagedClusterSet", "ClusterClaim"},
	"work.open-cluster-management.io":    {"AppliedManifestWork"},
	"addon.open-cluster-management.io":   {"ClusterManagementAddOn"},
	"cert-manager.io":                    {"ClusterIssuer"},
	"external-secrets.io":                {"ClusterSecretStore", "ClusterExternalSecret"},
	"kyverno.io":                         {"ClusterPolicy", "ClusterCleanupPolicy"},
	"templates.gatekeeper.sh":            {"ConstraintTemplate"},
	"keda.sh":                            {"ClusterTriggerAuthentication"},
	"gateway.networking.k8s.io":          {"GatewayClass"},
	"snapshot.storage.k8s.io":            {"VolumeSnapshotClass", "VolumeSnapshotContent"},
	"karpenter.sh":                       {"NodePool", "NodeClaim"},
	"cilium.io":                          {"CiliumClusterwideNetworkPolicy", "CiliumNode", "CiliumIdentity"},
	"crd.projectcalico.org":              {"GlobalNetworkPolicy", "GlobalNetworkSet", "IPPool", "FelixConfiguration", "BGPConfiguration", "BGPPeer"},
})

func kinds(byGroup map[string][]string) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for group, ks := range byGroup {
		for _, k := range ks {
			out[schema.GroupKind{Group: group, Kind: k}] = true
		}
	}
	return out
}

// namespaced tells whether objects of o's kind live in a namespace:
// CustomResourceDefinitions in the render decide for their kinds, then the
// table of cluster-scoped kinds; every other kind is namespaced.
func namespaced(o *unstructured.Unstructured, crdScope map[schema.GroupKind]bool) bool {
	gk := o.GroupVersionKind().GroupKind()
	if n, ok := crdScope[gk]; ok {
		return n
	}
	return !clusterScoped[gk]
}
