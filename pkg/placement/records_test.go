package placement

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

func decisionAt(rv string, clusters ...string) *clusterv1beta1.PlacementDecision {
	d := &clusterv1beta1.PlacementDecision{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p-decision-1", ResourceVersion: rv}}
	for _, c := range clusters {
		d.Status.Decisions = append(d.Status.Decisions, clusterv1beta1.ClusterDecision{ClusterName: c})
	}
	return d
}

func TestRecords(t *testing.T) {
	var r records
	key := "ns/p-decision-1"
	written := decisionAt("12", "a", "b")
	r.wrote(written, t0, "11")

	// Echoes of both our writes are recognised; others are not.
	if !r.echo(decisionAt("11")) || !r.echo(decisionAt("12")) || r.echo(decisionAt("13")) {
		t.Errorf("echo detection wrong")
	}
	// A cache that has not seen our write yet: ours is newer.
	if got := r.newest(key, decisionAt("10", "a"), t0); got != written {
		t.Errorf("stale cache: got %v, want our write", got)
	}
	// Not in the cache at all yet: ours.
	if got := r.newest(key, nil, t0); got != written {
		t.Errorf("missing from cache: got %v, want our write", got)
	}
	// Caught up: the cache wins, and the record goes after the echo grace.
	caught := decisionAt("15", "a")
	if got := r.newest(key, caught, t0.Add(time.Second)); got != caught {
		t.Errorf("caught-up cache: got %v", got)
	}
	if len(r.keys("ns/")) != 1 {
		t.Errorf("record dropped before the echo grace")
	}
	r.newest(key, caught, t0.Add(echoGrace+time.Second))
	if len(r.keys("ns/")) != 0 {
		t.Errorf("record kept after the echo grace")
	}

	// Deleted by us: absent while the cache still shows it, and the delete
	// event is recognised as ours.
	r.deleted(key, "15", t0)
	if got := r.newest(key, caught, t0); got != nil {
		t.Errorf("deleted object still visible: %v", got)
	}
	if !r.seenDeleted(caught) {
		t.Errorf("our delete not recognised")
	}
	// Created again by someone else later: visible.
	r.deleted(key, "15", t0)
	if got := r.newest(key, decisionAt("20"), t0); got == nil {
		t.Errorf("re-created object hidden")
	}
	// A record the cache never confirms expires.
	r.wrote(decisionAt("30"), t0)
	if got := r.newest(key, nil, t0.Add(recordTTL+time.Second)); got != nil {
		t.Errorf("expired record still used: %v", got)
	}
}
