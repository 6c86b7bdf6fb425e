package render

import (
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// TestClusterIndependent checks the promise callers rely on: clusters it
// calls independent get the very same Output, and the clusters it does not
// (a values template, an override naming them, values of their own) are
// exactly those whose render can differ.
func TestClusterIndependent(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	sub := subscription("shop", "apps", "apps/plain")
	sub.Spec.Overrides = []appsv1.ClusterOverrides{{ClusterName: "big", ClusterOverrides: []appsv1.ClusterOverride{
		{RawExtension: rawJSON(t, map[string]any{"path": "spec.replicas", "value": 7})},
	}}}
	a := Cluster{Name: "a", Labels: map[string]string{"region": "eu"}}
	b := Cluster{Name: "b", Labels: map[string]string{"region": "us"}, Claims: map[string]string{"tier": "gold"}}
	big := Cluster{Name: "big"}
	if !ClusterIndependent(sub, a) || !ClusterIndependent(sub, b) {
		t.Fatal("clusters without overrides, template or values are not independent")
	}
	if mustRender(t, r, art, sub, a) != mustRender(t, r, art, sub, b) {
		t.Error("independent clusters got different Outputs")
	}
	if ClusterIndependent(sub, big) {
		t.Error("a cluster named by spec.overrides is independent")
	}
	if mustRender(t, r, art, sub, big) == mustRender(t, r, art, sub, a) {
		t.Fatal("the test's override changes nothing")
	}
	if ClusterIndependent(sub, Cluster{Name: "a", Values: map[string]any{"x": 1}}) {
		t.Error("a cluster with its own values is independent")
	}
	tmpl := sub.DeepCopy()
	tmpl.Spec.ClusterValuesTemplate = "replicaCount: 3\n"
	if ClusterIndependent(tmpl, a) {
		t.Error("a Subscription with a clusterValuesTemplate renders independently of the cluster")
	}
}
