package hub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// tierChart's values come from each cluster's tier label.
var tierChart = map[string]string{
	"apps/page/Chart.yaml": "apiVersion: v2\nname: page\nversion: 0.1.0\n",
	"apps/page/templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: page
  namespace: apps
data:
  value: {{ .Values.tier | quote }}
`,
}

// TestRelabelReportsAppliedPromptly: relabelling a cluster changes what it
// gets; once its agent applied the new content the Subscription says so
// within seconds, not after minutes of "ManifestWork is being updated".
func TestRelabelReportsAppliedPromptly(t *testing.T) {
	if testing.Short() {
		t.Skip("needs control planes")
	}
	ctx := context.Background()
	l := harness.StartLab(t, 2, filepath.Join(t.TempDir(), "lab"))
	c, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{&harness.Hub{C: c, Ctx: ctx}}
	// Direct placement by cluster name, as OCM allows it (not a tenant).
	e.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}})
	for _, cp := range l.Clusters {
		sc, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Create(ctx, &corev1.Namespace{ObjectMeta: harness.Meta("", "apps")}); err != nil {
			t.Fatal(err)
		}
	}
	repo := harness.NewFleet(t, tierChart)
	second := lab.ClusterName(2)
	label := func(cluster, tier string) {
		mc := &clusterv1.ManagedCluster{}
		if err := c.Get(ctx, client.ObjectKey{Name: cluster}, mc); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(mc.DeepCopy())
		mc.Labels["tier"] = tier
		if err := c.Patch(ctx, mc, patch); err != nil {
			t.Fatal(err)
		}
	}
	label(lab.ClusterName(1), "gold")
	label(second, "gold")
	appSubscription(e, t, repo.URL, "page", "apps/page", []string{lab.ClusterName(1), second}, func(s *appsv1.Subscription) {
		s.Spec.ClusterValuesTemplate = "tier: {{ .Cluster.Labels.tier | quote }}\n"
	})
	applied := func(what string) {
		t.Helper()
		poll.Eventually(t, 60*time.Second, what, func() error {
			s := e.Subscription(t, "page")
			for _, cs := range s.Status.Clusters {
				if cs.State != appsv1.ClusterApplied {
					return fmt.Errorf("%s %s: %s", cs.Name, cs.State, cs.Message)
				}
			}
			if s.Status.Summary.Applied != 2 {
				return fmt.Errorf("summary %+v", s.Status.Summary)
			}
			return nil
		})
	}
	applied("applied everywhere")

	label(second, "silver")
	spoke := l.Clusters[1]
	sc, err := client.New(spoke.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "the new tier applied on "+second, func() error {
		v, err := (&harness.Spoke{C: sc}).Value("page")
		if err != nil || v != "silver" {
			return fmt.Errorf("tier %q (%v)", v, err)
		}
		return nil
	})
	// The agent applied it; the hub must say so promptly.
	start := time.Now()
	poll.Eventually(t, 45*time.Second, "the Subscription reports the relabelled cluster applied", func() error {
		s := e.Subscription(t, "page")
		for _, cs := range s.Status.Clusters {
			if cs.State != appsv1.ClusterApplied {
				return fmt.Errorf("%s %s: %s (%s after the agent applied)", cs.Name, cs.State, cs.Message, time.Since(start).Round(time.Second))
			}
		}
		return nil
	})
}
