package hub

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

func work(hash string, generation int64, conds ...metav1.Condition) *workv1.ManifestWork {
	w := &workv1.ManifestWork{}
	w.Generation = generation
	w.Annotations = map[string]string{appsv1.AnnotationContentHash: hash, appsv1.AnnotationRevision: "old@sha1:1"}
	w.Status.Conditions = conds
	return w
}

func cond(typ string, status metav1.ConditionStatus, gen int64, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, ObservedGeneration: gen, Message: msg}
}

func TestClusterStatus(t *testing.T) {
	applied := cond(workv1.WorkApplied, metav1.ConditionTrue, 2, "")
	available := cond(workv1.WorkAvailable, metav1.ConditionTrue, 2, "")
	drifted := work("h", 2, applied, available, cond(appsv1.WorkConditionDrifted, metav1.ConditionTrue, 2, ""))
	drifted.Status.ResourceStatus.Manifests = []workv1.ManifestCondition{{
		ResourceMeta: workv1.ManifestResourceMeta{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "web", Name: "front"},
		Conditions:   []metav1.Condition{cond(appsv1.WorkConditionDrifted, metav1.ConditionTrue, 2, "fields differ: .spec.replicas, .spec.template.spec.containers[0].image")},
	}}
	tests := []struct {
		name     string
		view     clusterView
		want     appsv1.ClusterState
		revision string
	}{
		{"no work yet", clusterView{desiredHash: "h"}, appsv1.ClusterProgressing, ""},
		{"held back", clusterView{works: []*workv1.ManifestWork{work("old", 1)}}, appsv1.ClusterPending, "old@sha1:1"},
		{"offline wins", clusterView{desiredHash: "h", offline: true, works: []*workv1.ManifestWork{work("h", 2, applied, available)}}, appsv1.ClusterOffline, "new@sha1:2"},
		{"old content", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("old", 2, applied, available)}}, appsv1.ClusterProgressing, "old@sha1:1"},
		{"agent behind", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 3, applied, available)}}, appsv1.ClusterProgressing, "new@sha1:2"},
		{"applied", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, applied, available)}}, appsv1.ClusterApplied, "new@sha1:2"},
		{"not available", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, applied)}}, appsv1.ClusterProgressing, "new@sha1:2"},
		{"apply failed", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, cond(workv1.WorkApplied, metav1.ConditionFalse, 2, "quota"))}}, appsv1.ClusterFailed, "new@sha1:2"},
		{"degraded", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, applied, cond(workv1.WorkDegraded, metav1.ConditionTrue, 2, "crashloop"))}}, appsv1.ClusterDegraded, "new@sha1:2"},
		{"applied, workloads progressing", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, applied, available,
			cond(workv1.WorkProgressing, metav1.ConditionTrue, 2, "rolling"), cond(workv1.WorkDegraded, metav1.ConditionFalse, 2, ""))}}, appsv1.ClusterProgressing, "new@sha1:2"},
		{"applied and healthy", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, applied, available,
			cond(workv1.WorkProgressing, metav1.ConditionFalse, 2, ""), cond(workv1.WorkDegraded, metav1.ConditionFalse, 2, ""))}}, appsv1.ClusterApplied, "new@sha1:2"},
		{"degraded outweighs drift", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{drifted,
			work("h", 2, applied, available, cond(workv1.WorkDegraded, metav1.ConditionTrue, 2, "crashloop"))}}, appsv1.ClusterDegraded, "new@sha1:2"},
		{"drifted", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{drifted}}, appsv1.ClusterDrifted, "new@sha1:2"},
		{"worst part wins", clusterView{desiredHash: "h", works: []*workv1.ManifestWork{work("h", 2, applied, available), drifted}}, appsv1.ClusterDrifted, "new@sha1:2"},
		// The latest cannot be deployed: what the cluster holds is stale.
		{"stale", clusterView{desiredHash: "old", stale: "x fails to render", works: []*workv1.ManifestWork{work("old", 2, applied, available)}}, appsv1.ClusterStale, "old@sha1:1"},
		{"stale and failing is failing", clusterView{desiredHash: "old", stale: "x", works: []*workv1.ManifestWork{work("old", 2, cond(workv1.WorkApplied, metav1.ConditionFalse, 2, "quota"))}}, appsv1.ClusterFailed, "old@sha1:1"},
		{"never deployed", clusterView{stale: "x fails to render"}, appsv1.ClusterPending, ""},
		// No longer selected, its removal waiting.
		{"held", clusterView{leaving: true, waiting: "budget", works: []*workv1.ManifestWork{work("old", 2, applied, available)}}, appsv1.ClusterHeld, "old@sha1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.view.name = "c1"
			got := clusterStatus(tt.view, "new@sha1:2")
			if got.State != tt.want {
				t.Fatalf("state = %s (%s), want %s", got.State, got.Message, tt.want)
			}
			if got.Revision != tt.revision {
				t.Fatalf("revision = %q, want %q", got.Revision, tt.revision)
			}
		})
	}

	got := clusterStatus(clusterView{name: "c1", desiredHash: "h", works: []*workv1.ManifestWork{drifted}}, "r")
	if len(got.Drift) != 1 || got.Drift[0].APIVersion != "apps/v1" || len(got.Drift[0].Fields) != 2 ||
		got.Drift[0].Fields[1] != ".spec.template.spec.containers[0].image" {
		t.Fatalf("drift = %+v", got.Drift)
	}
	if got.Message != "drift: Deployment web/front .spec.replicas,.spec.template.spec.containers[0].image" {
		t.Fatalf("message = %q", got.Message)
	}
}

// TestClusterStatusConflict: a manifest another work applies with other
// content and wins (the agent's reason ManifestConflict) makes the cluster
// Failed with a conflict message naming the object and what the agent says
// of the winner; other failures stay "apply failed".
func TestClusterStatusConflict(t *testing.T) {
	const agentMsg = "Not applied: ManifestWork c1/fleet.dev of Subscription fleet/dev also applies Deployment web/front with different content and takes precedence"
	lost := work("h", 2, cond(workv1.WorkApplied, metav1.ConditionFalse, 2, "1 manifest not applied"))
	applied := cond(workv1.ManifestApplied, metav1.ConditionTrue, 2, "")
	applied.Reason = "AppliedManifestComplete"
	conflict := cond(workv1.ManifestApplied, metav1.ConditionFalse, 2, agentMsg)
	conflict.Reason = appsv1.ReasonManifestConflict
	lost.Status.ResourceStatus.Manifests = []workv1.ManifestCondition{
		{ResourceMeta: workv1.ManifestResourceMeta{Kind: "ConfigMap", Namespace: "web", Name: "cfg"}, Conditions: []metav1.Condition{applied}},
		{ResourceMeta: workv1.ManifestResourceMeta{Kind: "Deployment", Namespace: "web", Name: "front"}, Conditions: []metav1.Condition{conflict}},
	}
	got := clusterStatus(clusterView{name: "c1", desiredHash: "h", works: []*workv1.ManifestWork{lost}}, "r")
	if got.State != appsv1.ClusterFailed || got.Message != "conflict: Deployment web/front: "+agentMsg {
		t.Fatalf("status = %s %q", got.State, got.Message)
	}
	conflict.Reason = "AppliedManifestFailed"
	lost.Status.ResourceStatus.Manifests[1].Conditions = []metav1.Condition{conflict}
	if got := clusterStatus(clusterView{name: "c1", desiredHash: "h", works: []*workv1.ManifestWork{lost}}, "r"); got.Message != "apply failed: Deployment web/front: "+agentMsg {
		t.Fatalf("an ordinary failure reads %q", got.Message)
	}
}

// TestSummarizeStaleAndHeld: a render failure makes the clusters holding the
// last good content Stale (and Applied False); clusters whose removal waits
// are listed Held, outside Selected.
func TestSummarizeStaleAndHeld(t *testing.T) {
	ok := []metav1.Condition{cond(workv1.WorkApplied, metav1.ConditionTrue, 1, ""), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, "")}
	existing := map[string][]*workv1.ManifestWork{"a": {work("h", 1, ok...)}, "gone": {work("h", 1, ok...)}}
	sub := &appsv1.Subscription{}
	summarize(sub, outcome{targets: []placement.Target{{Cluster: "a"}, {Cluster: "b"}}, existing: existing,
		stale: "main@abc fails to render", holding: map[string]string{"gone": "the deletion budget holds it"}})
	sum := sub.Status.Summary
	if sum.Selected != 2 || sum.Stale != 1 || sum.Pending != 1 || sum.Held != 1 || sum.Applied != 0 {
		t.Fatalf("summary %+v", sum)
	}
	states := map[string]appsv1.ClusterState{}
	for _, c := range sub.Status.Clusters {
		states[c.Name] = c.State
	}
	if states["a"] != appsv1.ClusterStale || states["b"] != appsv1.ClusterPending || states["gone"] != appsv1.ClusterHeld {
		t.Fatalf("states %v", states)
	}
	if c := conditionIn(sub.Status.Conditions, appsv1.ConditionApplied); c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonStale {
		t.Fatalf("Applied %+v", c)
	}
}

// TestSummarizeHealth: the Subscription's clusters by health, its Applied
// and Healthy conditions, and the first failing object named.
func TestSummarizeHealth(t *testing.T) {
	c := func(typ string, status metav1.ConditionStatus, msg string) metav1.Condition {
		return cond(typ, status, 1, msg)
	}
	healthy := work("h", 1, c(workv1.WorkApplied, metav1.ConditionTrue, ""), c(workv1.WorkAvailable, metav1.ConditionTrue, ""),
		c(workv1.WorkProgressing, metav1.ConditionFalse, ""), c(workv1.WorkDegraded, metav1.ConditionFalse, ""))
	progressing := work("h", 1, c(workv1.WorkApplied, metav1.ConditionTrue, ""), c(workv1.WorkAvailable, metav1.ConditionTrue, ""),
		c(workv1.WorkProgressing, metav1.ConditionTrue, "1 of 2 resources progressing: Deployment apps/web: 0/1 ready"), c(workv1.WorkDegraded, metav1.ConditionFalse, ""))
	degraded := work("h", 1, c(workv1.WorkApplied, metav1.ConditionTrue, ""), c(workv1.WorkAvailable, metav1.ConditionTrue, ""),
		c(workv1.WorkProgressing, metav1.ConditionTrue, ""), c(workv1.WorkDegraded, metav1.ConditionTrue, "1 of 2 resources degraded"))
	degraded.Status.ResourceStatus.Manifests = []workv1.ManifestCondition{{
		ResourceMeta: workv1.ManifestResourceMeta{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "apps", Name: "web"},
		Conditions:   []metav1.Condition{c(workv1.ManifestDegraded, metav1.ConditionTrue, "0/1 ready: ImagePullBackOff")},
	}}
	targets := []placement.Target{{Cluster: "a"}, {Cluster: "b"}, {Cluster: "c"}}
	summary := func(existing map[string][]*workv1.ManifestWork) *appsv1.Subscription {
		sub := &appsv1.Subscription{}
		summarize(sub, outcome{targets: targets, existing: existing, hashes: map[string]string{"a": "h", "b": "h", "c": "h"}})
		return sub
	}

	sub := summary(map[string][]*workv1.ManifestWork{"a": {healthy}, "b": {progressing}, "c": {degraded}})
	if sum := sub.Status.Summary; sum.Healthy != 1 || sum.Applied != 1 || sum.Progressing != 1 || sum.Degraded != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if got := sub.Status.Clusters[0]; got.Name != "c" || got.State != appsv1.ClusterDegraded || got.Health != appsv1.HealthDegraded ||
		got.Message != "Deployment apps/web: 0/1 ready: ImagePullBackOff" {
		t.Fatalf("first cluster %+v", got)
	}
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionApplied); got.Status != metav1.ConditionTrue || got.Message != "applied on 3/3 clusters" {
		t.Fatalf("Applied %+v", got)
	}
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionHealthy); got.Status != metav1.ConditionFalse || got.Reason != appsv1.ReasonDegraded ||
		got.Message != "degraded on 1/3 clusters: c: Deployment apps/web: 0/1 ready: ImagePullBackOff; healthy on 1/3 clusters" {
		t.Fatalf("Healthy %+v", got)
	}

	sub = summary(map[string][]*workv1.ManifestWork{"a": {healthy}, "b": {healthy}, "c": {progressing}})
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionHealthy); got.Status != metav1.ConditionFalse || got.Reason != appsv1.ReasonProgressing ||
		got.Message != "healthy on 2/3 clusters, 1 progressing; c: applied, not healthy yet: 1 of 2 resources progressing: Deployment apps/web: 0/1 ready" {
		t.Fatalf("Healthy %+v", got)
	}
	setReady(sub)
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionReady); got.Status != metav1.ConditionFalse || got.Reason != appsv1.ReasonProgressing {
		t.Fatalf("Ready waits for health: %+v", got)
	}
	// Relaxed: applied is enough for Ready; the views still say progressing.
	sub.Spec.Health = &appsv1.HealthPolicy{WaitFor: appsv1.WaitForApplied}
	setReady(sub)
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionReady); got.Status != metav1.ConditionTrue || got.Message != "applied on 3/3 clusters" {
		t.Fatalf("Ready with waitFor Applied: %+v", got)
	}

	sub = summary(map[string][]*workv1.ManifestWork{"a": {healthy}, "b": {healthy}, "c": {healthy}})
	setReady(sub)
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionReady); got.Status != metav1.ConditionTrue || got.Message != "healthy on 3/3 clusters" {
		t.Fatalf("Ready %+v", got)
	}
}

func TestAggregateBoundsAndOrders(t *testing.T) {
	applied := []metav1.Condition{cond(workv1.WorkApplied, metav1.ConditionTrue, 1, ""), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, "")}
	var views []clusterView
	for i := range 250 {
		views = append(views, clusterView{name: fmt.Sprintf("c%03d", i), desiredHash: "h", works: []*workv1.ManifestWork{work("h", 1, applied...)}})
	}
	views = append(views, clusterView{name: "zz-failing", desiredHash: "h", works: []*workv1.ManifestWork{work("h", 1, cond(workv1.WorkApplied, metav1.ConditionFalse, 1, "boom"))}})
	got := aggregate(views, "r")
	sum, list, truncated := got.sum, got.clusters, got.truncated
	if sum.Selected != 251 || sum.Applied != 250 || sum.Failed != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	if !truncated || len(list) != maxClusterEntries {
		t.Fatalf("list has %d entries, truncated=%v", len(list), truncated)
	}
	if list[0].Name != "zz-failing" {
		t.Fatalf("failing cluster not listed first: %s", list[0].Name)
	}
}

func TestNames(t *testing.T) {
	sub := &appsv1.Subscription{}
	sub.Namespace, sub.Name = "team-a", "web"
	if got := WorkName(sub, 0); got != "team-a.web" {
		t.Fatalf("WorkName = %q", got)
	}
	if got := WorkName(sub, 2); got != "team-a.web.part-2" {
		t.Fatalf("WorkName part 2 = %q", got)
	}
	long := make([]byte, 240)
	for i := range long {
		long[i] = 'a'
	}
	sub.Name = string(long)
	if got := WorkName(sub, 0); len(got) > 173 {
		t.Fatalf("long WorkName is %d characters", len(got))
	}
	if got := SubscriptionLabel("team-a", "web"); got != "team-a.web" {
		t.Fatalf("SubscriptionLabel = %q", got)
	}
	a, b := SubscriptionLabel("team-a", string(long)), SubscriptionLabel("team-a", string(long)+"b")
	if len(a) > 63 || a == b {
		t.Fatalf("long labels %q and %q must be valid and distinct", a, b)
	}
}
