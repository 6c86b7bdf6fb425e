package rollout

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestFromWorks(t *testing.T) {
	t0 := now.Add(-time.Hour)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }
	cond := func(typ string, status metav1.ConditionStatus, gen int64, ltt time.Duration) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, ObservedGeneration: gen, LastTransitionTime: at(ltt), Reason: "R"}
	}
	work := func(hash string, gen int64, written time.Duration, conds ...metav1.Condition) *workv1.ManifestWork {
		w := &workv1.ManifestWork{}
		w.Annotations = map[string]string{appsv1.AnnotationContentHash: hash}
		w.Generation = gen
		w.CreationTimestamp = at(0)
		wt := at(written)
		w.ManagedFields = []metav1.ManagedFieldsEntry{
			{Manager: "hub", Operation: metav1.ManagedFieldsOperationApply, Time: &wt},
			{Manager: "agent", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &metav1.Time{Time: now}},
		}
		w.Status.Conditions = conds
		return w
	}
	deleting := work("h", 1, 0)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	cases := []struct {
		name    string
		works   []*workv1.ManifestWork
		current bool
		state   State
		since   time.Duration
		// applied: the Subscription waits for Applied, not Healthy.
		applied bool
	}{
		{name: "no work", works: nil},
		{name: "old content", works: []*workv1.ManifestWork{work("old", 1, 0)}},
		{name: "one part old", works: []*workv1.ManifestWork{work("h", 1, 0), work("old", 1, 0)}},
		{name: "being deleted", works: []*workv1.ManifestWork{deleting}},
		{name: "not picked up yet: progressing since written", works: []*workv1.ManifestWork{work("h", 2, 10*time.Minute,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, 0))}, current: true, state: Progressing, since: 10 * time.Minute},
		{name: "applied, not available", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, 5*time.Minute), cond(workv1.WorkAvailable, metav1.ConditionFalse, 1, 5*time.Minute))},
			current: true, state: Progressing, since: 5 * time.Minute},
		{name: "available since the later condition", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, 5*time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, 7*time.Minute))},
			current: true, state: Succeeded, since: 7 * time.Minute},
		{name: "conditions older than the update count from the update", works: []*workv1.ManifestWork{work("h", 3, 20*time.Minute,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 3, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 3, time.Minute))},
			current: true, state: Succeeded, since: 20 * time.Minute},
		{name: "apply failed", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionFalse, 1, 3*time.Minute))}, current: true, state: Failed, since: 3 * time.Minute},
		{name: "degraded", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkDegraded, metav1.ConditionTrue, 1, 4*time.Minute))},
			current: true, state: Failed, since: 4 * time.Minute},
		{name: "a failed part outweighs a done one", works: []*workv1.ManifestWork{
			work("h", 1, 0, cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, time.Minute)),
			work("h", 1, 0, cond(workv1.WorkApplied, metav1.ConditionFalse, 1, 2*time.Minute))},
			current: true, state: Failed, since: 2 * time.Minute},
		{name: "all parts done: soak from the last", works: []*workv1.ManifestWork{
			work("h", 1, 0, cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, 9*time.Minute)),
			work("h", 1, 0, cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, 3*time.Minute))},
			current: true, state: Succeeded, since: 9 * time.Minute},
		{name: "parts in progress: deadline from the first", works: []*workv1.ManifestWork{
			work("h", 2, 8*time.Minute), work("h", 2, 6*time.Minute)},
			current: true, state: Progressing, since: 6 * time.Minute},
		{name: "available, workloads still progressing", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, 2*time.Minute),
			cond(workv1.WorkProgressing, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkDegraded, metav1.ConditionFalse, 1, time.Minute))},
			current: true, state: Progressing, since: time.Minute},
		{name: "healthy since progress ended", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, 2*time.Minute),
			cond(workv1.WorkProgressing, metav1.ConditionFalse, 1, 6*time.Minute), cond(workv1.WorkDegraded, metav1.ConditionFalse, 1, time.Minute))},
			current: true, state: Succeeded, since: 6 * time.Minute},
		{name: "a workload failing fails the cluster", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, time.Minute),
			cond(workv1.WorkProgressing, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkDegraded, metav1.ConditionTrue, 1, 3*time.Minute))},
			current: true, state: Failed, since: 3 * time.Minute},
		{name: "a workload failing does not hold a rollout that waits for Applied", applied: true, works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, 2*time.Minute),
			cond(workv1.WorkProgressing, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkDegraded, metav1.ConditionTrue, 1, 3*time.Minute))},
			current: true, state: Succeeded, since: 2 * time.Minute},
		{name: "an apply failure fails a rollout that waits for Applied", applied: true, works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionFalse, 1, 3*time.Minute), cond(workv1.WorkDegraded, metav1.ConditionTrue, 1, 3*time.Minute))},
			current: true, state: Failed, since: 3 * time.Minute},
		{name: "health of an older generation is not read", works: []*workv1.ManifestWork{work("h", 2, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 2, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 2, time.Minute),
			cond(workv1.WorkProgressing, metav1.ConditionFalse, 1, 0), cond(workv1.WorkDegraded, metav1.ConditionTrue, 1, 0))},
			current: true, state: Succeeded, since: time.Minute},
		{name: "unknown health keeps progressing", works: []*workv1.ManifestWork{work("h", 1, 0,
			cond(workv1.WorkApplied, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, time.Minute),
			cond(workv1.WorkProgressing, metav1.ConditionTrue, 1, time.Minute), cond(workv1.WorkDegraded, metav1.ConditionUnknown, 1, 5*time.Minute))},
			current: true, state: Progressing, since: time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			current, state, since := FromWorks(tc.works, "h", !tc.applied)
			if current != tc.current {
				t.Fatalf("current = %v, want %v", current, tc.current)
			}
			if !current {
				return
			}
			if state != tc.state || !since.Equal(t0.Add(tc.since)) {
				t.Fatalf("got %s since %v, want %s since %v", state, since.Sub(t0), tc.state, tc.since)
			}
		})
	}
}
