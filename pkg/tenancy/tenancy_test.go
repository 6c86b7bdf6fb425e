package tenancy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

func sub(p *appsv1.Placement) *appsv1.Subscription {
	return &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app"}, Spec: appsv1.SubscriptionSpec{Placement: p}}
}

func ns(labels, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: labels, Annotations: annotations}}
}

func TestConfined(t *testing.T) {
	ref := &corev1.ObjectReference{Kind: "Placement", Name: "p"}
	platform := ns(map[string]string{LabelTenant: "false"}, nil)
	for _, tc := range []struct {
		name string
		opts Options
		ns   *corev1.Namespace
		p    *appsv1.Placement
		want bool
	}{
		{"cluster list in a tenant namespace", Options{}, ns(nil, nil), &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}, true},
		{"selector", Options{}, ns(nil, nil), &appsv1.Placement{ClusterSelector: &metav1.LabelSelector{}}, true},
		{"local", Options{}, ns(nil, nil), &appsv1.Placement{Local: ptr.To(true)}, true},
		{"local wins over a placementRef", Options{}, ns(nil, nil), &appsv1.Placement{Local: ptr.To(true), PlacementRef: ref}, true},
		{"namespace unreadable or gone", Options{}, nil, &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}, true},
		{"tenant=true is a tenant too", Options{}, ns(map[string]string{LabelTenant: "true"}, nil), &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}, true},
		{"placementRef selects through its Placement", Options{}, ns(nil, nil), &appsv1.Placement{PlacementRef: ref}, false},
		{"a PlacementRule chooses from every cluster", Options{}, ns(nil, nil), &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "PlacementRule", Name: "r"}}, true},
		{"platform namespace", Options{}, platform, &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}, false},
		{"single-team hub", Options{DirectPlacement: DirectPlacementAny}, ns(nil, nil), &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}, false},
	} {
		if got := Confined(tc.opts, tc.ns, sub(tc.p)); got != tc.want {
			t.Errorf("%s: Confined = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestConfine(t *testing.T) {
	set := func(name string) *clusterv1beta2.ManagedClusterSet {
		return &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	binding := func(namespace, name string, bound metav1.ConditionStatus) *clusterv1beta2.ManagedClusterSetBinding {
		b := &clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: name}}
		if bound != "" {
			b.Status.Conditions = []metav1.Condition{{Type: clusterv1beta2.ClusterSetBindingBoundType, Status: bound}}
		}
		return b
	}
	deleting := set("leaving")
	deleting.DeletionTimestamp = &metav1.Time{}
	sets := []*clusterv1beta2.ManagedClusterSet{set("team-a"), set("team-b"), set("gone-unbound"), deleting}
	bound := BoundSets("team-a", sets, []*clusterv1beta2.ManagedClusterSetBinding{
		binding("team-a", "team-a", ""), binding("team-b", "team-b", metav1.ConditionTrue),
		binding("team-a", "gone-unbound", metav1.ConditionFalse), binding("team-a", "leaving", metav1.ConditionTrue),
		binding("team-a", "missing", metav1.ConditionTrue),
	})
	if len(bound) != 1 || bound[0].Name != "team-a" {
		t.Fatalf("bound sets = %v, want team-a only", bound)
	}
	in := func(s string) map[string]string { return map[string]string{clusterv1beta2.ClusterSetLabel: s} }
	targets := []placement.Target{
		{Cluster: "a1", Labels: in("team-a")}, {Cluster: "b1", Labels: in("team-b")},
		{Cluster: "u1", Labels: in("gone-unbound")}, {Cluster: "none"}, {Cluster: "a2", Labels: in("team-a")},
	}
	var got []string
	for _, t := range Confine(targets, bound) {
		got = append(got, t.Cluster)
	}
	if strings.Join(got, ",") != "a1,a2" {
		t.Errorf("confined targets = %v, want a1,a2", got)
	}
	if targets[1].Cluster != "b1" {
		t.Error("Confine changed its input")
	}
	if len(Confine(targets, nil)) != 0 {
		t.Error("no bound set must leave no target")
	}
}

func TestExecutorAllowed(t *testing.T) {
	exec := func(namespace, name string) *workv1.ManifestWorkExecutor {
		return &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{Type: workv1.ExecutorSubjectTypeServiceAccount,
			ServiceAccount: &workv1.ManifestWorkSubjectServiceAccount{Namespace: namespace, Name: name}}}
	}
	allow := func(list string) *corev1.Namespace {
		return ns(nil, map[string]string{AnnotationAllowedExecutors: list})
	}
	for _, tc := range []struct {
		name string
		ns   *corev1.Namespace
		exec *workv1.ManifestWorkExecutor
		want string // "" allowed, else part of the refusal
	}{
		{"no executor", ns(nil, nil), nil, ""},
		{"listed", allow("apps/deployer"), exec("apps", "deployer"), ""},
		{"listed among others, with spaces", allow("other/x, apps/deployer ,monitoring/*"), exec("apps", "deployer"), ""},
		{"namespace wildcard", allow("apps/*"), exec("apps", "anyone"), ""},
		{"no list", ns(nil, nil), exec("apps", "deployer"), `adding "apps/deployer" to the namespace's annotation ocm-gitops.io/allowed-executors`},
		{"namespace gone", nil, exec("apps", "deployer"), "may not use"},
		{"another namespace's wildcard", allow("apps/*"), exec("apps-admin", "deployer"), "may not use"},
		{"a prefix is not a match", allow("apps/deploy"), exec("apps", "deployer"), "may not use"},
		// issue 16 item 4: the aggregation controller holds escalate.
		{"kube-system, even when listed", allow("kube-system/*"), exec("kube-system", "clusterrole-aggregation-controller"), "system namespace"},
		{"global wildcard means nothing", allow("*/*,*"), exec("apps", "deployer"), "may not use"},
		{"not a ServiceAccount", allow("apps/*"), &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{Type: "User"}}, "must name a ServiceAccount"},
	} {
		s := sub(nil)
		s.Spec.Executor = tc.exec
		err := ExecutorAllowed(tc.ns, s)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !IsDenied(err)):
			t.Errorf("%s: err = %v, want a DeniedError containing %q", tc.name, err, tc.want)
		case err != nil && !strings.HasPrefix(err.Error(), "subscription team-a/app: "):
			t.Errorf("%s: the refusal does not name the Subscription: %v", tc.name, err)
		}
	}
}

func TestParseDirectPlacement(t *testing.T) {
	for in, want := range map[string]DirectPlacement{"": DirectPlacementBound, "bound": DirectPlacementBound, "any": DirectPlacementAny} {
		if got, err := ParseDirectPlacement(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseDirectPlacement("all"); err == nil || !strings.Contains(err.Error(), `"bound"`) {
		t.Errorf("a bad value: %v", err)
	}
}
