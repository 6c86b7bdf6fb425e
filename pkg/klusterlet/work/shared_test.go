package work_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"

	apisv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

func namespaceManifest(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)
}

func serviceManifest(ns string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":%q},"spec":{"selector":{"app":"web"},"ports":[{"port":80}]}}`, ns)
}

// sharedApp is what two works both apply: a Namespace, a Deployment, a
// Service and a CreateOnly ConfigMap.
func sharedApp(cluster, name, ns string) *workv1.ManifestWork {
	w := hubLikeWork(cluster, name, false, namespaceManifest(ns), fmt.Sprintf(deployment, ns), serviceManifest(ns),
		configMap(ns, "seed", map[string]string{"k": "v"}))
	w.Spec.ManifestConfigs[3] = strategyConfig("", "configmaps", ns, "seed", workv1.UpdateStrategyTypeCreateOnly)
	return w
}

// live reads an object; nil when it is gone.
func live(t *testing.T, apiVersion, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	return getSpoke(t, obj(t, fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":%q,"namespace":%q}}`, apiVersion, kind, name, ns)))
}

type objRef struct{ apiVersion, kind, ns, name string }

func appObjects(ns string) []objRef {
	return []objRef{{"v1", "Namespace", "", ns}, {"apps/v1", "Deployment", ns, "web"}, {"v1", "Service", ns, "web"}, {"v1", "ConfigMap", ns, "seed"}}
}

// uids records the UIDs of objects that must exist.
func uids(t *testing.T, refs []objRef) map[objRef]types.UID {
	t.Helper()
	out := map[objRef]types.UID{}
	for _, r := range refs {
		o := live(t, r.apiVersion, r.kind, r.ns, r.name)
		if o == nil {
			t.Fatalf("%s %s/%s does not exist", r.kind, r.ns, r.name)
		}
		out[r] = o.GetUID()
	}
	return out
}

// intact checks the objects are the very ones recorded, not being deleted,
// and owned by exactly the given AppliedManifestWorks.
func intact(t *testing.T, want map[objRef]types.UID, owners ...types.UID) error {
	for r, uid := range want {
		o := live(t, r.apiVersion, r.kind, r.ns, r.name)
		switch {
		case o == nil:
			return fmt.Errorf("%s %s/%s was deleted", r.kind, r.ns, r.name)
		case o.GetUID() != uid:
			return fmt.Errorf("%s %s/%s was recreated", r.kind, r.ns, r.name)
		case o.GetDeletionTimestamp() != nil:
			return fmt.Errorf("%s %s/%s is being deleted", r.kind, r.ns, r.name)
		}
		var got []types.UID
		for _, ref := range o.GetOwnerReferences() {
			got = append(got, ref.UID)
		}
		if fmt.Sprint(sortedUIDs(got)) != fmt.Sprint(sortedUIDs(owners)) {
			return fmt.Errorf("%s %s/%s is owned by %v, want %v", r.kind, r.ns, r.name, got, owners)
		}
	}
	return nil
}

func sortedUIDs(in []types.UID) []types.UID {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// gone checks the objects were removed (a Namespace, which nothing finalizes
// on these control planes, at least started its deletion).
func gone(t *testing.T, refs []objRef) error {
	for _, r := range refs {
		o := live(t, r.apiVersion, r.kind, r.ns, r.name)
		if o != nil && !(r.kind == "Namespace" && o.GetDeletionTimestamp() != nil) {
			return fmt.Errorf("%s %s/%s is still there", r.kind, r.ns, r.name)
		}
	}
	return nil
}

// Two works apply the same objects: deleting one keeps them (same UID, not
// deleting, owned by the other's AppliedManifestWork only); deleting the
// other removes them.
func TestSharedObjectsOutliveOneWork(t *testing.T) {
	cluster := newCluster(t, "shared")
	ns := "shared-app"
	startAgent(t, cluster, nil)
	createWork(t, sharedApp(cluster, cluster+"-a", ns))
	waitWorkCondition(t, cluster, cluster+"-a", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	createWork(t, sharedApp(cluster, cluster+"-b", ns))
	waitWorkCondition(t, cluster, cluster+"-b", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	objs := appObjects(ns)
	want := uids(t, objs)
	amwA, amwB := getAMW(t, cluster+"-a").UID, getAMW(t, cluster+"-b").UID
	poll.Eventually(t, 10*time.Second, "both works own every object", func() error { return intact(t, want, amwA, amwB) })

	deleteWork(t, cluster, cluster+"-a")
	waitWorkGone(t, cluster, cluster+"-a")
	if err := intact(t, want, amwB); err != nil {
		t.Fatalf("deleting one of two works that apply an object: %v", err)
	}
	poll.Consistently(t, time.Second, "objects kept", func() error { return intact(t, want, amwB) })

	// The last work's removal deletes them (its finalizer then waits for the
	// Namespace, which nothing finalizes on these control planes).
	deleteWork(t, cluster, cluster+"-b")
	poll.Eventually(t, 10*time.Second, "objects removed with the last work", func() error { return gone(t, objs) })
}

// A new generation that drops a manifest another work still applies lets
// go of the object without deleting it.
func TestPruneKeepsObjectsOfOtherWorks(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "sharedprune")
	ns := "sharedprune-app"
	startAgent(t, cluster, nil)
	createWork(t, sharedApp(cluster, cluster+"-a", ns))
	createWork(t, sharedApp(cluster, cluster+"-b", ns))
	waitWorkCondition(t, cluster, cluster+"-a", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	waitWorkCondition(t, cluster, cluster+"-b", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	dep := []objRef{{"apps/v1", "Deployment", ns, "web"}}
	want := uids(t, dep)
	amwA, amwB := getAMW(t, cluster+"-a").UID, getAMW(t, cluster+"-b").UID
	poll.Eventually(t, 10*time.Second, "both works own the Deployment", func() error { return intact(t, want, amwA, amwB) })

	dropDeployment := func(name string) {
		w := getWork(t, cluster, name)
		w.Spec.Workload.Manifests = append(w.Spec.Workload.Manifests[:1:1], w.Spec.Workload.Manifests[2:]...)
		if err := hubC.Update(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	dropDeployment(cluster + "-a")
	poll.Eventually(t, 10*time.Second, "a lets go of the Deployment", func() error {
		n := len(getAMW(t, cluster+"-a").Status.AppliedResources)
		if n != 3 {
			return fmt.Errorf("a records %d applied resources, want 3", n)
		}
		return intact(t, want, amwB)
	})
	dropDeployment(cluster + "-b")
	poll.Eventually(t, 10*time.Second, "the Deployment pruned with its last work", func() error { return gone(t, dep) })
}

// An AppliedManifestWork evicted after its work vanished from the hub keeps
// what another work still applies.
func TestEvictionKeepsObjectsOfOtherWorks(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "sharedevict")
	ns := "sharedevict-app"
	first := startAgent(t, cluster, nil)
	createWork(t, sharedApp(cluster, cluster+"-a", ns))
	createWork(t, sharedApp(cluster, cluster+"-b", ns))
	waitWorkCondition(t, cluster, cluster+"-a", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	waitWorkCondition(t, cluster, cluster+"-b", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	objs := appObjects(ns)
	want := uids(t, objs)
	amwA, amwB := getAMW(t, cluster+"-a").UID, getAMW(t, cluster+"-b").UID
	poll.Eventually(t, 10*time.Second, "both works own every object", func() error { return intact(t, want, amwA, amwB) })
	first.stop()

	// Work a vanishes from the hub without the agent finalizing it.
	w := getWork(t, cluster, cluster+"-a")
	w.Finalizers = nil
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	deleteWork(t, cluster, cluster+"-a")
	poll.Eventually(t, 10*time.Second, "the work gone", func() error { return holds(getWork(t, cluster, cluster+"-a") == nil, "still there") })

	startAgent(t, cluster, nil, func(o *work.Options) { o.EvictionGracePeriod = 500 * time.Millisecond })
	poll.Eventually(t, 20*time.Second, "a's AppliedManifestWork evicted", func() error { return holds(getAMW(t, cluster+"-a") == nil, "still there") })
	if err := intact(t, want, amwB); err != nil {
		t.Fatalf("eviction of one of two works that apply an object: %v", err)
	}
}

// A relabel moves an app from one work to another on the same cluster: the
// new work arrives, the old one is deleted right after (before the new one
// may have applied anything). The objects are handed over, never deleted or
// recreated.
func TestHandOffBetweenWorks(t *testing.T) {
	cluster := newCluster(t, "handoff")
	ns := "guestbook"
	startAgent(t, cluster, nil)
	app := func(name string) *workv1.ManifestWork {
		return hubLikeWork(cluster, name, false, namespaceManifest(ns), fmt.Sprintf(deployment, ns), serviceManifest(ns))
	}
	createWork(t, app("guestbook-prod"))
	waitWorkCondition(t, cluster, "guestbook-prod", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	objs := appObjects(ns)[:3]
	want := uids(t, objs)

	createWork(t, app("guestbook-dev"))
	deleteWork(t, cluster, "guestbook-prod")
	waitWorkGone(t, cluster, "guestbook-prod")
	waitWorkCondition(t, cluster, "guestbook-dev", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	dev := getAMW(t, "guestbook-dev").UID
	poll.Eventually(t, 10*time.Second, "objects handed to guestbook-dev", func() error { return intact(t, want, dev) })

	// And back again.
	createWork(t, app("guestbook-prod"))
	deleteWork(t, cluster, "guestbook-dev")
	waitWorkGone(t, cluster, "guestbook-dev")
	waitWorkCondition(t, cluster, "guestbook-prod", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	prod := getAMW(t, "guestbook-prod").UID
	poll.Eventually(t, 10*time.Second, "objects handed back to guestbook-prod", func() error { return intact(t, want, prod) })
}

func replicasDeployment(ns string, replicas int) string {
	return strings.Replace(fmt.Sprintf(deployment, ns), `"replicas":2`, fmt.Sprintf(`"replicas":%d`, replicas), 1)
}

// Two works apply one Deployment with different replicas: one wins (the work
// created first, unless the hub holds its removal), the other reports the
// conflict naming the winner and leaves the object alone, so resyncs write
// nothing; when the winner goes, the other takes the object over.
func TestConflictingWorks(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "conflict")
	ns := "conflict-app"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	// Creation times have a precision of seconds: the names agree with the
	// order, in case both fall in the same second.
	older, newer := cluster+"-a-older", cluster+"-b-newer"
	createWork(t, hubLikeWork(cluster, older, false, replicasDeployment(ns, 2)))
	waitWorkCondition(t, cluster, older, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	createWork(t, hubLikeWork(cluster, newer, false, replicasDeployment(ns, 5)))

	replicas := func() (int64, *unstructured.Unstructured) {
		d := live(t, "apps/v1", "Deployment", ns, "web")
		n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
		return n, d
	}
	// reportsConflict checks a work reports the conflict naming the winner.
	reportsConflict := func(loser, winner string) error {
		w := getWork(t, cluster, loser)
		c := manifestCondition(w, 0, workv1.ManifestApplied)
		wc := workCondition(w, workv1.WorkApplied)
		switch {
		case c == nil || c.Status != metav1.ConditionFalse || c.Reason != work.ReasonManifestConflict || !contains(c.Message, cluster+"/"+winner):
			return fmt.Errorf("manifest Applied = %+v", c)
		case wc == nil || wc.Status != metav1.ConditionFalse || !contains(wc.Message, cluster+"/"+winner):
			return fmt.Errorf("work Applied = %+v", wc)
		}
		return nil
	}
	poll.Eventually(t, 20*time.Second, "the newer work reports the conflict", func() error { return reportsConflict(newer, older) })
	// overrides checks the winner's manifest says Overrides=True naming the
	// loser, and the loser's says nothing of the kind.
	overrides := func(winner, loser string) error {
		c := manifestCondition(getWork(t, cluster, winner), 0, work.ConditionOverrides)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != work.ReasonTakesPrecedence || !contains(c.Message, "ManifestWork "+cluster+"/"+loser) {
			return fmt.Errorf("the winner's Overrides = %+v", c)
		}
		if c := manifestCondition(getWork(t, cluster, loser), 0, work.ConditionOverrides); c != nil {
			return fmt.Errorf("the loser's Overrides = %+v", c)
		}
		return nil
	}
	waitWorkCondition(t, cluster, older, workv1.WorkApplied, metav1.ConditionTrue, 10*time.Second)
	poll.Eventually(t, 20*time.Second, "the older work reports it overrides the newer", func() error { return overrides(older, newer) })
	n, dep := replicas()
	if n != 2 {
		t.Fatalf("replicas = %d, want the older work's 2", n)
	}

	// Both resync (an annotation changes): nothing is written.
	for _, name := range []string{older, newer} {
		w := getWork(t, cluster, name)
		metav1.SetMetaDataAnnotation(&w.ObjectMeta, "test/resync", "1")
		if err := hubC.Update(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	poll.Consistently(t, 3*time.Second, "no write loop", func() error {
		if _, d := replicas(); d.GetResourceVersion() != dep.GetResourceVersion() {
			return fmt.Errorf("resourceVersion %s, was %s", d.GetResourceVersion(), dep.GetResourceVersion())
		}
		return nil
	})

	// The hub holds the older work's removal: the newer one wins.
	w := getWork(t, cluster, older)
	metav1.SetMetaDataAnnotation(&w.ObjectMeta, apisv1.AnnotationRemovalHeld, "true")
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, "the held work gives way", func() error {
		if n, _ := replicas(); n != 5 {
			return fmt.Errorf("replicas = %d, want 5", n)
		}
		if err := reportsConflict(older, newer); err != nil {
			return err
		}
		return overrides(newer, older)
	})

	// The winner goes: the other takes the object over, without a delete.
	deleteWork(t, cluster, newer)
	waitWorkGone(t, cluster, newer)
	poll.Eventually(t, 20*time.Second, "the remaining work took over", func() error {
		n, d := replicas()
		switch {
		case d.GetUID() != dep.GetUID() || d.GetDeletionTimestamp() != nil:
			return errors.New("the Deployment was deleted")
		case n != 2:
			return fmt.Errorf("replicas = %d, want 2", n)
		}
		c := workCondition(getWork(t, cluster, older), workv1.WorkApplied)
		return holds(c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", c))
	})
}

// Right after a restart the agent knows every work's objects before it
// writes any, so the work that loses a conflict never writes, even when it
// is the first one synced (one worker, and its name sorts first).
func TestRestartedAgentLoserNeverWrites(t *testing.T) {
	cluster := newCluster(t, "restartconflict")
	ns := "restartconflict-app"
	createNS(t, spokeC, ns)
	// The loser is the work whose removal the hub holds (the rule that
	// needs no clock); its name sorts first.
	winner, loser := cluster+"-z-winner", cluster+"-a-loser"
	first := startAgent(t, cluster, nil)
	createWork(t, hubLikeWork(cluster, winner, false, replicasDeployment(ns, 2)))
	waitWorkCondition(t, cluster, winner, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	held := hubLikeWork(cluster, loser, false, replicasDeployment(ns, 5))
	held.Annotations = map[string]string{apisv1.AnnotationRemovalHeld: "true"}
	createWork(t, held)
	waitWorkCondition(t, cluster, loser, workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	dep := live(t, "apps/v1", "Deployment", ns, "web")
	first.stop()

	startAgent(t, cluster, nil, func(o *work.Options) { o.Workers = 1 })
	// The one worker takes the works in the order the agent listed them: a
	// work created after the restart is synced after both.
	probe := cluster + "-zz-probe"
	createWork(t, hubLikeWork(cluster, probe, false, configMap(ns, "probe", nil)))
	waitWorkCondition(t, cluster, probe, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	now := live(t, "apps/v1", "Deployment", ns, "web")
	if n, _, _ := unstructured.NestedInt64(now.Object, "spec", "replicas"); now.GetResourceVersion() != dep.GetResourceVersion() || n != 2 {
		t.Fatalf("the Deployment was written after the restart (resourceVersion %s, was %s; replicas %d): the losing work wrote",
			now.GetResourceVersion(), dep.GetResourceVersion(), n)
	}
	if c := manifestCondition(getWork(t, cluster, loser), 0, workv1.ManifestApplied); c == nil || c.Reason != work.ReasonManifestConflict {
		t.Errorf("the loser's Applied = %+v, want reason %s", c, work.ReasonManifestConflict)
	}
}
