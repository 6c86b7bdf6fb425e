package rollout

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// FromWorks reads a cluster's standing from its ManifestWorks for a
// Subscription: whether they all carry desiredHash (their
// appsv1.AnnotationContentHash), and if so the State and Since to give Plan.
//
// A work the agent has not picked up yet counts as Progressing since it was
// last written, so that an agent that never answers runs into
// progressDeadline; OCM's own controller reports ToApply there, which never
// times out. Since is never earlier than the last write of a work, because a
// condition that stayed True across an update keeps its old transition time.
func FromWorks(works []*workv1.ManifestWork, desiredHash string) (current bool, state State, since time.Time) {
	if len(works) == 0 {
		return false, ToApply, time.Time{}
	}
	for i, w := range works {
		if w.DeletionTimestamp != nil || w.Annotations[appsv1.AnnotationContentHash] != desiredHash {
			return false, ToApply, time.Time{}
		}
		s, t := workState(w)
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

// workState reads one work that carries the desired content.
func workState(w *workv1.ManifestWork) (State, time.Time) {
	written := lastWritten(w)
	conds := w.Status.Conditions
	applied := meta.FindStatusCondition(conds, workv1.WorkApplied)
	if applied == nil || applied.ObservedGeneration < w.Generation {
		return Progressing, written
	}
	if applied.Status == metav1.ConditionFalse {
		return Failed, later(written, applied.LastTransitionTime.Time)
	}
	if c := meta.FindStatusCondition(conds, workv1.WorkDegraded); c != nil && c.Status == metav1.ConditionTrue {
		return Failed, later(written, c.LastTransitionTime.Time)
	}
	available := meta.FindStatusCondition(conds, workv1.WorkAvailable)
	if applied.Status != metav1.ConditionTrue || available == nil || available.Status != metav1.ConditionTrue ||
		available.ObservedGeneration < w.Generation {
		return Progressing, later(written, applied.LastTransitionTime.Time)
	}
	return Succeeded, later(written, later(applied.LastTransitionTime.Time, available.LastTransitionTime.Time))
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
