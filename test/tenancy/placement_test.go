package tenancy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestDirectPlacementReachesOnlyBoundSets attacks other teams' clusters with
// OCM's direct placement and PlacementRules (issue 16 item 15) and with
// spec.executor (item 4), on a hub run with its defaults: team-a's
// Subscriptions that name clusters, select them by label, use a
// PlacementRule, or ask for the hub itself reach only the clusters of
// the set bound to team-a, however they ask; a namespace a hub administrator
// labelled ocm-gitops.io/tenant=false keeps OCM's reach; binding another set
// widens team-a's reach at once. A Subscription names only the executors its
// namespace's annotation allows, never a kube-system ServiceAccount.
func TestDirectPlacementReachesOnlyBoundSets(t *testing.T) {
	e := harness.NewHub(t)
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	e.Create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "platform", Labels: map[string]string{tenancy.LabelTenant: "false"}}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "dev"}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "prod"}},
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: harness.Meta("team-a", "dev"), Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "dev"}},
	)
	for name, set := range map[string]string{"dev1": "dev", "prod1": "prod", placement.LocalCluster: "prod"} {
		e.Create(t, registration.ClusterNamespace(name),
			&clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{clusterv1beta2.ClusterSetLabel: set, "env": set}},
				Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})
	}
	everyCluster := &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "dev1"}, {Name: "prod1"}, {Name: placement.LocalCluster}}}
	kubeSystem := subscriptionIn("team-a", "kube-system-executor", "team-a/repo", placementRef("p", ""))
	kubeSystem.Spec.Executor = executor("kube-system", "clusterrole-aggregation-controller")
	teamExecutor := subscriptionIn("team-a", "executor", "team-a/repo", &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "dev1"}}})
	teamExecutor.Spec.Executor = executor("apps", "deployer")
	e.Create(t,
		&appsv1.Channel{ObjectMeta: harness.Meta("team-a", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL, AllowedNamespaces: []string{"platform"}}},
		subscriptionIn("team-a", "named", "team-a/repo", everyCluster),
		subscriptionIn("team-a", "selected", "team-a/repo", &appsv1.Placement{ClusterSelector: &metav1.LabelSelector{}}),
		subscriptionIn("team-a", "prod-by-label", "team-a/repo", &appsv1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}),
		subscriptionIn("team-a", "hub", "team-a/repo", &appsv1.Placement{Local: ptr.To(true)}),
		&appsv1.PlacementRule{ObjectMeta: harness.Meta("team-a", "all"), Spec: appsv1.PlacementRuleSpec{ClusterSelector: &metav1.LabelSelector{}}},
		subscriptionIn("team-a", "rule", "team-a/repo", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "PlacementRule", Name: "all"}}),
		subscriptionIn("platform", "named", "team-a/repo", everyCluster),
		kubeSystem, teamExecutor,
	)
	harness.RunHub(t, e.CP.Config, func(o *hub.Options) {
		o.Controllers = []string{"placement", "placementrule", "channel", "subscription"}
	})

	expectWorks := func(namespace, name string, want ...string) {
		t.Helper()
		poll.Eventually(t, 30*time.Second, namespace+"/"+name+" deploys to "+strings.Join(want, ","), func() error {
			got := worksOf(t, e, namespace, name)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("works on %v", got)
			}
			return nil
		})
	}
	expectWorks("team-a", "named", "dev1")
	expectWorks("team-a", "selected", "dev1")
	expectWorks("team-a", "rule", "dev1")
	expectWorks("platform", "named", "dev1", placement.LocalCluster, "prod1")
	for _, name := range []string{"prod-by-label", "hub"} {
		poll.Eventually(t, 30*time.Second, "team-a/"+name+" selects nothing", func() error {
			c := harness.ConditionOf(subscriptionOf(t, e, "team-a", name), appsv1.ConditionPlaced)
			if c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonNoClusters {
				return fmt.Errorf("Placed %s/%s: %s", c.Status, c.Reason, c.Message)
			}
			return nil
		})
	}

	// Executors: refused until the namespace allows them; kube-system never.
	for _, c := range []struct{ sub, says string }{
		{"executor", `adding "apps/deployer" to the namespace's annotation ` + tenancy.AnnotationAllowedExecutors},
		{"kube-system-executor", "never applied as a system ServiceAccount"},
	} {
		poll.Eventually(t, 30*time.Second, c.sub+" refused", func() error {
			got := harness.ConditionOf(subscriptionOf(t, e, "team-a", c.sub), appsv1.ConditionPlaced)
			if got.Status != metav1.ConditionFalse || got.Reason != appsv1.ReasonAccessDenied || !strings.Contains(got.Message, c.says) {
				return fmt.Errorf("Placed %s/%s: %s", got.Status, got.Reason, got.Message)
			}
			return nil
		})
	}
	if got := worksOf(t, e, "team-a", "executor"); len(got) != 0 {
		t.Fatalf("a refused executor was written into works on %v", got)
	}
	annotate(t, e, "team-a", tenancy.AnnotationAllowedExecutors, "apps/deployer, kube-system/*")
	expectWorks("team-a", "executor", "dev1")
	w := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "dev1", Name: "team-a.executor"}, w); err != nil || w.Spec.Executor == nil || w.Spec.Executor.Subject.ServiceAccount.Name != "deployer" {
		t.Errorf("the allowed executor is not in the work (%v): %+v", err, w.Spec.Executor)
	}
	if c := harness.ConditionOf(subscriptionOf(t, e, "team-a", "kube-system-executor"), appsv1.ConditionPlaced); c.Reason != appsv1.ReasonAccessDenied {
		t.Errorf("a kube-system executor listed by the namespace was let through: %s/%s", c.Reason, c.Message)
	}

	// Binding prod to team-a widens its reach without touching its Subscriptions.
	e.Create(t, &clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: harness.Meta("team-a", "prod"), Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "prod"}})
	expectWorks("team-a", "named", "dev1", placement.LocalCluster, "prod1")
	expectWorks("team-a", "hub", placement.LocalCluster)
}

func executor(namespace, name string) *workv1.ManifestWorkExecutor {
	return &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{Type: workv1.ExecutorSubjectTypeServiceAccount,
		ServiceAccount: &workv1.ManifestWorkSubjectServiceAccount{Namespace: namespace, Name: name}}}
}

func annotate(t *testing.T, e *harness.Hub, namespace, key, value string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Annotations[key] = value
	if err := e.C.Patch(e.Ctx, ns, patch); err != nil {
		t.Fatal(err)
	}
}
