package placement

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type clusterOpt func(*clusterv1.ManagedCluster)

func cluster(name string, opts ...clusterOpt) *clusterv1.ManagedCluster {
	mc := &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{clusterv1beta2.ClusterSetLabel: "default"}},
		Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true},
	}
	for _, o := range opts {
		o(mc)
	}
	return mc
}

func withLabels(kv ...string) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) {
		for i := 0; i+1 < len(kv); i += 2 {
			mc.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inSet(set string) clusterOpt { return withLabels(clusterv1beta2.ClusterSetLabel, set) }

func withClaims(kv ...string) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) {
		for i := 0; i+1 < len(kv); i += 2 {
			mc.Status.ClusterClaims = append(mc.Status.ClusterClaims, clusterv1.ManagedClusterClaim{Name: kv[i], Value: kv[i+1]})
		}
	}
}

func withTaint(key, value string, effect clusterv1.TaintEffect, added time.Time) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) {
		mc.Spec.Taints = append(mc.Spec.Taints, clusterv1.Taint{Key: key, Value: value, Effect: effect, TimeAdded: metav1.NewTime(added)})
	}
}

func withCPU(alloc, capacity string) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) {
		mc.Status.Allocatable = clusterv1.ResourceList{clusterv1.ResourceCPU: resource.MustParse(alloc)}
		mc.Status.Capacity = clusterv1.ResourceList{clusterv1.ResourceCPU: resource.MustParse(capacity)}
	}
}

func withVersion(v string) clusterOpt {
	return func(mc *clusterv1.ManagedCluster) { mc.Status.Version.Kubernetes = v }
}

func exclusiveSet(name string) *clusterv1beta2.ManagedClusterSet {
	return &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func selectorSet(name string, sel *metav1.LabelSelector) *clusterv1beta2.ManagedClusterSet {
	return &clusterv1beta2.ManagedClusterSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: clusterv1beta2.ManagedClusterSetSpec{ClusterSelector: clusterv1beta2.ManagedClusterSelector{
			SelectorType: clusterv1beta2.LabelSelector, LabelSelector: sel,
		}},
	}
}

func binding(ns, set string) *clusterv1beta2.ManagedClusterSetBinding {
	return &clusterv1beta2.ManagedClusterSetBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: set},
		Spec:       clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: set},
	}
}

func placement(spec clusterv1beta1.PlacementSpec) *clusterv1beta1.Placement {
	return &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: spec}
}

func n32(v int32) *int32 { return &v }
func n64(v int64) *int64 { return &v }

func labelPredicate(kv ...string) clusterv1beta1.ClusterPredicate {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return clusterv1beta1.ClusterPredicate{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
		LabelSelector: metav1.LabelSelector{MatchLabels: m},
	}}
}

func celPredicate(exprs ...string) clusterv1beta1.ClusterPredicate {
	return clusterv1beta1.ClusterPredicate{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
		CelSelector: clusterv1beta1.ClusterCelSelector{CelExpressions: exprs},
	}}
}

func builtIn(name string, weight int32) clusterv1beta1.PrioritizerConfig {
	return clusterv1beta1.PrioritizerConfig{
		ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{Type: clusterv1beta1.ScoreCoordinateTypeBuiltIn, BuiltIn: name},
		Weight:          weight,
	}
}

// world is the hub state a case schedules against.
type world struct {
	clusters []*clusterv1.ManagedCluster
	sets     []*clusterv1beta2.ManagedClusterSet
	bindings []*clusterv1beta2.ManagedClusterSetBinding
	existing []string
	others   map[string]int
	scores   []*clusterv1alpha1.AddOnPlacementScore
}

func defaultWorld(clusters ...*clusterv1.ManagedCluster) world {
	return world{
		clusters: clusters,
		sets:     []*clusterv1beta2.ManagedClusterSet{exclusiveSet("default")},
		bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "default")},
	}
}

func run(t testing.TB, w world, p *clusterv1beta1.Placement) Result {
	t.Helper()
	lookup := func(cluster, name string) *clusterv1alpha1.AddOnPlacementScore {
		for _, s := range w.scores {
			if s.Namespace == cluster && s.Name == name {
				return s
			}
		}
		return nil
	}
	s, err := NewScheduler(lookup)
	if err != nil {
		t.Fatal(err)
	}
	c, mis := s.Compile(p)
	if mis != nil {
		return Result{Misconfigured: mis}
	}
	existing := map[string]bool{}
	for _, e := range w.existing {
		existing[e] = true
	}
	return s.Schedule(c, Input{
		Clusters: w.clusters, ClusterSets: w.sets, Bindings: w.bindings, Existing: existing,
		OtherDecisions: func() map[string]int { return w.others },
		Now:            t0,
	})
}

// groupsString renders groups as "name:[a b] name:[c]" for comparison.
func groupsString(gs []Group) string {
	var parts []string
	for _, g := range gs {
		parts = append(parts, fmt.Sprintf("%s:%v", g.Name, g.Clusters))
	}
	return strings.Join(parts, " ")
}

type schedCase struct {
	name string
	w    world
	spec clusterv1beta1.PlacementSpec
	// want is the decision groups ("name:[clusters]" joined by spaces).
	want string
	// reason is the PlacementSatisfied reason; misconfigured a substring of
	// the PlacementMisconfigured message instead.
	reason        string
	misconfigured string
	unscheduled   int
	requeueAt     time.Time
	// message is a substring of the PlacementSatisfied message ("" checks
	// nothing).
	message string
}

func runCases(t *testing.T, cases []schedCase, defaults ...world) {
	t.Helper()
	for _, tc := range cases {
		if tc.w.clusters == nil && len(defaults) > 0 {
			tc.w = defaults[0]
		}
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, tc.w, placement(tc.spec))
			if tc.misconfigured != "" {
				if res.Misconfigured == nil || !strings.Contains(res.Misconfigured.Error(), tc.misconfigured) {
					t.Fatalf("misconfiguration = %v, want one containing %q", res.Misconfigured, tc.misconfigured)
				}
				return
			}
			if res.Misconfigured != nil {
				t.Fatalf("unexpected misconfiguration: %v", res.Misconfigured)
			}
			if got := groupsString(res.Groups); got != tc.want {
				t.Errorf("groups = %q, want %q", got, tc.want)
			}
			if res.Satisfied.Reason != tc.reason {
				t.Errorf("PlacementSatisfied reason = %s (%s), want %s", res.Satisfied.Reason, res.Satisfied.Message, tc.reason)
			}
			if !strings.Contains(res.Satisfied.Message, tc.message) {
				t.Errorf("PlacementSatisfied message = %q, want it to contain %q", res.Satisfied.Message, tc.message)
			}
			if res.Unscheduled != tc.unscheduled {
				t.Errorf("unscheduled = %d, want %d", res.Unscheduled, tc.unscheduled)
			}
			if !res.RequeueAt.Equal(tc.requeueAt) {
				t.Errorf("requeueAt = %v, want %v", res.RequeueAt, tc.requeueAt)
			}
		})
	}
}

func TestScheduleClusterSets(t *testing.T) {
	a1, a2 := cluster("a1", inSet("a")), cluster("a2", inSet("a"))
	b1 := cluster("b1", inSet("b"), withLabels("env", "prod"))
	deleting := cluster("a3", inSet("a"))
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	unaccepted := cluster("a4", inSet("a"))
	unaccepted.Spec.HubAcceptsClient = false
	all := []*clusterv1.ManagedCluster{a1, a2, b1, deleting, unaccepted}
	sets := []*clusterv1beta2.ManagedClusterSet{exclusiveSet("a"), exclusiveSet("b"), exclusiveSet("empty")}
	runCases(t, []schedCase{
		{
			name: "no binding in the namespace",
			w:    world{clusters: all, sets: sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("other", "a")}},
			want: ":[]", reason: ReasonNoBindings,
		},
		{
			name: "binding to a set that does not exist is not valid",
			w:    world{clusters: all, sets: sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "gone")}},
			want: ":[]", reason: ReasonNoBindings,
		},
		{
			name: "all bound sets, without deleting and unaccepted clusters",
			w:    world{clusters: all, sets: sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "a"), binding("ns", "b")}},
			want: ":[a1 a2 b1]", reason: ReasonAllScheduled,
		},
		{
			name: "spec.clusterSets intersects the bound sets",
			w:    world{clusters: all, sets: sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "a"), binding("ns", "b")}},
			spec: clusterv1beta1.PlacementSpec{ClusterSets: []string{"b", "c"}},
			want: ":[b1]", reason: ReasonAllScheduled,
		},
		{
			name: "spec.clusterSets names no bound set",
			w:    world{clusters: all, sets: sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "a")}},
			spec: clusterv1beta1.PlacementSpec{ClusterSets: []string{"b"}},
			want: ":[]", reason: ReasonNoIntersection,
		},
		{
			name: "bound set has no members",
			w:    world{clusters: all, sets: sets, bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "empty")}},
			want: ":[]", reason: ReasonAllSetsEmpty,
		},
		{
			name: "label-selector set with an empty selector holds every cluster",
			w: world{clusters: all, sets: []*clusterv1beta2.ManagedClusterSet{selectorSet("global", &metav1.LabelSelector{})},
				bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "global")}},
			want: ":[a1 a2 b1]", reason: ReasonAllScheduled,
		},
		{
			name: "label-selector set",
			w: world{clusters: all, sets: []*clusterv1beta2.ManagedClusterSet{selectorSet("prod", &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}})},
				bindings: []*clusterv1beta2.ManagedClusterSetBinding{binding("ns", "prod")}},
			want: ":[b1]", reason: ReasonAllScheduled,
		},
	})
}

func TestSchedulePredicates(t *testing.T) {
	w := defaultWorld(
		cluster("c1", withLabels("env", "prod", "region", "eu"), withClaims("platform.open-cluster-management.io", "AWS"), withVersion("v1.30.2")),
		cluster("c2", withLabels("env", "dev", "region", "us"), withClaims("platform.open-cluster-management.io", "GCP"), withVersion("v1.29.0")),
		cluster("c3", withLabels("env", "prod", "region", "us"), withVersion("v1.31.0")),
	)
	w.scores = []*clusterv1alpha1.AddOnPlacementScore{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "c2", Name: "resources"},
		Status:     clusterv1alpha1.AddOnPlacementScoreStatus{Scores: []clusterv1alpha1.AddOnPlacementScoreItem{{Name: "cpuAvailable", Value: 7}}},
	}}
	runCases(t, []schedCase{
		{name: "no predicate selects all", want: ":[c1 c2 c3]", reason: ReasonAllScheduled},
		{
			name: "label selector",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{labelPredicate("env", "prod")}},
			want: ":[c1 c3]", reason: ReasonAllScheduled,
		},
		{
			name: "label and claim selectors in one predicate are ANDed",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
				LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
				ClaimSelector: clusterv1beta1.ClusterClaimSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: "platform.open-cluster-management.io", Operator: metav1.LabelSelectorOpIn, Values: []string{"AWS", "GCP"},
				}}},
			}}}},
			want: ":[c1]", reason: ReasonAllScheduled,
		},
		{
			name: "predicates are ORed",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{labelPredicate("region", "eu"), labelPredicate("env", "dev")}},
			want: ":[c1 c2]", reason: ReasonAllScheduled,
		},
		{
			name: "CEL on status fields",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{celPredicate(`managedCluster.status.version.kubernetes.matches('^v1\\.(30|31)\\.')`)}},
			want: ":[c1 c3]", reason: ReasonAllScheduled,
		},
		{
			name: "CEL version comparison and labels, ANDed",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{celPredicate(
				`managedCluster.status.version.kubernetes.versionIsGreaterThan("1.29.5")`,
				`managedCluster.metadata.labels["region"] == "us"`)}},
			want: ":[c3]", reason: ReasonAllScheduled,
		},
		{
			name: "CEL claims and AddOnPlacementScores",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{
				celPredicate(`managedCluster.scores("resources").exists(s, s.name == "cpuAvailable" && s.value > 4)`),
				celPredicate(`managedCluster.status.clusterClaims.exists(c, c.value == "AWS")`, `quantityIsGreaterThan("2Gi", "1000Mi")`),
			}},
			want: ":[c1 c2]", reason: ReasonAllScheduled,
		},
		{
			name: "CEL error on a cluster means no match",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{celPredicate(`managedCluster.metadata.labels["missing"] == "x"`)}},
			want: ":[]", reason: ReasonNoClusterMatched,
		},
		{
			name:          "CEL that does not compile",
			spec:          clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{celPredicate(`managedCluster.metadata.name ==`)}},
			misconfigured: "Predicate:spec.predicates[0].requiredClusterSelector: celSelector.celExpressions[0]",
		},
		{
			name: "invalid label selector",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
				LabelSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}},
			}}}},
			misconfigured: "spec.predicates[0].requiredClusterSelector: labelSelector",
		},
		{
			name: "nothing matches",
			spec: clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{labelPredicate("env", "staging")}},
			want: ":[]", reason: ReasonNoClusterMatched,
		},
	}, w)
}

func TestScheduleTaints(t *testing.T) {
	added := t0.Add(-time.Minute)
	noSelect := cluster("c1", withTaint("gpu", "true", clusterv1.TaintEffectNoSelect, added))
	prefer := cluster("c2", withTaint("busy", "", clusterv1.TaintEffectPreferNoSelect, added))
	ifNew := cluster("c3", withTaint("draining", "", clusterv1.TaintEffectNoSelectIfNew, added))
	unreachable := cluster("c4", withTaint(clusterv1.ManagedClusterTaintUnreachable, "", clusterv1.TaintEffectNoSelect, added))
	plain := cluster("c5")
	w := defaultWorld(noSelect, prefer, ifNew, unreachable, plain)
	existing := w
	existing.existing = []string{"c3"}
	tolerate := func(tols ...clusterv1beta1.Toleration) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{Tolerations: tols}
	}
	runCases(t, []schedCase{
		{name: "NoSelect and new NoSelectIfNew clusters are left out; PreferNoSelect is not", w: w, want: ":[c2 c5]", reason: ReasonAllScheduled},
		{name: "NoSelectIfNew keeps a cluster already decided", w: existing, want: ":[c2 c3 c5]", reason: ReasonAllScheduled},
		{
			name: "Equal toleration", w: w,
			spec: tolerate(clusterv1beta1.Toleration{Key: "gpu", Operator: clusterv1beta1.TolerationOpEqual, Value: "true", Effect: clusterv1.TaintEffectNoSelect}),
			want: ":[c1 c2 c5]", reason: ReasonAllScheduled,
		},
		{
			name: "Equal toleration with another value does not match", w: w,
			spec: tolerate(clusterv1beta1.Toleration{Key: "gpu", Value: "false"}),
			want: ":[c2 c5]", reason: ReasonAllScheduled,
		},
		{
			name: "Exists toleration with empty key tolerates everything", w: w,
			spec: tolerate(clusterv1beta1.Toleration{Operator: clusterv1beta1.TolerationOpExists}),
			want: ":[c1 c2 c3 c4 c5]", reason: ReasonAllScheduled,
		},
		{
			name: "toleration effect must match", w: w,
			spec: tolerate(clusterv1beta1.Toleration{Key: "draining", Operator: clusterv1beta1.TolerationOpExists, Effect: clusterv1.TaintEffectNoSelect}),
			want: ":[c2 c5]", reason: ReasonAllScheduled,
		},
		{
			name: "tolerationSeconds not yet expired: selected, re-scheduled at expiry", w: w,
			spec: tolerate(clusterv1beta1.Toleration{Key: clusterv1.ManagedClusterTaintUnreachable, Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: n64(300)}),
			want: ":[c2 c4 c5]", reason: ReasonAllScheduled,
			requeueAt: added.Add(300 * time.Second),
		},
		{
			name: "tolerationSeconds expired", w: w,
			spec: tolerate(clusterv1beta1.Toleration{Key: clusterv1.ManagedClusterTaintUnreachable, Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: n64(30)}),
			want: ":[c2 c5]", reason: ReasonAllScheduled,
		},
		{
			name: "empty key needs Exists", w: w,
			spec:          tolerate(clusterv1beta1.Toleration{Operator: clusterv1beta1.TolerationOpEqual, Value: "x"}),
			misconfigured: "TaintToleration:spec.tolerations[0]: the key is empty",
		},
		{
			name: "Exists takes no value", w: w,
			spec:          tolerate(clusterv1beta1.Toleration{Key: "gpu", Operator: clusterv1beta1.TolerationOpExists, Value: "x"}),
			misconfigured: "TaintToleration:spec.tolerations[0]: operator Exists takes no value",
		},
	})
}

func TestSchedulePrioritizers(t *testing.T) {
	four := defaultWorld(cluster("c1"), cluster("c2"), cluster("c3"), cluster("c4"))
	steady := four
	steady.existing = []string{"c3", "c4"}
	balance := four
	balance.others = map[string]int{"c1": 2, "c2": 1}
	resources := defaultWorld(cluster("c1", withCPU("2", "4")), cluster("c2", withCPU("4", "4")), cluster("c3", withCPU("8", "8")), cluster("c4"))
	valid := metav1.NewTime(t0.Add(time.Hour))
	expired := metav1.NewTime(t0.Add(-time.Hour))
	addon := four
	addon.scores = []*clusterv1alpha1.AddOnPlacementScore{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "c1", Name: "perf"}, Status: clusterv1alpha1.AddOnPlacementScoreStatus{Scores: []clusterv1alpha1.AddOnPlacementScoreItem{{Name: "cpu", Value: 10}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "c2", Name: "perf"}, Status: clusterv1alpha1.AddOnPlacementScoreStatus{Scores: []clusterv1alpha1.AddOnPlacementScoreItem{{Name: "cpu", Value: 90}}, ValidUntil: &expired}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "c3", Name: "perf"}, Status: clusterv1alpha1.AddOnPlacementScoreStatus{Scores: []clusterv1alpha1.AddOnPlacementScoreItem{{Name: "cpu", Value: 30}}, ValidUntil: &valid}},
	}
	addOnCfg := clusterv1beta1.PrioritizerConfig{
		ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{Type: clusterv1beta1.ScoreCoordinateTypeAddOn, AddOn: &clusterv1beta1.AddOnScore{ResourceName: "perf", ScoreName: "cpu"}},
		Weight:          1,
	}
	exact := func(n int32, cfgs ...clusterv1beta1.PrioritizerConfig) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{NumberOfClusters: n32(n), PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: cfgs}}
	}
	runCases(t, []schedCase{
		{name: "defaults on a fresh hub: ties broken by name", w: four, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(2)}, want: ":[c1 c2]", reason: ReasonAllScheduled},
		{name: "Steady keeps existing decisions", w: steady, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(2)}, want: ":[c3 c4]", reason: ReasonAllScheduled},
		{name: "Balance avoids clusters other placements chose", w: balance, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(3)}, want: ":[c2 c3 c4]", reason: ReasonAllScheduled},
		{name: "fewer clusters than numberOfClusters", w: four, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(6)}, want: ":[c1 c2 c3 c4]", reason: ReasonNotAllScheduled, unscheduled: 2},
		{name: "numberOfClusters 0", w: four, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(0)}, want: ":[]", reason: ReasonNoClusterMatched},
		{name: "Additive weight overrides the default", w: steady, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(2),
			PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Configurations: []clusterv1beta1.PrioritizerConfig{builtIn(PrioritizerSteady, -1)}}},
			want: ":[c1 c2]", reason: ReasonAllScheduled},
		// c4 reports no CPU and scores 0, above c2's -33, as in OCM.
		{name: "Exact ResourceAllocatableCPU", w: resources, spec: exact(2, builtIn(PrioritizerResourceAllocatableCPU, 1)), want: ":[c3 c4]", reason: ReasonAllScheduled},
		{name: "Exact AddOn score: expired counts 0; re-scheduled when the used score expires", w: addon, spec: exact(2, addOnCfg),
			want: ":[c1 c3]", reason: ReasonAllScheduled, requeueAt: valid.Time},
		{name: "unknown mode", w: four, spec: clusterv1beta1.PlacementSpec{PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: "Fancy"}}, misconfigured: "spec.prioritizerPolicy.mode"},
		{name: "unknown built-in", w: four, spec: exact(1, builtIn("Cheapest", 1)), misconfigured: `builtIn "Cheapest" is not a built-in prioritizer`},
		{name: "negative numberOfClusters", w: four, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(-1)}, misconfigured: "spec.numberOfClusters is -1"},
	})
}

func TestScoreValues(t *testing.T) {
	// The exact OCM score arithmetic, per prioritizer.
	cands := []*candidate{{mc: cluster("a")}, {mc: cluster("b")}, {mc: cluster("c")}, {mc: cluster("d")}}
	got := balanceScores(cands, map[string]int{"a": 3, "b": 2, "c": 1})
	want := []int64{-100, -32, 32, 100} // 2*int64(100*(0.5-2/3)) = 2*-16
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("balance[%d] = %d, want %d", i, got[i], want[i])
		}
	}
	res := []*candidate{
		{mc: cluster("a", withCPU("1", "2"))}, {mc: cluster("b", withCPU("2500m", "4"))}, {mc: cluster("c", withCPU("4", "4"))}, {mc: cluster("d")},
	}
	got = allocatableScores(res, clusterv1.ResourceCPU)
	want = []int64{-100, 0, 100, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("allocatable[%d] = %d, want %d", i, got[i], want[i])
		}
	}
}

func TestScheduleSpread(t *testing.T) {
	zoned := defaultWorld(
		cluster("a1", withLabels("zone", "a")), cluster("a2", withLabels("zone", "a")), cluster("a3", withLabels("zone", "a")),
		cluster("b1", withLabels("zone", "b")), cluster("b2", withLabels("zone", "b")),
		cluster("c1", withLabels("zone", "c")), cluster("x1"),
	)
	spec := func(n *int32, when clusterv1beta1.UnsatisfiableMaxSkewAction, skew int32) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{NumberOfClusters: n, SpreadPolicy: clusterv1beta1.SpreadPolicy{SpreadConstraints: []clusterv1beta1.SpreadConstraintsTerm{{
			TopologyKey: "zone", TopologyKeyType: clusterv1beta1.TopologyKeyTypeLabel, MaxSkew: skew, WhenUnsatisfiable: when,
		}}}}
	}
	claimZoned := defaultWorld(cluster("p", withClaims("region", "eu")), cluster("q", withClaims("region", "eu")), cluster("r", withClaims("region", "us")))
	runCases(t, []schedCase{
		{name: "one per zone first", w: zoned, spec: spec(n32(3), clusterv1beta1.DoNotSchedule, 1), want: ":[a1 b1 c1]", reason: ReasonAllScheduled},
		{name: "DoNotSchedule stops at maxSkew and skips clusters without the key", w: zoned, spec: spec(n32(7), clusterv1beta1.DoNotSchedule, 1),
			want: ":[a1 a2 b1 b2 c1]", reason: ReasonNotAllScheduled, unscheduled: 2, message: "2 cluster decisions unscheduled; 2 matching clusters left out by spec.spreadPolicy"},
		// OCM's spread design: without numberOfClusters, as many clusters as
		// keep within maxSkew; like Kubernetes' topology spread, a hard
		// constraint never chooses a cluster without the key (x1). The
		// status says what was left out.
		{name: "DoNotSchedule without numberOfClusters", w: zoned, spec: spec(nil, clusterv1beta1.DoNotSchedule, 2), want: ":[a1 a2 a3 b1 b2 c1]", reason: ReasonAllScheduled,
			message: "All cluster decisions scheduled; 1 matching cluster left out by spec.spreadPolicy"},
		{name: "DoNotSchedule without numberOfClusters, maxSkew 1", w: zoned, spec: spec(nil, clusterv1beta1.DoNotSchedule, 1), want: ":[a1 a2 b1 b2 c1]", reason: ReasonAllScheduled,
			message: "2 matching clusters left out by spec.spreadPolicy's DoNotSchedule constraints"},
		{name: "DoNotSchedule on a key no cluster has", w: defaultWorld(cluster("x1"), cluster("x2")), spec: spec(nil, clusterv1beta1.DoNotSchedule, 1), want: ":[]", reason: ReasonNoClusterMatched,
			message: "2 matching clusters left out by spec.spreadPolicy's DoNotSchedule constraints"},
		{name: "ScheduleAnyway prefers spreading but takes the rest", w: zoned, spec: spec(n32(7), clusterv1beta1.ScheduleAnyway, 1),
			want: ":[a1 a2 a3 b1 b2 c1 x1]", reason: ReasonAllScheduled},
		{name: "ScheduleAnyway order", w: zoned, spec: spec(n32(4), clusterv1beta1.ScheduleAnyway, 1), want: ":[a1 a2 b1 c1]", reason: ReasonAllScheduled},
		{name: "claim topology", w: claimZoned, spec: clusterv1beta1.PlacementSpec{NumberOfClusters: n32(2), SpreadPolicy: clusterv1beta1.SpreadPolicy{SpreadConstraints: []clusterv1beta1.SpreadConstraintsTerm{{
			TopologyKey: "region", TopologyKeyType: clusterv1beta1.TopologyKeyTypeClaim, MaxSkew: 1, WhenUnsatisfiable: clusterv1beta1.DoNotSchedule,
		}}}}, want: ":[p r]", reason: ReasonAllScheduled},
		{name: "bad key type", w: zoned, spec: clusterv1beta1.PlacementSpec{SpreadPolicy: clusterv1beta1.SpreadPolicy{SpreadConstraints: []clusterv1beta1.SpreadConstraintsTerm{{
			TopologyKey: "zone", TopologyKeyType: "Annotation"}}}}, misconfigured: "topologyKeyType"},
	})
}

func TestScheduleDecisionGroups(t *testing.T) {
	w := defaultWorld(
		cluster("c1", withLabels("env", "canary")), cluster("c2", withLabels("env", "prod")), cluster("c3", withLabels("env", "prod")),
		cluster("c4", withLabels("env", "canary")), cluster("c5", withLabels("env", "prod")),
	)
	groups := func(per intstr.IntOrString, gs ...clusterv1beta1.DecisionGroup) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{DecisionStrategy: clusterv1beta1.DecisionStrategy{GroupStrategy: clusterv1beta1.GroupStrategy{
			DecisionGroups: gs, ClustersPerDecisionGroup: per,
		}}}
	}
	canary := clusterv1beta1.DecisionGroup{GroupName: "canary", ClusterSelector: clusterv1beta1.GroupClusterSelector{
		LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "canary"}}}}
	none := clusterv1beta1.DecisionGroup{GroupName: "none", ClusterSelector: clusterv1beta1.GroupClusterSelector{
		LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "qa"}}}}
	runCases(t, []schedCase{
		{name: "default: one group", w: w, spec: groups(intstr.IntOrString{}), want: ":[c1 c2 c3 c4 c5]", reason: ReasonAllScheduled},
		{name: "named group first, the rest after", w: w, spec: groups(intstr.FromString("100%"), canary), want: "canary:[c1 c4] :[c2 c3 c5]", reason: ReasonAllScheduled},
		{name: "groups split by clustersPerDecisionGroup", w: w, spec: groups(intstr.FromInt32(2), canary, none), want: "canary:[c1 c4] :[c2 c3] :[c5]", reason: ReasonAllScheduled},
		{name: "percentage rounds up", w: w, spec: groups(intstr.FromString("50%")), want: ":[c1 c2 c3] :[c4 c5]", reason: ReasonAllScheduled},
		{name: "not a percentage", w: w, spec: groups(intstr.FromString("half")), misconfigured: "clustersPerDecisionGroup \"half\""},
	})
}

func TestLayout(t *testing.T) {
	p := placement(clusterv1beta1.PlacementSpec{})
	p.UID = "uid-1"
	names := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%03d", prefix, i))
		}
		return out
	}
	objs, st := Layout(p, []Group{{Index: 0, Name: "canary", Clusters: names("a", 150)}, {Index: 1, Clusters: names("b", 20)}})
	if len(objs) != 3 {
		t.Fatalf("got %d PlacementDecisions, want 3", len(objs))
	}
	wantNames := []string{"p-decision-1", "p-decision-2", "p-decision-3"}
	wantSizes := []int{100, 50, 20}
	wantGroup := []string{"0/canary", "0/canary", "1/"}
	for i, o := range objs {
		if o.Name != wantNames[i] || len(o.Status.Decisions) != wantSizes[i] {
			t.Errorf("decision %d = %s with %d clusters, want %s with %d", i, o.Name, len(o.Status.Decisions), wantNames[i], wantSizes[i])
		}
		g := o.Labels[clusterv1beta1.DecisionGroupIndexLabel] + "/" + o.Labels[clusterv1beta1.DecisionGroupNameLabel]
		if g != wantGroup[i] || o.Labels[clusterv1beta1.PlacementLabel] != "p" {
			t.Errorf("decision %d labels = %v", i, o.Labels)
		}
		if len(o.OwnerReferences) != 1 || o.OwnerReferences[0].Kind != "Placement" || o.OwnerReferences[0].UID != "uid-1" || !*o.OwnerReferences[0].Controller {
			t.Errorf("decision %d owner = %+v", i, o.OwnerReferences)
		}
	}
	if objs[1].Status.Decisions[0].ClusterName != "a100" {
		t.Errorf("second object starts at %s, want a100", objs[1].Status.Decisions[0].ClusterName)
	}
	if len(st) != 2 || st[0].ClustersCount != 150 || strings.Join(st[0].Decisions, ",") != "p-decision-1,p-decision-2" ||
		st[1].DecisionGroupIndex != 1 || st[1].Decisions[0] != "p-decision-3" {
		t.Errorf("group status = %+v", st)
	}

	objs, st = Layout(p, []Group{{}})
	if len(objs) != 1 || objs[0].Name != "p-decision-1" || objs[0].Status.Decisions == nil || len(objs[0].Status.Decisions) != 0 {
		t.Fatalf("empty layout = %+v", objs)
	}
	if len(st) != 1 || st[0].ClustersCount != 0 || st[0].Decisions[0] != "p-decision-1" {
		t.Errorf("empty group status = %+v", st)
	}
}

func TestStatusConditions(t *testing.T) {
	res := run(t, defaultWorld(cluster("c1")), placement(clusterv1beta1.PlacementSpec{}))
	_, groups := Layout(placement(clusterv1beta1.PlacementSpec{}), res.Groups)
	st := Status(clusterv1beta1.PlacementStatus{}, res, groups, t0)
	if st.NumberOfSelectedClusters != 1 || len(st.DecisionGroups) != 1 {
		t.Fatalf("status = %+v", st)
	}
	find := func(st clusterv1beta1.PlacementStatus, typ string) metav1.Condition {
		for _, c := range st.Conditions {
			if c.Type == typ {
				return c
			}
		}
		t.Fatalf("no %s condition in %+v", typ, st.Conditions)
		return metav1.Condition{}
	}
	if c := find(st, clusterv1beta1.PlacementConditionSatisfied); c.Status != metav1.ConditionTrue || c.Reason != ReasonAllScheduled {
		t.Errorf("satisfied = %+v", c)
	}
	if c := find(st, clusterv1beta1.PlacementConditionMisconfigured); c.Status != metav1.ConditionFalse || c.Reason != ReasonSucceedConfigured {
		t.Errorf("misconfigured = %+v", c)
	}
	// Same outcome later: transition times do not move.
	later := Status(st, res, groups, t0.Add(time.Hour))
	if !find(later, clusterv1beta1.PlacementConditionSatisfied).LastTransitionTime.Time.Equal(t0) {
		t.Errorf("transition time moved without a transition")
	}
	// A misconfiguration of a scheduled Placement keeps its decisions: the
	// status has OCM's shape (Satisfied False, the count and groups of what
	// is kept) and says that the decisions were kept.
	kept := Result{Misconfigured: misconfigured("TaintToleration", "spec.tolerations[0]: bad"), Selected: 1,
		Satisfied: metav1.Condition{Type: clusterv1beta1.PlacementConditionSatisfied, Status: metav1.ConditionFalse,
			Reason: ReasonNoClusterMatched, Message: "No ManagedCluster matches any of the cluster predicate"}}
	bad := Status(st, kept, groups, t0.Add(time.Hour))
	if bad.NumberOfSelectedClusters != 1 || len(bad.DecisionGroups) != 1 {
		t.Errorf("misconfigured status = %+v", bad)
	}
	if c := find(bad, clusterv1beta1.PlacementConditionMisconfigured); c.Status != metav1.ConditionTrue || c.Message != "TaintToleration:spec.tolerations[0]: bad" {
		t.Errorf("misconfigured = %+v", c)
	}
	if c := find(bad, clusterv1beta1.PlacementConditionSatisfied); c.Status != metav1.ConditionFalse || c.Reason != ReasonNoClusterMatched ||
		!strings.Contains(c.Message, "the 1 clusters decided before were kept") || !c.LastTransitionTime.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("satisfied of a misconfigured placement = %+v", c)
	}
	// A new misconfigured Placement: exactly OCM's status.
	fresh := Status(clusterv1beta1.PlacementStatus{}, Result{Misconfigured: kept.Misconfigured, Satisfied: kept.Satisfied}, groups[:0], t0)
	if c := find(fresh, clusterv1beta1.PlacementConditionSatisfied); c.Message != "No ManagedCluster matches any of the cluster predicate" ||
		fresh.NumberOfSelectedClusters != 0 || fresh.DecisionGroups == nil {
		t.Errorf("status of a new misconfigured placement = %+v", fresh)
	}
}
