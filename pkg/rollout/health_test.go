package rollout

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestReadWork(t *testing.T) {
	cases := []struct {
		name     string
		work     *workv1.ManifestWork
		reported bool
		health   appsv1.WorkloadHealth
		judged   bool
		message  string
	}{
		{name: "not picked up", work: reported("a", ""), message: "waiting for the agent to apply"},
		{name: "apply failed", work: reported("a", "", "Applied=False"), reported: true, message: "Applied says False"},
		{name: "healthy", work: reported("a", "", healthyConds...), reported: true, health: appsv1.HealthHealthy, judged: true},
		{name: "progressing, in the agent's words", work: reported("a", "", progressingCond...), reported: true,
			health: appsv1.HealthProgressing, judged: true, message: "Progressing says True"},
		{name: "degraded, in the agent's words", work: reported("a", "", degradedConds...), reported: true,
			health: appsv1.HealthDegraded, judged: true, message: "Degraded says True"},
		{name: "unknown", work: reported("a", "", "Applied=True", "Available=True", "Progressing=True", "Degraded=Unknown"), reported: true,
			health: appsv1.HealthUnknown, judged: true, message: "Degraded says Unknown"},
		{name: "an agent that judges no health: available is healthy", work: reported("a", "", "Applied=True", "Available=True"),
			reported: true, health: appsv1.HealthHealthy},
		{name: "an agent that judges no health: not available is progressing", work: reported("a", "", "Applied=True", "Available=False"),
			reported: true, health: appsv1.HealthProgressing, message: "Available says False"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ReadWork(tc.work)
			if r.Reported != tc.reported || r.Health != tc.health || r.HealthReported != tc.judged || r.Message != tc.message {
				t.Fatalf("got reported=%v health=%q judged=%v message=%q, want %v %q %v %q",
					r.Reported, r.Health, r.HealthReported, r.Message, tc.reported, tc.health, tc.judged, tc.message)
			}
		})
	}
	if !WorseHealth(appsv1.HealthDegraded, appsv1.HealthUnknown) || !WorseHealth(appsv1.HealthHealthy, "") || WorseHealth(appsv1.HealthHealthy, appsv1.HealthProgressing) {
		t.Fatal("WorseHealth orders Degraded > Unknown > Progressing > Healthy > none")
	}
}

func TestProblem(t *testing.T) {
	manifest := func(kind, ns, name string, conds ...metav1.Condition) workv1.ManifestCondition {
		return workv1.ManifestCondition{ResourceMeta: workv1.ManifestResourceMeta{Kind: kind, Namespace: ns, Name: name}, Conditions: conds}
	}
	c := func(typ string, s metav1.ConditionStatus, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Message: msg}
	}
	withManifests := func(w *workv1.ManifestWork, ms ...workv1.ManifestCondition) *workv1.ManifestWork {
		w.Status.ResourceStatus.Manifests = ms
		return w
	}
	cases := []struct {
		name string
		work *workv1.ManifestWork
		want string
	}{
		{name: "healthy", work: reported("a", "", healthyConds...), want: ""},
		{name: "the first degraded object and why", work: withManifests(reported("a", "", degradedConds...),
			manifest("ConfigMap", "hello", "hello-config", c(workv1.ManifestProgressing, metav1.ConditionFalse, "")),
			manifest("Deployment", "hello", "hello", c(workv1.ManifestProgressing, metav1.ConditionTrue, ""), c(workv1.ManifestDegraded, metav1.ConditionTrue, "0/1 ready: ImagePullBackOff"))),
			want: "Deployment hello/hello: 0/1 ready: ImagePullBackOff"},
		{name: "and how many more", work: withManifests(reported("a", "", degradedConds...),
			manifest("Deployment", "hello", "hello", c(workv1.ManifestDegraded, metav1.ConditionTrue, "0/1 ready: ImagePullBackOff")),
			manifest("Job", "hello", "migrate", c(workv1.ManifestDegraded, metav1.ConditionTrue, "BackoffLimitExceeded")),
			manifest("ClusterRole", "", "reader", c(workv1.ManifestDegraded, metav1.ConditionTrue, ""))),
			want: "Deployment hello/hello: 0/1 ready: ImagePullBackOff (and 2 more)"},
		{name: "progressing objects while progressing", work: withManifests(reported("a", "", progressingCond...),
			manifest("Deployment", "hello", "hello", c(workv1.ManifestProgressing, metav1.ConditionTrue, "1/2 ready"))),
			want: "Deployment hello/hello: 1/2 ready"},
		{name: "the work's message when the hub kept no manifest", work: reported("a", "", degradedConds...), want: "Degraded says True"},
		{name: "an apply failure in the agent's words", work: reported("a", "", "Applied=False"), want: "Applied says False"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReadWork(tc.work).Problem(tc.work); got != tc.want {
				t.Fatalf("Problem = %q, want %q", got, tc.want)
			}
		})
	}
}
