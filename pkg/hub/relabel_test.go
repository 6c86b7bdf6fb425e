package hub_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
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
	e, _, spokes := labHub(t, 2)
	for _, sc := range spokes {
		if err := sc.Create(e.Ctx, &corev1.Namespace{ObjectMeta: harness.Meta("", "apps")}); err != nil {
			t.Fatal(err)
		}
	}
	repo := harness.NewFleet(t, tierChart)
	second := lab.ClusterName(2)
	label := func(cluster, tier string) { t.Helper(); e.labelCluster(t, cluster, "tier", tier) }
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
	sc := spokes[1]
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
