package lab

import (
	"bytes"
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
)

func TestWriteFleetTable(t *testing.T) {
	f := &fleetstatus.Fleet{
		Totals: fleetstatus.Totals{Subscriptions: 5, SubscriptionsReady: 1, Clusters: 3, ClustersAvailable: 2,
			Deployments: appsv1.ClusterSummary{Selected: 8, Healthy: 2, Progressing: 1, Degraded: 1, Drifted: 1, Failed: 1, Stale: 2, Held: 1}},
		Clusters: []fleetstatus.Cluster{{Name: "cluster1"}, {Name: "cluster2"}, {Name: LocalClusterName}},
		Subscriptions: []fleetstatus.Subscription{
			{Namespace: "fleet", Name: "hub", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Ready: true,
				Summary:  appsv1.ClusterSummary{Selected: 1, Applied: 1, Healthy: 1},
				Clusters: map[string]appsv1.ClusterState{LocalClusterName: appsv1.ClusterApplied}},
			// Its content wins over another Subscription's for an object on
			// cluster1: ok there, but marked.
			{Namespace: "fleet", Name: "dev", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Ready: true,
				Summary:   appsv1.ClusterSummary{Selected: 2, Applied: 2, Healthy: 2},
				Clusters:  map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterApplied, "cluster2": appsv1.ClusterApplied},
				Overrides: map[string][]string{"cluster1": {"fleet/prod"}}},
			// An image that cannot be pulled stopped the rollout at cluster1,
			// which gets the last healthy revision back.
			{Namespace: "shop", Name: "web", Revision: "main@sha1:1111111111111111111111111111111111111111",
				Attempted: "main@sha1:fedcba9876543210fedcba9876543210fedcba98",
				Rollback:  &appsv1.RollbackStatus{Revision: "main@sha1:fedcba9876543210fedcba9876543210fedcba98"},
				Reason:    appsv1.ReasonRollingBack, Message: "the rollout of main@fedcba9 failed (cluster1: Deployment shop/web: 0/1 ready: ImagePullBackOff)",
				Summary:  appsv1.ClusterSummary{Selected: 2, Healthy: 1, Applied: 1, Degraded: 1},
				Clusters: map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterDegraded, "cluster2": appsv1.ClusterApplied}},
			{Namespace: "hello", Name: "hello", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Attempted: "main@sha1:fedcba9876543210fedcba9876543210fedcba98",
				Reason:    appsv1.ReasonApplyFailed, Message: "apply failed on 1/2 clusters: cluster2: apply failed:\n quota",
				Summary:  appsv1.ClusterSummary{Selected: 2, Drifted: 1, Failed: 1},
				Clusters: map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterDrifted, "cluster2": appsv1.ClusterFailed}},
			{Namespace: "probe", Name: "probe", Revision: "node-probe-1.3.1@sha256:aa2de600c3f1489fce4931330863e2f4c580a30af90bde7abf57e51be6d07b61",
				Summary:  appsv1.ClusterSummary{Selected: 2, Pending: 1, Progressing: 1},
				Clusters: map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterProgressing, "cluster2": appsv1.ClusterPending}},
			// The latest commit fails to render: the clusters keep the last good one.
			{Namespace: "web", Name: "broken", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Attempted: "main@sha1:fedcba9876543210fedcba9876543210fedcba98",
				Reason:    appsv1.ReasonRenderFailed, Message: "apps/web/deploy.yaml: yaml: line 7: found unexpected end of stream",
				Summary:  appsv1.ClusterSummary{Selected: 2, Stale: 2},
				Clusters: map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterStale, "cluster2": appsv1.ClusterStale}},
			// A removal held by the deletion budget.
			{Namespace: "web", Name: "old", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Reason: appsv1.ReasonDeletionHeld, Message: "removing this Subscription's objects from 1 of 1 clusters exceeds the deletion budget of 50%; to go ahead, annotate the Subscription with apps.open-cluster-management.io/confirm-deletion=0123abcd",
				Summary:  appsv1.ClusterSummary{Held: 1},
				Clusters: map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterHeld}},
		},
	}
	var buf bytes.Buffer
	if err := WriteFleetTable(&buf, f); err != nil {
		t.Fatal(err)
	}
	want := `SUBSCRIPTION  REVISION                                 APPLIED  HEALTHY  DRIFT  LOCAL-CLUSTER  CLUSTER1                  CLUSTER2  STATUS
fleet/hub     main@0123456                             1/1      1/1      0      ok             -                         -         ready
fleet/dev     main@0123456                             2/2      2/2      0      -              ok, overrides fleet/prod  ok        ready; overrides fleet/prod on cluster1
shop/web      main@1111111 (rolled back main@fedcba9)  1/2      1/2      0      -              DEGRADED                  ok        RollingBack: the rollout of main@fedcba9 failed (cluster1: Deployment shop/web: 0/1 ready: ImagePullBackOff)
hello/hello   main@0123456 (trying main@fedcba9)       0/2      0/2      1      -              DRIFT                     FAILED    ApplyFailed: apply failed on 1/2 clusters: cluster2: apply failed: quota
probe/probe   node-probe-1.3.1                         0/2      0/2      0      -              progressing               pending   not reconciled yet
web/broken    main@0123456 (trying main@fedcba9)       0/2      0/2      0      -              STALE                     STALE     RenderFailed: apps/web/deploy.yaml: yaml: line 7: found unexpected end of stream
web/old       main@0123456                             0/0      0/0      0      -              HELD                      -         DeletionBudgetExceeded: removing this Subscription's objects from 1 of 1 clusters exceeds the deletion budget of 50%; to go ahead, annotate the Subscription with apps.open-cluster-management.io/confirm-deletion=0123abcd
1/5 subscriptions ready, 2/3 clusters available; deployments healthy on 2/8, 1 progressing, 1 degraded, 1 drifted, 1 failed, 2 stale, 1 held
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
