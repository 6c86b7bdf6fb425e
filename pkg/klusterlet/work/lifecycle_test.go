package work_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

func deleteWork(t *testing.T, cluster, name string) {
	t.Helper()
	w := getWork(t, cluster, name)
	if w == nil {
		t.Fatalf("ManifestWork %s/%s does not exist", cluster, name)
	}
	if err := hubC.Delete(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}

func waitWorkGone(t *testing.T, cluster, name string) {
	t.Helper()
	poll.Eventually(t, 20*time.Second, "ManifestWork "+name+" finalized", func() error {
		w := getWork(t, cluster, name)
		if w == nil {
			return nil
		}
		return fmt.Errorf("finalizers %v", w.Finalizers)
	})
}

// Deleting a work removes what it applied (Foreground, the default), keeps
// everything (Orphan), or keeps the listed objects (SelectivelyOrphan).
func TestDeleteOptions(t *testing.T) {
	cluster := newCluster(t, "deleteopts")
	startAgent(t, cluster, nil)
	cases := []struct {
		name   string
		option *workv1.DeleteOption
		kept   map[string]bool
	}{
		{"foreground", nil, map[string]bool{}},
		{"explicit-foreground", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground}, map[string]bool{}},
		{"orphan", &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}, map[string]bool{"a": true, "b": true}},
		{"selective", &workv1.DeleteOption{
			PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
			SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{
				{Group: "", Resource: "configmaps", Namespace: "delopt-selective", Name: "b"},
			}},
		}, map[string]bool{"b": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := "delopt-" + tc.name
			createNS(t, spokeC, ns)
			w := manifestWork(cluster, tc.name, configMap(ns, "a", map[string]string{"k": "v"}), configMap(ns, "b", map[string]string{"k": "v"}))
			w.Spec.DeleteOption = tc.option
			createWork(t, w)
			waitWorkCondition(t, cluster, tc.name, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
			amwUID := getAMW(t, tc.name).UID
			for _, n := range []string{"a", "b"} {
				cm := getCM(t, ns, n)
				if owned := ownedBy(cm.OwnerReferences, string(amwUID)); owned == tc.kept[n] {
					t.Errorf("%s: owner reference present=%t, want %t", n, owned, !tc.kept[n])
				}
			}
			deleteWork(t, cluster, tc.name)
			waitWorkGone(t, cluster, tc.name)
			for _, n := range []string{"a", "b"} {
				if got := getCM(t, ns, n) != nil; got != tc.kept[n] {
					t.Errorf("%s exists=%t after the work was deleted, want %t", n, got, tc.kept[n])
				}
			}
			if amw := getAMW(t, tc.name); amw != nil {
				t.Errorf("AppliedManifestWork left behind: %+v", amw.ObjectMeta)
			}
		})
	}
}

// Removing a manifest from a work deletes its object; switching a work to
// Orphan releases its objects.
func TestPruneAndOrphanSwitch(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "prune")
	ns := "prune-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	createWork(t, manifestWork(cluster, "p", configMap(ns, "a", nil), configMap(ns, "b", nil)))
	waitWorkCondition(t, cluster, "p", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	w := getWork(t, cluster, "p")
	w.Spec.Workload.Manifests = w.Spec.Workload.Manifests[:1]
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "b pruned", func() error { return holds(getCM(t, ns, "b") == nil, "b still there") })
	poll.Eventually(t, 10*time.Second, "applied resources shrink", func() error {
		n := len(getAMW(t, "p").Status.AppliedResources)
		return holds(n == 1, fmt.Sprint(n, " applied resources"))
	})
	w = getWork(t, cluster, "p")
	w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "owner reference released", func() error {
		cm := getCM(t, ns, "a")
		return holds(len(cm.OwnerReferences) == 0, fmt.Sprint(cm.OwnerReferences))
	})
	deleteWork(t, cluster, "p")
	waitWorkGone(t, cluster, "p")
	if getCM(t, ns, "a") == nil {
		t.Error("orphaned object deleted")
	}
}

// A restarted agent knows what it applied from the AppliedManifestWork: it
// deletes exactly those objects (by UID), not an object someone recreated
// under the same name, and not objects it never created.
func TestRestartDeletesExactlyWhatItCreated(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "restart")
	ns := "restart-apps"
	createNS(t, spokeC, ns)
	bystander := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: ns}}
	if err := spokeC.Create(ctx, bystander); err != nil {
		t.Fatal(err)
	}
	first := startAgent(t, cluster, nil)
	createWork(t, manifestWork(cluster, "r", configMap(ns, "a", nil), configMap(ns, "b", nil), configMap(ns, "c", nil)))
	waitWorkCondition(t, cluster, "r", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	poll.Eventually(t, 10*time.Second, "applied resources recorded", func() error {
		return holds(len(getAMW(t, "r").Status.AppliedResources) == 3, "not yet")
	})
	first.stop()

	// While the agent is away: someone replaces b with their own object, and
	// the work is deleted on the hub (the finalizer keeps it).
	if err := spokeC.Delete(ctx, getCM(t, ns, "b")); err != nil {
		t.Fatal(err)
	}
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: ns}, Data: map[string]string{"owner": "someone"}}
	if err := spokeC.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	deleteWork(t, cluster, "r")
	if getWork(t, cluster, "r") == nil {
		t.Fatal("the work's finalizer did not hold it while the agent was away")
	}

	startAgent(t, cluster, nil)
	waitWorkGone(t, cluster, "r")
	if getCM(t, ns, "a") != nil || getCM(t, ns, "c") != nil {
		t.Error("objects the work created survived its deletion")
	}
	if cm := getCM(t, ns, "b"); cm == nil || cm.Data["owner"] != "someone" {
		t.Error("an object someone else created under an applied name was deleted")
	}
	if getCM(t, ns, "bystander") == nil {
		t.Error("an unrelated object was deleted")
	}
}

// After a restart, drift that happened while the agent was away is found:
// corrected (and reported as corrected) by default, reported in report-only.
func TestRestartFindsDrift(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "restartdrift")
	ns := "restartdrift-apps"
	createNS(t, spokeC, ns)
	first := startAgent(t, cluster, nil)
	correct := manifestWork(cluster, "correct", configMap(ns, "c", map[string]string{"k": "v"}))
	correct.Spec.ManifestConfigs = []workv1.ManifestConfigOption{ssaConfig("", "configmaps", ns, "c", true, "work-agent-ocm-gitops")}
	report := manifestWork(cluster, "report", configMap(ns, "r", map[string]string{"k": "v"}))
	report.Annotations = map[string]string{"apps.open-cluster-management.io/drift-policy": "ReportOnly"}
	report.Spec.ManifestConfigs = []workv1.ManifestConfigOption{ssaConfig("", "configmaps", ns, "r", true, "work-agent-ocm-gitops")}
	createWork(t, correct)
	createWork(t, report)
	waitWorkCondition(t, cluster, "correct", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	waitWorkCondition(t, cluster, "report", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	first.stop()

	for _, n := range []string{"c", "r"} {
		cm := getCM(t, ns, n)
		cm.Data["k"] = "edited-while-away"
		if err := spokeC.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	startAgent(t, cluster, nil)
	poll.Eventually(t, 10*time.Second, "drift corrected after restart", func() error {
		w := getWork(t, cluster, "correct")
		c := manifestCondition(w, 0, work.ConditionDrifted)
		return holds(getCM(t, ns, "c").Data["k"] == "v" && c != nil && c.Status == metav1.ConditionFalse &&
			contains(c.Message, "Drift corrected") && contains(c.Message, ".data.k"), fmt.Sprintf("%+v", c))
	})
	w := waitWorkCondition(t, cluster, "report", work.ConditionDrifted, metav1.ConditionTrue, 10*time.Second)
	if c := manifestCondition(w, 0, work.ConditionDrifted); c == nil || c.Message != ".data.k" {
		t.Errorf("report-only manifest Drifted = %+v, want message .data.k", c)
	}
	poll.Consistently(t, 2*time.Second, "report-only drift left alone", func() error {
		v := getCM(t, ns, "r").Data["k"]
		return holds(v == "edited-while-away", v)
	})
}

func getAMW(t testing.TB, workName string) *workv1.AppliedManifestWork {
	t.Helper()
	amw := &workv1.AppliedManifestWork{}
	err := spokeC.Get(context.Background(), client.ObjectKey{Name: work.HubHash(hubCP.Config.Host) + "-" + workName}, amw)
	if err != nil {
		return nil
	}
	return amw
}

func ownedBy(refs []metav1.OwnerReference, uid string) bool {
	for _, r := range refs {
		if string(r.UID) == uid {
			return true
		}
	}
	return false
}

// Many agents run in one process (the lab): a stopped agent leaves no
// goroutines behind.
func TestAgentStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := range 3 {
		cluster := newCluster(t, fmt.Sprintf("stopclean-%d", i))
		createNS(t, spokeC, cluster+"-apps")
		a := startAgent(t, cluster, nil)
		createWork(t, manifestWork(cluster, "w", configMap(cluster+"-apps", "c", nil)))
		waitWorkCondition(t, cluster, "w", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
		a.stop()
	}
	poll.Eventually(t, 10*time.Second, "goroutines of stopped agents gone", func() error {
		n := runtime.NumGoroutine()
		return holds(n <= before+5, fmt.Sprintf("%d goroutines, %d before", n, before))
	})
}
