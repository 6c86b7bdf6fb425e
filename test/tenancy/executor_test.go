package tenancy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestExecutorHoldsASubscriptionToItsIdentity deploys a Subscription with
// spec.executor naming a ServiceAccount that may manage ConfigMaps in one
// namespace of the managed cluster, through the whole system (hub,
// registration, klusterlet). What the ServiceAccount may do is applied; what
// it may not (an object in another team's namespace) is refused by the
// managed cluster's RBAC, not by cluster-admin rights of the agent, and the
// refusal shows in the Subscription's status with the identity that was
// refused.
func TestExecutorHoldsASubscriptionToItsIdentity(t *testing.T) {
	e := harness.NewHub(t, "c1")
	s := harness.NewSpoke(t, "c1")
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a-apps"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b-apps"}},
		&corev1.ServiceAccount{ObjectMeta: harness.Meta("team-a-apps", "deployer")},
		&rbacv1.Role{ObjectMeta: harness.Meta("team-a-apps", "configmaps"), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}},
		&rbacv1.RoleBinding{ObjectMeta: harness.Meta("team-a-apps", "deployer"),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmaps"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "team-a-apps", Name: "deployer"}}},
	} {
		if err := s.C.Create(e.Ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cm := func(ns, name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  k: v\n", name, ns)
	}
	repo := harness.NewFleet(t, map[string]string{
		"apps/app/allowed.yaml": cm("team-a-apps", "allowed"),
		"apps/app/denied.yaml":  cm("team-b-apps", "denied"),
	})
	sub := harness.GitSubscription("app", "repo", "c1")
	sub.Spec.Executor = &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{
		Type:           workv1.ExecutorSubjectTypeServiceAccount,
		ServiceAccount: &workv1.ManifestWorkSubjectServiceAccount{Namespace: "team-a-apps", Name: "deployer"},
	}}
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}}, sub)
	annotate(t, e, "fleet", tenancy.AnnotationAllowedExecutors, "team-a-apps/deployer")
	harness.RunFullHub(t, e)
	harness.RunKlusterlet(t, e, nil, "c1", s)

	poll.Eventually(t, 60*time.Second, "the refusal reported in the Subscription", func() error {
		got := e.Subscription(t, "app")
		c := harness.ConditionOf(got, appsv1.ConditionApplied)
		if c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonApplyFailed ||
			!strings.Contains(c.Message, "forbidden") || !strings.Contains(c.Message, "system:serviceaccount:team-a-apps:deployer") {
			return fmt.Errorf("Applied %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		if got.Status.Summary.Failed != 1 {
			return fmt.Errorf("summary %+v", got.Status.Summary)
		}
		return nil
	})
	if w := e.Works(t, "app")["c1"]; w == nil || w.Spec.Executor == nil || w.Spec.Executor.Subject.ServiceAccount.Name != "deployer" {
		t.Fatalf("the ManifestWork does not carry the executor: %+v", w)
	}
	if err := s.C.Get(e.Ctx, client.ObjectKey{Namespace: "team-a-apps", Name: "allowed"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("what the ServiceAccount may create is missing: %v", err)
	}
	if err := s.C.Get(e.Ctx, client.ObjectKey{Namespace: "team-b-apps", Name: "denied"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("what the ServiceAccount may not create exists (%v)", err)
	}
}
