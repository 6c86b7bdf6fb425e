// Package tenancy_test proves, on real control planes, that a Subscription
// reaches only what its namespace is allowed to (Channels, Secrets,
// Placements over bound ClusterSets), that credentials stay out of logs,
// events, status and ManifestWorks, and that a Subscription deploying with
// a restricted identity on the managed cluster is held to it. See
// docs/security.md for the threat model these tests cover.
package tenancy_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// subscriptionIn is a Subscription in namespace of apps/app from channel.
func subscriptionIn(namespace, name, channel string, placement *appsv1.Placement) *appsv1.Subscription {
	return &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Annotations: map[string]string{
			appsv1.AnnotationGitPath: "apps/app", appsv1.AnnotationGitBranch: "main"}},
		Spec: appsv1.SubscriptionSpec{Channel: channel, Placement: placement},
	}
}

func placementRef(name, namespace string) *appsv1.Placement {
	return &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "Placement", Name: name, Namespace: namespace}}
}

// worksOf lists the clusters holding a work of namespace/name.
func worksOf(t *testing.T, e *harness.Hub, namespace, name string) []string {
	t.Helper()
	var list workv1.ManifestWorkList
	if err := e.C.List(e.Ctx, &list, client.MatchingLabels{appsv1.LabelSubscription: hub.SubscriptionLabel(namespace, name)}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range list.Items {
		out = append(out, w.Namespace)
	}
	return out
}

func subscriptionOf(t *testing.T, e *harness.Hub, namespace, name string) *appsv1.Subscription {
	t.Helper()
	sub := &appsv1.Subscription{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: namespace, Name: name}, sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestSubscriptionReachesOnlyWhatItsNamespaceMay runs team-a's
// Subscriptions against team-b's objects. A Channel of another namespace
// with credentials is refused unless it lists team-a in
// spec.allowedNamespaces (see TestChannelOfAnotherNamespace); a Channel's
// secretRef cannot name another namespace's Secret; a Placement over a
// ClusterSet not bound to team-a selects nothing; a placementRef cannot name
// another namespace's Placement. Refusals are conditions that say why, and
// no ManifestWork is written for them.
func TestSubscriptionReachesOnlyWhatItsNamespaceMay(t *testing.T) {
	e := harness.NewHub(t)
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	for _, ns := range []string{"team-a", "team-b"} {
		e.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for name, set := range map[string]string{"dev1": "dev", "prod1": "prod"} {
		e.Create(t, registration.ClusterNamespace(name),
			&clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{clusterv1beta2.ClusterSetLabel: set}},
				Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})
	}
	e.Create(t,
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "dev"}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "prod"}},
		// team-a may place on dev; team-b on prod.
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: harness.Meta("team-a", "dev"), Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "dev"}},
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: harness.Meta("team-b", "prod"), Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "prod"}},
		&clusterv1beta1.Placement{ObjectMeta: harness.Meta("team-a", "everywhere")},
		&clusterv1beta1.Placement{ObjectMeta: harness.Meta("team-a", "prod"), Spec: clusterv1beta1.PlacementSpec{ClusterSets: []string{"prod"}}},
		&clusterv1beta1.Placement{ObjectMeta: harness.Meta("team-b", "prod-only"), Spec: clusterv1beta1.PlacementSpec{ClusterSets: []string{"prod"}}},
		&corev1.Secret{ObjectMeta: harness.Meta("team-b", "git-credentials"), StringData: map[string]string{"user": "b", "accessToken": "team-b-token"}},
		&appsv1.Channel{ObjectMeta: harness.Meta("team-b", "private"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL,
			SecretRef: &corev1.ObjectReference{Name: "git-credentials"}}},
		&appsv1.Channel{ObjectMeta: harness.Meta("team-b", "shared"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL, AllowedNamespaces: []string{"team-a"}}},
		&appsv1.Channel{ObjectMeta: harness.Meta("team-a", "borrowing"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL,
			SecretRef: &corev1.ObjectReference{Namespace: "team-b", Name: "git-credentials"}}},
		subscriptionIn("team-a", "other-channel", "team-b/private", placementRef("everywhere", "")),
		subscriptionIn("team-a", "shared-channel", "team-b/shared", placementRef("everywhere", "")),
		subscriptionIn("team-a", "other-secret", "team-a/borrowing", placementRef("everywhere", "")),
		subscriptionIn("team-a", "unbound-set", "team-b/shared", placementRef("prod", "")),
		subscriptionIn("team-a", "other-placement", "team-b/shared", placementRef("prod-only", "team-b")),
	)
	harness.RunHub(t, e.CP.Config, func(o *hub.Options) { o.Controllers = []string{"placement", "channel", "subscription"} })

	// The allowed combination deploys, on the bound set's cluster only.
	poll.Eventually(t, 30*time.Second, "team-b/shared deploys for team-a on dev1", func() error {
		if got := worksOf(t, e, "team-a", "shared-channel"); len(got) != 1 || got[0] != "dev1" {
			return fmt.Errorf("works on %v", got)
		}
		return nil
	})
	for _, c := range []struct {
		sub, condition, reason, says string
	}{
		{"other-channel", appsv1.ConditionSourceReady, appsv1.ReasonAccessDenied, `holds credentials (spec.secretRef) and does not allow Subscriptions from namespace "team-a"`},
		{"other-secret", appsv1.ConditionSourceReady, appsv1.ReasonAuthFailed, `spec.secretRef.namespace is "team-b"`},
		{"unbound-set", appsv1.ConditionPlaced, appsv1.ReasonNoClusters, "selects no clusters"},
		{"other-placement", appsv1.ConditionPlaced, appsv1.ReasonPlacementNotFound, "Placement team-a/prod-only not found"},
	} {
		poll.Eventually(t, 30*time.Second, c.sub+" refused", func() error {
			got := harness.ConditionOf(subscriptionOf(t, e, "team-a", c.sub), c.condition)
			if got.Status != metav1.ConditionFalse || got.Reason != c.reason || !strings.Contains(got.Message, c.says) {
				return fmt.Errorf("%s = %s/%s: %s", c.condition, got.Status, got.Reason, got.Message)
			}
			return nil
		})
	}
	// Nothing was written for the refused ones, even after a while.
	poll.Consistently(t, 2*time.Second, "no works for refused Subscriptions", func() error {
		for _, sub := range []string{"other-channel", "other-secret", "unbound-set", "other-placement"} {
			if got := worksOf(t, e, "team-a", sub); len(got) != 0 {
				return fmt.Errorf("%s has works on %v", sub, got)
			}
		}
		return nil
	})
	// The placement controller itself: team-a's Placement over prod decided nothing.
	var decisions clusterv1beta1.PlacementDecisionList
	if err := e.C.List(e.Ctx, &decisions, client.InNamespace("team-a"), client.MatchingLabels{clusterv1beta1.PlacementLabel: "prod"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range decisions.Items {
		if len(d.Status.Decisions) != 0 {
			t.Errorf("a Placement over an unbound ClusterSet decided %+v", d.Status.Decisions)
		}
	}
}
