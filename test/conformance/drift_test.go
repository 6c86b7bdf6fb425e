package conformance_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// driftCase is what the hub reports for one agent's cluster after a field
// of one object was edited and another object deleted there, under
// driftPolicy ReportOnly (docs/migration.md, "Drift with OCM's work agent").
type driftCase struct {
	agent, cluster string
	want           func(cs appsv1.ClusterStatus) error
	// kept: the edited value stays on the cluster (ReportOnly honoured).
	kept bool
}

func driftCases() []driftCase {
	return []driftCase{
		// OCM's agent writes no Drifted condition and ignores the
		// drift-policy annotation: the edit is not reported at all; the
		// deletion shows only as the manifest's Available=False, which the
		// hub reads as applied but not healthy yet ("1 of 3 resources are not
		// available"). OCM's agent re-applies both at its next resync (every
		// 4 to 6 minutes), ReportOnly or not.
		{agent: "OCM's agent", cluster: ocmCluster, want: func(cs appsv1.ClusterStatus) error {
			if cs.State != appsv1.ClusterProgressing || !strings.Contains(cs.Message, "resources are not available") || len(cs.Drift) != 0 {
				return fmt.Errorf("state %s (%s), drift %+v; want Progressing with resources not available, no drift", cs.State, cs.Message, cs.Drift)
			}
			return nil
		}},
		// Ours reports both, with the edited field, and corrects nothing.
		{agent: "our agent", cluster: ourCluster, kept: true, want: func(cs appsv1.ClusterStatus) error {
			var edited, deleted bool
			for _, d := range cs.Drift {
				edited = edited || d.Name == "greeting" && slices.Contains(d.Fields, ".data.value")
				deleted = deleted || d.Name == "extra" && d.Deleted
			}
			if cs.State != appsv1.ClusterDrifted || !edited || !deleted {
				return fmt.Errorf("state %s (%s), drift %+v; want Drifted with greeting .data.value and extra deleted", cs.State, cs.Message, cs.Drift)
			}
			return nil
		}},
	}
}

// testDrift deploys a namespace and two ConfigMaps with driftPolicy
// ReportOnly to both clusters, edits one ConfigMap and deletes the other on
// each, and checks what the hub then reports for each agent.
func (f *fleet) testDrift(t *testing.T) {
	const ns = "conf-drift"
	cm := func(name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  value: git\n", name, ns)
	}
	repo := harness.NewFleet(t, map[string]string{
		"drift/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n",
		"drift/greeting.yaml":  cm("greeting"),
		"drift/extra.yaml":     cm("extra"),
	})
	f.hub.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&appsv1.Channel{ObjectMeta: harness.Meta(ns, "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}},
		&appsv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "drift", Annotations: map[string]string{
				appsv1.AnnotationGitPath: "drift", appsv1.AnnotationGitBranch: "main"}},
			Spec: appsv1.SubscriptionSpec{Channel: ns + "/repo", DriftPolicy: appsv1.DriftReportOnly,
				Placement: &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: ocmCluster}, {Name: ourCluster}}}},
		})
	f.waitApplied(t, ns, "drift", ocmCluster, ourCluster)
	ctx := context.Background()
	for _, tc := range driftCases() {
		c := f.spokes[tc.cluster].C
		greeting := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "greeting"}, greeting); err != nil {
			t.Fatal(err)
		}
		greeting.Data["value"] = "by hand"
		if err := c.Update(ctx, greeting); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "extra"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range driftCases() {
		t.Run(tc.agent, func(t *testing.T) {
			poll.Eventually(t, 60*time.Second, "the hub's report of "+tc.cluster, func() error {
				f.agent.alive(t)
				sub := &appsv1.Subscription{}
				if err := f.hub.C.Get(ctx, client.ObjectKey{Namespace: ns, Name: "drift"}, sub); err != nil {
					return err
				}
				for _, cs := range sub.Status.Clusters {
					if cs.Name == tc.cluster {
						return tc.want(cs)
					}
				}
				return fmt.Errorf("no status for %s: %+v", tc.cluster, sub.Status.Clusters)
			})
			if tc.kept {
				if err := hasValue(f.spokes[tc.cluster].C, ns, "greeting", "by hand"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func hasValue(c client.Client, ns, name, value string) error {
	cm := &corev1.ConfigMap{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		return err
	}
	if cm.Data["value"] != value {
		return fmt.Errorf("ConfigMap %s/%s holds %q, want %q", ns, name, cm.Data["value"], value)
	}
	return nil
}
