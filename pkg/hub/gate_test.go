package hub

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
)

// monday is 10:00 UTC on a Monday.
var monday = time.Date(2030, time.January, 7, 10, 0, 0, 0, time.UTC)

// standing is what a cluster holds in a gate test: the content hash of its
// work and how the agent reported it, some time before monday.
type standing struct {
	hash  string
	state string // "", "applied", "failed"
	ago   time.Duration
	// orphan: the work orphans its objects when deleted.
	orphan bool
}

func workHolding(cluster string, s standing) *workv1.ManifestWork {
	w := &workv1.ManifestWork{}
	w.Namespace, w.Name, w.Generation = cluster, "fleet.app", 1
	w.CreationTimestamp = metav1.NewTime(monday.Add(-s.ago))
	w.Annotations = map[string]string{appsv1.AnnotationContentHash: s.hash}
	if s.orphan {
		w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}
	}
	at := metav1.NewTime(monday.Add(-s.ago))
	c := func(typ string, ok bool) metav1.Condition {
		st := metav1.ConditionTrue
		if !ok {
			st = metav1.ConditionFalse
		}
		return metav1.Condition{Type: typ, Status: st, ObservedGeneration: 1, LastTransitionTime: at, Reason: "R"}
	}
	switch s.state {
	case "applied":
		w.Status.Conditions = []metav1.Condition{c(workv1.WorkApplied, true), c(workv1.WorkAvailable, true)}
	case "failed":
		w.Status.Conditions = []metav1.Condition{c(workv1.WorkApplied, false)}
	}
	return w
}

func progressiveStrategy(maxConcurrency, maxFailures intstr.IntOrString, deadline string) *clusterv1alpha1.RolloutStrategy {
	return &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.Progressive, Progressive: &clusterv1alpha1.RolloutProgressive{
		RolloutConfig:  clusterv1alpha1.RolloutConfig{MaxFailures: maxFailures, ProgressDeadline: deadline},
		MaxConcurrency: maxConcurrency,
	}}
}

func conditionIn(cs []metav1.Condition, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(cs, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// TestGate drives the composition of pause, windows, rollout and deletion
// budget through the reconciler's own gathering (SubscriptionReconciler.gate)
// with a fixed clock.
func TestGate(t *testing.T) {
	old := standing{hash: "old", state: "applied", ago: time.Hour}
	fresh := standing{hash: "new", state: "applied", ago: time.Hour}
	failed := standing{hash: "new", state: "failed", ago: time.Minute}
	four := map[string]standing{"a": fresh, "b": fresh, "c": fresh, "d": fresh}
	tests := []struct {
		name     string
		selected []string
		holding  map[string]standing
		spec     appsv1.SubscriptionSpec
		labels   map[string]string
		confirm  string
		hubPct   *int32
		now      time.Time

		send, remove         []string
		window, rollout, del metav1.ConditionStatus
		windowReason         string
		rolloutReason        string
		phase                appsv1.RolloutPhase
		updated              int32
		next                 time.Time
		requeue              time.Duration
		held                 string
		messages             []string
	}{{
		name: "all at once", selected: []string{"a", "b", "c"}, holding: map[string]standing{"a": fresh, "b": old, "c": old},
		send: []string{"b", "c"}, window: metav1.ConditionTrue, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		windowReason: appsv1.ReasonWindowOpen, rolloutReason: appsv1.ReasonProgressing, phase: appsv1.RolloutProgressing, updated: 3,
	}, {
		name: "new clusters are part of the rollout", selected: []string{"a", "b", "c"},
		spec: appsv1.SubscriptionSpec{RolloutStrategy: progressiveStrategy(intstr.FromInt32(1), intstr.IntOrString{}, "")},
		send: []string{"a"}, window: metav1.ConditionTrue, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		phase: appsv1.RolloutProgressing, updated: 1, held: "waiting for its turn in the rollout",
	}, {
		name: "progressive stops beyond maxFailures", selected: []string{"a", "b", "c", "d"},
		holding: map[string]standing{"a": failed, "b": failed, "c": old, "d": old},
		spec:    appsv1.SubscriptionSpec{RolloutStrategy: progressiveStrategy(intstr.FromInt32(2), intstr.FromInt32(1), "None")},
		window:  metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		rolloutReason: appsv1.ReasonRolloutFailed, phase: appsv1.RolloutFailed, updated: 2,
		held: "the rollout stopped", messages: []string{"2 failed (a, b)", "maxFailures"},
	}, {
		name: "a deadline sets the requeue", selected: []string{"a", "b"},
		holding: map[string]standing{"a": {hash: "new", ago: time.Minute}, "b": old},
		spec:    appsv1.SubscriptionSpec{RolloutStrategy: progressiveStrategy(intstr.FromInt32(1), intstr.IntOrString{}, "10m")},
		window:  metav1.ConditionTrue, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		phase: appsv1.RolloutProgressing, updated: 1, requeue: 9 * time.Minute,
	}, {
		name: "closed window sends nothing and says when it opens", selected: []string{"a", "b"}, holding: map[string]standing{"a": old, "b": old},
		spec: appsv1.SubscriptionSpec{TimeWindow: &appsv1.TimeWindow{WindowType: "active", Location: "America/Toronto",
			Daysofweek: []string{"Monday"}, Hours: []appsv1.HourRange{{Start: "12:00PM", End: "1:00PM"}}}},
		window: metav1.ConditionFalse, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		windowReason: appsv1.ReasonWindowClosed, phase: appsv1.RolloutWaiting, updated: 0,
		next: time.Date(2030, time.January, 7, 17, 0, 0, 0, time.UTC), requeue: 7 * time.Hour,
		held: "outside the deployment window, which opens at 2030-01-07T17:00:00Z", messages: []string{"waiting for the deployment window"},
	}, {
		name: "open window requeues when it closes", selected: []string{"a"}, holding: map[string]standing{"a": old},
		now: time.Date(2030, time.January, 7, 12, 30, 0, 0, time.UTC),
		spec: appsv1.SubscriptionSpec{TimeWindow: &appsv1.TimeWindow{WindowType: "active",
			Daysofweek: []string{"Monday"}, Hours: []appsv1.HourRange{{Start: "12:00PM", End: "1:00PM"}}}},
		send: []string{"a"}, window: metav1.ConditionTrue, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		phase: appsv1.RolloutProgressing, updated: 1, requeue: 31 * time.Minute,
	}, {
		name: "maintenance window", selected: []string{"a"}, holding: map[string]standing{"a": old},
		spec:   appsv1.SubscriptionSpec{MaintenanceWindows: []appsv1.MaintenanceWindow{{Schedule: "30 2 * * *", Duration: metav1.Duration{Duration: time.Hour}}}},
		window: metav1.ConditionFalse, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		next: time.Date(2030, time.January, 8, 2, 30, 0, 0, time.UTC), requeue: 16*time.Hour + 30*time.Minute,
		phase: appsv1.RolloutWaiting,
	}, {
		name: "a closed window holds removals within the budget", selected: []string{"a", "b", "c"}, holding: four,
		spec:   appsv1.SubscriptionSpec{TimeWindow: &appsv1.TimeWindow{WindowType: "blocked", Daysofweek: []string{"monday"}}},
		window: metav1.ConditionFalse, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		phase: appsv1.RolloutSucceeded, updated: 3, next: time.Date(2030, time.January, 8, 0, 0, 0, 0, time.UTC), requeue: 14 * time.Hour,
		messages: []string{"waits because the deployment window is closed"},
	}, {
		name: "paused", selected: []string{"a", "b"}, holding: map[string]standing{"a": old, "b": old, "c": old},
		labels: map[string]string{appsv1.LabelSubscriptionPause: "true"},
		window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		rolloutReason: appsv1.ReasonPaused, phase: appsv1.RolloutPaused, held: "paused by the subscription-pause label",
		messages: []string{"waits because the subscription is paused"},
	}, {
		name: "removal within the budget", selected: []string{"a", "b", "c"}, holding: four,
		remove: []string{"d"}, window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		phase: appsv1.RolloutSucceeded, updated: 3,
	}, {
		name: "removal beyond the budget is held", selected: []string{"a"}, holding: four,
		window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionTrue,
		phase: appsv1.RolloutSucceeded, updated: 1,
		messages: []string{"from 3 of 4 clusters (75%: b, c, d) exceeds the deletion budget of 50%", appsv1.AnnotationConfirmDeletion + "=" + rollout.Token([]string{"b", "c", "d"}, removalByPlacement)},
	}, {
		name: "a confirmation for another removal does not release it", selected: []string{"a"}, holding: four, confirm: "0123456789abcdef",
		window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionTrue,
		phase: appsv1.RolloutSucceeded, updated: 1, messages: []string{"given for a different removal"},
	}, {
		name: "confirmed removal", selected: []string{"a"}, holding: four, confirm: rollout.Token([]string{"d", "c", "b"}, removalByPlacement),
		remove: []string{"b", "c", "d"}, window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		phase: appsv1.RolloutSucceeded, updated: 1,
	}, {
		name: "the Subscription's budget overrides the hub's", selected: []string{"a"}, holding: four,
		spec:   appsv1.SubscriptionSpec{DeletionBudgetPercent: ptr.To[int32](100)},
		remove: []string{"b", "c", "d"}, window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		phase: appsv1.RolloutSucceeded, updated: 1,
	}, {
		name: "removing works that orphan needs no budget", selected: []string{"a"},
		holding: map[string]standing{"a": fresh, "b": {hash: "new", orphan: true}, "c": {hash: "new", orphan: true}, "d": fresh},
		remove:  []string{"b", "c", "d"}, window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		phase: appsv1.RolloutSucceeded, updated: 1,
	}, {
		name: "a hub budget of 0 holds every removal", selected: []string{"a", "b", "c"}, holding: four, hubPct: ptr.To[int32](0),
		window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionTrue,
		phase: appsv1.RolloutSucceeded, updated: 3,
	}, {
		name: "a placement selecting nothing is a mass removal", holding: four,
		window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionTrue,
		phase: appsv1.RolloutSucceeded, messages: []string{"from 4 of 4 clusters"},
	}, {
		name: "invalid window sends and removes nothing", selected: []string{"a", "b", "c"},
		holding: map[string]standing{"a": old, "b": old, "c": old, "d": fresh},
		spec:    appsv1.SubscriptionSpec{TimeWindow: &appsv1.TimeWindow{Location: "Mars/Olympus"}},
		window:  metav1.ConditionFalse, rollout: metav1.ConditionTrue, del: metav1.ConditionFalse,
		windowReason: appsv1.ReasonInvalidSpec, phase: appsv1.RolloutWaiting, held: "the time window is invalid",
		messages: []string{"spec.timewindow.location", "waits because the time window is invalid"},
	}, {
		name: "invalid rollout sends nothing but removes", selected: []string{"a", "b", "c"}, holding: four,
		spec:   appsv1.SubscriptionSpec{RolloutStrategy: progressiveStrategy(intstr.FromString("lots"), intstr.IntOrString{}, "")},
		remove: []string{"d"}, window: metav1.ConditionTrue, rollout: metav1.ConditionFalse, del: metav1.ConditionFalse,
		rolloutReason: appsv1.ReasonInvalidSpec, held: "the rollout strategy is invalid",
		messages: []string{"spec.rolloutStrategy.progressive.maxConcurrency"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = monday
			}
			r := &SubscriptionReconciler{Clock: clocktesting.NewFakePassiveClock(now), DeletionBudgetPercent: tt.hubPct}
			sub := &appsv1.Subscription{Spec: tt.spec}
			sub.Namespace, sub.Name, sub.Labels = "fleet", "app", tt.labels
			if tt.confirm != "" {
				sub.Annotations = map[string]string{appsv1.AnnotationConfirmDeletion: tt.confirm}
			}
			existing := map[string][]*workv1.ManifestWork{}
			for cluster, s := range tt.holding {
				existing[cluster] = []*workv1.ManifestWork{workHolding(cluster, s)}
			}
			var targets []placement.Target
			desired := map[string]*want{}
			for _, c := range tt.selected {
				targets = append(targets, placement.Target{Cluster: c})
				desired[c] = &want{b: &bundle{hash: "new", parts: [][]workv1.Manifest{nil}}, hash: "new"}
			}
			clusters := rolloutClusters(targets, existing, desired, true)
			g := r.gate(sub, clusters, targets, existing, "main@sha1:2")

			if !slices.Equal(g.Send, tt.send) {
				t.Errorf("send = %v, want %v", g.Send, tt.send)
			}
			if !slices.Equal(g.Remove, tt.remove) {
				t.Errorf("remove = %v, want %v", g.Remove, tt.remove)
			}
			w, ro, del := conditionIn(g.Conditions, appsv1.ConditionWindowOpen), conditionIn(g.Conditions, appsv1.ConditionRolloutProgressing), conditionIn(g.Conditions, appsv1.ConditionDeletionHeld)
			if w.Status != tt.window || ro.Status != tt.rollout || del.Status != tt.del {
				t.Errorf("WindowOpen=%s RolloutProgressing=%s DeletionHeld=%s, want %s %s %s\n%s\n%s\n%s",
					w.Status, ro.Status, del.Status, tt.window, tt.rollout, tt.del, w.Message, ro.Message, del.Message)
			}
			if tt.windowReason != "" && w.Reason != tt.windowReason {
				t.Errorf("WindowOpen reason = %s, want %s", w.Reason, tt.windowReason)
			}
			if tt.rolloutReason != "" && ro.Reason != tt.rolloutReason {
				t.Errorf("RolloutProgressing reason = %s, want %s", ro.Reason, tt.rolloutReason)
			}
			if tt.del == metav1.ConditionTrue && del.Reason != appsv1.ReasonDeletionHeld {
				t.Errorf("DeletionHeld reason = %s", del.Reason)
			}
			switch {
			case tt.phase == "" && g.Rollout != nil:
				t.Errorf("rollout status %+v for an invalid strategy", g.Rollout)
			case tt.phase != "" && (g.Rollout == nil || g.Rollout.Phase != tt.phase || g.Rollout.Updated != tt.updated):
				t.Errorf("rollout = %+v, want phase %s with %d updated", g.Rollout, tt.phase, tt.updated)
			}
			var next time.Time
			if g.NextWindow != nil {
				next = g.NextWindow.Time
			}
			if !next.Equal(tt.next) {
				t.Errorf("nextWindow = %v, want %v", next, tt.next)
			}
			if g.RequeueAfter != tt.requeue {
				t.Errorf("requeue after %s, want %s", g.RequeueAfter, tt.requeue)
			}
			if tt.held != "" && !strings.Contains(g.Held, tt.held) {
				t.Errorf("held = %q, want %q in it", g.Held, tt.held)
			}
			all := w.Message + "\n" + ro.Message + "\n" + del.Message
			if g.Rollout != nil {
				all += "\n" + g.Rollout.Message
			}
			for _, m := range tt.messages {
				if !strings.Contains(all, m) {
					t.Errorf("no %q in\n%s", m, all)
				}
			}
		})
	}
}

func TestRolloutClustersNeedEveryPart(t *testing.T) {
	two := &want{b: &bundle{hash: "new", parts: [][]workv1.Manifest{nil, nil}}, hash: "new"}
	one := workHolding("a", standing{hash: "new", state: "applied", ago: time.Hour})
	gone := workHolding("b", standing{hash: "new", state: "applied", ago: time.Hour})
	gone.DeletionTimestamp = &metav1.Time{Time: monday}
	targets := []placement.Target{{Cluster: "a", GroupIndex: 2, GroupName: "canary"}, {Cluster: "b"}}
	got := rolloutClusters(targets, map[string][]*workv1.ManifestWork{"a": {one}, "b": {gone, gone}}, map[string]*want{"a": two, "b": two}, true)
	if got[0].Current || got[1].Current {
		t.Fatalf("a cluster missing a part or holding deleted works counts as current: %+v", got)
	}
	if got[0].GroupIndex != 2 || got[0].GroupName != "canary" {
		t.Fatalf("group lost: %+v", got[0])
	}
	got = rolloutClusters(targets[:1], map[string][]*workv1.ManifestWork{"a": {one, one}}, map[string]*want{"a": two}, true)
	if !got[0].Current || got[0].State != rollout.Succeeded {
		t.Fatalf("a cluster holding both parts: %+v", got[0])
	}
	if d := deployedClusters(map[string][]*workv1.ManifestWork{"a": {one}, "b": {gone}}); !slices.Equal(d, []string{"a"}) {
		t.Fatalf("deployed = %v; works being deleted do not count", d)
	}
}

func TestSetReady(t *testing.T) {
	c := func(typ string, ok bool, reason string) metav1.Condition {
		return newCondition(typ, ok, reason, typ+" says "+reason)
	}
	good := []metav1.Condition{
		c(appsv1.ConditionSourceReady, true, appsv1.ReasonSucceeded), c(appsv1.ConditionPlaced, true, appsv1.ReasonSucceeded),
		c(appsv1.ConditionRendered, true, appsv1.ReasonSucceeded), c(appsv1.ConditionApplied, true, appsv1.ReasonSucceeded),
		c(appsv1.ConditionWindowOpen, true, appsv1.ReasonWindowOpen), c(appsv1.ConditionDeletionHeld, false, ReasonWithinBudget),
	}
	with := func(cs ...metav1.Condition) []metav1.Condition {
		out := slices.Clone(good)
		for _, x := range cs {
			meta.SetStatusCondition(&out, x)
		}
		return out
	}
	tests := []struct {
		name    string
		conds   []metav1.Condition
		paused  bool
		rollout appsv1.RolloutPhase
		ok      bool
		reason  string
	}{
		{"all good", good, false, appsv1.RolloutSucceeded, true, appsv1.ReasonSucceeded},
		{"paused wins", with(c(appsv1.ConditionSourceReady, false, appsv1.ReasonFetchFailed)), true, "", false, appsv1.ReasonPaused},
		{"source first", with(c(appsv1.ConditionSourceReady, false, appsv1.ReasonFetchFailed), c(appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld)), false, "", false, appsv1.ReasonFetchFailed},
		{"held removal", with(c(appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld)), false, appsv1.RolloutSucceeded, false, appsv1.ReasonDeletionHeld},
		{"held removal of every cluster, none selected", with(c(appsv1.ConditionPlaced, false, appsv1.ReasonNoClusters), c(appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld)), false, "", false, appsv1.ReasonDeletionHeld},
		{"invalid rollout", with(c(appsv1.ConditionRolloutProgressing, false, appsv1.ReasonInvalidSpec)), false, "", false, appsv1.ReasonInvalidSpec},
		{"rollout failed before apply failed", with(c(appsv1.ConditionApplied, false, appsv1.ReasonApplyFailed)), false, appsv1.RolloutFailed, false, appsv1.ReasonRolloutFailed},
		{"window explains pending clusters", with(c(appsv1.ConditionApplied, false, appsv1.ReasonProgressing), c(appsv1.ConditionWindowOpen, false, appsv1.ReasonWindowClosed)), false, appsv1.RolloutWaiting, false, appsv1.ReasonWindowClosed},
		{"a failure is worse than a window", with(c(appsv1.ConditionApplied, false, appsv1.ReasonApplyFailed), c(appsv1.ConditionWindowOpen, false, appsv1.ReasonWindowClosed)), false, appsv1.RolloutWaiting, false, appsv1.ReasonApplyFailed},
		{"closed window with everything applied is ready", with(c(appsv1.ConditionWindowOpen, false, appsv1.ReasonWindowClosed)), false, appsv1.RolloutSucceeded, true, appsv1.ReasonSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := &appsv1.Subscription{}
			sub.Status.Conditions = slices.Clone(tt.conds)
			if tt.paused {
				sub.Labels = map[string]string{appsv1.LabelSubscriptionPause: "true"}
			}
			if tt.rollout != "" {
				sub.Status.Rollout = &appsv1.RolloutStatus{Phase: tt.rollout, Message: "rollout says " + string(tt.rollout)}
			}
			setReady(sub)
			got := conditionIn(sub.Status.Conditions, appsv1.ConditionReady)
			if (got.Status == metav1.ConditionTrue) != tt.ok || got.Reason != tt.reason {
				t.Fatalf("Ready = %s/%s (%s), want ok=%v %s", got.Status, got.Reason, got.Message, tt.ok, tt.reason)
			}
		})
	}
}

// BenchmarkGate measures the per-reconcile cost of reading every cluster's
// standing, planning the rollout and composing the gates, at fleet sizes.
func BenchmarkGate(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			r := &SubscriptionReconciler{Clock: clocktesting.NewFakePassiveClock(monday)}
			sub := &appsv1.Subscription{Spec: appsv1.SubscriptionSpec{
				RolloutStrategy: progressiveStrategy(intstr.FromString("10%"), intstr.FromString("5%"), "30m"),
				TimeWindow:      &appsv1.TimeWindow{WindowType: "blocked", Location: "Europe/Paris", Daysofweek: []string{"Saturday", "Sunday"}},
			}}
			existing := map[string][]*workv1.ManifestWork{}
			var targets []placement.Target
			desired := map[string]*want{}
			b1 := &want{b: &bundle{hash: "new", parts: [][]workv1.Manifest{nil}}, hash: "new"}
			for i := range n {
				c := fmt.Sprintf("cluster-%05d", i)
				s := standing{hash: "old", state: "applied", ago: time.Hour}
				if i%3 == 0 {
					s.hash = "new"
				}
				existing[c] = []*workv1.ManifestWork{workHolding(c, s)}
				if i < n-n/20 { // 5% leave the placement
					targets = append(targets, placement.Target{Cluster: c, GroupIndex: i % 4})
					desired[c] = b1
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clusters := rolloutClusters(targets, existing, desired, true)
				g := r.gate(sub, clusters, targets, existing, "main@sha1:2")
				if len(g.Conditions) != 3 {
					b.Fatal(g.Conditions)
				}
			}
		})
	}
}
