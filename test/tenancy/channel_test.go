package tenancy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestChannelOfAnotherNamespace: team-a's Subscriptions use team-b's
// Channels, as OCM's examples do. On a hub with the default
// --channel-access restricted, a Channel without credentials deploys for
// team-a; one with a secretRef or a commit-status token is refused
// (AccessDenied naming both fixes) and nothing is written for it, so team-a
// cannot fetch or post with team-b's credentials; one whose
// spec.allowedNamespaces leaves team-a out is refused though it has none.
// The same hub restarted with --channel-access ocm deploys the credentialed
// ones; the closed one stays refused.
func TestChannelOfAnotherNamespace(t *testing.T) {
	e := harness.NewHub(t)
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	e.Create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}},
		registration.ClusterNamespace("dev1"),
		&clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "dev1", Labels: map[string]string{clusterv1beta2.ClusterSetLabel: "dev"}},
			Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "dev"}},
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: harness.Meta("team-a", "dev"), Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "dev"}},
		&corev1.Secret{ObjectMeta: harness.Meta("team-b", "git-credentials"), StringData: map[string]string{"user": "b", "accessToken": "team-b-token"}},
		&corev1.Secret{ObjectMeta: harness.Meta("team-b", "forge-token"), StringData: map[string]string{"token": "team-b-forge-token"}},
	)
	git := func(spec appsv1.ChannelSpec) appsv1.ChannelSpec {
		spec.Type, spec.Pathname = "Git", repo.URL
		return spec
	}
	channels := map[string]appsv1.ChannelSpec{
		"public":  git(appsv1.ChannelSpec{}),
		"private": git(appsv1.ChannelSpec{SecretRef: &corev1.ObjectReference{Name: "git-credentials"}}),
		"reporting": git(appsv1.ChannelSpec{CommitStatus: &appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub,
			APIURL: "http://127.0.0.1:1", Repository: "team-b/app", SecretRef: corev1.LocalObjectReference{Name: "forge-token"}}}),
		"closed": git(appsv1.ChannelSpec{AllowedNamespaces: []string{"team-c"}}),
	}
	dev1 := &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "dev1"}}}
	for name, spec := range channels {
		e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("team-b", name), Spec: spec},
			subscriptionIn("team-a", name, "team-b/"+name, dev1))
	}
	deploys := func(name string) {
		t.Helper()
		poll.Eventually(t, 30*time.Second, "team-b/"+name+" deploys for team-a on dev1", func() error {
			if got := worksOf(t, e, "team-a", name); !slices.Equal(got, []string{"dev1"}) {
				c := harness.ConditionOf(subscriptionOf(t, e, "team-a", name), appsv1.ConditionSourceReady)
				return fmt.Errorf("works on %v; SourceReady %s/%s: %s", got, c.Status, c.Reason, c.Message)
			}
			return nil
		})
	}
	refused := func(name string, says ...string) {
		t.Helper()
		poll.Eventually(t, 30*time.Second, "team-b/"+name+" refused to team-a", func() error {
			c := harness.ConditionOf(subscriptionOf(t, e, "team-a", name), appsv1.ConditionSourceReady)
			if c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonAccessDenied {
				return fmt.Errorf("SourceReady %s/%s: %s", c.Status, c.Reason, c.Message)
			}
			for _, part := range says {
				if !strings.Contains(c.Message, part) {
					return fmt.Errorf("SourceReady says %q, not %q", c.Message, part)
				}
			}
			return nil
		})
	}
	noWorks := func(names ...string) {
		t.Helper()
		poll.Consistently(t, 2*time.Second, "no works for refused Subscriptions", func() error {
			for _, name := range names {
				if got := worksOf(t, e, "team-a", name); len(got) != 0 {
					return fmt.Errorf("team-a/%s has works on %v", name, got)
				}
			}
			return nil
		})
	}
	controllers := func(o *hub.Options) { o.Controllers = []string{"channel", "subscription"} }

	stop := harness.RunHub(t, e.CP.Config, controllers)
	deploys("public")
	bothFixes := []string{"add it to the Channel's spec.allowedNamespaces", "--channel-access ocm"}
	refused("private", append([]string{"Channel team-b/private holds credentials (spec.secretRef)"}, bothFixes...)...)
	refused("reporting", append([]string{"holds credentials (spec.commitStatus.secretRef)"}, bothFixes...)...)
	refused("closed", `does not allow Subscriptions from namespace "team-a"; add it to the Channel's spec.allowedNamespaces`)
	noWorks("private", "reporting", "closed")
	stop()

	harness.RunHub(t, e.CP.Config, func(o *hub.Options) {
		controllers(o)
		o.Tenancy.ChannelAccess = tenancy.ChannelAccessOCM
	})
	deploys("private")
	deploys("reporting")
	refused("closed", "spec.allowedNamespaces")
	noWorks("closed")
}
