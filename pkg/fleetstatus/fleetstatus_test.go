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
				Summary:               appsv1.ClusterSummary{Selected: 3, Applied: 3, Healthy: 3},
				Clusters:              []appsv1.ClusterStatus{{Name: "east", State: appsv1.ClusterApplied}, {Name: "west", State: appsv1.ClusterApplied}, {Name: "north", State: appsv1.ClusterApplied}},
			},
		},
		{
			// An image that cannot be pulled failed the rollout on east,
			// which is being rolled back; west never got it.
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec:       appsv1.SubscriptionSpec{Channel: "fleet/repo"},
			Status: appsv1.SubscriptionStatus{
				LastAppliedRevision:   "main@sha1:1111111111111111111111111111111111111111",
				LastAttemptedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Conditions: []metav1.Condition{cond(appsv1.ConditionReady, metav1.ConditionFalse, appsv1.ReasonRollingBack,
					"the rollout of main@0123456 failed (east: Deployment shop/web: 0/1 ready: ImagePullBackOff); rolling back main@sha1:0123456789abcdef0123456789abcdef01234567: 0 of 1 clusters restored, 1 being restored")},
				Summary: appsv1.ClusterSummary{Selected: 2, Applied: 1, Healthy: 1, Degraded: 1},
				Clusters: []appsv1.ClusterStatus{
					{Name: "east", State: appsv1.ClusterDegraded, Health: appsv1.HealthDegraded, Message: "Deployment shop/web: 0/1 ready: ImagePullBackOff"},
					{Name: "west", State: appsv1.ClusterApplied, Health: appsv1.HealthHealthy},
				},
				Rollback: &appsv1.RollbackStatus{Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Phase: appsv1.RollbackInProgress,
					Cause: "east: Deployment shop/web: 0/1 ready: ImagePullBackOff", Clusters: 1, RestoredRevisions: []string{"main@sha1:1111111111111111111111111111111111111111"}},
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
		{
			// The latest commit fails to render: both clusters hold the last good one.
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "broken"},
			Spec:       appsv1.SubscriptionSpec{Channel: "fleet/repo"},
			Status: appsv1.SubscriptionStatus{
				LastAppliedRevision:   "main@sha1:1111111111111111111111111111111111111111",
				LastAttemptedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Conditions: []metav1.Condition{cond(appsv1.ConditionReady, metav1.ConditionFalse, appsv1.ReasonRenderFailed,
					"apps/broken/deploy.yaml: yaml: line 7: found unexpected end of stream")},
				Summary: appsv1.ClusterSummary{Selected: 2, Stale: 2},
				Clusters: []appsv1.ClusterStatus{
					{Name: "east", State: appsv1.ClusterStale, Message: "holds main@1111111; main@0123456 fails to render (see the Rendered condition)"},
					{Name: "west", State: appsv1.ClusterStale, Message: "holds main@1111111; main@0123456 fails to render (see the Rendered condition)"},
				},
			},
		},
		{
			// Its placement dropped north, whose removal the deletion budget holds.
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "old"},
			Spec:       appsv1.SubscriptionSpec{Channel: "fleet/repo"},
			Status: appsv1.SubscriptionStatus{
				LastAppliedRevision:   "main@sha1:0123456789abcdef0123456789abcdef01234567",
				LastAttemptedRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
				Conditions: []metav1.Condition{cond(appsv1.ConditionReady, metav1.ConditionFalse, appsv1.ReasonDeletionHeld,
					"removing this Subscription's objects from 1 of 1 clusters (100%: north) exceeds the deletion budget of 50%; to go ahead, annotate the Subscription with apps.open-cluster-management.io/confirm-deletion=0123abcd")},
				Summary:  appsv1.ClusterSummary{Held: 1},
				Clusters: []appsv1.ClusterStatus{{Name: "north", State: appsv1.ClusterHeld, Message: "no longer selected; removing the objects waits: the deletion budget holds it (see the DeletionHeld condition)"}},
			},
		},
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
		Channels: 2, ChannelsReady: 1, Subscriptions: 6, SubscriptionsReady: 1, Clusters: 4, ClustersAvailable: 2,
		Deployments: appsv1.ClusterSummary{Selected: 10, Applied: 5, Healthy: 4, Degraded: 1, Drifted: 1, Offline: 1, Stale: 2, Held: 1},
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
	if west.Deployments[appsv1.ClusterApplied] != 2 || west.Deployments[appsv1.ClusterDrifted] != 1 {
		t.Errorf("west deployments = %v, want 2 applied and 1 drifted", west.Deployments)
	}
}

// TestOverviewNeverCutsMessages: a long message wraps between words onto
// more lines under the MESSAGE column; with a negative width (--wide) it
// stays on one line. Either way every word is there.
func TestOverviewNeverCutsMessages(t *testing.T) {
	f := Build(sampleFleet())
	long := f.Subscriptions[3].Message // shop/old's budget message
	for _, width := range []int{0, 40, -1} {
		var out bytes.Buffer
		if err := f.WriteOverview(&out, OverviewOptions{MessageWidth: width}); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		if strings.Contains(s, "…") {
			t.Errorf("width %d: a message was cut:\n%s", width, s)
		}
		var words []string
		for _, line := range strings.Split(s, "\n") {
			words = append(words, strings.Fields(line)...)
		}
		joined := " " + strings.Join(words, " ") + " "
		for _, w := range strings.Fields(long) {
			if !strings.Contains(joined, " "+w+" ") && !strings.Contains(joined, " DeletionBudgetExceeded: "+w+" ") {
				t.Errorf("width %d: the word %q is missing or cut", width, w)
			}
		}
		if oneLine := strings.Contains(s, "confirm-deletion=0123abcd") && strings.Contains(s, "DeletionBudgetExceeded: removing this"); width < 0 && !oneLine {
			t.Errorf("--wide: the message is not whole on its line:\n%s", s)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("a  bb\nccc dddddddddd e", 6)
	want := []string{"a bb", "ccc", "dddddddddd", "e"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	if got := wrap("a b", -1); len(got) != 1 || got[0] != "a b" {
		t.Errorf("no width: %q", got)
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
