package placement

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// DecisionsFunc returns the decision groups of the Placement namespace/name,
// or found == false when that Placement does not exist.
type DecisionsFunc func(namespace, name string) (groups []Group, found bool, err error)

// ResolveTargets resolves a Subscription's placement the way TargetsFor does,
// from hub state held in memory rather than read from an API server: clusters
// are all ManagedClusters, and decisions answers for the Placement a
// placementRef names (typically by running a Scheduler); a PlacementRule
// that rules holds (by namespace/name) is scheduled with RuleDecisions. It
// lets a pull request be previewed without a hub.
func ResolveTargets(sub *appsv1.Subscription, clusters []*clusterv1.ManagedCluster, decisions DecisionsFunc, rules ...*appsv1.PlacementRule) ([]Target, error) {
	byName := make(map[string]*clusterv1.ManagedCluster, len(clusters))
	for _, mc := range clusters {
		if mc.DeletionTimestamp == nil {
			byName[mc.Name] = mc
		}
	}
	return resolve(sub, memSource{byName: byName, all: clusters, decide: decisions, rules: rules})
}

// memSource serves hub state from memory.
type memSource struct {
	byName map[string]*clusterv1.ManagedCluster
	all    []*clusterv1.ManagedCluster
	decide DecisionsFunc
	rules  []*appsv1.PlacementRule
}

func (m memSource) cluster(name string) (*clusterv1.ManagedCluster, error) {
	return m.byName[name], nil
}
func (m memSource) clusters() ([]*clusterv1.ManagedCluster, error) { return m.all, nil }
func (m memSource) decisions(namespace, name string) ([]Group, bool, error) {
	return m.decide(namespace, name)
}

func (m memSource) rule(namespace, name string) (*appsv1.PlacementRule, error) {
	for _, r := range m.rules {
		if r.Namespace != namespace || r.Name != name {
			continue
		}
		if !IsOurRule(r) {
			return r, nil // another scheduler's decisions, as they are
		}
		decided, err := RuleDecisions(r, m.all)
		if err != nil {
			return nil, err
		}
		out := r.DeepCopy()
		out.Status.Decisions = decided
		return out, nil
	}
	return nil, nil
}

// clusterSource is where placement resolution reads hub state: an API server
// (TargetsFor) or memory (ResolveTargets).
type clusterSource interface {
	// cluster returns the ManagedCluster, nil when missing or being deleted.
	cluster(name string) (*clusterv1.ManagedCluster, error)
	clusters() ([]*clusterv1.ManagedCluster, error)
	decisions(namespace, name string) (groups []Group, found bool, err error)
	// rule returns the PlacementRule, nil when it does not exist.
	rule(namespace, name string) (*appsv1.PlacementRule, error)
}

// refGroups reads the decisions of the Placement or PlacementRule that
// spec.placement.placementRef names, in the Subscription's namespace.
func refGroups(sub *appsv1.Subscription, src clusterSource) ([]Group, error) {
	ref := sub.Spec.Placement.PlacementRef
	kind := ref.Kind
	if kind == "" {
		kind = "Placement"
	}
	if kind != "Placement" && kind != "PlacementRule" {
		return nil, fmt.Errorf("subscription %s/%s: spec.placement.placementRef.kind %q is not supported; refer to a cluster.open-cluster-management.io Placement (or an apps.open-cluster-management.io PlacementRule)", sub.Namespace, sub.Name, ref.Kind)
	}
	if ref.Name == "" {
		return nil, fmt.Errorf("subscription %s/%s: spec.placement.placementRef.name is empty; name a %s in namespace %s", sub.Namespace, sub.Name, kind, sub.Namespace)
	}
	if kind == "PlacementRule" {
		rule, err := src.rule(sub.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("subscription %s/%s: PlacementRule %s/%s: %w", sub.Namespace, sub.Name, sub.Namespace, ref.Name, err)
		}
		if rule == nil {
			return nil, fmt.Errorf("subscription %s/%s: PlacementRule %s/%s not found; create it or fix spec.placement.placementRef", sub.Namespace, sub.Name, sub.Namespace, ref.Name)
		}
		g := Group{Clusters: make([]string, 0, len(rule.Status.Decisions))}
		for _, d := range rule.Status.Decisions {
			g.Clusters = append(g.Clusters, d.ClusterName)
		}
		return []Group{g}, nil
	}
	groups, found, err := src.decisions(sub.Namespace, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("subscription %s/%s: Placement %s/%s: %w", sub.Namespace, sub.Name, sub.Namespace, ref.Name, err)
	}
	if !found {
		return nil, fmt.Errorf("subscription %s/%s: Placement %s/%s not found; create it or fix spec.placement.placementRef", sub.Namespace, sub.Name, sub.Namespace, ref.Name)
	}
	return groups, nil
}

// resolve is the one implementation of a Subscription's placement modes.
func resolve(sub *appsv1.Subscription, src clusterSource) ([]Target, error) {
	p := sub.Spec.Placement
	if p == nil {
		return nil, fmt.Errorf("subscription %s/%s: spec.placement is empty; set placementRef, clusters, clusterSelector or local", sub.Namespace, sub.Name)
	}
	if p.Local != nil && *p.Local {
		return []Target{{Cluster: LocalCluster}}, nil
	}
	ts := &targetSet{src: src, seen: map[string]bool{}}
	var err error
	switch {
	case p.PlacementRef != nil:
		err = ts.addPlacement(sub)
	case len(p.Clusters) > 0:
		for _, ref := range p.Clusters {
			if err = ts.add(ref.Name, Group{}); err != nil {
				break
			}
		}
	case p.ClusterSelector != nil:
		err = ts.addSelected(sub, p.ClusterSelector)
	default:
		return nil, fmt.Errorf("subscription %s/%s: spec.placement selects nothing; set placementRef, clusters, clusterSelector or local", sub.Namespace, sub.Name)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(ts.out, func(i, j int) bool { return ts.out[i].Cluster < ts.out[j].Cluster })
	return ts.out, nil
}

// targetSet collects a Subscription's targets, each cluster once.
type targetSet struct {
	src  clusterSource
	seen map[string]bool
	out  []Target
}

func (ts *targetSet) addCluster(mc *clusterv1.ManagedCluster, g Group) {
	ts.seen[mc.Name] = true
	t := targetOf(mc)
	t.GroupIndex, t.GroupName = g.Index, g.Name
	ts.out = append(ts.out, t)
}

// add adds the cluster of that name unless it is missing or being deleted.
func (ts *targetSet) add(name string, g Group) error {
	if name == "" || ts.seen[name] {
		return nil
	}
	mc, err := ts.src.cluster(name)
	if err != nil || mc == nil {
		return err
	}
	ts.addCluster(mc, g)
	return nil
}

// addPlacement adds the clusters spec.placement.placementRef decides.
func (ts *targetSet) addPlacement(sub *appsv1.Subscription) error {
	groups, err := refGroups(sub, ts.src)
	if err != nil {
		return err
	}
	for _, g := range groups {
		for _, name := range g.Clusters {
			if err := ts.add(name, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// addSelected adds the accepted clusters spec.placement.clusterSelector matches.
func (ts *targetSet) addSelected(sub *appsv1.Subscription, selector *metav1.LabelSelector) error {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return fmt.Errorf("subscription %s/%s: spec.placement.clusterSelector: %w", sub.Namespace, sub.Name, err)
	}
	all, err := ts.src.clusters()
	if err != nil {
		return err
	}
	for _, mc := range all {
		if mc.DeletionTimestamp == nil && mc.Spec.HubAcceptsClient && sel.Matches(labels.Set(mc.Labels)) {
			ts.addCluster(mc, Group{})
		}
	}
	return nil
}
