package lab

import (
	"bytes"
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
)

func TestWriteFleetTable(t *testing.T) {
	f := &fleetstatus.Fleet{
		Totals: fleetstatus.Totals{Subscriptions: 3, SubscriptionsReady: 1, Clusters: 3, ClustersAvailable: 2,
			Deployments: appsv1.ClusterSummary{Drifted: 1, Failed: 1}},
		Clusters: []fleetstatus.Cluster{{Name: "cluster1"}, {Name: "cluster2"}, {Name: LocalClusterName}},
		Subscriptions: []fleetstatus.Subscription{
			{Namespace: "fleet", Name: "hub", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Summary:  appsv1.ClusterSummary{Selected: 1, Applied: 1},
				Clusters: map[string]appsv1.ClusterState{LocalClusterName: appsv1.ClusterApplied}},
			{Namespace: "hello", Name: "hello", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Attempted: "main@sha1:fedcba9876543210fedcba9876543210fedcba98",
				Summary:   appsv1.ClusterSummary{Selected: 2, Drifted: 1, Failed: 1},
				Clusters:  map[string]appsv1.ClusterState{"cluster1": appsv1.ClusterDrifted, "cluster2": appsv1.ClusterFailed}},
			{Namespace: "probe", Name: "probe", Revision: "node-probe-1.3.1@sha256:aa2de600c3f1489fce4931330863e2f4c580a30af90bde7abf57e51be6d07b61",
				Summary:  appsv1.ClusterSummary{Selected: 1, Pending: 1},
				Clusters: map[string]appsv1.ClusterState{"cluster2": appsv1.ClusterPending}},
		},
	}
	var buf bytes.Buffer
	if err := WriteFleetTable(&buf, f); err != nil {
		t.Fatal(err)
	}
	want := `SUBSCRIPTION  REVISION                            APPLIED  DRIFT  LOCAL-CLUSTER  CLUSTER1  CLUSTER2
fleet/hub     main@0123456                        1/1      0      ok             -         -
hello/hello   main@0123456 (trying main@fedcba9)  0/2      1      -              DRIFT     FAILED
probe/probe   node-probe-1.3.1                    0/1      0      -              -         pending
1/3 subscriptions ready, 2/3 clusters available, 1 drifted, 1 failed
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
