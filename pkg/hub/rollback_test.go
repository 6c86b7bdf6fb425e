package hub

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// TestHealthAndRollbackEvents: one event per transition of health and of
// an automatic rollback, none while nothing changes.
func TestHealthAndRollbackEvents(t *testing.T) {
	healthy := metav1.Condition{Type: appsv1.ConditionHealthy, Status: metav1.ConditionTrue, Reason: appsv1.ReasonSucceeded, Message: "healthy on 2/2 clusters"}
	progressing := metav1.Condition{Type: appsv1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: appsv1.ReasonProgressing, Message: "healthy on 1/2 clusters, 1 progressing"}
	degraded := metav1.Condition{Type: appsv1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: appsv1.ReasonDegraded,
		Message: "degraded on 1/2 clusters: c1: Deployment apps/web: 0/1 ready: ImagePullBackOff"}
	rolling := &appsv1.RollbackStatus{Revision: "main@sha1:bad", Phase: appsv1.RollbackInProgress, Cause: "c1: Deployment apps/web: 0/1 ready: ImagePullBackOff",
		Message: "rolling back main@sha1:bad: 0 of 1 clusters restored, 1 being restored"}
	done := &appsv1.RollbackStatus{Revision: "main@sha1:bad", Phase: appsv1.RollbackDone, Message: "rolled back main@sha1:bad on 1 of 1 clusters to main@sha1:good"}
	st := func(rb *appsv1.RollbackStatus, conds ...metav1.Condition) *appsv1.SubscriptionStatus {
		return &appsv1.SubscriptionStatus{Conditions: conds, Rollback: rb}
	}
	cases := []struct {
		name          string
		before, after *appsv1.SubscriptionStatus
		want          []transitionEvent
	}{
		{"progressing is no event", st(nil, healthy), st(nil, progressing), nil},
		{"degraded", st(nil, progressing), st(nil, degraded), []transitionEvent{{corev1.EventTypeWarning, appsv1.ReasonDegraded, actionRollout, degraded.Message}}},
		{"still degraded", st(nil, degraded), st(nil, degraded), nil},
		{"recovered", st(nil, degraded), st(nil, healthy), []transitionEvent{{corev1.EventTypeNormal, "HealthRecovered", actionRollout, healthy.Message}}},
		{"rollback starts", st(nil), st(rolling), []transitionEvent{{corev1.EventTypeWarning, appsv1.ReasonRollingBack, actionRollout, rollbackMessage(rolling)}}},
		{"rollback under way", st(rolling), st(rolling), nil},
		{"rollback done", st(rolling), st(done), []transitionEvent{{corev1.EventTypeNormal, appsv1.ReasonRolledBack, actionRollout, done.Message}}},
		{"rollback done, still held", st(done), st(done), nil},
		{"hold lifted", st(done), st(nil), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []transitionEvent
			for _, f := range []func(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool){healthEvent, rollbackEvent} {
				if ev, ok := f(tc.before, tc.after); ok {
					got = append(got, ev)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("event %+v, want %+v", got[i], tc.want[i])
				}
			}
		})
	}
}
