package placement_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	. "github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

func TestResolveTargets(t *testing.T) {
	deleted := metav1.NewTime(time.Unix(0, 0))
	mk := func(name string, accepted bool, labels map[string]string) *clusterv1.ManagedCluster {
		return &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: accepted}}
	}
	gone := mk("gone", true, map[string]string{"env": "prod"})
	gone.DeletionTimestamp = &deleted
	claimed := mk("b", true, map[string]string{"env": "prod"})
	claimed.Status.ClusterClaims = []clusterv1.ManagedClusterClaim{{Name: "id", Value: "b1"}}
	clusters := []*clusterv1.ManagedCluster{claimed, mk("a", true, map[string]string{"env": "prod"}), mk("pending", false, map[string]string{"env": "prod"}),
		mk("dev", true, map[string]string{"env": "dev"}), gone}
	decisions := func(ns, name string) ([]Group, bool, error) {
		switch ns + "/" + name {
		case "apps/canary":
			return []Group{{Index: 0, Name: "canary", Clusters: []string{"b"}}, {Index: 1, Clusters: []string{"a", "missing", "gone", "b"}}}, true, nil
		case "apps/broken":
			return nil, true, errors.New("boom")
		}
		return nil, false, nil
	}
	local := true
	for _, c := range []struct {
		name string
		p    *appsv1.Placement
		want []Target
		err  string
	}{
		{"placementRef keeps decision groups, skips missing and deleting clusters",
			&appsv1.Placement{PlacementRef: &corev1.ObjectReference{Name: "canary"}},
			[]Target{{Cluster: "a", GroupIndex: 1, Labels: map[string]string{"env": "prod"}, Claims: map[string]string{}},
				{Cluster: "b", GroupIndex: 0, GroupName: "canary", Labels: map[string]string{"env": "prod"}, Claims: map[string]string{"id": "b1"}}}, ""},
		{"clusters list, deduplicated, not-yet-accepted clusters included",
			&appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "pending"}, {Name: "a"}, {Name: "a"}, {Name: "missing"}, {Name: "gone"}}},
			[]Target{{Cluster: "a", Labels: map[string]string{"env": "prod"}, Claims: map[string]string{}},
				{Cluster: "pending", Labels: map[string]string{"env": "prod"}, Claims: map[string]string{}}}, ""},
		{"clusterSelector skips clusters not accepted or being deleted",
			&appsv1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
			[]Target{{Cluster: "a", Labels: map[string]string{"env": "prod"}, Claims: map[string]string{}},
				{Cluster: "b", Labels: map[string]string{"env": "prod"}, Claims: map[string]string{"id": "b1"}}}, ""},
		{"local", &appsv1.Placement{Local: &local}, []Target{{Cluster: LocalCluster}}, ""},
		{"empty", nil, nil, "spec.placement is empty"},
		{"nothing set", &appsv1.Placement{}, nil, "spec.placement selects nothing"},
		{"missing Placement", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Name: "nope"}}, nil, "Placement apps/nope not found"},
		{"wrong kind", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "Deployable", Name: "x"}}, nil, `placementRef.kind "Deployable" is not supported`},
		{"no name", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{}}, nil, "placementRef.name is empty"},
		{"decisions fail", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Name: "broken"}}, nil, "Placement apps/broken: boom"},
		{"bad selector", &appsv1.Placement{ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}},
			nil, "spec.placement.clusterSelector"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "apps"}, Spec: appsv1.SubscriptionSpec{Placement: c.p}}
			got, err := ResolveTargets(sub, clusters, decisions)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "subscription apps/s") {
					t.Fatalf("err = %v, want one naming the Subscription and containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
