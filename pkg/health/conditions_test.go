package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
)

type cond struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

func of(c *metav1.Condition) cond {
	if c == nil {
		return cond{}
	}
	return cond{c.Status, c.Reason, c.Message}
}

func TestManifestHealth(t *testing.T) {
	const (
		T = metav1.ConditionTrue
		F = metav1.ConditionFalse
		U = metav1.ConditionUnknown
	)
	tests := []struct {
		v                     Verdict
		progressing, degraded cond
	}{
		{Verdict{Status: Current}, cond{F, "Completed", ""}, cond{F, "AsExpected", ""}},
		{Verdict{Status: InProgress, Reason: "LessReady", Message: "1/2 ready"}, cond{T, "Applying", "1/2 ready"}, cond{F, "AsExpected", ""}},
		{Verdict{Status: Terminating, Reason: "Terminating", Message: "Resource scheduled for deletion"}, cond{T, "Applying", "Resource scheduled for deletion"}, cond{F, "AsExpected", ""}},
		{Verdict{Status: NotFound, Reason: "NotFound", Message: "Resource does not exist"}, cond{T, "Applying", "Resource does not exist"}, cond{F, "AsExpected", ""}},
		{Verdict{Status: Unknown, Reason: "StatusUnreadable", Message: "Cannot read status: x"}, cond{T, "Applying", "Cannot read status: x"}, cond{U, "HealthUnknown", "Cannot read status: x"}},
		{Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "0/1 ready: ImagePullBackOff"}, cond{T, "Applying", ""}, cond{T, "HealthCheckFailed", "0/1 ready: ImagePullBackOff"}},
		{ApplyFailed(errors.New("admission webhook denied")), cond{F, "Failed", ""}, cond{T, "ApplyFailed", "admission webhook denied"}},
		{NotApplied("ManifestConflict", errors.New("work a/b applies it")), cond{F, "Failed", ""}, cond{T, "ManifestConflict", "work a/b applies it"}},
	}
	for _, tc := range tests {
		p, d := ManifestHealth(tc.v)
		if p.Type != workv1.ManifestProgressing || d.Type != workv1.ManifestDegraded {
			t.Fatalf("types %s, %s", p.Type, d.Type)
		}
		if of(&p) != tc.progressing || of(&d) != tc.degraded {
			t.Errorf("%s/%s: Progressing %+v, Degraded %+v; want %+v, %+v", tc.v.Status, tc.v.Reason, of(&p), of(&d), tc.progressing, tc.degraded)
		}
	}
}

func TestSetManifestHealth(t *testing.T) {
	failed := Verdict{Status: Failed, Reason: "CrashLoopBackOff", Message: "0/1 ready: CrashLoopBackOff"}

	var conds []metav1.Condition
	SetManifestHealth(&conds, Verdict{Status: Current}, 1)
	before := meta.FindStatusCondition(conds, workv1.ManifestDegraded).LastTransitionTime
	SetManifestHealth(&conds, Verdict{Status: Current}, 2)
	d := meta.FindStatusCondition(conds, workv1.ManifestDegraded)
	if d.ObservedGeneration != 2 || !d.LastTransitionTime.Equal(&before) {
		t.Errorf("unchanged verdict: %+v, want generation 2 and the same transition time", d)
	}

	// A rule of this generation owns Degraded; health does not overwrite it.
	SetRuleConditions(&conds, []metav1.Condition{{Type: workv1.ManifestDegraded, Status: metav1.ConditionFalse, Reason: workv1.ConditionRuleEvaluated, Message: "by rule"}}, 2)
	SetManifestHealth(&conds, failed, 2)
	if got := of(meta.FindStatusCondition(conds, workv1.ManifestDegraded)); got.reason != workv1.ConditionRuleEvaluated {
		t.Errorf("Degraded = %+v, want the rule's", got)
	}
	if got := of(meta.FindStatusCondition(conds, workv1.ManifestProgressing)); got.status != metav1.ConditionTrue {
		t.Errorf("Progressing = %+v, want health's True", got)
	}
	// Once the rule is gone (new generation), health takes Degraded back.
	SetRuleConditions(&conds, nil, 3)
	SetManifestHealth(&conds, failed, 3)
	if got := of(meta.FindStatusCondition(conds, workv1.ManifestDegraded)); got != (cond{metav1.ConditionTrue, ReasonHealthCheckFailed, failed.Message}) {
		t.Errorf("Degraded = %+v, want health's", got)
	}

	// A complete manifest whose object is gone keeps its conditions.
	conds = nil
	SetManifestHealth(&conds, Verdict{Status: Current}, 1)
	SetRuleConditions(&conds, []metav1.Condition{{Type: workv1.ManifestComplete, Status: metav1.ConditionTrue, Reason: workv1.ConditionRuleEvaluated, Message: "Job is finished"}}, 1)
	SetManifestHealth(&conds, Of(nil, nil), 1)
	if got := of(meta.FindStatusCondition(conds, workv1.ManifestProgressing)); got.status != metav1.ConditionFalse {
		t.Errorf("Progressing of a finished, cleaned up Job = %+v, want it left False", got)
	}
	if !ManifestComplete(conds) {
		t.Error("ManifestComplete = false")
	}
}

func TestSetRuleConditionsPrunesOldGenerations(t *testing.T) {
	conds := []metav1.Condition{
		{Type: workv1.ManifestApplied, Status: metav1.ConditionTrue, Reason: "AppliedManifestComplete", ObservedGeneration: 1},
		{Type: "Old", Status: metav1.ConditionTrue, Reason: workv1.ConditionRuleEvaluated, ObservedGeneration: 1},
		{Type: "Kept", Status: metav1.ConditionFalse, Reason: workv1.ConditionRuleExpressionError, ObservedGeneration: 1},
	}
	SetRuleConditions(&conds, []metav1.Condition{{Type: "Kept", Status: metav1.ConditionTrue, Reason: workv1.ConditionRuleEvaluated, Message: "Manifest is Kept"}}, 2)
	var types []string
	for _, c := range conds {
		types = append(types, fmt.Sprintf("%s/%d", c.Type, c.ObservedGeneration))
	}
	if got := strings.Join(types, ","); got != "Applied/1,Kept/2" {
		t.Errorf("conditions = %s, want Applied/1,Kept/2", got)
	}
}

func manifest(kind, name string, conds ...metav1.Condition) workv1.ManifestCondition {
	return workv1.ManifestCondition{ResourceMeta: workv1.ManifestResourceMeta{Kind: kind, Namespace: "hello", Name: name}, Conditions: conds}
}

func healthOf(v Verdict) []metav1.Condition {
	var c []metav1.Condition
	SetManifestHealth(&c, v, 1)
	return c
}

func rule(typ string, s metav1.ConditionStatus, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: s, Reason: workv1.ConditionRuleEvaluated, Message: msg, ObservedGeneration: 1}
}

func TestSetWorkHealth(t *testing.T) {
	current := healthOf(Verdict{Status: Current})
	imagePull := healthOf(Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "0/1 ready: ImagePullBackOff"})
	rolling := healthOf(Verdict{Status: InProgress, Reason: "LessReady", Message: "1/2 ready"})
	applyFailed := healthOf(ApplyFailed(errors.New("forbidden")))
	conflict := healthOf(NotApplied("ManifestConflict", errors.New("work a/b takes precedence")))
	unknown := healthOf(Verdict{Status: Unknown, Reason: "StatusUnreadable", Message: "Cannot read status: x"})

	many := make([]workv1.ManifestCondition, 7)
	for i := range many {
		many[i] = manifest("Deployment", fmt.Sprintf("app%d", i), imagePull...)
	}

	tests := []struct {
		name                  string
		manifests             []workv1.ManifestCondition
		progressing, degraded cond
		extra                 map[string]cond
	}{
		{
			name:        "all healthy",
			manifests:   []workv1.ManifestCondition{manifest("Deployment", "a", current...), manifest("ConfigMap", "b", current...)},
			progressing: cond{metav1.ConditionFalse, "Completed", "All resources are healthy"},
			degraded:    cond{metav1.ConditionFalse, "AsExpected", "No resource is degraded"},
		},
		{
			name:        "no manifests",
			progressing: cond{metav1.ConditionFalse, "Completed", "All resources are healthy"},
			degraded:    cond{metav1.ConditionFalse, "AsExpected", "No resource is degraded"},
		},
		{
			name:        "one rolling out",
			manifests:   []workv1.ManifestCondition{manifest("Deployment", "a", rolling...), manifest("ConfigMap", "b", current...)},
			progressing: cond{metav1.ConditionTrue, "Applying", "1 of 2 resources progressing: Deployment hello/a: 1/2 ready"},
			degraded:    cond{metav1.ConditionFalse, "AsExpected", "No resource is degraded"},
		},
		{
			name:        "image cannot be pulled: progressing and degraded, as OCM's rollouts read a failure",
			manifests:   []workv1.ManifestCondition{manifest("Deployment", "hello", imagePull...), manifest("Service", "hello", current...)},
			progressing: cond{metav1.ConditionTrue, "Applying", "1 of 2 resources progressing: Deployment hello/hello"},
			degraded:    cond{metav1.ConditionTrue, "HealthCheckFailed", "1 of 2 resources degraded: Deployment hello/hello: 0/1 ready: ImagePullBackOff"},
		},
		{
			name:        "apply failures come first in the reason",
			manifests:   []workv1.ManifestCondition{manifest("Deployment", "hello", imagePull...), manifest("Role", "r", applyFailed...)},
			progressing: cond{metav1.ConditionTrue, "Applying", "1 of 2 resources progressing: Deployment hello/hello"},
			degraded:    cond{metav1.ConditionTrue, "ApplyFailed", "2 of 2 resources degraded: Deployment hello/hello: 0/1 ready: ImagePullBackOff; Role hello/r: forbidden"},
		},
		{
			name:        "only apply failures",
			manifests:   []workv1.ManifestCondition{manifest("Role", "r", applyFailed...), manifest("ConfigMap", "b", current...)},
			progressing: cond{metav1.ConditionFalse, "Failed", "1 of 2 manifests failed to apply"},
			degraded:    cond{metav1.ConditionTrue, "ApplyFailed", "1 of 2 resources degraded: Role hello/r: forbidden"},
		},
		{
			name:        "a manifest not applied for another reason counts as an apply failure",
			manifests:   []workv1.ManifestCondition{manifest("Deployment", "hello", imagePull...), manifest("ConfigMap", "c", conflict...)},
			progressing: cond{metav1.ConditionTrue, "Applying", "1 of 2 resources progressing: Deployment hello/hello"},
			degraded:    cond{metav1.ConditionTrue, "ApplyFailed", "2 of 2 resources degraded: Deployment hello/hello: 0/1 ready: ImagePullBackOff; ConfigMap hello/c: work a/b takes precedence"},
		},
		{
			name:        "unknown health",
			manifests:   []workv1.ManifestCondition{manifest("Widget", "w", unknown...)},
			progressing: cond{metav1.ConditionTrue, "Applying", "1 of 1 resources progressing: Widget hello/w: Cannot read status: x"},
			degraded:    cond{metav1.ConditionUnknown, "HealthUnknown", "1 of 1 resources have unknown health: Widget hello/w: Cannot read status: x"},
		},
		{
			name:        "long lists are cut",
			manifests:   many,
			progressing: cond{metav1.ConditionTrue, "Applying", "7 of 7 resources progressing: Deployment hello/app0; Deployment hello/app1; Deployment hello/app2; Deployment hello/app3; Deployment hello/app4; and 2 more"},
			degraded:    cond{metav1.ConditionTrue, "HealthCheckFailed", "7 of 7 resources degraded: Deployment hello/app0: 0/1 ready: ImagePullBackOff; Deployment hello/app1: 0/1 ready: ImagePullBackOff; Deployment hello/app2: 0/1 ready: ImagePullBackOff; Deployment hello/app3: 0/1 ready: ImagePullBackOff; Deployment hello/app4: 0/1 ready: ImagePullBackOff; and 2 more"},
		},
		{
			name: "complete from one job",
			manifests: []workv1.ManifestCondition{
				manifest("Job", "migrate", append(healthOf(Verdict{Status: Current}), rule("Complete", metav1.ConditionTrue, "Job is finished"))...),
				manifest("ConfigMap", "b", current...),
			},
			progressing: cond{metav1.ConditionFalse, "Completed", "All resources are healthy"},
			degraded:    cond{metav1.ConditionFalse, "AsExpected", "No resource is degraded"},
			extra:       map[string]cond{"Complete": {metav1.ConditionTrue, "ConditionRulesAggregated", "Job is finished"}},
		},
		{
			name: "rule conditions: False wins, then Unknown, then True",
			manifests: []workv1.ManifestCondition{
				manifest("Job", "a", append(healthOf(Verdict{Status: Current}), rule("Complete", metav1.ConditionTrue, "Job is finished"), rule("Ready", metav1.ConditionUnknown, "x"))...),
				manifest("Job", "b", append(healthOf(Verdict{Status: Current}), rule("Complete", metav1.ConditionFalse, "Job is not finished"), rule("Ready", metav1.ConditionTrue, "y"))...),
			},
			progressing: cond{metav1.ConditionFalse, "Completed", "All resources are healthy"},
			degraded:    cond{metav1.ConditionFalse, "AsExpected", "No resource is degraded"},
			extra: map[string]cond{
				"Complete": {metav1.ConditionFalse, "ConditionRulesAggregated", "Aggregated from 2 manifest conditions"},
				"Ready":    {metav1.ConditionUnknown, "ConditionRulesAggregated", "Aggregated from 2 manifest conditions"},
			},
		},
		{
			name: "a rule that sets Degraded counts as degraded",
			manifests: []workv1.ManifestCondition{
				manifest("Database", "db", rule("Degraded", metav1.ConditionTrue, "replica lag")),
			},
			progressing: cond{metav1.ConditionFalse, "Completed", "All resources are healthy"},
			degraded:    cond{metav1.ConditionTrue, workv1.ConditionRuleEvaluated, "1 of 1 resources degraded: Database hello/db: replica lag"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conds := []metav1.Condition{
				{Type: workv1.WorkApplied, Status: metav1.ConditionTrue, Reason: "AppliedManifestWorkComplete", ObservedGeneration: 1},
				{Type: "Stale", Status: metav1.ConditionTrue, Reason: ReasonConditionRulesAggregated, ObservedGeneration: 0},
			}
			SetWorkHealth(&conds, tc.manifests, 1)
			if got := of(meta.FindStatusCondition(conds, workv1.WorkProgressing)); got != tc.progressing {
				t.Errorf("Progressing = %+v\nwant          %+v", got, tc.progressing)
			}
			if got := of(meta.FindStatusCondition(conds, workv1.WorkDegraded)); got != tc.degraded {
				t.Errorf("Degraded = %+v\nwant       %+v", got, tc.degraded)
			}
			for typ, want := range tc.extra {
				if got := of(meta.FindStatusCondition(conds, typ)); got != want {
					t.Errorf("%s = %+v, want %+v", typ, got, want)
				}
			}
			if meta.FindStatusCondition(conds, "Stale") != nil {
				t.Error("a summed-up rule condition no manifest has any more was kept")
			}
			if meta.FindStatusCondition(conds, workv1.WorkApplied) == nil {
				t.Error("the agent's Applied condition was dropped")
			}
			want := 3 + len(tc.extra)
			if len(conds) != want {
				t.Errorf("%d conditions, want %d: %+v", len(conds), want, conds)
			}
			for _, c := range conds {
				if c.Type != workv1.WorkApplied && c.ObservedGeneration != 1 {
					t.Errorf("%s has observedGeneration %d, want 1", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
}

// TestJobCompleteLikeOCM runs a Job with the conditionRule Complete through
// every step the agent takes and checks the conditions OCM's work agent sets
// for it: on the manifest, Complete=True, ConditionRuleEvaluated, "Job is
// finished", at the work's generation; on the work, Complete=True,
// ConditionRulesAggregated, with the manifest's message (the condition OCM's
// hub deletes a work by after ttlSecondsAfterFinished).
func TestJobCompleteLikeOCM(t *testing.T) {
	e := newEvaluator(t)
	w := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "cluster1", Name: "migrate", Generation: 3}}
	w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground, TTLSecondsAfterFinished: new(int64)}
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{{
		ResourceIdentifier: workv1.ResourceIdentifier{Group: "batch", Resource: "jobs", Namespace: "hello", Name: "migrate"},
		ConditionRules:     []workv1.ConditionRule{complete()},
	}}
	rules := e.Compile(w)
	jobMeta := workv1.ManifestResourceMeta{Ordinal: 0, Group: "batch", Version: "v1", Kind: "Job", Resource: "jobs", Namespace: "hello", Name: "migrate"}

	step := func(live string) workv1.ManifestWorkStatus {
		o := obj(t, live)
		mc := &w.Status.ResourceStatus
		if len(mc.Manifests) == 0 {
			mc.Manifests = []workv1.ManifestCondition{{ResourceMeta: jobMeta}}
		}
		conds := &mc.Manifests[0].Conditions
		SetManifest(conds, Of(o, nil), rules.Evaluate(context.Background(), jobMeta, o, w.Spec.ManifestConfigs[0].ConditionRules), w.Generation)
		SetWorkHealth(&w.Status.Conditions, mc.Manifests, w.Generation)
		return w.Status
	}

	st := step(job + "status: {active: 1, startTime: '2026-01-01T00:00:00Z'}\n")
	if c := meta.FindStatusCondition(st.ResourceStatus.Manifests[0].Conditions, "Complete"); of(c) != (cond{metav1.ConditionFalse, "ConditionRuleEvaluated", "Job is not finished"}) || c.ObservedGeneration != 3 {
		t.Errorf("running: manifest Complete = %+v", c)
	}
	if WorkComplete(&st) {
		t.Error("running: work is Complete")
	}

	st = step(job + "status: {succeeded: 1, startTime: '2026-01-01T00:00:00Z', conditions: [{type: Complete, status: \"True\"}]}\n")
	mc := meta.FindStatusCondition(st.ResourceStatus.Manifests[0].Conditions, "Complete")
	if of(mc) != (cond{metav1.ConditionTrue, "ConditionRuleEvaluated", "Job is finished"}) || mc.ObservedGeneration != 3 {
		t.Errorf("finished: manifest Complete = %+v", mc)
	}
	wc := meta.FindStatusCondition(st.Conditions, "Complete")
	if of(wc) != (cond{metav1.ConditionTrue, "ConditionRulesAggregated", "Job is finished"}) || wc.ObservedGeneration != 3 {
		t.Errorf("finished: work Complete = %+v", wc)
	}
	if !WorkComplete(&st) || !ManifestComplete(st.ResourceStatus.Manifests[0].Conditions) {
		t.Error("finished: not Complete")
	}
	// Back-date the transition, so any flip below would show.
	completedAt := metav1.NewTime(time.Unix(1_700_000_000, 0))
	wc.LastTransitionTime = completedAt

	// The Job's own TTL deletes it: the work stays Complete and healthy.
	SetManifest(&w.Status.ResourceStatus.Manifests[0].Conditions, Of(nil, nil), nil, w.Generation)
	SetWorkHealth(&w.Status.Conditions, w.Status.ResourceStatus.Manifests, w.Generation)
	wc = meta.FindStatusCondition(w.Status.Conditions, "Complete")
	if !WorkComplete(&w.Status) || !wc.LastTransitionTime.Equal(&completedAt) {
		t.Errorf("after the Job is gone: work Complete = %+v, want True since %s", wc, completedAt)
	}
	if p := meta.FindStatusCondition(w.Status.Conditions, workv1.WorkProgressing); p.Status != metav1.ConditionFalse {
		t.Errorf("after the Job is gone: work Progressing = %+v, want False", p)
	}
}

func TestExpiresAt(t *testing.T) {
	done := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ttl := func(s int64) *workv1.DeleteOption {
		return &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground, TTLSecondsAfterFinished: &s}
	}
	complete := []metav1.Condition{{Type: workv1.WorkComplete, Status: metav1.ConditionTrue, LastTransitionTime: done}}
	tests := []struct {
		name   string
		opt    *workv1.DeleteOption
		conds  []metav1.Condition
		del    bool
		at     time.Time
		expire bool
	}{
		{"complete with a ttl", ttl(60), complete, false, done.Add(time.Minute), true},
		{"zero ttl: at once", ttl(0), complete, false, done.Time, true},
		{"no ttl", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground}, complete, false, time.Time{}, false},
		{"no delete option", nil, complete, false, time.Time{}, false},
		{"not complete", ttl(60), []metav1.Condition{{Type: workv1.WorkComplete, Status: metav1.ConditionFalse, LastTransitionTime: done}}, false, time.Time{}, false},
		{"no Complete condition", ttl(60), nil, false, time.Time{}, false},
		{"being deleted", ttl(60), complete, true, time.Time{}, false},
	}
	for _, tc := range tests {
		w := &workv1.ManifestWork{}
		w.Spec.DeleteOption = tc.opt
		w.Status.Conditions = tc.conds
		if tc.del {
			w.DeletionTimestamp = &done
		}
		at, ok := ExpiresAt(w)
		if ok != tc.expire || !at.Equal(tc.at) {
			t.Errorf("%s: ExpiresAt = %s, %t; want %s, %t", tc.name, at, ok, tc.at, tc.expire)
		}
	}
}
