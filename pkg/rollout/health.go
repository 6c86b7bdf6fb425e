package rollout

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/health"
)

// WorkReport is what one ManifestWork's status says about the content it
// carries. ReadWork is the one reader of a work's Applied, Available,
// Progressing and Degraded conditions, for the rollout and for the
// Subscription's status alike.
type WorkReport struct {
	// Reported: the agent reported on the work's current generation.
	Reported bool
	// ApplyFailed: some manifest could not be applied.
	ApplyFailed bool
	// Available: every manifest's object exists (OCM's Available).
	Available bool
	// Health is how the applied objects are doing; empty until Reported
	// and while ApplyFailed. Agents that report no health (OCM's own,
	// without conditionRules) are judged by Available, as OCM judges them:
	// HealthReported is false then.
	Health         appsv1.WorkloadHealth
	HealthReported bool
	// Since is when the work entered its standing: written (not Reported),
	// the apply failed, or Health began. AppliedSince and AvailableSince are
	// when it was applied and became available. None is earlier than the
	// last write of the work, since a condition that stays True across an
	// update keeps its old transition time.
	Since, AppliedSince, AvailableSince time.Time
	// Message says what is wrong or under way, in the agent's words (e.g. "1
	// of 3 resources degraded: Deployment hello/hello: 0/1 ready:
	// ImagePullBackOff"); empty when healthy.
	Message string
}

// ReadWork reads one work's status.
func ReadWork(w *workv1.ManifestWork) WorkReport {
	written := lastWritten(w)
	r := WorkReport{Since: written}
	conds := w.Status.Conditions
	applied := meta.FindStatusCondition(conds, workv1.WorkApplied)
	if applied == nil || applied.ObservedGeneration < w.Generation {
		r.Message = "waiting for the agent to apply"
		return r
	}
	r.Reported = true
	if applied.Status == metav1.ConditionFalse {
		r.ApplyFailed, r.Since, r.Message = true, later(written, applied.LastTransitionTime.Time), applied.Message
		return r
	}
	r.AppliedSince = later(written, applied.LastTransitionTime.Time)
	available := meta.FindStatusCondition(conds, workv1.WorkAvailable)
	r.Available = applied.Status == metav1.ConditionTrue && available != nil && available.Status == metav1.ConditionTrue &&
		available.ObservedGeneration >= w.Generation
	if r.Available {
		r.AvailableSince = later(r.AppliedSince, available.LastTransitionTime.Time)
	}
	r.Health, r.Since, r.Message = readHealth(w, r, available)
	r.HealthReported = reportsHealth(w)
	return r
}

// reportsHealth: the agent judged this generation's health (ocm-gitops'
// agent sets Progressing on every work; OCM's only through conditionRules).
func reportsHealth(w *workv1.ManifestWork) bool {
	c := meta.FindStatusCondition(w.Status.Conditions, workv1.WorkProgressing)
	return c != nil && c.ObservedGeneration >= w.Generation
}

// readHealth reads an applied work's health and when it began.
func readHealth(w *workv1.ManifestWork, r WorkReport, available *metav1.Condition) (appsv1.WorkloadHealth, time.Time, string) {
	conds := w.Status.Conditions
	if degraded := meta.FindStatusCondition(conds, workv1.WorkDegraded); degraded != nil && degraded.ObservedGeneration >= w.Generation {
		switch degraded.Status {
		case metav1.ConditionTrue:
			return appsv1.HealthDegraded, later(r.AppliedSince, degraded.LastTransitionTime.Time), degraded.Message
		case metav1.ConditionUnknown:
			return appsv1.HealthUnknown, r.AppliedSince, degraded.Message
		}
	}
	if !reportsHealth(w) {
		if r.Available {
			return appsv1.HealthHealthy, r.AvailableSince, ""
		}
		msg := "applied, waiting for resources to become available"
		if available != nil && available.Message != "" {
			msg = available.Message
		}
		return appsv1.HealthProgressing, r.AppliedSince, msg
	}
	progressing := meta.FindStatusCondition(conds, workv1.WorkProgressing)
	if progressing.Status != metav1.ConditionFalse {
		return appsv1.HealthProgressing, r.AppliedSince, progressing.Message
	}
	return appsv1.HealthHealthy, later(r.AppliedSince, progressing.LastTransitionTime.Time), ""
}

// State is the work's rollout state: with waitForHealth, Succeeded once
// healthy and Failed once degraded; otherwise Succeeded once applied and
// available, whatever the health. Since is when the state began.
func (r WorkReport) State(waitForHealth bool) (State, time.Time) {
	switch {
	case !r.Reported:
		return Progressing, r.Since
	case r.ApplyFailed:
		return Failed, r.Since
	case !waitForHealth && r.Available:
		return Succeeded, r.AvailableSince
	case !waitForHealth:
		return Progressing, r.AppliedSince
	}
	switch r.Health {
	case appsv1.HealthHealthy:
		return Succeeded, r.Since
	case appsv1.HealthDegraded:
		return Failed, r.Since
	}
	return Progressing, r.Since
}

// healthRank orders health from best to worst.
var healthRank = map[appsv1.WorkloadHealth]int{
	appsv1.HealthHealthy: 1, appsv1.HealthProgressing: 2, appsv1.HealthUnknown: 3, appsv1.HealthDegraded: 4,
}

// WorseHealth reports whether a is worse than b; any health is worse than
// none.
func WorseHealth(a, b appsv1.WorkloadHealth) bool { return healthRank[a] > healthRank[b] }

// Problem names what keeps a work from being healthy: its first object
// that is degraded (or whose health is unknown, or still progressing,
// whichever its health is) and why, as "Deployment hello/hello: 0/1 ready:
// ImagePullBackOff", with how many more there are; the work's own message
// when no manifest says more; "" when healthy.
func (r WorkReport) Problem(w *workv1.ManifestWork) string {
	typ, status := "", metav1.ConditionTrue
	switch {
	case r.ApplyFailed || !r.Reported || r.Health == appsv1.HealthHealthy:
		return r.Message
	case r.Health == appsv1.HealthDegraded:
		typ = workv1.ManifestDegraded
	case r.Health == appsv1.HealthUnknown:
		typ, status = workv1.ManifestDegraded, metav1.ConditionUnknown
	case r.HealthReported:
		typ = workv1.ManifestProgressing
	default:
		return r.Message
	}
	first, n := "", 0
	for _, m := range w.Status.ResourceStatus.Manifests {
		c := meta.FindStatusCondition(m.Conditions, typ)
		if c == nil || c.Status != status {
			continue
		}
		if n++; n == 1 {
			first = health.Describe(m.ResourceMeta)
			if c.Message != "" {
				first += ": " + c.Message
			}
		}
	}
	switch {
	case n == 0:
		return r.Message
	case n > 1:
		first += fmt.Sprintf(" (and %d more)", n-1)
	}
	return first
}
