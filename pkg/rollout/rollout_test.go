package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

var now = time.Date(2022, time.January, 1, 0, 0, 0, 0, time.UTC)

// group is a decision group and its clusters.
type group struct {
	name    string
	index   int32
	members []string
}

// held is a cluster that already holds the desired content: its state and how
// long ago it entered it (noTime for a state without a time).
type held struct {
	state State
	ago   time.Duration
}

const noTime = -1

func clustersOf(groups []group, current map[string]held) []Cluster {
	var out []Cluster
	for _, g := range groups {
		for _, m := range g.members {
			c := Cluster{Name: m, GroupIndex: g.index, GroupName: g.name}
			if h, ok := current[m]; ok {
				c.Current, c.State = true, h.state
				if h.ago != noTime {
					c.Since = now.Add(-h.ago)
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func names(p *planner, es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, p.clusters[e.idx].Name)
	}
	return out
}

var (
	two3  = []group{{"group1", 0, []string{"cluster1", "cluster2", "cluster3"}}, {"", 1, []string{"cluster4", "cluster5", "cluster6"}}}
	three = []group{{"group1", 0, []string{"cluster1", "cluster2", "cluster3"}}, {"", 1, []string{"cluster4", "cluster5", "cluster6"}}, {"", 2, []string{"cluster7", "cluster8", "cluster9"}}}
	two24 = []group{{"group1", 0, []string{"cluster1", "cluster2"}}, {"", 1, []string{"cluster3", "cluster4", "cluster5", "cluster6"}}}
	pairs = []group{{"group1", 0, []string{"cluster1", "cluster2"}}, {"", 1, []string{"cluster3", "cluster4"}}, {"", 2, []string{"cluster5", "cluster6"}}}
)

func progressive(cfg clusterv1alpha1.RolloutConfig, maxConcurrency intstr.IntOrString, mandatory ...string) *clusterv1alpha1.RolloutStrategy {
	p := &clusterv1alpha1.RolloutProgressive{RolloutConfig: cfg, MaxConcurrency: maxConcurrency}
	for _, m := range mandatory {
		p.MandatoryDecisionGroups.MandatoryDecisionGroups = append(p.MandatoryDecisionGroups.MandatoryDecisionGroups, clusterv1alpha1.MandatoryDecisionGroup{GroupName: m})
	}
	return &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.Progressive, Progressive: p}
}

func perGroup(cfg clusterv1alpha1.RolloutConfig, mandatory ...string) *clusterv1alpha1.RolloutStrategy {
	p := &clusterv1alpha1.RolloutProgressivePerGroup{RolloutConfig: cfg}
	for _, m := range mandatory {
		p.MandatoryDecisionGroups.MandatoryDecisionGroups = append(p.MandatoryDecisionGroups.MandatoryDecisionGroups, clusterv1alpha1.MandatoryDecisionGroup{GroupName: m})
	}
	return &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.ProgressivePerGroup, ProgressivePerGroup: p}
}

func all(cfg clusterv1alpha1.RolloutConfig) *clusterv1alpha1.RolloutStrategy {
	return &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.All, All: &clusterv1alpha1.RolloutAll{RolloutConfig: cfg}}
}

func cfg(deadline string, maxFailures intstr.IntOrString, soak time.Duration) clusterv1alpha1.RolloutConfig {
	return clusterv1alpha1.RolloutConfig{ProgressDeadline: deadline, MaxFailures: maxFailures, MinSuccessTime: metav1.Duration{Duration: soak}}
}

var zero = intstr.IntOrString{}

// TestOCMScenarios replays the scenarios of OCM's rollout helper tests. want
// is the list OCM returns as ClustersToRollout, in its order; where this
// package differs on purpose, ours holds our answer and why says why.
func TestOCMScenarios(t *testing.T) {
	cases := []struct {
		name     string
		strategy *clusterv1alpha1.RolloutStrategy
		groups   []group
		current  map[string]held
		want     []string
		ours     []string
		why      string
		timeouts []string
		breach   bool
	}{
		{name: "all, nothing sent", strategy: all(cfg("90s", zero, 0)),
			groups: two24, want: []string{"cluster1", "cluster2", "cluster3", "cluster4", "cluster5", "cluster6"}},
		{name: "all, with timeouts", strategy: all(cfg("90s", zero, 0)), groups: two24,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute},
				"cluster3": {Progressing, 2 * time.Minute}, "cluster4": {Failed, time.Minute}, "cluster5": {Progressing, time.Minute}},
			want: []string{"cluster4", "cluster5", "cluster6"}, timeouts: []string{"cluster2", "cluster3"}},
		{name: "all, a cluster added",
			strategy: all(cfg("90s", zero, 0)),
			groups:   []group{{"group1", 0, []string{"cluster1", "cluster2", "cluster7"}}, {"", 1, []string{"cluster3", "cluster4", "cluster5", "cluster6"}}},
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute},
				"cluster3": {Progressing, 2 * time.Minute}, "cluster4": {Failed, time.Minute}, "cluster5": {Progressing, time.Minute}},
			want: []string{"cluster4", "cluster5", "cluster6", "cluster7"}, timeouts: []string{"cluster2", "cluster3"}},
		{name: "progressive, nothing sent", strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(2)),
			groups: two3, want: []string{"cluster1", "cluster2"}},
		{name: "progressive, picked-up clusters first", strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(4)), groups: three,
			current: map[string]held{"cluster1": {Progressing, time.Minute}, "cluster2": {ToApply, noTime}, "cluster3": {ToApply, noTime},
				"cluster4": {ToApply, noTime}, "cluster5": {ToApply, noTime}, "cluster6": {ToApply, noTime},
				"cluster7": {ToApply, noTime}, "cluster8": {ToApply, noTime}, "cluster9": {ToApply, noTime}},
			want: []string{"cluster1", "cluster2", "cluster3", "cluster4"}},
		{name: "progressive, maxConcurrency unset takes all", strategy: progressive(cfg("90s", zero, 0), zero), groups: three,
			current: map[string]held{"cluster1": {Progressing, time.Minute}, "cluster2": {ToApply, noTime}, "cluster3": {ToApply, noTime},
				"cluster4": {ToApply, noTime}, "cluster5": {ToApply, noTime}, "cluster6": {ToApply, noTime},
				"cluster7": {ToApply, noTime}, "cluster8": {ToApply, noTime}, "cluster9": {ToApply, noTime}},
			want: []string{"cluster1", "cluster2", "cluster3", "cluster4", "cluster5", "cluster6", "cluster7", "cluster8", "cluster9"}},
		{name: "progressive, no failure tolerated", strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(2)), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, time.Minute}},
			want:    []string{"cluster3"}, timeouts: []string{"cluster2"}, breach: true},
		{name: "progressive, soak keeps succeeded clusters in flight",
			strategy: progressive(cfg("90s", intstr.FromString("100%"), time.Minute), intstr.FromInt32(2)), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, 30 * time.Second}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, 30 * time.Second}},
			want:    []string{"cluster1", "cluster3"}, timeouts: []string{"cluster2"}},
		{name: "progressive, soak and deadlines mixed",
			strategy: progressive(cfg("90s", intstr.FromString("100%"), time.Minute), intstr.FromInt32(4)),
			groups:   []group{{"group1", 0, []string{"cluster1", "cluster2", "cluster3", "cluster4"}}},
			current: map[string]held{"cluster1": {Succeeded, 30 * time.Second}, "cluster2": {Progressing, time.Minute},
				"cluster3": {Progressing, 30 * time.Second}, "cluster4": {Succeeded, 2 * time.Minute}},
			want: []string{"cluster1", "cluster2", "cluster3"}},
		{name: "progressive, one failure tolerated", strategy: progressive(cfg("90s", intstr.FromInt32(1), 0), intstr.FromInt32(2)), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, time.Minute}},
			want:    []string{"cluster3", "cluster4"}, timeouts: []string{"cluster2"}},
		{name: "progressive, zero deadline times out at once", strategy: progressive(cfg("0s", intstr.FromInt32(3), 0), intstr.FromInt32(2)), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, 30 * time.Second}, "cluster2": {Progressing, 30 * time.Second}, "cluster3": {Progressing, 30 * time.Second}},
			want:    []string{"cluster4", "cluster5"}, timeouts: []string{"cluster2", "cluster3"}},
		{name: "progressive, mandatory group times out", strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(3), "group1"), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, time.Minute}},
			want:    []string{"cluster3"}, timeouts: []string{"cluster2"}, breach: true},
		{name: "progressive, percentages and no deadline",
			strategy: progressive(cfg("None", intstr.FromString("100%"), 0), intstr.FromString("50%")), groups: two24,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, time.Minute}},
			want:    []string{"cluster2", "cluster3", "cluster4"}},
		{name: "progressive, 0% tolerates nothing",
			strategy: progressive(cfg("None", intstr.FromString("0%"), 0), intstr.FromString("50%")), groups: two24,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, time.Minute}},
			want:    []string{"cluster2", "cluster3"}, breach: true},
		{name: "progressive, mandatory group failing", strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(3), "group1"), groups: pairs,
			current: map[string]held{"cluster1": {Failed, 2 * time.Minute}, "cluster2": {Failed, time.Minute}},
			want:    []string{"cluster2"}, timeouts: []string{"cluster1"}, breach: true},
		{name: "progressive, mandatory group done", strategy: progressive(cfg("", zero, 0), intstr.FromInt32(3), "group1"), groups: pairs,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Succeeded, 2 * time.Minute}},
			want:    []string{"cluster3", "cluster4", "cluster5"}},
		{name: "progressive, a cluster added to the mandatory group",
			strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(3), "group1"),
			groups:   []group{{"group1", 0, []string{"cluster1", "cluster2", "cluster7"}}, {"", 1, []string{"cluster3", "cluster4", "cluster8"}}, {"", 2, []string{"cluster5", "cluster6", "cluster9"}}},
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Succeeded, time.Minute}, "cluster3": {Succeeded, time.Minute},
				"cluster4": {Progressing, time.Minute}, "cluster5": {Progressing, time.Minute}},
			want: []string{"cluster4", "cluster5", "cluster7"},
			ours: []string{"cluster7"}, why: "mandatory groups are judged by their own clusters; the same cluster is sent"},
		{name: "per group, nothing sent", strategy: perGroup(cfg("90s", zero, 0)), groups: two3,
			want: []string{"cluster1", "cluster2", "cluster3"}},
		{name: "per group, first group under way", strategy: perGroup(cfg("90s", zero, 0)), groups: two3,
			current: map[string]held{"cluster1": {Progressing, time.Minute}, "cluster2": {ToApply, noTime}, "cluster3": {ToApply, noTime},
				"cluster4": {ToApply, noTime}, "cluster5": {ToApply, noTime}, "cluster6": {ToApply, noTime}},
			want: []string{"cluster1", "cluster2", "cluster3"}},
		{name: "per group, no failure tolerated", strategy: perGroup(cfg("90s", zero, 0)), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Progressing, time.Minute}},
			want:    []string{"cluster3"}, timeouts: []string{"cluster2"}, breach: true},
		{name: "per group, tolerated timeout moves on", strategy: perGroup(cfg("90s", intstr.FromInt32(2), 0)), groups: three,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Succeeded, time.Minute}},
			want:    []string{"cluster4", "cluster5", "cluster6"}, timeouts: []string{"cluster2"}},
		{name: "per group, third group after two", strategy: perGroup(cfg("90s", intstr.FromInt32(2), 0)), groups: three,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Succeeded, time.Minute},
				"cluster4": {Succeeded, time.Minute}, "cluster5": {Succeeded, time.Minute}, "cluster6": {Succeeded, time.Minute}},
			want: []string{"cluster7", "cluster8", "cluster9"}, timeouts: []string{"cluster2"}},
		{name: "per group, failing without deadline", strategy: perGroup(cfg("None", zero, 0)), groups: three,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Succeeded, time.Minute}},
			want:    []string{"cluster2"}, breach: true},
		{name: "per group, tolerated failure without deadline", strategy: perGroup(cfg("None", intstr.FromInt32(2), 0)), groups: three,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Succeeded, time.Minute}},
			want:    []string{"cluster2", "cluster4", "cluster5", "cluster6"}},
		{name: "per group, 30% of three is one", strategy: perGroup(cfg("None", intstr.FromString("30%"), 0)), groups: three,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Failed, 2 * time.Minute}},
			want:    []string{"cluster2", "cluster3"}, breach: true},
		{name: "per group, mandatory group times out", strategy: perGroup(cfg("90s", zero, 0), "group1"), groups: two3,
			current:  map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Failed, 2 * time.Minute}},
			timeouts: []string{"cluster2", "cluster3"}, breach: true},
		{name: "per group, mandatory group tolerates nothing", strategy: perGroup(cfg("90s", intstr.FromInt32(2), 0), "group1"), groups: three,
			current:  map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Failed, 2 * time.Minute}, "cluster3": {Succeeded, time.Minute}},
			timeouts: []string{"cluster2"}, breach: true},
		{name: "per group, mandatory group done", strategy: perGroup(cfg("90s", zero, 0), "group1"), groups: three,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Succeeded, time.Minute}, "cluster3": {Succeeded, time.Minute}},
			want:    []string{"cluster4", "cluster5", "cluster6"}},
		{name: "per group, soak", strategy: perGroup(cfg("90s", intstr.FromString("50%"), time.Minute)),
			groups:  []group{{"group1", 0, []string{"cluster1", "cluster2", "cluster3"}}, {"group2", 1, []string{"cluster4", "cluster5"}}},
			current: map[string]held{"cluster1": {Succeeded, 30 * time.Second}, "cluster2": {Succeeded, 2 * time.Minute}, "cluster3": {Progressing, 30 * time.Second}},
			want:    []string{"cluster1", "cluster3"}},
		{name: "per group, a cluster added to a finished group", strategy: perGroup(cfg("90s", zero, 0)), groups: two3,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Succeeded, time.Minute},
				"cluster4": {Progressing, time.Minute}, "cluster5": {Progressing, time.Minute}},
			want: []string{"cluster4", "cluster5", "cluster3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newPlanner(Input{Strategy: tc.strategy, Clusters: clustersOf(tc.groups, tc.current), Now: now, Revision: "r2"})
			if err != nil {
				t.Fatal(err)
			}
			r := p.run()
			want := tc.want
			if tc.ours != nil {
				want = tc.ours
			}
			if got := names(p, r.rollout); !slices.Equal(got, want) {
				t.Errorf("rollout = %v, want %v", got, want)
			}
			if got := names(p, r.timeouts); !slices.Equal(got, tc.timeouts) {
				t.Errorf("timeouts = %v, want %v", got, tc.timeouts)
			}
			if r.breach != tc.breach {
				t.Errorf("breach = %v, want %v", r.breach, tc.breach)
			}
			// Whatever the difference, the clusters sent must be OCM's.
			d := p.decide(r)
			var wantSent []string
			for _, n := range tc.want {
				if _, ok := tc.current[n]; !ok {
					wantSent = append(wantSent, n)
				}
			}
			if !slices.Equal(d.Update, wantSent) {
				t.Errorf("Update = %v, want %v", d.Update, wantSent)
			}
		})
	}
}

// TestDeliberateDifferences pins each documented departure from OCM.
func TestDeliberateDifferences(t *testing.T) {
	run := func(t *testing.T, s *clusterv1alpha1.RolloutStrategy, groups []group, current map[string]held) Decision {
		t.Helper()
		d, err := Plan(Input{Strategy: s, Clusters: clustersOf(groups, current), Now: now, Revision: "r2"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Run("progressive keeps maxConcurrency busy after the mandatory groups", func(t *testing.T) {
		// OCM sends nothing here: cluster3 in flight outside the mandatory group
		// ends its step early.
		d := run(t, progressive(cfg("90s", zero, 0), intstr.FromInt32(2), "group1"), pairs,
			map[string]held{"cluster1": {Succeeded, time.Hour}, "cluster2": {Succeeded, time.Hour}, "cluster3": {Progressing, time.Minute}})
		if !slices.Equal(d.Update, []string{"cluster4"}) {
			t.Fatalf("Update = %v, want [cluster4]", d.Update)
		}
	})
	t.Run("a tolerated timeout outside the mandatory groups does not stop progressive", func(t *testing.T) {
		// OCM returns the timeout from the mandatory step forever.
		d := run(t, progressive(cfg("90s", intstr.FromInt32(1), 0), intstr.FromInt32(2), "group1"), pairs,
			map[string]held{"cluster1": {Succeeded, time.Hour}, "cluster2": {Succeeded, time.Hour}, "cluster3": {Progressing, time.Hour}})
		if !slices.Equal(d.Update, []string{"cluster4", "cluster5"}) || d.MaxFailureBreach {
			t.Fatalf("Update = %v, breach %v; want [cluster4 cluster5], no breach", d.Update, d.MaxFailureBreach)
		}
	})
	t.Run("per group starts one group after a tolerated timeout", func(t *testing.T) {
		// OCM also starts group 2: it subtracts cluster1's timeout from group 1's cluster.
		d := run(t, perGroup(cfg("90s", intstr.FromInt32(1), 0)),
			[]group{{"a", 0, []string{"cluster1", "cluster2"}}, {"b", 1, []string{"cluster3"}}, {"c", 2, []string{"cluster4"}}},
			map[string]held{"cluster1": {Progressing, time.Hour}, "cluster2": {Succeeded, time.Hour}})
		if !slices.Equal(d.Update, []string{"cluster3"}) {
			t.Fatalf("Update = %v, want [cluster3]", d.Update)
		}
	})
	t.Run("maxFailures above the group size tolerates the whole group", func(t *testing.T) {
		// OCM reads 3 on a group of 2 as 0 and stops.
		d := run(t, perGroup(cfg("None", intstr.FromInt32(3), 0)),
			[]group{{"a", 0, []string{"cluster1", "cluster2"}}, {"b", 1, []string{"cluster3"}}},
			map[string]held{"cluster1": {Failed, time.Minute}, "cluster2": {Succeeded, time.Minute}})
		if d.MaxFailureBreach || !slices.Equal(d.Update, []string{"cluster3"}) {
			t.Fatalf("Update = %v, breach %v; want [cluster3], no breach", d.Update, d.MaxFailureBreach)
		}
	})
	t.Run("percentages are exact", func(t *testing.T) {
		var members []string
		for i := range 30 {
			members = append(members, fmt.Sprintf("c%02d", i))
		}
		d := run(t, progressive(cfg("", zero, 0), intstr.FromString("10%")), []group{{"", 0, members}}, nil)
		if len(d.Update) != 3 {
			t.Fatalf("10%% of 30 sent %d clusters, want 3", len(d.Update))
		}
	})
	t.Run("a number written as a string", func(t *testing.T) {
		d := run(t, progressive(cfg("", zero, 0), intstr.FromString("2")), two3, nil)
		if len(d.Update) != 2 {
			t.Fatalf("sent %d clusters, want 2", len(d.Update))
		}
	})
	t.Run("empty type is All", func(t *testing.T) {
		d := run(t, &clusterv1alpha1.RolloutStrategy{}, two3, nil)
		if len(d.Update) != 6 {
			t.Fatalf("sent %d clusters, want 6", len(d.Update))
		}
	})
	t.Run("group indexes need not be contiguous", func(t *testing.T) {
		d := run(t, perGroup(cfg("", zero, 0)), []group{{"", 0, []string{"a"}}, {"", 5, []string{"b"}}},
			map[string]held{"a": {Succeeded, time.Hour}})
		if !slices.Equal(d.Update, []string{"b"}) {
			t.Fatalf("Update = %v, want [b]", d.Update)
		}
	})
	t.Run("requeue covers deadlines outside the step", func(t *testing.T) {
		d := run(t, progressive(cfg("90s", zero, 0), intstr.FromInt32(3), "group1"),
			[]group{{"group1", 0, []string{"cluster1", "cluster7"}}, {"", 1, []string{"cluster4"}}},
			map[string]held{"cluster1": {Succeeded, time.Hour}, "cluster4": {Progressing, time.Minute}})
		if d.RequeueAfter != 30*time.Second {
			t.Fatalf("RequeueAfter = %v, want 30s", d.RequeueAfter)
		}
	})
}

func TestDecision(t *testing.T) {
	started := metav1.NewTime(now.Add(-time.Hour))
	cases := []struct {
		name     string
		in       Input
		groups   []group
		current  map[string]held
		phase    appsv1.RolloutPhase
		update   []string
		requeue  time.Duration
		counts   [3]int32 // updated, succeeded, failed
		message  string
		timedOut []string
		failing  []string
	}{
		{name: "nil strategy sends everything", groups: two3, phase: appsv1.RolloutProgressing,
			update: []string{"cluster1", "cluster2", "cluster3", "cluster4", "cluster5", "cluster6"}, counts: [3]int32{6, 0, 0},
			message: "6 of 6 clusters hold r2 (6 sent now)"},
		{name: "paused sends nothing", in: Input{Paused: true, Strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(2))}, groups: two3,
			current: map[string]held{"cluster1": {Progressing, time.Minute}}, phase: appsv1.RolloutPaused, counts: [3]int32{1, 0, 0},
			message: "paused by the subscription-pause label: 1 of 6 clusters hold r2"},
		{name: "done", in: Input{Strategy: progressive(cfg("90s", zero, 0), intstr.FromInt32(2))}, groups: pairs,
			current: map[string]held{"cluster1": {Succeeded, time.Hour}, "cluster2": {Succeeded, time.Hour}, "cluster3": {Succeeded, time.Hour},
				"cluster4": {Succeeded, time.Hour}, "cluster5": {Succeeded, time.Hour}, "cluster6": {Succeeded, time.Hour}},
			phase: appsv1.RolloutSucceeded, counts: [3]int32{6, 6, 0}, message: "6 of 6 clusters applied r2"},
		{name: "soaking before the next group", in: Input{Strategy: perGroup(cfg("90s", zero, 5*time.Minute))}, groups: pairs,
			current: map[string]held{"cluster1": {Succeeded, time.Minute}, "cluster2": {Succeeded, 2 * time.Minute}},
			phase:   appsv1.RolloutWaiting, requeue: 3 * time.Minute, counts: [3]int32{2, 2, 0}, message: "waiting 3m0s for minSuccessTime on 2 cluster(s)"},
		{name: "stopped at maxFailures", in: Input{Strategy: progressive(cfg("10m", intstr.FromInt32(1), 0), intstr.FromInt32(3))},
			groups:  []group{{"", 0, []string{"a", "b", "c", "d", "e"}}},
			current: map[string]held{"a": {Failed, time.Minute}, "b": {Progressing, time.Hour}, "c": {Succeeded, time.Minute}},
			phase:   appsv1.RolloutFailed, requeue: 9 * time.Minute, counts: [3]int32{3, 1, 2}, timedOut: []string{"b"}, failing: []string{"a"},
			message: "stopped: 1 failed (a), 1 timed out after progressDeadline 10m0s (b), more than the strategy's maxFailures allows"},
		{name: "finished with a tolerated failure", in: Input{Strategy: all(cfg("1m", zero, 0))},
			groups:  []group{{"", 0, []string{"a", "b"}}},
			current: map[string]held{"a": {Failed, time.Hour}, "b": {Succeeded, time.Minute}},
			phase:   appsv1.RolloutSucceeded, counts: [3]int32{2, 1, 1}, timedOut: []string{"a"},
			message: "1 of 2 clusters applied r2; 1 timed out after progressDeadline 1m0s (a), within what the strategy tolerates"},
		{name: "a failure without deadline stays in flight", in: Input{Strategy: all(cfg("None", zero, 0))},
			groups:  []group{{"", 0, []string{"a", "b"}}},
			current: map[string]held{"a": {Failed, time.Hour}, "b": {Succeeded, time.Minute}},
			phase:   appsv1.RolloutProgressing, counts: [3]int32{2, 1, 1}, failing: []string{"a"}, message: "1 failed (a)"},
		{name: "a missing time neither times out nor ends the soak", in: Input{Strategy: progressive(cfg("1m", zero, time.Minute), intstr.FromInt32(1))},
			groups:  []group{{"", 0, []string{"a", "b"}}},
			current: map[string]held{"a": {Succeeded, noTime}},
			phase:   appsv1.RolloutWaiting, requeue: time.Minute, counts: [3]int32{1, 1, 0}},
		{name: "StartedAt is kept for the same revision",
			in:     Input{Previous: &appsv1.RolloutStatus{Revision: "r2", StartedAt: &started}},
			groups: []group{{"", 0, []string{"a"}}}, phase: appsv1.RolloutProgressing, update: []string{"a"}, counts: [3]int32{1, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Clusters, in.Now, in.Revision = clustersOf(tc.groups, tc.current), now, "r2"
			d, err := Plan(in)
			if err != nil {
				t.Fatal(err)
			}
			st := d.Status
			if st.Phase != tc.phase {
				t.Errorf("phase = %s, want %s (%s)", st.Phase, tc.phase, st.Message)
			}
			if tc.update != nil && !slices.Equal(d.Update, tc.update) {
				t.Errorf("Update = %v, want %v", d.Update, tc.update)
			}
			if tc.update == nil && tc.phase != appsv1.RolloutProgressing && len(d.Update) > 0 {
				t.Errorf("Update = %v, want none", d.Update)
			}
			if d.RequeueAfter != tc.requeue {
				t.Errorf("RequeueAfter = %v, want %v", d.RequeueAfter, tc.requeue)
			}
			if got := [3]int32{st.Updated, st.Succeeded, st.Failed}; got != tc.counts {
				t.Errorf("updated, succeeded, failed = %v, want %v", got, tc.counts)
			}
			if !strings.Contains(st.Message, tc.message) {
				t.Errorf("message %q does not contain %q", st.Message, tc.message)
			}
			if !slices.Equal(d.TimedOut, tc.timedOut) || !slices.Equal(d.Failing, tc.failing) {
				t.Errorf("TimedOut %v, Failing %v; want %v, %v", d.TimedOut, d.Failing, tc.timedOut, tc.failing)
			}
			wantStart := now
			if in.Previous != nil {
				wantStart = started.Time
			}
			if st.StartedAt == nil || !st.StartedAt.Time.Equal(wantStart) || st.Revision != "r2" {
				t.Errorf("StartedAt %v, revision %q; want %v, r2", st.StartedAt, st.Revision, wantStart)
			}
		})
	}
}

// TestRolloutStopsAtMaxFailures drives a progressive rollout step by step, as
// the controller would, until failures stop it.
func TestRolloutStopsAtMaxFailures(t *testing.T) {
	var clusters []Cluster
	for i := range 10 {
		clusters = append(clusters, Cluster{Name: fmt.Sprintf("c%d", i)})
	}
	bad := map[string]bool{"c2": true, "c3": true}
	s := progressive(cfg("5m", intstr.FromInt32(1), time.Minute), intstr.FromInt32(2))
	clock := now
	var d Decision
	for step := range 50 {
		var err error
		d, err = Plan(Input{Strategy: s, Clusters: clusters, Now: clock, Revision: "r2"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.Phase == appsv1.RolloutFailed || d.Status.Phase == appsv1.RolloutSucceeded {
			break
		}
		for _, name := range d.Update {
			i := slices.IndexFunc(clusters, func(c Cluster) bool { return c.Name == name })
			clusters[i].Current, clusters[i].Since = true, clock
			clusters[i].State = Succeeded
			if bad[name] {
				clusters[i].State = Failed
			}
		}
		if step == 49 {
			t.Fatal("rollout did not settle in 50 steps")
		}
		clock = clock.Add(time.Minute)
	}
	if d.Status.Phase != appsv1.RolloutFailed || !d.MaxFailureBreach {
		t.Fatalf("phase %s (%s), want Failed", d.Status.Phase, d.Status.Message)
	}
	sent := 0
	for _, c := range clusters {
		if c.Current {
			sent++
		}
	}
	if sent != 4 || !slices.Equal(d.Failing, []string{"c2", "c3"}) {
		t.Fatalf("%d clusters sent, failing %v; want 4 sent (c0-c3) and c2, c3 failing", sent, d.Failing)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name     string
		strategy *clusterv1alpha1.RolloutStrategy
		clusters []Cluster
		want     string
	}{
		{"type", &clusterv1alpha1.RolloutStrategy{Type: "Canary"}, nil, `spec.rolloutStrategy.type: "Canary" is not a rollout type`},
		{"deadline", progressive(cfg("soon", zero, 0), zero), nil, `spec.rolloutStrategy.progressive.progressDeadline: "soon" is not a duration`},
		{"negative deadline", all(cfg("-5s", zero, 0)), nil, `spec.rolloutStrategy.all.progressDeadline: "-5s"`},
		{"maxFailures", perGroup(cfg("", intstr.FromString("many"), 0)), nil, `spec.rolloutStrategy.progressivePerGroup.maxFailures: "many" is neither`},
		{"maxConcurrency", progressive(cfg("", zero, 0), intstr.FromString("x%")), nil, `spec.rolloutStrategy.progressive.maxConcurrency: "x%"`},
		{"duplicate", nil, []Cluster{{Name: "a"}, {Name: "a"}}, `cluster "a" is listed twice`},
		{"no name", nil, []Cluster{{Name: "a"}, {}}, `cluster 1 has no name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(Input{Strategy: tc.strategy, Clusters: tc.clusters, Now: now})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSizeOf(t *testing.T) {
	cases := []struct {
		v          intstr.IntOrString
		total, def int
		want       int
	}{
		{intstr.FromInt32(0), 10, 10, 10}, {intstr.FromInt32(-1), 10, 0, 0}, {intstr.FromInt32(3), 10, 0, 3},
		{intstr.FromInt32(30), 10, 0, 10}, {intstr.FromString("25%"), 10, 0, 3}, {intstr.FromString("100%"), 7, 0, 7},
		{intstr.FromString("0%"), 7, 0, 0}, {intstr.FromString("150%"), 4, 0, 4}, {intstr.FromString("12.5%"), 16, 0, 2},
		{intstr.FromString("1%"), 1, 0, 1}, {intstr.FromString("10%"), 30, 0, 3}, {intstr.FromString(""), 5, 5, 5},
		{intstr.FromString("4"), 10, 0, 4},
	}
	for _, tc := range cases {
		got, err := sizeOf(tc.v, tc.total, tc.def)
		if err != nil || got != tc.want {
			t.Errorf("sizeOf(%v, %d, %d) = %d, %v; want %d", tc.v.String(), tc.total, tc.def, got, err, tc.want)
		}
	}
}

// fleet builds n clusters in groups of 100, a third of them already done.
func fleet(n int) []Cluster {
	out := make([]Cluster, n)
	for i := range out {
		out[i] = Cluster{Name: fmt.Sprintf("cluster-%05d", (i*7919)%n), GroupIndex: int32(i / 100)}
		switch i % 3 {
		case 0:
			out[i].Current, out[i].State, out[i].Since = true, Succeeded, now.Add(-time.Hour)
		case 1:
			if i%7 == 0 {
				out[i].Current, out[i].State, out[i].Since = true, Progressing, now.Add(-time.Minute)
			}
		}
	}
	return out
}

func TestPlanScales(t *testing.T) {
	for _, s := range []*clusterv1alpha1.RolloutStrategy{nil, progressive(cfg("1h", intstr.FromString("5%"), time.Minute), intstr.FromString("10%")),
		perGroup(cfg("1h", intstr.FromInt32(2), 0))} {
		d, err := Plan(Input{Strategy: s, Clusters: fleet(5000), Now: now, Revision: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Update) == 0 || d.Status.Updated <= 1600 {
			t.Fatalf("%v: Update %d, status %+v", s, len(d.Update), d.Status)
		}
	}
}

func BenchmarkPlan5000(b *testing.B) {
	clusters := fleet(5000)
	for _, bc := range []struct {
		name string
		s    *clusterv1alpha1.RolloutStrategy
	}{
		{"All", nil},
		{"Progressive", progressive(cfg("1h", intstr.FromString("5%"), time.Minute), intstr.FromString("10%"), "")},
		{"ProgressivePerGroup", perGroup(cfg("1h", intstr.FromInt32(2), time.Minute))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Plan(Input{Strategy: bc.s, Clusters: clusters, Now: now, Revision: "r"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlanSizes shows how Plan grows with the fleet (O(n log n)).
func BenchmarkPlanSizes(b *testing.B) {
	s := progressive(cfg("1h", intstr.FromString("5%"), time.Minute), intstr.FromString("10%"))
	for _, n := range []int{500, 5000, 50000} {
		clusters := fleet(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Plan(Input{Strategy: s, Clusters: clusters, Now: now, Revision: "r"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
