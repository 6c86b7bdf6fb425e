package fleetstatus

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}

// sampleFleet is a small fleet with one of everything worth showing.
func sampleFleet() ([]appsv1.Channel, []appsv1.Subscription, []clusterv1.ManagedCluster) {
	channels := []appsv1.Channel{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo", Generation: 1},
			Spec:       appsv1.ChannelSpec{Type: "Git", Pathname: "https://bot:s3cret@git.example.com/platform/fleet.git"},
			Status: appsv1.ChannelStatus{
				Conditions: []metav1.Condition{{Type: appsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: appsv1.ReasonSucceeded, Message: "2 refs fetched", ObservedGeneration: 1}},
				Artifacts: []appsv1.ArtifactStatus{
					{Ref: "main", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567"},
					{Ref: "v1.2.0", Revision: "v1.2.0@sha1:fedcba9876543210fedcba9876543210fedcba98"},
				},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "charts", Generation: 2},
			Spec:       appsv1.ChannelSpec{Type: "HelmRepo", Pathname: "https://charts.example.com"},
			Status: appsv1.ChannelStatus{Conditions: []metav1.Condition{{Type: appsv1.ConditionReady, Status: metav1.ConditionFalse,
				Reason: appsv1.ReasonAuthFailed, Message: "fetch failed for web-1.0.0: 401 Unauthorized:\n check the Secret", ObservedGeneration: 2}}},
		},
	}
	subs := []appsv1.Subscription{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "hello"},
			Spec:       appsv1.SubscriptionSpec{Channel: "fleet/repo"},
			Status: appsv1.SubscriptionStatus{
				LastAppliedRevision:   "main@sha1:0123456789abcdef0123456789abcdef01234567",
				LastAttemptedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Conditions:            []metav1.Condition{cond(appsv1.ConditionReady, metav1.ConditionTrue, appsv1.ReasonSucceeded, "revision main@sha1:0123456 applied on 3/3 clusters")},
				Summary:               appsv1.ClusterSummary{Selected: 3, Applied: 3},
				Clusters:              []appsv1.ClusterStatus{{Name: "east", State: appsv1.ClusterApplied}, {Name: "west", State: appsv1.ClusterApplied}, {Name: "north", State: appsv1.ClusterApplied}},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart"},
			Spec:       appsv1.SubscriptionSpec{Channel: "fleet/repo"},
			Status: appsv1.SubscriptionStatus{
				LastAppliedRevision:   "main@sha1:1111111111111111111111111111111111111111",
				LastAttemptedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Conditions: []metav1.Condition{cond(appsv1.ConditionReady, metav1.ConditionFalse, appsv1.ReasonDriftDetected,
					"drift on 1/3 clusters: west: drift: ConfigMap shop/cart .data.color; this message is long enough to be cut in the table but kept whole in JSON")},
				Summary:  appsv1.ClusterSummary{Selected: 3, Applied: 1, Drifted: 1, Offline: 1},
				Clusters: []appsv1.ClusterStatus{{Name: "west", State: appsv1.ClusterDrifted}, {Name: "north", State: appsv1.ClusterOffline}, {Name: "east", State: appsv1.ClusterApplied}},
			},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "new"}, Spec: appsv1.SubscriptionSpec{Channel: "fleet/charts"}},
	}
	available := func(name string, status metav1.ConditionStatus) clusterv1.ManagedCluster {
		mc := clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
		if status != "" {
			mc.Status.Conditions = []metav1.Condition{cond(clusterv1.ManagedClusterConditionAvailable, status, "x", "")}
		}
		return mc
	}
	pending := available("south", "")
	pending.Spec.HubAcceptsClient = false
	clusters := []clusterv1.ManagedCluster{available("west", metav1.ConditionTrue), available("east", metav1.ConditionTrue), available("north", metav1.ConditionUnknown), pending}
	return channels, subs, clusters
}

func TestOverviewGolden(t *testing.T) {
	f := Build(sampleFleet())
	var table, js bytes.Buffer
	if err := f.WriteOverview(&table, OverviewOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "overview.golden", table.Bytes())
	golden(t, "overview.json.golden", js.Bytes())
	for _, leak := range []string{"s3cret", "bot:"} {
		if strings.Contains(table.String()+js.String(), leak) {
			t.Errorf("output shows the Channel URL's credentials (%q)", leak)
		}
	}
}

func TestTotals(t *testing.T) {
	f := Build(sampleFleet())
	want := Totals{
		Channels: 2, ChannelsReady: 1, Subscriptions: 3, SubscriptionsReady: 1, Clusters: 4, ClustersAvailable: 2,
		Deployments: appsv1.ClusterSummary{Selected: 6, Applied: 4, Drifted: 1, Offline: 1},
	}
	if f.Totals != want {
		t.Errorf("Totals = %+v, want %+v", f.Totals, want)
	}
	var west Cluster
	for _, c := range f.Clusters {
		if c.Name == "west" {
			west = c
		}
	}
	if west.Deployments[appsv1.ClusterApplied] != 1 || west.Deployments[appsv1.ClusterDrifted] != 1 {
		t.Errorf("west deployments = %v, want 1 applied and 1 drifted", west.Deployments)
	}
}

// TestOverviewListsOnlyTroubledClustersAtScale: past MaxClusters the table
// lists the clusters needing attention and counts the rest.
func TestOverviewListsOnlyTroubledClustersAtScale(t *testing.T) {
	var clusters []clusterv1.ManagedCluster
	for i := range 500 {
		status := metav1.ConditionTrue
		if i%100 == 7 {
			status = metav1.ConditionFalse
		}
		clusters = append(clusters, clusterv1.ManagedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%03d", i)},
			Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true},
			Status:     clusterv1.ManagedClusterStatus{Conditions: []metav1.Condition{cond(clusterv1.ManagedClusterConditionAvailable, status, "x", "")}},
		})
	}
	f := Build(nil, nil, clusters)
	var out bytes.Buffer
	if err := f.WriteOverview(&out, OverviewOptions{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"c007 ", "c407 ", "495 clusters without problems not listed", "FLEET  0/0 channels ready, 0/0 subscriptions ready, 495/500 clusters available"} {
		if !strings.Contains(s, want) {
			t.Errorf("overview lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "c008 ") {
		t.Errorf("overview lists a healthy cluster:\n%s", s)
	}
	out.Reset()
	if err := f.WriteOverview(&out, OverviewOptions{AllClusters: true}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\nc"); n != 500 {
		t.Errorf("AllClusters lists %d clusters, want 500", n)
	}
}
