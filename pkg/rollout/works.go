package rollout

import (
	"time"

	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// FromWorks reads a cluster's standing from its ManifestWorks for a
// Subscription: whether they all carry desiredHash (their
// appsv1.AnnotationContentHash), and if so the State and Since to give Plan.
// With waitForHealth a cluster succeeds once its workloads are healthy and
// fails once one is degraded (WorkReport.State).
//
// A work the agent has not picked up yet counts as Progressing since it was
// last written, so that an agent that never answers runs into
// progressDeadline; OCM's own controller reports ToApply there, which never
// times out.
func FromWorks(works []*workv1.ManifestWork, desiredHash string, waitForHealth bool) (current bool, state State, since time.Time) {
	if len(works) == 0 {
		return false, ToApply, time.Time{}
	}
	for i, w := range works {
		if w.DeletionTimestamp != nil || w.Annotations[appsv1.AnnotationContentHash] != desiredHash {
			return false, ToApply, time.Time{}
		}
		s, t := ReadWork(w).State(waitForHealth)
		switch {
		case i == 0 || severity(s) > severity(state):
			state, since = s, t
		case s != state:
		case s == Succeeded:
			// Soak starts when the last work succeeded.
			since = later(since, t)
		case t.Before(since):
			// The longest-running progress or failure sets the deadline.
			since = t
		}
	}
	return true, state, since
}

// severity ranks a failure above progress and progress above success.
func severity(s State) int {
	switch s {
	case Failed:
		return 2
	case Progressing:
		return 1
	}
	return 0
}

// lastWritten is when the work's spec or metadata last changed, from its
// managed fields (status writes excluded), or its creation.
func lastWritten(w *workv1.ManifestWork) time.Time {
	t := w.CreationTimestamp.Time
	for _, mf := range w.ManagedFields {
		if mf.Subresource == "" && mf.Time != nil {
			t = later(t, mf.Time.Time)
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
