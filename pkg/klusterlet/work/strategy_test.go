package work_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The default strategy is OCM's Update: the agent creates objects, replaces
// them with the manifest on change, keeps labels others added, and records
// everything in the AppliedManifestWork with owner references.
func TestUpdateStrategy(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "update")
	ns := "update-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)

	w := manifestWork(cluster, "app",
		configMap(ns, "a", map[string]string{"k": "v1"}),
		configMap(ns, "b", map[string]string{"k": "v1"}))
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	waitWorkCondition(t, cluster, "app", workv1.WorkAvailable, metav1.ConditionTrue, 10*time.Second)

	if !hasString(w.Finalizers, workv1.ManifestWorkFinalizer) {
		t.Errorf("work finalizers = %v, want %s", w.Finalizers, workv1.ManifestWorkFinalizer)
	}
	for _, typ := range []string{workv1.WorkProgressing, workv1.WorkDegraded, work.ConditionDrifted} {
		if cnd := workCondition(w, typ); cnd == nil || cnd.Status != metav1.ConditionFalse {
			t.Errorf("work condition %s = %+v, want False", typ, cnd)
		}
	}
	if got := len(w.Status.ResourceStatus.Manifests); got != 2 {
		t.Fatalf("status lists %d manifests, want 2", got)
	}
	for i := range 2 {
		for _, typ := range []string{workv1.ManifestApplied, workv1.ManifestAvailable} {
			if cnd := manifestCondition(w, i, typ); cnd == nil || cnd.Status != metav1.ConditionTrue {
				t.Errorf("manifest %d condition %s = %+v, want True", i, typ, cnd)
			}
		}
		rm := w.Status.ResourceStatus.Manifests[i].ResourceMeta
		if rm.Resource != "configmaps" || rm.Version != "v1" || rm.Kind != "ConfigMap" || rm.Namespace != ns {
			t.Errorf("manifest %d resourceMeta = %+v", i, rm)
		}
	}

	amw := &workv1.AppliedManifestWork{}
	if err := spokeC.Get(ctx, client.ObjectKey{Name: work.HubHash(hubCP.Config.Host) + "-app"}, amw); err != nil {
		t.Fatalf("AppliedManifestWork: %v", err)
	}
	poll.Eventually(t, 10*time.Second, "applied resources recorded", func() error {
		_ = spokeC.Get(ctx, client.ObjectKey{Name: amw.Name}, amw)
		return holds(len(amw.Status.AppliedResources) == 2, "applied resources: "+strings.Repeat("x", len(amw.Status.AppliedResources)))
	})
	if amw.Spec.ManifestWorkName != "app" || amw.Spec.AgentID != cluster || !hasString(amw.Finalizers, workv1.AppliedManifestWorkFinalizer) {
		t.Errorf("AppliedManifestWork = %+v", amw.ObjectMeta)
	}
	cm := getCM(t, ns, "a")
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != amw.UID || cm.OwnerReferences[0].Kind != "AppliedManifestWork" {
		t.Errorf("owner references = %+v, want the AppliedManifestWork", cm.OwnerReferences)
	}
	if cm.Labels[work.LabelManaged] != "true" {
		t.Errorf("labels = %v, want %s", cm.Labels, work.LabelManaged)
	}

	// Someone adds a label: Update keeps labels it does not set.
	cm.Labels["team"] = "x"
	if err := spokeC.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// A spec change replaces the data.
	w = getWork(t, cluster, "app")
	w.Spec.Workload.Manifests[0].Raw = []byte(configMap(ns, "a", map[string]string{"k": "v2", "other": "x"}))
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "update applied", func() error {
		cm := getCM(t, ns, "a")
		return holds(cm.Data["k"] == "v2" && cm.Data["other"] == "x" && cm.Labels["team"] == "x", "data "+cm.Data["k"]+" labels "+cm.Labels["team"])
	})
	waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 10*time.Second)

	// Drift on an Update object is corrected by replacing it again.
	cm = getCM(t, ns, "b")
	cm.Data = map[string]string{"k": "edited", "extra": "1"}
	if err := spokeC.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 5*time.Second, "Update drift corrected", func() error {
		cm := getCM(t, ns, "b")
		_, extra := cm.Data["extra"]
		return holds(cm.Data["k"] == "v1" && !extra, "data: "+cm.Data["k"])
	})
	poll.Eventually(t, 5*time.Second, "correction reported", func() error {
		w := getWork(t, cluster, "app")
		cnd := manifestCondition(w, 1, work.ConditionDrifted)
		if cnd == nil {
			return errors.New("no Drifted condition")
		}
		return holds(cnd.Status == metav1.ConditionFalse && strings.Contains(cnd.Message, "Drift corrected") && strings.Contains(cnd.Message, ".data"), cnd.Message)
	})
}

// CreateOnly creates missing objects and never updates existing ones.
func TestCreateOnlyStrategy(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "createonly")
	ns := "createonly-apps"
	createNS(t, spokeC, ns)
	existing := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "existing", Namespace: ns}, Data: map[string]string{"k": "theirs"}}
	if err := spokeC.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cluster, nil)
	w := manifestWork(cluster, "co",
		configMap(ns, "existing", map[string]string{"k": "ours"}),
		configMap(ns, "fresh", map[string]string{"k": "ours"}))
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{
		strategyConfig("", "configmaps", ns, "existing", workv1.UpdateStrategyTypeCreateOnly),
		strategyConfig("", "configmaps", ns, "fresh", workv1.UpdateStrategyTypeCreateOnly),
	}
	createWork(t, w)
	waitWorkCondition(t, cluster, "co", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	if cm := getCM(t, ns, "existing"); cm.Data["k"] != "theirs" {
		t.Errorf("existing object was updated: %v", cm.Data)
	}
	fresh := getCM(t, ns, "fresh")
	if fresh == nil || fresh.Data["k"] != "ours" {
		t.Fatalf("missing object not created: %+v", fresh)
	}
	// Edits are not drift for CreateOnly; they stay.
	fresh.Data["k"] = "edited"
	if err := spokeC.Update(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	poll.Consistently(t, 2*time.Second, "CreateOnly edit kept", func() error {
		cm := getCM(t, ns, "fresh")
		return holds(cm.Data["k"] == "edited", cm.Data["k"])
	})
	// Deleting it is drift: it is created again.
	if err := spokeC.Delete(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 5*time.Second, "deleted CreateOnly object recreated", func() error {
		cm := getCM(t, ns, "fresh")
		return holds(cm != nil && cm.UID != fresh.UID && cm.Data["k"] == "ours", "not yet")
	})
	// Deleting the work removes what it created, not what it found.
	if err := hubC.Delete(ctx, getWork(t, cluster, "co")); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "work removed", func() error { return holds(getWork(t, cluster, "co") == nil, "work still there") })
	if getCM(t, ns, "fresh") != nil {
		t.Error("the object the work created is still there")
	}
	if getCM(t, ns, "existing") == nil {
		t.Error("the object the work found was deleted")
	}
}

// ReadOnly only reads: status feedback, never writes, never deletes.
func TestReadOnlyStrategyAndFeedback(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "readonly")
	ns := "readonly-apps"
	createNS(t, spokeC, ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched", Namespace: ns}, Data: map[string]string{"mode": "blue", "n": "3"}}
	if err := spokeC.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cluster, nil, func(o *work.Options) { o.ResyncInterval = 500 * time.Millisecond })
	w := manifestWork(cluster, "ro", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"watched","namespace":"`+ns+`"}}`)
	cfg := strategyConfig("", "configmaps", ns, "watched", workv1.UpdateStrategyTypeReadOnly)
	cfg.FeedbackRules = []workv1.FeedbackRule{{Type: workv1.JSONPathsType, JsonPaths: []workv1.JsonPath{
		{Name: "mode", Path: ".data.mode"}, {Name: "missing", Path: ".data.nope"},
	}}}
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{cfg}
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "ro", workv1.WorkAvailable, metav1.ConditionTrue, 20*time.Second)
	vals := w.Status.ResourceStatus.Manifests[0].StatusFeedbacks.Values
	if len(vals) != 1 || vals[0].Name != "mode" || vals[0].Value.String == nil || *vals[0].Value.String != "blue" {
		t.Fatalf("feedback = %+v, want mode=blue only", vals)
	}
	if c := manifestCondition(w, 0, work.ConditionStatusFeedbackSynced); c == nil || c.Reason != work.ReasonStatusFeedbackSynced {
		t.Errorf("StatusFeedbackSynced = %+v", c)
	}
	got := getCM(t, ns, "watched")
	if len(got.OwnerReferences) != 0 || got.Labels[work.LabelManaged] != "" {
		t.Errorf("ReadOnly object was written: %+v", got.ObjectMeta)
	}
	// Feedback follows the object.
	got.Data["mode"] = "green"
	if err := spokeC.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "feedback updated", func() error {
		w := getWork(t, cluster, "ro")
		v := w.Status.ResourceStatus.Manifests[0].StatusFeedbacks.Values
		return holds(len(v) == 1 && v[0].Value.String != nil && *v[0].Value.String == "green", "feedback not updated")
	})
	if err := hubC.Delete(ctx, getWork(t, cluster, "ro")); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "work removed", func() error { return holds(getWork(t, cluster, "ro") == nil, "work still there") })
	if getCM(t, ns, "watched") == nil {
		t.Error("a ReadOnly object was deleted with its work")
	}
}

// Server-side apply honours force and the field manager; without force a
// field owned by another manager is a conflict reported as ApplyConflict.
func TestServerSideApplyStrategy(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "ssa")
	ns := "ssa-apps"
	createNS(t, spokeC, ns)
	// Another manager owns .data.k of "shared".
	other := obj(t, configMap(ns, "shared", map[string]string{"k": "theirs"}))
	if err := spokeC.Patch(ctx, other, client.Apply, client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cluster, nil)
	w := manifestWork(cluster, "ssa",
		configMap(ns, "mine", map[string]string{"k": "v"}),
		configMap(ns, "shared", map[string]string{"k": "ours"}))
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{
		ssaConfig("", "configmaps", ns, "mine", false, "work-agent-custom"),
		ssaConfig("", "configmaps", ns, "shared", false, ""),
	}
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "ssa", workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	if c := manifestCondition(w, 1, workv1.ManifestApplied); c == nil || c.Reason != work.ReasonApplyConflict {
		t.Fatalf("conflicting manifest Applied = %+v, want reason %s", c, work.ReasonApplyConflict)
	}
	if c := manifestCondition(w, 0, workv1.ManifestApplied); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("the other manifest must still apply: %+v", c)
	}
	if c := workCondition(w, workv1.WorkDegraded); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "shared") {
		t.Errorf("Degraded = %+v, want True naming the failed manifest", c)
	}
	mine := getCM(t, ns, "mine")
	if !hasManager(mine.ManagedFields, "work-agent-custom") {
		t.Errorf("managers = %v, want work-agent-custom", managers(mine.ManagedFields))
	}
	if getCM(t, ns, "shared").Data["k"] != "theirs" {
		t.Error("a conflicting field was overwritten without force")
	}
	// With force the agent takes the field over.
	w = getWork(t, cluster, "ssa")
	w.Spec.ManifestConfigs[1].UpdateStrategy.ServerSideApply.Force = true
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	waitWorkCondition(t, cluster, "ssa", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	shared := getCM(t, ns, "shared")
	if shared.Data["k"] != "ours" || !hasManager(shared.ManagedFields, workv1.DefaultFieldManager) {
		t.Errorf("forced apply: data %v managers %v", shared.Data, managers(shared.ManagedFields))
	}
}

// ignoreFields: OnSpokeChange fields keep spoke edits until the manifest
// changes; OnSpokePresent fields are only set at creation.
func TestServerSideApplyIgnoreFields(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "ignore")
	ns := "ignore-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	w := manifestWork(cluster, "ig", configMap(ns, "cfg", map[string]string{"change": "1", "present": "1", "strict": "1"}))
	cfg := ssaConfig("", "configmaps", ns, "cfg", true, "")
	cfg.UpdateStrategy.ServerSideApply.IgnoreFields = []workv1.IgnoreField{
		{Condition: workv1.IgnoreFieldsConditionOnSpokeChange, JSONPaths: []string{".data.change"}},
		{Condition: workv1.IgnoreFieldsConditionOnSpokePresent, JSONPaths: []string{".data.present"}},
	}
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{cfg}
	createWork(t, w)
	waitWorkCondition(t, cluster, "ig", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	cm := getCM(t, ns, "cfg")
	if cm.Data["present"] != "1" || cm.Data["change"] != "1" {
		t.Fatalf("created object lacks ignored fields: %v", cm.Data)
	}
	cm.Data["change"], cm.Data["present"], cm.Data["strict"] = "spoke", "spoke", "spoke"
	if err := spokeC.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 5*time.Second, "non-ignored drift corrected, ignored fields kept", func() error {
		cm := getCM(t, ns, "cfg")
		return holds(cm.Data["strict"] == "1" && cm.Data["change"] == "spoke" && cm.Data["present"] == "spoke", "data "+cm.Data["strict"]+cm.Data["change"]+cm.Data["present"])
	})
	w = waitWorkCondition(t, cluster, "ig", work.ConditionDrifted, metav1.ConditionFalse, 5*time.Second)
	if c := manifestCondition(w, 0, work.ConditionDrifted); c == nil || strings.Contains(c.Message, "change") || strings.Contains(c.Message, "present") {
		t.Errorf("ignored fields reported as drift: %+v", c)
	}
	// A manifest change applies OnSpokeChange fields, never OnSpokePresent ones.
	w = getWork(t, cluster, "ig")
	w.Spec.Workload.Manifests[0].Raw = []byte(configMap(ns, "cfg", map[string]string{"change": "2", "present": "2", "strict": "2"}))
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "manifest change applied", func() error {
		cm := getCM(t, ns, "cfg")
		return holds(cm.Data["strict"] == "2" && cm.Data["change"] == "2" && cm.Data["present"] == "spoke", "data "+cm.Data["strict"]+cm.Data["change"]+cm.Data["present"])
	})
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasManager(mf []metav1.ManagedFieldsEntry, name string) bool {
	for _, e := range mf {
		if e.Manager == name {
			return true
		}
	}
	return false
}

func managers(mf []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range mf {
		out = append(out, e.Manager+"/"+string(e.Operation))
	}
	return out
}

// OCM API v1.3 ignoreFields: JSON Pointers and jq path expressions keep spoke
// edits like JSON paths do; an entry that cannot be used fails its manifest
// with OCM's reason AppliedManifestSSAIgnoreFieldError naming it, and the
// other manifests still apply.
func TestServerSideApplyIgnoreFieldsPointersAndJQ(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "ignore13")
	ns := "ignore13-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	w := manifestWork(cluster, "ig13",
		configMap(ns, "cfg", map[string]string{"pointer": "1", "jq": "1", "strict": "1"}),
		configMap(ns, "bad", map[string]string{"k": "v"}))
	cfg := ssaConfig("", "configmaps", ns, "cfg", true, "")
	cfg.UpdateStrategy.ServerSideApply.IgnoreFields = []workv1.IgnoreField{{Condition: workv1.IgnoreFieldsConditionOnSpokeChange,
		JSONPointers: []string{"/data/pointer"}, JQPathExpressions: []string{`.data | select(has("jq")) | .jq`}}}
	bad := ssaConfig("", "configmaps", ns, "bad", true, "")
	bad.UpdateStrategy.ServerSideApply.IgnoreFields = []workv1.IgnoreField{{Condition: workv1.IgnoreFieldsConditionOnSpokeChange,
		JQPathExpressions: []string{".data.["}}}
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{cfg, bad}
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "ig13", workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	c := manifestCondition(w, 1, workv1.ManifestApplied)
	if c == nil || c.Reason != work.ReasonAppliedManifestSSAIgnoreFieldError || !strings.Contains(c.Message, `jqPathExpressions entry ".data.["`) {
		t.Errorf("bad ignoreFields Applied = %+v", c)
	}
	poll.Eventually(t, 10*time.Second, "cfg applied", func() error {
		c := manifestCondition(getWork(t, cluster, "ig13"), 0, workv1.ManifestApplied)
		return holds(c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", c))
	})
	cm := getCM(t, ns, "cfg")
	cm.Data["pointer"], cm.Data["jq"], cm.Data["strict"] = "spoke", "spoke", "spoke"
	if err := spokeC.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 5*time.Second, "non-ignored drift corrected, ignored fields kept", func() error {
		cm := getCM(t, ns, "cfg")
		return holds(cm.Data["strict"] == "1" && cm.Data["pointer"] == "spoke" && cm.Data["jq"] == "spoke", fmt.Sprint(cm.Data))
	})
}
