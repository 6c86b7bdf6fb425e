package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

func TestTroubledManifests(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s}
	}
	healthy := []metav1.Condition{
		cond(workv1.ManifestApplied, metav1.ConditionTrue), cond(workv1.ManifestAvailable, metav1.ConditionTrue),
		cond(appsv1.WorkConditionDrifted, metav1.ConditionFalse), cond(workv1.ManifestProgressing, metav1.ConditionFalse),
		cond(workv1.ManifestDegraded, metav1.ConditionFalse),
	}
	in := []workv1.ManifestCondition{
		{ResourceMeta: workv1.ManifestResourceMeta{Name: "ok"}, Conditions: healthy},
		{ResourceMeta: workv1.ManifestResourceMeta{Name: "failed"}, Conditions: []metav1.Condition{
			cond(workv1.ManifestApplied, metav1.ConditionFalse), cond(workv1.ManifestAvailable, metav1.ConditionFalse),
		}},
		{ResourceMeta: workv1.ManifestResourceMeta{Name: "drifted"}, Conditions: []metav1.Condition{
			cond(workv1.ManifestApplied, metav1.ConditionTrue), cond(appsv1.WorkConditionDrifted, metav1.ConditionTrue),
		}, StatusFeedbacks: workv1.StatusFeedbackResult{Values: []workv1.FeedbackValue{{Name: "replicas"}}}},
		{ResourceMeta: workv1.ManifestResourceMeta{Kind: "Deployment", Name: "degraded"}, Conditions: []metav1.Condition{
			cond(workv1.ManifestApplied, metav1.ConditionTrue), cond(workv1.ManifestProgressing, metav1.ConditionTrue),
			{Type: workv1.ManifestDegraded, Status: metav1.ConditionTrue, Message: "0/1 ready: ImagePullBackOff"},
		}},
		{ResourceMeta: workv1.ManifestResourceMeta{Kind: "ConfigMap", Name: "overriding"}, Conditions: append(slices.Clone(healthy),
			metav1.Condition{Type: appsv1.WorkConditionOverrides, Status: metav1.ConditionTrue, Message: "ManifestWork c/w of Subscription fleet/w also apply this object"})},
	}
	got := troubledManifests(in)
	if len(got) != 4 || got[3].ResourceMeta.Name != "overriding" || len(got[3].Conditions) != 1 || got[3].Conditions[0].Type != appsv1.WorkConditionOverrides {
		t.Fatalf("kept %+v, want the overriding manifest with only Overrides=True", got)
	}
	if len(got) != 4 || got[0].ResourceMeta.Name != "failed" || got[1].ResourceMeta.Name != "drifted" || got[2].ResourceMeta.Name != "degraded" {
		t.Fatalf("kept %+v, want the failed, the drifted and the degraded manifest", got)
	}
	if len(got[2].Conditions) != 2 || got[2].Conditions[0].Type != workv1.ManifestProgressing || got[2].Conditions[1].Type != workv1.ManifestDegraded {
		t.Errorf("degraded manifest keeps %+v, want only Progressing and Degraded", got[2].Conditions)
	}
	if len(got[0].Conditions) != 1 || got[0].Conditions[0].Type != workv1.ManifestApplied {
		t.Errorf("failed manifest keeps %+v, want only Applied=False", got[0].Conditions)
	}
	if len(got[1].Conditions) != 1 || got[1].Conditions[0].Type != appsv1.WorkConditionDrifted || len(got[1].StatusFeedbacks.Values) != 0 {
		t.Errorf("drifted manifest keeps %+v, want only Drifted=True", got[1])
	}
	if troubledManifests(in[:1]) != nil {
		t.Error("a healthy work keeps per-manifest entries")
	}
	// What the hub reports from a work is the same before and after.
	w := &workv1.ManifestWork{Status: workv1.ManifestWorkStatus{ResourceStatus: workv1.ManifestResourceStatus{Manifests: in}}}
	stripped := &workv1.ManifestWork{Status: workv1.ManifestWorkStatus{ResourceStatus: workv1.ManifestResourceStatus{Manifests: got}}}
	if a, b := failedManifests(w, "", ""), failedManifests(stripped, "", ""); a != b {
		t.Errorf("failure message %q, after stripping %q", a, b)
	}
	if a, b := driftedObjects(w), driftedObjects(stripped); !equalJSON(a, b) {
		t.Errorf("drift %+v, after stripping %+v", a, b)
	}
	others, objects := overridden(w)
	strippedOthers, strippedObjects := overridden(stripped)
	if len(others) != 1 || !slices.Equal(others, strippedOthers) || !slices.Equal(objects, strippedObjects) {
		t.Errorf("overrides %v on %v, after stripping %v on %v", others, objects, strippedOthers, strippedObjects)
	}
	w.Status.Conditions = []metav1.Condition{cond(workv1.WorkApplied, metav1.ConditionTrue), cond(workv1.WorkDegraded, metav1.ConditionTrue)}
	stripped.Status.Conditions = w.Status.Conditions
	if a, b := rollout.ReadWork(w).Problem(w), rollout.ReadWork(stripped).Problem(stripped); a != b || a != "Deployment degraded: 0/1 ready: ImagePullBackOff" {
		t.Errorf("problem %q, after stripping %q", a, b)
	}
}

func TestStatusBatcher(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newStatusBatcher(time.Second)
	b.now = func() time.Time { return now }
	key := types.NamespacedName{Namespace: "fleet", Name: "app"}
	if d := b.delay(key); d != 0 {
		t.Fatalf("first report waits %s, want 0", d)
	}
	now = now.Add(300 * time.Millisecond)
	if d := b.delay(key); d != 700*time.Millisecond {
		t.Errorf("report 300ms later waits %s, want 700ms (the next slot)", d)
	}
	if d := b.delay(types.NamespacedName{Namespace: "fleet", Name: "other"}); d != 0 {
		t.Errorf("another Subscription's first report waits %s, want 0", d)
	}
	now = now.Add(800 * time.Millisecond)
	if d := b.delay(key); d != 0 {
		t.Errorf("report after the slot waits %s, want 0", d)
	}

	// Bigger Subscriptions are summed up less often, up to ten windows.
	for _, tc := range []struct {
		clusters int
		want     time.Duration
	}{{0, time.Second}, {1000, time.Second}, {1001, 2 * time.Second}, {5000, 5 * time.Second}, {50000, 10 * time.Second}} {
		big := types.NamespacedName{Namespace: "fleet", Name: fmt.Sprintf("big-%d", tc.clusters)}
		b.observe(big, tc.clusters)
		if d := b.delay(big); d != 0 {
			t.Errorf("%d clusters: first report waits %s", tc.clusters, d)
		}
		if d := b.delay(big); d != tc.want {
			t.Errorf("%d clusters: next report waits %s, want %s", tc.clusters, d, tc.want)
		}
	}
}

// TestPendingWrite: a work we wrote stands for the desired content until the
// cache shows our write, and only for the content we wrote.
func TestPendingWrite(t *testing.T) {
	r := &SubscriptionReconciler{written: &writes.Records{TTL: writeRecordTTL}}
	work := func(rv, hash string) *workv1.ManifestWork {
		return &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "c1", Name: "w", ResourceVersion: rv,
			Annotations: map[string]string{appsv1.AnnotationContentHash: hash}}}
	}
	r.wrote(work("10", "h2"), "h2")
	if !r.written.Echo(work("10", "h2")) {
		t.Error("the watch event of our own write is not known as ours")
	}
	if r.written.Echo(work("11", "h3")) {
		t.Error("someone else's change of a work we wrote passes for our own")
	}
	if !r.pendingWrite("c1", "w", "h2", nil) {
		t.Error("a work we created is not pending while the cache lacks it")
	}
	if !r.pendingWrite("c1", "w", "h2", work("9", "h1")) {
		t.Error("a work we rewrote is not pending while the cache shows an older version")
	}
	if r.pendingWrite("c1", "w", "h3", work("9", "h1")) {
		t.Error("a write of other content stands for the desired content")
	}
	if r.pendingWrite("c1", "w", "h2", work("10", "h2")) {
		t.Error("still pending once the cache shows the write")
	}
	r.wrote(work("13", "h2"), "h2")
	r.written.Forget("c1/w")
	if r.pendingWrite("c1", "w", "h2", nil) {
		t.Error("a deleted work is still pending")
	}
}

func TestReplacePatch(t *testing.T) {
	w := &workv1.ManifestWork{
		ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "c1", Labels: map[string]string{"l": "1"}, Annotations: map[string]string{"a": "2"}},
		Spec:       workv1.ManifestWorkSpec{DeleteOption: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}},
	}
	data, err := replacePatch(w)
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	if err := json.Unmarshal(data, &ops); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, o := range ops {
		if o.Op != "add" {
			t.Errorf("op %q at %s, want add (sets or replaces)", o.Op, o.Path)
		}
		paths[o.Path] = string(o.Value)
	}
	// Only labels, annotations and spec: finalizers and status stay the server's.
	if len(paths) != 3 || paths["/metadata/labels"] != `{"l":"1"}` || paths["/metadata/annotations"] != `{"a":"2"}` ||
		paths["/spec"] != `{"workload":{},"deleteOption":{"propagationPolicy":"Orphan"}}` {
		t.Errorf("patch %s", data)
	}
}
