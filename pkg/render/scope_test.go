package render_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// TestClusterScopedKindsMatchKubernetes compares the renderer's table of
// cluster-scoped kinds with the discovery of a real kube-apiserver (v1.37,
// with OCM's hub CRDs): every cluster-scoped kind it serves is in the table,
// and no namespaced kind is.
func TestClusterScopedKindsMatchKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	cp := harness.StartControlPlane(t, "scope", lab.RoleHub)
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") {
				continue // subresources
			}
			seen++
			gk := schema.GroupKind{Group: gv.Group, Kind: res.Kind}
			if res.Namespaced == render.ClusterScoped[gk] {
				t.Errorf("%s: namespaced %v on the server, but the renderer's table says cluster-scoped %v", gk, res.Namespaced, render.ClusterScoped[gk])
			}
		}
	}
	if seen < 50 {
		t.Errorf("discovery listed only %d kinds", seen)
	}
}
