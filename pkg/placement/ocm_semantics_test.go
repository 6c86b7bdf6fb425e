package placement

import (
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// The cases below pin down where our scheduler once differed from OCM's
// (issue 17, items 8 and 9) and the API v1.3.0 fields.

func TestCELAsOCM(t *testing.T) {
	w := defaultWorld(
		cluster("c1", withLabels("env", "prod")),
		cluster("c2", withLabels("env", "dev")),
		cluster("c3", withLabels("env", "dev")),
	)
	w.clusters[0].Annotations = map[string]string{"inventory": `{"gpus": 4, "zones": ["a", "b"]}`}
	w.clusters[1].Annotations = map[string]string{"inventory": `{"gpus": 0}`}
	w.scores = []*clusterv1alpha1.AddOnPlacementScore{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "c2", Name: "resources"},
		Status:     clusterv1alpha1.AddOnPlacementScoreStatus{Scores: []clusterv1alpha1.AddOnPlacementScoreItem{{Name: "cpu", Value: 3}}},
	}}
	preds := func(ps ...clusterv1beta1.ClusterPredicate) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{Predicates: ps}
	}
	runCases(t, []schedCase{
		{
			name: "parseJSON reads an annotation",
			spec: preds(celPredicate(`managedCluster.metadata.annotations["inventory"].parseJSON().gpus > 2.0`)),
			want: ":[c1]", reason: ReasonAllScheduled,
		},
		{
			name: "parseJSON of lists",
			spec: preds(celPredicate(`"b" in managedCluster.metadata.annotations["inventory"].parseJSON().zones`)),
			want: ":[c1]", reason: ReasonAllScheduled,
		},
		{
			name: "parseJSON of invalid JSON errors: no match",
			spec: preds(celPredicate(`"{".parseJSON() == {}`)),
			want: ":[]", reason: ReasonNoClusterMatched,
		},
		{
			// OCM: scores() of a missing AddOnPlacementScore is an error.
			name: "scores of a cluster without the AddOnPlacementScore match nothing",
			spec: preds(celPredicate(`managedCluster.scores("resources").all(s, s.value > 1)`)),
			want: ":[c2]", reason: ReasonAllScheduled,
		},
		{
			name: "scores of an unknown AddOnPlacementScore match nothing",
			spec: preds(celPredicate(`managedCluster.scores("unknown").size() == 0`)),
			want: ":[]", reason: ReasonNoClusterMatched,
		},
		{
			// OCM compiles any type; a non-bool result never matches, and
			// the other predicate still selects.
			name: "an int expression ORed with a label predicate",
			spec: preds(celPredicate(`1 + 1`), labelPredicate("env", "prod")),
			want: ":[c1]", reason: ReasonAllScheduled,
		},
	}, w)
}

func TestPrioritizerConfigAsOCM(t *testing.T) {
	w := defaultWorld(cluster("c1"), cluster("c2"))
	exact := func(cfgs ...clusterv1beta1.PrioritizerConfig) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{NumberOfClusters: n32(1), PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{
			Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: cfgs}}
	}
	addOnNoName := clusterv1beta1.PrioritizerConfig{ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{Type: clusterv1beta1.ScoreCoordinateTypeAddOn}}
	runCases(t, []schedCase{
		{name: "an unknown built-in of weight 0 is skipped", spec: exact(builtIn("Cheapest", 0), builtIn(PrioritizerSteady, 1)), want: ":[c1]", reason: ReasonAllScheduled},
		{name: "an AddOn without names of weight 0 is skipped", spec: exact(addOnNoName), want: ":[c1]", reason: ReasonAllScheduled},
		{name: "a later entry overrides: weight 0 then 2 is checked", spec: exact(builtIn("Cheapest", 0), builtIn("Cheapest", 2)), misconfigured: `builtIn "Cheapest"`},
		{name: "a later weight 0 disables an unknown one", spec: exact(builtIn("Cheapest", 2), builtIn("Cheapest", 0)), want: ":[c1]", reason: ReasonAllScheduled},
		{name: "a missing scoreCoordinate is refused whatever the weight", spec: exact(clusterv1beta1.PrioritizerConfig{}), misconfigured: "scoreCoordinate is required"},
		// The API lists Spread as a built-in; OCM's controller refuses it. Ours
		// accepts it: spreading is spec.spreadPolicy's job.
		{name: "the built-in Spread is accepted", spec: exact(builtIn(PrioritizerSpread, 3)), want: ":[c1]", reason: ReasonAllScheduled},
		{name: "the built-in Spread weighs nothing beside another prioritizer", w: defaultWorld(cluster("c1", withCPU("1", "4")), cluster("c2", withCPU("3", "4"))),
			spec: exact(builtIn(PrioritizerSpread, 3), builtIn(PrioritizerResourceAllocatableCPU, 1)), want: ":[c2]", reason: ReasonAllScheduled},
	}, w)
}

func TestMisconfiguredSatisfiedAsOCM(t *testing.T) {
	s, err := NewScheduler(nil)
	if err != nil {
		t.Fatal(err)
	}
	mis := misconfigured("Predicate", "x")
	w := defaultWorld(cluster("c1"))
	cases := []struct {
		name string
		in   Input
		sets []string
		want string
	}{
		{"no bindings", Input{Clusters: w.clusters, ClusterSets: w.sets}, nil, ReasonNoBindings},
		{"no intersection", Input{Clusters: w.clusters, ClusterSets: w.sets, Bindings: w.bindings}, []string{"other"}, ReasonNoIntersection},
		{"empty sets", Input{ClusterSets: w.sets, Bindings: w.bindings}, nil, ReasonAllSetsEmpty},
		{"clusters available", Input{Clusters: w.clusters, ClusterSets: w.sets, Bindings: w.bindings}, nil, ReasonNoClusterMatched},
	}
	for _, tc := range cases {
		p := placement(clusterv1beta1.PlacementSpec{ClusterSets: tc.sets})
		res := s.Misconfigured(p, mis, tc.in)
		if res.Satisfied.Reason != tc.want || res.Satisfied.Status != metav1.ConditionFalse || res.Misconfigured != mis {
			t.Errorf("%s: satisfied = %+v, want %s", tc.name, res.Satisfied, tc.want)
		}
	}
}

func TestSortByScoreAndRecordedScores(t *testing.T) {
	w := defaultWorld(
		cluster("a", withLabels("env", "canary"), withCPU("1", "8")), cluster("b", withCPU("8", "8")),
		cluster("c", withLabels("env", "canary"), withCPU("6", "8")), cluster("d", withCPU("3", "8")),
		cluster("e", withCPU("5", "8")),
	)
	canary := clusterv1beta1.DecisionGroup{GroupName: "canary", ClusterSelector: clusterv1beta1.GroupClusterSelector{
		LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "canary"}}}}
	spec := clusterv1beta1.PlacementSpec{
		SortBy:            clusterv1beta1.PlacementSortByScore,
		PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: []clusterv1beta1.PrioritizerConfig{builtIn(PrioritizerResourceAllocatableCPU, 1)}},
		DecisionStrategy: clusterv1beta1.DecisionStrategy{GroupStrategy: clusterv1beta1.GroupStrategy{
			DecisionGroups: []clusterv1beta1.DecisionGroup{canary}, ClustersPerDecisionGroup: intstr.FromInt32(2)}},
	}
	res := run(t, w, placement(spec))
	// Named groups sorted on their own, the rest sorted before the split.
	if got := groupsString(res.Groups); got != "canary:[c a] :[b e] :[d]" {
		t.Fatalf("groups = %q", got)
	}
	objs, _ := Layout(placement(spec), res.Groups)
	var got []string
	for _, o := range objs {
		for _, d := range o.Status.Decisions {
			got = append(got, d.ClusterName+"="+strconv.FormatInt(d.Score, 10))
		}
	}
	if strings.Join(got, " ") != "c=42 a=-100 b=100 e=14 d=-42" {
		t.Errorf("decisions with scores = %v", got)
	}

	// By name (the default), scores are recorded too once asked for.
	spec.SortBy = ""
	s, _ := NewScheduler(nil)
	c, mis := s.Compile(placement(spec))
	if mis != nil {
		t.Fatal(mis)
	}
	in := Input{Clusters: w.clusters, ClusterSets: w.sets, Bindings: w.bindings, Now: t0}
	res = s.Schedule(c, in)
	if res.Scores != nil || res.Groups[0].Scores != nil {
		t.Fatalf("scores computed though nothing needs them")
	}
	s.Score(&res, in)
	if got := groupsString(res.Groups); got != "canary:[a c] :[b d] :[e]" || res.Groups[1].Scores[0] != 100 {
		t.Errorf("scored groups = %q %v", got, res.Groups[1].Scores)
	}
	// Recorded scores replace fresh ones; under sortBy Score they order.
	spec.SortBy = clusterv1beta1.PlacementSortByScore
	c, _ = s.Compile(placement(spec))
	res = s.Schedule(c, in)
	res.UseScores(map[string]int64{"a": 5, "c": 1, "d": 9})
	if got := groupsString(res.Groups); got != "canary:[a c] :[d b] :[e]" || res.Groups[0].Scores[0] != 5 {
		t.Errorf("groups by recorded scores = %q %v", got, res.Groups[0].Scores)
	}
}

func TestSortByAndScoreRateLimitFields(t *testing.T) {
	s, _ := NewScheduler(nil)
	for _, tc := range []struct {
		sortBy clusterv1beta1.PlacementSortByType
		limit  string
		want   time.Duration
		bad    string
	}{
		{limit: "", want: time.Minute},
		{limit: "30s", want: 30 * time.Second},
		{limit: "2h", want: 2 * time.Hour},
		{sortBy: clusterv1beta1.PlacementSortByClusterName, limit: "0s", want: 0},
		{limit: "1d", bad: "spec.scoreRateLimit \"1d\""},
		{limit: "m", bad: "spec.scoreRateLimit"},
		{limit: "-1m", bad: "spec.scoreRateLimit"},
		{sortBy: "Random", bad: "spec.sortBy is \"Random\"; use ClusterName or Score"},
	} {
		c, mis := s.Compile(placement(clusterv1beta1.PlacementSpec{SortBy: tc.sortBy, ScoreRateLimit: tc.limit}))
		switch {
		case tc.bad != "":
			if mis == nil || !strings.Contains(mis.Error(), tc.bad) {
				t.Errorf("%q/%q: misconfiguration %v, want %q", tc.sortBy, tc.limit, mis, tc.bad)
			}
		case mis != nil:
			t.Errorf("%q/%q: %v", tc.sortBy, tc.limit, mis)
		case c.ScoreRateLimit() != tc.want:
			t.Errorf("%q: limit %s, want %s", tc.limit, c.ScoreRateLimit(), tc.want)
		}
	}
}

func TestGroupStatusOfKeptDecisions(t *testing.T) {
	p := placement(clusterv1beta1.PlacementSpec{})
	objs, want := Layout(p, []Group{{Index: 0, Name: "canary", Clusters: []string{"a"}}, {Index: 1, Clusters: make([]string, 120)}})
	// In any order, as a cache lists them.
	got, n := GroupStatus([]*clusterv1beta1.PlacementDecision{objs[2], objs[0], objs[1]})
	if n != 121 || len(got) != 2 || got[0].DecisionGroupName != "canary" || got[1].ClustersCount != 120 ||
		strings.Join(got[1].Decisions, ",") != strings.Join(want[1].Decisions, ",") {
		t.Errorf("group status = %+v (%d), want %+v", got, n, want)
	}
}

func TestDecisionCounts(t *testing.T) {
	var dc decisionCounts
	pd := func(ns, name, placement string, clusters ...string) *clusterv1beta1.PlacementDecision {
		d := &clusterv1beta1.PlacementDecision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{clusterv1beta1.PlacementLabel: placement}}}
		for _, c := range clusters {
			d.Status.Decisions = append(d.Status.Decisions, clusterv1beta1.ClusterDecision{ClusterName: c})
		}
		return d
	}
	dc.observe("ns/p-decision-1", pd("ns", "p-decision-1", "p", "a", "b"))
	dc.observe("ns/q-decision-1", pd("ns", "q-decision-1", "q", "b", "c"))
	dc.observe("other/p-decision-1", pd("other", "p-decision-1", "p", "c"))
	if got := dc.others("ns", "p"); len(got) != 2 || got["b"] != 1 || got["c"] != 2 {
		t.Errorf("others of ns/p = %v", got)
	}
	dc.observe("ns/q-decision-1", pd("ns", "q-decision-1", "q", "a")) // updated
	dc.observe("other/p-decision-1", nil)                             // deleted
	if got := dc.others("ns", "p"); len(got) != 1 || got["a"] != 1 {
		t.Errorf("others of ns/p after changes = %v", got)
	}
	if got := dc.others("ns", "q"); len(got) != 2 || got["a"] != 1 || got["b"] != 1 {
		t.Errorf("others of ns/q = %v", got)
	}
}
