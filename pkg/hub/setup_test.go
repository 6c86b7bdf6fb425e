package hub

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// TestClusterChangedIgnoresHeartbeatsOfATerminatingCluster: every update of a
// terminating ManagedCluster carries its own copy of the same deletion
// timestamp; only a real change may enqueue the Subscriptions.
func TestClusterChangedIgnoresHeartbeatsOfATerminatingCluster(t *testing.T) {
	at := metav1.NewTime(time.Unix(1_700_000_000, 0))
	terminating := func(lease string) *clusterv1.ManagedCluster {
		ts := at // a fresh pointer per object, as the informer decodes them
		return &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east", DeletionTimestamp: &ts,
			Finalizers:  []string{"cluster.open-cluster-management.io/api-resource-cleanup"},
			Annotations: map[string]string{"lease": lease}}}
	}
	p := clusterChanged()
	if p.Update(event.UpdateEvent{ObjectOld: terminating("1"), ObjectNew: terminating("2")}) {
		t.Error("a heartbeat of a terminating cluster enqueues every Subscription")
	}
	live := terminating("1")
	live.DeletionTimestamp = nil
	if !p.Update(event.UpdateEvent{ObjectOld: live, ObjectNew: terminating("2")}) {
		t.Error("a cluster starting to terminate is not passed on")
	}
}
