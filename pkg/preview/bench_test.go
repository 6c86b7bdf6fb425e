package preview

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkPreview previews a values change of a Helm chart placed on 2000
// clusters in 4 regions (4 groups), with a Placement scheduled at both
// revisions: the cost of a pull request on a large fleet.
func BenchmarkPreview(b *testing.B) {
	for _, n := range []int{200, 2000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			g := newGitRepo(b)
			g.write(map[string]string{
				"hub/sub.yaml": `apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata:
  name: app
  namespace: ops
  annotations:
    apps.open-cluster-management.io/git-path: app
spec:
  channel: ops/fleet
  clusterValuesTemplate: |
    zone: {{ .Cluster.Labels.zone }}
  placement:
    placementRef: {kind: Placement, name: all}
---
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: all
  namespace: ops
spec:
  predicates:
    - requiredClusterSelector:
        labelSelector:
          matchExpressions: [{key: zone, operator: Exists}]
---
apiVersion: apps.open-cluster-management.io/v1
kind: Channel
metadata:
  name: fleet
  namespace: ops
spec:
  type: Git
  pathname: https://example.com/fleet.git
`,
				"app/Chart.yaml":              "apiVersion: v2\nname: app\nversion: 0.1.0\n",
				"app/values.yaml":             "level: info\nzone: none\n",
				"app/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: {{ .Values.level }}\n  zone: {{ .Values.zone }}\n",
			})
			base := g.commit("app")
			g.replace("app/values.yaml", "level: info", "level: debug")
			head := g.commit("debug")
			inv := &Inventory{}
			for i := range n {
				inv.Clusters = append(inv.Clusters, cluster(fmt.Sprintf("c%05d", i), map[string]string{"zone": fmt.Sprint(i % 4), "cluster.open-cluster-management.io/clusterset": "default"}))
			}
			inv.ClusterSets = append(inv.ClusterSets, clusterSet("default"))
			inv.Bindings = append(inv.Bindings, binding("ops", "default"))
			b.ResetTimer()
			for range b.N {
				rep, err := Run(context.Background(), Options{Repo: g.dir, Base: base, Head: head, Inventory: inv, MaxRemovalPercent: 50})
				if err != nil {
					b.Fatal(err)
				}
				if got := len(rep.Subscriptions[0].Groups); got != 4 {
					b.Fatalf("%d groups, want 4", got)
				}
			}
		})
	}
}
