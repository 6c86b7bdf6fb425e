package render

import (
	"strings"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// ClusterIndependent reports whether what Render gives cluster c depends on
// nothing of c: the Subscription has no clusterValuesTemplate, names no
// override for c, and c brings no Values. All such clusters get the same
// Output, so a caller rendering for a fleet renders once for all of them
// instead of once per cluster.
func ClusterIndependent(sub *appsv1.Subscription, c Cluster) bool {
	if len(c.Values) > 0 || strings.TrimSpace(sub.Spec.ClusterValuesTemplate) != "" {
		return false
	}
	for _, o := range sub.Spec.Overrides {
		if o.ClusterName == c.Name {
			return false
		}
	}
	return true
}
