package rollout

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// reported is a work of generation 1 that carries revision rev (and the
// rollback revision back, when not empty), with the conditions given as
// type=status pairs, all reported for generation 1.
func reported(rev, back string, conds ...string) *workv1.ManifestWork {
	w := &workv1.ManifestWork{}
	w.Generation = 1
	w.Annotations = map[string]string{appsv1.AnnotationRevision: rev, appsv1.AnnotationContentHash: "hash-" + rev}
	if back != "" {
		w.Annotations[appsv1.AnnotationRollbackRevision] = back
	}
	for _, c := range conds {
		typ, status, _ := strings.Cut(c, "=")
		w.Status.Conditions = append(w.Status.Conditions, metav1.Condition{
			Type: typ, Status: metav1.ConditionStatus(status), Reason: "R", Message: typ + " says " + status, ObservedGeneration: 1,
		})
	}
	return w
}

var (
	healthyConds    = []string{"Applied=True", "Available=True", "Progressing=False", "Degraded=False"}
	progressingCond = []string{"Applied=True", "Available=True", "Progressing=True", "Degraded=False"}
	degradedConds   = []string{"Applied=True", "Available=True", "Progressing=True", "Degraded=True"}
)

func TestDecisionFailed(t *testing.T) {
	one := map[string]held{"cluster1": {Failed, time.Minute}, "cluster2": {Succeeded, time.Minute}}
	cases := []struct {
		name     string
		strategy *clusterv1alpha1.RolloutStrategy
		current  map[string]held
		failed   bool
	}{
		{name: "no strategy, one cluster degraded", strategy: nil, current: one, failed: true},
		{name: "all, one failure tolerated", strategy: all(cfg("", intstr.FromInt32(1), 0)), current: one},
		{name: "all, every cluster fine", strategy: all(cfg("", zero, 0)), current: map[string]held{"cluster1": {Succeeded, time.Minute}}},
		{name: "all, a timeout fails", strategy: all(cfg("30s", zero, 0)), current: map[string]held{"cluster1": {Progressing, time.Minute}}, failed: true},
		{name: "per group, a failure stops and fails", strategy: perGroup(cfg("", zero, 0)), current: one, failed: true},
		{name: "per group, a tolerated failure", strategy: perGroup(cfg("", intstr.FromInt32(1), 0)), current: one},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Plan(Input{Strategy: tc.strategy, Clusters: clustersOf(two3, tc.current), Revision: "r", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if d.Failed != tc.failed {
				t.Fatalf("Failed = %v, want %v (%s)", d.Failed, tc.failed, d.Status.Message)
			}
		})
	}
}

func TestRollbackRevision(t *testing.T) {
	deleting := reported("old", "older", healthyConds...)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	cases := []struct {
		name    string
		works   []*workv1.ManifestWork
		applied bool
		want    string
	}{
		{name: "no works", want: ""},
		{name: "healthy: its own revision", works: []*workv1.ManifestWork{reported("a", "z", healthyConds...)}, want: "a"},
		{name: "every part must be healthy", works: []*workv1.ManifestWork{reported("a", "z", healthyConds...), reported("a", "z", progressingCond...)}, want: "z"},
		{name: "degraded: what it recorded", works: []*workv1.ManifestWork{reported("b", "a", degradedConds...)}, want: "a"},
		{name: "never healthy, nothing recorded", works: []*workv1.ManifestWork{reported("b", "", progressingCond...)}, want: ""},
		{name: "not yet reported: what it recorded", works: []*workv1.ManifestWork{reported("b", "a")}, want: "a"},
		{name: "degraded but the Subscription waits for Applied", applied: true, works: []*workv1.ManifestWork{reported("b", "a", degradedConds...)}, want: "b"},
		{name: "works being deleted do not count", works: []*workv1.ManifestWork{deleting}, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RollbackRevision(tc.works, !tc.applied); got != tc.want {
				t.Fatalf("RollbackRevision = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStartRollback(t *testing.T) {
	c := func(name, rev, hash string, failing bool) RollbackCluster {
		return RollbackCluster{Name: name, Revision: rev, Hash: hash, RollbackRevision: "good", Failing: failing, Message: "degraded: Deployment hello/hello: 0/1 ready: ImagePullBackOff"}
	}
	t.Run("the failing clusters' revision, every cluster holding it", func(t *testing.T) {
		st, ok := StartRollback([]RollbackCluster{
			c("c4", "bad", "h2", false), c("c1", "bad", "h1", true), c("c2", "good", "h0", false), c("c3", "bad", "h1", false),
		}, now)
		if !ok {
			t.Fatal("no rollback")
		}
		want := appsv1.RollbackStatus{Revision: "bad", Phase: appsv1.RollbackInProgress, Clusters: 3, FailedContent: []string{"h1", "h2"},
			Cause: "c1: degraded: Deployment hello/hello: 0/1 ready: ImagePullBackOff", StartedAt: &metav1.Time{Time: now}}
		if !reflect.DeepEqual(*st, want) {
			t.Fatalf("got %+v\nwant %+v", *st, want)
		}
	})
	t.Run("content from an earlier commit is blamed on it", func(t *testing.T) {
		// The rollout of r0's content was overtaken by r1, which changed
		// nothing on these clusters: r0 failed.
		st, _ := StartRollback([]RollbackCluster{c("c1", "r0", "h", true), c("c2", "r0", "h", true), c("c3", "r1", "k", true)}, now)
		if st.Revision != "r0" || st.Clusters != 2 {
			t.Fatalf("got %s on %d clusters, want r0 on 2", st.Revision, st.Clusters)
		}
	})
	t.Run("the cause names three clusters", func(t *testing.T) {
		st, _ := StartRollback([]RollbackCluster{c("c1", "b", "h", true), c("c2", "b", "h", true), c("c3", "b", "h", true), c("c4", "b", "h", true), c("c5", "b", "h", true)}, now)
		if !strings.HasPrefix(st.Cause, "c1: degraded") || strings.Count(st.Cause, "ImagePullBackOff") != 3 || !strings.HasSuffix(st.Cause, "; and 2 more") {
			t.Fatalf("cause %q", st.Cause)
		}
	})
	t.Run("failed content is bounded", func(t *testing.T) {
		var cs []RollbackCluster
		for i := range appsv1.MaxFailedContent + 5 {
			cs = append(cs, c(string(rune('a'+i)), "b", string(rune('A'+i)), true))
		}
		st, _ := StartRollback(cs, now)
		if len(st.FailedContent) != appsv1.MaxFailedContent || st.Clusters != int32(len(cs)) {
			t.Fatalf("%d failed contents of %d clusters", len(st.FailedContent), st.Clusters)
		}
	})
	t.Run("nothing failing, nothing to roll back", func(t *testing.T) {
		if _, ok := StartRollback([]RollbackCluster{c("c1", "b", "h", false), {Name: "c2", Failing: true}}, now); ok {
			t.Fatal("rolled back without a failing cluster holding content")
		}
	})
}

func TestHolds(t *testing.T) {
	st := &appsv1.RollbackStatus{Revision: "bad", FailedContent: []string{"h1", "h2"}}
	cases := []struct {
		name     string
		st       *appsv1.RollbackStatus
		revision string
		desired  []string
		want     bool
	}{
		{name: "no rollback", st: nil, revision: "bad", desired: []string{"h1"}},
		{name: "the failed revision", st: st, revision: "bad", desired: []string{"h9"}, want: true},
		{name: "a commit that renders the failed content", st: st, revision: "next", desired: []string{"h0", "h2"}, want: true},
		{name: "a commit that gives other content everywhere", st: st, revision: "fix", desired: []string{"h0", "h3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Holds(tc.st, tc.revision, tc.desired); got != tc.want {
				t.Fatalf("Holds = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanRollback(t *testing.T) {
	st := appsv1.RollbackStatus{Revision: "bad", Phase: appsv1.RollbackInProgress, Clusters: 5}
	clusters := []RollbackCluster{
		{Name: "c5", Revision: "bad", RollbackRevision: "good"},
		{Name: "c1", Revision: "bad", RollbackRevision: "good"},
		{Name: "c2", Revision: "bad", RollbackRevision: "older"},
		{Name: "c3", Revision: "good", RolledBackFrom: "bad", RollbackRevision: "good"},
		{Name: "c4", Revision: "bad"},
		{Name: "c6", Revision: "good", RollbackRevision: "older"},
	}
	p := PlanRollback(st, clusters)
	if want := map[string][]string{"good": {"c1", "c5"}, "older": {"c2"}}; !reflect.DeepEqual(p.Restore, want) {
		t.Fatalf("restore %v, want %v", p.Restore, want)
	}
	if !reflect.DeepEqual(p.Unrestorable, []string{"c4"}) || p.Status.Unrestorable != 1 || p.Status.Restored != 1 {
		t.Fatalf("unrestorable %v (%d), restored %d", p.Unrestorable, p.Status.Unrestorable, p.Status.Restored)
	}
	if p.Status.Phase != appsv1.RollbackInProgress || !reflect.DeepEqual(p.Status.RestoredRevisions, []string{"good", "older"}) {
		t.Fatalf("phase %s, restored revisions %v", p.Status.Phase, p.Status.RestoredRevisions)
	}
	if want := "rolling back bad: 1 of 5 clusters restored, 3 being restored; 1 keep the failed content, no earlier revision was healthy there (c4)"; p.Status.Message != want {
		t.Fatalf("message %q\nwant    %q", p.Status.Message, want)
	}

	// The revision to restore renders the failed content again: c2 keeps it.
	p.Refuse([]string{"c2"}, "older renders the very content that failed")
	if _, ok := p.Restore["older"]; ok || !reflect.DeepEqual(p.Unrestorable, []string{"c2", "c4"}) || p.Status.Unrestorable != 2 {
		t.Fatalf("after refusing c2: restore %v, unrestorable %v", p.Restore, p.Unrestorable)
	}
	if !strings.Contains(p.Status.Message, "1 keep the failed content, older renders the very content that failed (c2)") {
		t.Fatalf("message %q", p.Status.Message)
	}

	// Once restored, the rollback is done; only c4 still holds bad.
	done := PlanRollback(st, []RollbackCluster{
		{Name: "c1", Revision: "good", RolledBackFrom: "bad"}, {Name: "c5", Revision: "good", RolledBackFrom: "bad"},
		{Name: "c3", Revision: "good", RolledBackFrom: "bad"}, {Name: "c2", Revision: "older", RolledBackFrom: "bad"},
		{Name: "c4", Revision: "bad"},
	})
	if done.Status.Phase != appsv1.RollbackDone || done.Status.Restored != 4 || len(done.Restore) != 0 {
		t.Fatalf("done: %+v", done.Status)
	}
	if want := "rolled back bad on 4 of 5 clusters to good, older; 1 keep the failed content, no earlier revision was healthy there (c4)"; done.Status.Message != want {
		t.Fatalf("message %q\nwant    %q", done.Status.Message, want)
	}
}

// BenchmarkRollback5000 is what a failed rollout adds at 5,000 clusters:
// recording it (StartRollback, 500 clusters failed on the bad revision) and
// planning the restores on each reconcile while it holds (PlanRollback).
func BenchmarkRollback5000(b *testing.B) {
	clusters := make([]RollbackCluster, 5000)
	for i := range clusters {
		c := RollbackCluster{Name: fmt.Sprintf("cluster-%05d", i), Revision: "good", Hash: "h-good", RollbackRevision: "older"}
		if i%10 == 0 {
			c.Revision, c.Hash, c.RollbackRevision, c.Failing, c.Message = "bad", fmt.Sprintf("h-bad-%d", i%3), "good", true, "Deployment apps/web: 0/1 ready: ImagePullBackOff"
		}
		clusters[i] = c
	}
	b.ReportAllocs()
	for b.Loop() {
		st, ok := StartRollback(clusters, now)
		if !ok || st.Clusters != 500 {
			b.Fatal(st)
		}
		if p := PlanRollback(*st, clusters); len(p.Restore["good"]) != 500 {
			b.Fatal(p.Status)
		}
	}
}
