package work_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// handOffAgent runs an agent whose hand-off window is long enough that no
// test step races it: the hand-off must complete because the new work takes
// the objects over, not because time passed.
func handOffAgent(t *testing.T, cluster string) {
	startAgent(t, cluster, nil, func(o *work.Options) { o.HandOffWindow = 10 * time.Minute })
}

// heldOrRemoved waits until the agent acted on a removal: it held it for the
// hand-off (an Event on the work) or, without the hold, removed objects.
func heldOrRemoved(t *testing.T, cluster, name string, want map[objRef]types.UID, owners ...types.UID) {
	t.Helper()
	poll.Eventually(t, 20*time.Second, "the agent held or made the removal", func() error {
		var evs corev1.EventList
		if err := hubC.List(context.Background(), &evs, client.InNamespace(cluster)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == name && ev.Reason == work.ReasonHandOffHeld {
				return nil
			}
		}
		if err := intact(t, want, owners...); err != nil {
			return nil // removed: the next steps fail, as they should
		}
		return errors.New("neither held nor removed yet")
	})
}

// A relabel's two writes race on the hub. Here the old work is deleted
// before the new one exists, and the new one is created only after the
// agent acted on the deletion: the objects are handed over all the same,
// never deleted or recreated.
func TestHandOffOldWorkDeletedFirst(t *testing.T) {
	cluster := newCluster(t, "handoff-first")
	ns := "handoff-first-app"
	handOffAgent(t, cluster)
	app := func(name string) *workv1.ManifestWork {
		return hubLikeWork(cluster, name, false, namespaceManifest(ns), fmt.Sprintf(deployment, ns), serviceManifest(ns))
	}
	prod, dev := cluster+"-prod", cluster+"-dev"
	createWork(t, app(prod))
	waitWorkCondition(t, cluster, prod, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	want := uids(t, appObjects(ns)[:3])
	prodAMW := getAMW(t, prod).UID

	deleteWork(t, cluster, prod)
	heldOrRemoved(t, cluster, prod, want, prodAMW)
	createWork(t, app(dev))
	poll.Eventually(t, 20*time.Second, "objects handed to the new work", func() error {
		amw := getAMW(t, dev)
		if amw == nil {
			return errors.New("no AppliedManifestWork for " + dev + " yet")
		}
		return intact(t, want, amw.UID)
	})
	waitWorkGone(t, cluster, prod)
	waitWorkCondition(t, cluster, dev, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
}

// The same when the old work drops an object in a new generation (the
// object moved between two apps in one commit) before the work that now
// lists it exists.
func TestHandOffPrunedBeforeTaken(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "handoff-prune")
	ns := "handoff-prune-app"
	createNS(t, spokeC, ns)
	handOffAgent(t, cluster)
	a, b := cluster+"-a", cluster+"-b"
	createWork(t, hubLikeWork(cluster, a, false, fmt.Sprintf(deployment, ns), serviceManifest(ns)))
	waitWorkCondition(t, cluster, a, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	svc := []objRef{{"v1", "Service", ns, "web"}}
	want := uids(t, svc)
	amwA := getAMW(t, a).UID

	w := getWork(t, cluster, a)
	w.Spec.Workload.Manifests = w.Spec.Workload.Manifests[:1]
	w.Spec.ManifestConfigs = w.Spec.ManifestConfigs[:1]
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	heldOrRemoved(t, cluster, a, want, amwA)
	createWork(t, hubLikeWork(cluster, b, false, serviceManifest(ns)))
	waitWorkCondition(t, cluster, b, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	amwB := getAMW(t, b).UID
	poll.Eventually(t, 10*time.Second, "the Service handed to the new work, the old one's record shrinks", func() error {
		if n := len(getAMW(t, a).Status.AppliedResources); n != 1 {
			return fmt.Errorf("%s records %d applied resources, want 1", a, n)
		}
		return intact(t, want, amwB)
	})
}
