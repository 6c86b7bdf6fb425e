package hub

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

// agentOverrides is the agent's Overrides message for the works named.
func agentOverrides(works ...string) string {
	return "ManifestWork " + strings.Join(works, ", ManifestWork ") +
		" also apply this object with different content; this work takes precedence and theirs is not applied"
}

func manifestWith(kind, ns, name string, conds ...metav1.Condition) workv1.ManifestCondition {
	return workv1.ManifestCondition{ResourceMeta: workv1.ManifestResourceMeta{Kind: kind, Namespace: ns, Name: name}, Conditions: conds}
}

func TestOverridden(t *testing.T) {
	over := func(status metav1.ConditionStatus, msg string) metav1.Condition {
		return cond(appsv1.WorkConditionOverrides, status, 1, msg)
	}
	many := make([]string, 12)
	for i := range many {
		many[i] = "c1/w" + string(rune('a'+i)) + " of Subscription fleet/s" + string(rune('a'+i))
	}
	tests := []struct {
		name          string
		manifests     []workv1.ManifestCondition
		others, objes string
	}{
		{"no contest", []workv1.ManifestCondition{manifestWith("ConfigMap", "web", "cfg")}, "", ""},
		{"one Subscription beaten",
			[]workv1.ManifestCondition{manifestWith("ConfigMap", "web", "cfg", over(metav1.ConditionTrue, agentOverrides("c1/fleet.second of Subscription fleet/second")))},
			"fleet/second", "ConfigMap web/cfg"},
		{"a work no Subscription wrote is named as a work",
			[]workv1.ManifestCondition{manifestWith("Namespace", "", "web", over(metav1.ConditionTrue, agentOverrides("c1/by-hand", "c1/x of Subscription ops/x")))},
			"ManifestWork c1/by-hand,ops/x", "Namespace web"},
		{"Overrides False counts for nothing",
			[]workv1.ManifestCondition{manifestWith("ConfigMap", "web", "cfg", over(metav1.ConditionFalse, agentOverrides("c1/w of Subscription fleet/w")))},
			"", ""},
		{"the same Subscription on two objects is listed once",
			[]workv1.ManifestCondition{
				manifestWith("Service", "web", "front", over(metav1.ConditionTrue, agentOverrides("c1/w of Subscription fleet/w"))),
				manifestWith("Deployment", "web", "front", over(metav1.ConditionTrue, agentOverrides("c1/w of Subscription fleet/w"))),
			},
			"fleet/w", "Deployment web/front,Service web/front"},
		{"bounded", []workv1.ManifestCondition{manifestWith("ConfigMap", "web", "cfg", over(metav1.ConditionTrue, agentOverrides(many...)))},
			"fleet/sa,fleet/sb,fleet/sc,fleet/sd,fleet/se,fleet/sf,fleet/sg,fleet/sh,fleet/si,fleet/sj", "ConfigMap web/cfg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := work("h", 1)
			w.Status.ResourceStatus.Manifests = tc.manifests
			others, objects := overridden(w)
			if strings.Join(others, ",") != tc.others || strings.Join(objects, ",") != tc.objes {
				t.Errorf("overridden = %q, %q; want %q, %q", others, objects, tc.others, tc.objes)
			}
		})
	}
}

// TestSummarizeOverrides: a cluster where this Subscription's work wins an
// object against another Subscription stays Applied and healthy, lists the
// other Subscription and says so in its message; the Subscription gets the
// Overrides warning and a Ready that stays True but names it; once the
// contest ends, both go.
func TestSummarizeOverrides(t *testing.T) {
	ok := []metav1.Condition{cond(workv1.WorkApplied, metav1.ConditionTrue, 1, ""), cond(workv1.WorkAvailable, metav1.ConditionTrue, 1, ""),
		cond(workv1.WorkProgressing, metav1.ConditionFalse, 1, ""), cond(workv1.WorkDegraded, metav1.ConditionFalse, 1, "")}
	winner := work("h", 1, ok...)
	winner.Status.ResourceStatus.Manifests = []workv1.ManifestCondition{
		manifestWith("ConfigMap", "web", "cfg", cond(appsv1.WorkConditionOverrides, metav1.ConditionTrue, 1, agentOverrides("c1/fleet.second of Subscription fleet/second"))),
	}
	plain := work("h", 1, ok...)
	sub := &appsv1.Subscription{}
	summarize(sub, outcome{targets: []placement.Target{{Cluster: "c1"}, {Cluster: "c2"}}, hashes: map[string]string{"c1": "h", "c2": "h"},
		existing: map[string][]*workv1.ManifestWork{"c1": {winner}, "c2": {plain}}})
	const note = "overrides fleet/second on ConfigMap web/cfg (same object, other content: this Subscription's is applied)"
	var c1 appsv1.ClusterStatus
	for _, c := range sub.Status.Clusters {
		if c.Name == "c1" {
			c1 = c
		}
	}
	if c1.State != appsv1.ClusterApplied || c1.Health != appsv1.HealthHealthy || strings.Join(c1.Overrides, ",") != "fleet/second" || c1.Message != note {
		t.Fatalf("c1 = %+v", c1)
	}
	if sum := sub.Status.Summary; sum.Applied != 2 || sum.Healthy != 2 {
		t.Fatalf("summary %+v: the winner's cluster must count as applied and healthy", sum)
	}
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionOverrides); got.Status != metav1.ConditionTrue || got.Reason != appsv1.ReasonTakesPrecedence ||
		got.Message != "overrides other Subscriptions on 1/2 clusters: c1: "+note {
		t.Fatalf("Overrides %+v", got)
	}
	setReady(sub)
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionReady); got.Status != metav1.ConditionTrue || !strings.HasSuffix(got.Message, "; overrides other Subscriptions on 1/2 clusters: c1: "+note) {
		t.Fatalf("Ready %+v", got)
	}

	// A winner being rewritten with new content: its report is of the old one.
	summarize(sub, outcome{targets: []placement.Target{{Cluster: "c1"}}, hashes: map[string]string{"c1": "new"},
		existing: map[string][]*workv1.ManifestWork{"c1": {winner}}})
	if got := sub.Status.Clusters[0]; len(got.Overrides) != 0 || strings.Contains(got.Message, "overrides") {
		t.Fatalf("a work being updated still marks the cluster: %+v", got)
	}

	// The agent dropped the condition: the contest ended.
	winner.Status.ResourceStatus.Manifests[0].Conditions = nil
	summarize(sub, outcome{targets: []placement.Target{{Cluster: "c1"}}, hashes: map[string]string{"c1": "h"},
		existing: map[string][]*workv1.ManifestWork{"c1": {winner}}})
	if got := sub.Status.Clusters[0]; len(got.Overrides) != 0 || got.Message != "" {
		t.Fatalf("c1 after the contest = %+v", got)
	}
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionOverrides); got.Type != "" {
		t.Fatalf("Overrides stays after the contest: %+v", got)
	}
	setReady(sub)
	if got := conditionIn(sub.Status.Conditions, appsv1.ConditionReady); strings.Contains(got.Message, "overrides") {
		t.Fatalf("Ready %+v", got)
	}
}

// TestOverridesAfterOtherStates: the mark follows what the cluster's state
// says (a stale cluster, a workload not healthy yet), never replaces it.
func TestOverridesAfterOtherStates(t *testing.T) {
	st := withOverrides(appsv1.ClusterStatus{State: appsv1.ClusterStale, Message: "holds main@1; main@2 fails to render", Overrides: []string{"fleet/b"}}, []string{"ConfigMap a/b"})
	if want := "holds main@1; main@2 fails to render; overrides fleet/b on ConfigMap a/b (same object, other content: this Subscription's is applied)"; st.Message != want {
		t.Fatalf("message %q, want %q", st.Message, want)
	}
	if st := withOverrides(appsv1.ClusterStatus{State: appsv1.ClusterApplied}, nil); st.Message != "" {
		t.Fatalf("no overrides, message %q", st.Message)
	}
}

// The Overrides warning sends one event when it appears, one when it
// clears, and none while it stays, as its count grows with a rollout.
func TestOverridesEvent(t *testing.T) {
	over := func(msg string) *appsv1.SubscriptionStatus {
		return &appsv1.SubscriptionStatus{Conditions: []metav1.Condition{{Type: appsv1.ConditionOverrides, Status: metav1.ConditionTrue, Reason: appsv1.ReasonTakesPrecedence, Message: msg}}}
	}
	none := &appsv1.SubscriptionStatus{}
	one, two := over("overrides other Subscriptions on 1/2 clusters: c1"), over("overrides other Subscriptions on 2/2 clusters: c1")
	for _, tc := range []struct {
		name          string
		before, after *appsv1.SubscriptionStatus
		want          string
	}{
		{"appears", none, one, corev1.EventTypeWarning + "/" + appsv1.ReasonTakesPrecedence},
		{"stays", one, one, ""},
		{"reaches more clusters", one, two, ""},
		{"clears", two, none, corev1.EventTypeNormal + "/OverridesCleared"},
		{"never there", none, none, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if ev, ok := overridesEvent(tc.before, tc.after); ok {
				got = ev.typ + "/" + ev.reason
			}
			if got != tc.want {
				t.Errorf("event %q, want %q", got, tc.want)
			}
		})
	}
}
