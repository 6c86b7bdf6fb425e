package registration

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A cluster's name is also the name of its namespace on the hub, where its
// identity reads ManifestWorks and renews its Lease. A name that is some
// other namespace's would hand that namespace to the cluster.

// reservedNames are namespaces no cluster may be named after.
var reservedNames = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// reservedPrefixes start the namespaces of Kubernetes, OCM, OpenShift and
// ocm-gitops itself.
var reservedPrefixes = []string{"kube-", "openshift", "open-cluster-management", "ocm-gitops"}

// ValidateClusterName says why name cannot be a cluster's (nil when it can):
// it must be a valid namespace name and not a reserved one.
func ValidateClusterName(name string) error {
	if errs := apivalidation.ValidateNamespaceName(name, false); len(errs) > 0 {
		return fmt.Errorf("cluster name %q is not a valid namespace name: %s", name, strings.Join(errs, "; "))
	}
	for _, r := range reservedNames {
		if name == r {
			return fmt.Errorf("cluster name %q is reserved: it is a system namespace of the hub; register the cluster under another name", name)
		}
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("cluster name %q is reserved: names starting with %q belong to the hub's system namespaces; register the cluster under another name", name, p)
		}
	}
	return nil
}

// ClusterNamespace is the hub namespace of a cluster, labelled as its.
func ClusterNamespace(cluster string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cluster, Labels: map[string]string{LabelClusterName: cluster}}}
}

// ValidateNamespace says why ns (the existing namespace named like cluster,
// nil when there is none) cannot be the cluster's: it must carry the label
// ClusterNamespace gives, so that a cluster never takes over a namespace
// created for something else.
func ValidateNamespace(ns *corev1.Namespace, cluster string) error {
	if ns == nil || ns.Labels[LabelClusterName] == cluster {
		return nil
	}
	return fmt.Errorf("namespace %s already exists on the hub and is not cluster %s's (it lacks the label %s=%s); register the cluster under another name, or label the namespace if it was made for this cluster",
		cluster, cluster, LabelClusterName, cluster)
}
