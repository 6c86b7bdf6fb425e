package hub

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// TestJudge: the hub approves what OCM's does (renewals by an accepted
// cluster's own identity, bootstrap users on the auto-approve list) and
// nothing because spec.hubAcceptsClient happens to be true.
func TestJudge(t *testing.T) {
	accepted := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
	pending := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}}
	own := registration.AgentUser("east", "klusterlet")
	for _, tc := range []struct {
		name string
		f    requestFacts
		want verdict
	}{
		{"renewal by the accepted cluster's identity", requestFacts{Requester: own, Identity: own, Cluster: accepted}, approve},
		{"renewal after the hub stopped accepting", requestFacts{Requester: own, Identity: own, Cluster: pending}, wait},
		{"auto-approve user, new cluster", requestFacts{Requester: "system:bootstrap:auto", Identity: own, AutoApprove: true, Cluster: pending}, approve},
		{"auto-approve user, ManagedCluster not created yet", requestFacts{Requester: "system:bootstrap:auto", Identity: own, AutoApprove: true}, wait},
		// issue 16 item 2(a): a bootstrap identity not on the list asks
		// for an existing, accepted cluster's certificate.
		{"other bootstrap user, accepted cluster", requestFacts{Requester: "system:bootstrap:other", Identity: own, Cluster: accepted}, wait},
		// item 2(b): it created the ManagedCluster itself, accepted.
		{"other bootstrap user, self-accepted cluster", requestFacts{Requester: "system:bootstrap:other", Identity: own, Cluster: accepted.DeepCopy()}, wait},
		{"another cluster's identity", requestFacts{Requester: registration.AgentUser("west", "klusterlet"), Identity: own, Cluster: accepted}, wait},
		{"reserved name, even for the auto-approve list", requestFacts{Requester: "system:bootstrap:auto", Identity: own, AutoApprove: true, Cluster: pending, NameRefused: "cluster name \"kube-system\" is reserved"}, deny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := judge(tc.f)
			if got != tc.want {
				t.Fatalf("judge = %v (%q), want %v", got, reason, tc.want)
			}
			if got != wait && reason == "" {
				t.Error("a decision without a reason")
			}
		})
	}
}
