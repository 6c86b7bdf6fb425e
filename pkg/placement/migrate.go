package placement

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// GlobalClusterSet is the ManagedClusterSet OCM hubs create holding every
// cluster (an empty label selector); migrated PlacementRules bind it by
// default, since a PlacementRule could choose any cluster.
const GlobalClusterSet = "global"

// Migration is the Placement (and the ManagedClusterSetBinding it needs)
// that chooses what a PlacementRule chose, with notes on what differs.
type Migration struct {
	Rule      *appsv1.PlacementRule
	Placement *clusterv1beta1.Placement
	Binding   *clusterv1beta2.ManagedClusterSetBinding
	Notes     []string
}

// MigrateRule translates a PlacementRule into a Placement in the same
// namespace, of the same name, selecting from clusterSet (GlobalClusterSet
// when empty):
//   - clusterSelector becomes the predicate's label selector, and a cluster
//     list a CEL predicate on the cluster's name;
//   - clusterConditions become CEL predicates that, as the rule did, let
//     clusters without such a condition pass;
//   - clusterReplicas becomes numberOfClusters, with the Steady prioritizer
//     alone (the rule kept the clusters it had), or with
//     ResourceAllocatableCPU/Memory (weight 1, or -1 for asc) for a
//     resourceHint;
//   - tolerations of OCM's unreachable and unavailable taints, which a
//     PlacementRule ignored.
func MigrateRule(rule *appsv1.PlacementRule, clusterSet string) Migration {
	if clusterSet == "" {
		clusterSet = GlobalClusterSet
	}
	m := Migration{Rule: rule}
	spec := rule.Spec
	p := &clusterv1beta1.Placement{
		TypeMeta:   metav1.TypeMeta{APIVersion: clusterv1beta1.GroupVersion.String(), Kind: "Placement"},
		ObjectMeta: metav1.ObjectMeta{Namespace: rule.Namespace, Name: rule.Name, Labels: rule.Labels},
		Spec: clusterv1beta1.PlacementSpec{
			ClusterSets: []string{clusterSet},
			Tolerations: []clusterv1beta1.Toleration{
				{Key: clusterv1.ManagedClusterTaintUnreachable, Operator: clusterv1beta1.TolerationOpExists},
				{Key: clusterv1.ManagedClusterTaintUnavailable, Operator: clusterv1beta1.TolerationOpExists},
			},
		},
	}
	var sel clusterv1beta1.ClusterSelector
	var cel []string
	switch {
	case len(spec.Clusters) > 0:
		names := make([]string, len(spec.Clusters))
		for i, c := range spec.Clusters {
			names[i] = strconv.Quote(c.Name)
		}
		cel = append(cel, fmt.Sprintf("managedCluster.metadata.name in [%s]", strings.Join(names, ", ")))
		if spec.ClusterSelector != nil {
			m.Notes = append(m.Notes, "spec.clusterSelector was ignored by the rule (spec.clusters wins) and is left out")
		}
	case spec.ClusterSelector != nil:
		sel.LabelSelector = *spec.ClusterSelector.DeepCopy()
	}
	for _, f := range spec.ClusterConditions {
		cel = append(cel, fmt.Sprintf("(has(managedCluster.status.conditions) && managedCluster.status.conditions != null ? managedCluster.status.conditions : []).all(c, c.type != %s || c.status == %s)",
			strconv.Quote(f.Type), strconv.Quote(string(f.Status))))
	}
	sel.CelSelector.CelExpressions = cel
	if len(sel.LabelSelector.MatchLabels)+len(sel.LabelSelector.MatchExpressions)+len(cel) > 0 {
		p.Spec.Predicates = []clusterv1beta1.ClusterPredicate{{RequiredClusterSelector: sel}}
	}
	if spec.ClusterReplicas != nil {
		p.Spec.NumberOfClusters = new(int32)
		*p.Spec.NumberOfClusters = *spec.ClusterReplicas
		p.Spec.PrioritizerPolicy = replicaPriorities(spec.ResourceHint)
		if spec.ResourceHint != nil {
			m.Notes = append(m.Notes, "the ResourceAllocatable prioritizer ranks clusters by their allocatable resource as spec.resourceHint did, except that clusters reporting no allocatable or capacity rank in the middle (score 0), not last")
		}
	} else if spec.ResourceHint != nil {
		m.Notes = append(m.Notes, "spec.resourceHint only ordered the decisions (no clusterReplicas); a Placement's decisions are sorted by name, so it is left out")
	}
	if len(spec.Policies) > 0 {
		m.Notes = append(m.Notes, "spec.policies had no effect and is left out")
	}
	if !IsOurRule(rule) {
		m.Notes = append(m.Notes, fmt.Sprintf("spec.schedulerName %q scheduled this rule; the Placement is scheduled by a placement controller", spec.SchedulerName))
	}
	m.Notes = append(m.Notes,
		fmt.Sprintf("the Placement chooses from ManagedClusterSet %q, bound to namespace %s by the ManagedClusterSetBinding below; OCM hubs create %q with every cluster, elsewhere create it or pass another set", clusterSet, rule.Namespace, GlobalClusterSet),
		fmt.Sprintf("Subscriptions with placementRef {kind: PlacementRule, name: %s} should then say {kind: Placement, name: %s}", rule.Name, rule.Name),
		"the tolerations keep choosing unreachable and unavailable clusters as the rule did; remove them to leave those out (clusters with other NoSelect taints are left out, as by every Placement)")
	m.Placement = p
	m.Binding = &clusterv1beta2.ManagedClusterSetBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: clusterv1beta2.GroupVersion.String(), Kind: "ManagedClusterSetBinding"},
		ObjectMeta: metav1.ObjectMeta{Namespace: rule.Namespace, Name: clusterSet},
		Spec:       clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: clusterSet},
	}
	return m
}

// replicaPriorities ranks clusters as the rule did before clusterReplicas
// cut the list: by allocatable resource for a resourceHint, else keeping the
// clusters already chosen.
func replicaPriorities(hint *appsv1.ResourceHint) clusterv1beta1.PrioritizerPolicy {
	builtIn, weight := PrioritizerSteady, int32(1)
	if hint != nil {
		switch hint.Type {
		case appsv1.ResourceTypeCPU:
			builtIn = PrioritizerResourceAllocatableCPU
		case appsv1.ResourceTypeMemory:
			builtIn = PrioritizerResourceAllocatableMemory
		}
		if builtIn != PrioritizerSteady && hint.Order == appsv1.SelectionOrderAsc {
			weight = -1
		}
	}
	return clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: []clusterv1beta1.PrioritizerConfig{{
		ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{Type: clusterv1beta1.ScoreCoordinateTypeBuiltIn, BuiltIn: builtIn},
		Weight:          weight,
	}}}
}

// maxMigrationInput bounds what MigrateYAML reads.
const maxMigrationInput = 16 << 20

// MigrateYAML reads YAML or JSON documents, translates every PlacementRule
// among them (MigrateRule) and writes the Placements and bindings as YAML,
// each preceded by its notes as comments. Bindings shared by several rules
// of a namespace are written once. Documents of other kinds are skipped.
func MigrateYAML(in io.Reader, out io.Writer, clusterSet string) error {
	data, err := io.ReadAll(io.LimitReader(in, maxMigrationInput+1))
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	if len(data) > maxMigrationInput {
		return fmt.Errorf("the input is larger than %d MiB; split it", maxMigrationInput>>20)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var rules []*appsv1.PlacementRule
	for i := 1; ; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if doc["kind"] != "PlacementRule" || !strings.HasPrefix(fmt.Sprint(doc["apiVersion"]), "apps.open-cluster-management.io/") {
			continue
		}
		raw, _ := yaml.Marshal(doc)
		rule := &appsv1.PlacementRule{}
		if err := yaml.UnmarshalStrict(raw, rule); err != nil {
			return fmt.Errorf("document %d (PlacementRule): %w", i, err)
		}
		if rule.Name == "" {
			return fmt.Errorf("document %d: the PlacementRule has no metadata.name", i)
		}
		rules = append(rules, rule)
	}
	if len(rules) == 0 {
		return fmt.Errorf("no apps.open-cluster-management.io PlacementRule in the input")
	}
	sort.SliceStable(rules, func(i, j int) bool {
		return rules[i].Namespace+"/"+rules[i].Name < rules[j].Namespace+"/"+rules[j].Name
	})
	bound := map[string]bool{}
	var buf bytes.Buffer
	for _, rule := range rules {
		m := MigrateRule(rule, clusterSet)
		fmt.Fprintf(&buf, "---\n# From PlacementRule %s/%s:\n", rule.Namespace, rule.Name)
		for _, n := range m.Notes {
			fmt.Fprintf(&buf, "#   - %s\n", n)
		}
		if err := writeYAML(&buf, m.Placement); err != nil {
			return err
		}
		if key := m.Binding.Namespace + "/" + m.Binding.Name; !bound[key] {
			bound[key] = true
			buf.WriteString("---\n")
			if err := writeYAML(&buf, m.Binding); err != nil {
				return err
			}
		}
	}
	_, err = out.Write(buf.Bytes())
	return err
}

func writeYAML(w *bytes.Buffer, obj any) error {
	data, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	// An object's zero creationTimestamp and status are noise in a manifest.
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	data, err = yaml.Marshal(m)
	if err != nil {
		return err
	}
	w.Write(data)
	return nil
}
