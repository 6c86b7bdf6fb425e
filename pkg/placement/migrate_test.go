package placement

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// TestMigratedPlacementChoosesWhatTheRuleChose schedules each PlacementRule
// and the Placement MigrateRule makes of it against the same clusters (with
// OCM's global set bound) and compares the chosen clusters.
func TestMigratedPlacementChoosesWhatTheRuleChose(t *testing.T) {
	available := clusterv1.ManagedClusterConditionAvailable
	var clusters []*clusterv1.ManagedCluster
	for i := range 12 {
		mc := cluster(fmt.Sprintf("c%02d", i), withLabels("env", []string{"prod", "dev", "qa"}[i%3], "region", []string{"eu", "us"}[i%2]),
			withCPU(fmt.Sprint(2+i*3%11), "16"))
		mc.Status.Allocatable[clusterv1.ResourceMemory] = mc.Status.Allocatable[clusterv1.ResourceCPU]
		mc.Status.Capacity[clusterv1.ResourceMemory] = mc.Status.Capacity[clusterv1.ResourceCPU]
		switch i % 4 {
		case 0:
			mc.Status.Conditions = []metav1.Condition{{Type: available, Status: metav1.ConditionTrue}}
		case 1:
			mc.Status.Conditions = []metav1.Condition{{Type: available, Status: metav1.ConditionFalse}}
		}
		if i == 5 {
			mc.Spec.Taints = []clusterv1.Taint{{Key: clusterv1.ManagedClusterTaintUnavailable, Effect: clusterv1.TaintEffectNoSelect, TimeAdded: metav1.NewTime(t0.Add(-time.Hour))}}
		}
		clusters = append(clusters, mc)
	}
	w := world{
		clusters: clusters,
		sets:     []*clusterv1beta2.ManagedClusterSet{selectorSet(GlobalClusterSet, &metav1.LabelSelector{})},
	}
	prod := &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	for _, tc := range []struct {
		name    string
		spec    appsv1.PlacementRuleSpec
		decided []string
	}{
		{name: "everything", spec: appsv1.PlacementRuleSpec{}},
		{name: "selector", spec: appsv1.PlacementRuleSpec{ClusterSelector: prod}},
		{name: "selector expressions", spec: appsv1.PlacementRuleSpec{ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"qa"}}, {Key: "region", Operator: metav1.LabelSelectorOpExists}}}}},
		{name: "cluster list", spec: appsv1.PlacementRuleSpec{Clusters: []appsv1.GenericClusterReference{{Name: "c03"}, {Name: "c07"}, {Name: "nope"}}, ClusterSelector: prod}},
		{name: "conditions", spec: appsv1.PlacementRuleSpec{ClusterConditions: []appsv1.ClusterConditionFilter{{Type: available, Status: metav1.ConditionTrue}}}},
		{name: "replicas keep decided clusters", spec: appsv1.PlacementRuleSpec{ClusterSelector: prod, ClusterReplicas: n32(2)}, decided: []string{"c09", "c06"}},
		{name: "replicas on a new rule", spec: appsv1.PlacementRuleSpec{ClusterReplicas: n32(5)}},
		{name: "replicas 0", spec: appsv1.PlacementRuleSpec{ClusterReplicas: n32(0)}},
		{name: "cpu, most first", spec: appsv1.PlacementRuleSpec{ClusterReplicas: n32(3), ResourceHint: &appsv1.ResourceHint{Type: appsv1.ResourceTypeCPU}}},
		{name: "memory, least first", spec: appsv1.PlacementRuleSpec{ClusterReplicas: n32(3), ResourceHint: &appsv1.ResourceHint{Type: appsv1.ResourceTypeMemory, Order: appsv1.SelectionOrderAsc}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := &appsv1.PlacementRule{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: tc.spec}
			for _, d := range tc.decided {
				rule.Status.Decisions = append(rule.Status.Decisions, appsv1.PlacementRuleDecision{ClusterName: d})
			}
			ruled, err := RuleDecisions(rule, clusters)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range ruled {
				want = append(want, d.ClusterName)
			}
			slices.Sort(want)
			m := MigrateRule(rule, "")
			ww := w
			ww.bindings = []*clusterv1beta2.ManagedClusterSetBinding{m.Binding}
			ww.existing = tc.decided
			res := run(t, ww, m.Placement)
			if res.Misconfigured != nil {
				t.Fatalf("the migrated Placement is misconfigured: %v", res.Misconfigured)
			}
			var got []string
			for _, g := range res.Groups {
				got = append(got, g.Clusters...)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("Placement chose %v, the PlacementRule %v\nPlacement spec: %+v", got, want, m.Placement.Spec)
			}
		})
	}
}

func TestMigrateYAML(t *testing.T) {
	in := `apiVersion: apps.open-cluster-management.io/v1
kind: Channel
metadata: {name: ch, namespace: apps}
spec: {type: Git, pathname: https://example.com/repo.git}
---
apiVersion: apps.open-cluster-management.io/v1
kind: PlacementRule
metadata: {name: web, namespace: apps}
spec:
  clusterReplicas: 2
  clusterSelector: {matchLabels: {env: prod}}
  policies: [{name: p}]
---
apiVersion: apps.open-cluster-management.io/v1
kind: PlacementRule
metadata: {name: all, namespace: apps}
spec: {}
`
	var out bytes.Buffer
	if err := MigrateYAML(strings.NewReader(in), &out, ""); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"# From PlacementRule apps/web:", "spec.policies had no effect", "{kind: Placement, name: web}",
		"kind: Placement\n", "numberOfClusters: 2", "builtIn: Steady", "kind: ManagedClusterSetBinding", "clusterSet: global",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "kind: ManagedClusterSetBinding") != 1 || strings.Contains(text, "creationTimestamp") || strings.Contains(text, "status:") {
		t.Errorf("one binding per namespace, no status or timestamps:\n%s", text)
	}
	// What is printed is valid input for the API types.
	for _, doc := range strings.Split(text, "---\n") {
		if strings.Contains(doc, "kind: Placement\n") {
			var p clusterv1beta1.Placement
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil || p.Name == "" {
				t.Errorf("printed Placement does not parse: %v\n%s", err, doc)
			}
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"kind: Channel\napiVersion: apps.open-cluster-management.io/v1\n", "no apps.open-cluster-management.io PlacementRule"},
		{"apiVersion: apps.open-cluster-management.io/v1\nkind: PlacementRule\nmetadata: {name: x}\nspec: {clusterReplica: 1}\n", "unknown field"},
		{"{", "document 1"},
	} {
		if err := MigrateYAML(strings.NewReader(bad.in), &out, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("MigrateYAML(%q) = %v, want %q", bad.in, err, bad.want)
		}
	}
}
