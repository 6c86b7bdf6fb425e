package hub

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
)

func TestLeaseVerdict(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	grace := 5 * time.Minute
	joinedAt := func(ago time.Duration) []metav1.Condition {
		return []metav1.Condition{{Type: clusterv1.ManagedClusterConditionJoined, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-ago))}}
	}
	available := []metav1.Condition{{Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionTrue}}
	tests := []struct {
		name    string
		conds   []metav1.Condition
		renewed time.Time
		unknown bool
	}{
		{"never joined, no lease", nil, time.Time{}, false},
		{"just joined, lease not created yet", joinedAt(10 * time.Second), time.Time{}, false},
		{"joined long ago, never a lease", joinedAt(time.Hour), time.Time{}, true},
		{"available but no lease and no join record", available, time.Time{}, true},
		{"renewed recently", joinedAt(time.Hour), now.Add(-30 * time.Second), false},
		{"renewal stopped past the grace", joinedAt(time.Hour), now.Add(-6 * time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unknown, recheck := leaseVerdict(tt.conds, tt.renewed, now, grace)
			if unknown != tt.unknown {
				t.Fatalf("unknown = %v, want %v", unknown, tt.unknown)
			}
			if recheck <= 0 || recheck > grace+time.Second {
				t.Fatalf("recheck in %s, want within (0, grace]", recheck)
			}
		})
	}
}

func TestGrantMemo(t *testing.T) {
	var g grantMemo
	now := time.Unix(1000, 0)
	if !g.due("a", now) {
		t.Fatal("a cluster never set up is not due")
	}
	g.done("a", now)
	if g.due("a", now.Add(grantRecheck-time.Second)) {
		t.Error("a lease renewal right after set-up reads RBAC again")
	}
	if !g.due("a", now.Add(grantRecheck)) {
		t.Error("access is never checked again")
	}
	if !g.due("b", now) {
		t.Error("another cluster (or a re-created one with a new UID) is not due")
	}
	g.forget("a")
	if !g.due("a", now) {
		t.Error("a revoked cluster accepted again is not set up again")
	}
}
