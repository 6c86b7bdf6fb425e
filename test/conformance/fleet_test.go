package conformance_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// The two managed clusters of a fleet: one runs OCM's work agent, the other
// ours.
const (
	ocmCluster = "ocm-cluster"
	ourCluster = "our-cluster"
)

// fleet is a hub with our channel and subscription controllers and two
// managed clusters, ocm-cluster with OCM's work agent and our-cluster with
// ours. TestWithOCMsWorkAgent starts one and runs its subtests on it, each
// in its own hub namespace.
type fleet struct {
	hub    *harness.Hub
	spokes map[string]*harness.Spoke
	agent  *process
}

// newFleet starts the hub, both clusters and both agents.
func newFleet(t *testing.T) *fleet {
	t.Helper()
	bin := needOCM(t, "work")
	f := &fleet{hub: harness.NewHub(t, ocmCluster, ourCluster), spokes: map[string]*harness.Spoke{}}
	// Pods run on both clusters (kube-controller-manager, kube-scheduler,
	// kwok): our agent judges health, and the hub calls a cluster Applied
	// only once its workloads are healthy; OCM's agent then reports the
	// same Deployment status for feedback.
	for _, name := range []string{ocmCluster, ourCluster} {
		f.spokes[name] = harness.NewWorkloadSpoke(t, name)
	}
	// OCM's work agent, with the hub's admin identity (registration is
	// not under test here).
	hubKC := writeFile(t, "hub.kubeconfig", f.hub.CP.KubeConfig)
	spokeKC := writeFile(t, "spoke.kubeconfig", f.spokes[ocmCluster].CP.KubeConfig)
	if err := f.spokes[ocmCluster].C.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "open-cluster-management-agent"}}); err != nil {
		t.Fatal(err)
	}
	f.agent = startOCM(t, bin, "agent", "--listen", freeAddr(t), "--disable-leader-election",
		"--namespace", "open-cluster-management-agent", "--hub-kubeconfig", hubKC, "--workload-source-config", hubKC,
		"--spoke-kubeconfig", spokeKC, "--kubeconfig", spokeKC, "--spoke-cluster-name", ocmCluster, "--agent-id", ocmCluster,
		"--status-sync-interval", "1s")
	// Ours, already registered (the same admin identity), status left alone;
	// with the lab's demo fleet key, as a lab cluster, for the example
	// fleet's encrypted Secret.
	if err := lab.InstallDemoFleetKey(context.Background(), f.spokes[ourCluster].CP.Config); err != nil {
		t.Fatal(err)
	}
	harness.Run(t, "our klusterlet", func(ctx context.Context) error {
		return klusterlet.Run(ctx, klusterlet.Options{ClusterName: ourCluster, Managed: f.spokes[ourCluster].CP.Config,
			Hub: f.hub.CP.Config, NoStatus: true, Logger: harness.Logger(t).WithName("klusterlet"),
			HubKubeconfigPath: filepath.Join(t.TempDir(), "hub.kubeconfig")})
	})
	// OCM's reach for direct placement and PlacementRules (--direct-placement
	// any): by default a tenant namespace reaches only its bound sets, and
	// OCM's examples bind none. OCM's Channel rule (--channel-access ocm):
	// object_bucket_e2e's Subscription uses a Channel of another namespace
	// that holds the bucket's keys, which the default refuses.
	harness.RunHub(t, f.hub.CP.Config, func(o *hub.Options) {
		o.Controllers = []string{"channel", "subscription", placement.ControllerName, placement.RuleControllerName}
		o.Tenancy.DirectPlacement = tenancy.DirectPlacementAny
		o.Tenancy.ChannelAccess = tenancy.ChannelAccessOCM
	})
	return f
}

// waitApplied waits until ns/name reports every cluster applied (and
// healthy, where the agent judges health).
func (f *fleet) waitApplied(t *testing.T, ns, name string, clusters ...string) *appsv1.Subscription {
	t.Helper()
	sub := &appsv1.Subscription{}
	poll.Eventually(t, 60*time.Second, fmt.Sprintf("Subscription %s/%s applied on %v", ns, name, clusters), func() error {
		f.agent.alive(t)
		if err := f.hub.C.Get(f.hub.Ctx, client.ObjectKey{Namespace: ns, Name: name}, sub); err != nil {
			return err
		}
		states := map[string]appsv1.ClusterState{}
		for _, c := range sub.Status.Clusters {
			states[c.Name] = c.State
		}
		for _, c := range clusters {
			if states[c] != appsv1.ClusterApplied {
				return fmt.Errorf("cluster %s is %q; status: %+v", c, states[c], sub.Status)
			}
		}
		if int(sub.Status.Summary.Applied) != len(clusters) {
			return fmt.Errorf("summary %+v", sub.Status.Summary)
		}
		return nil
	})
	return sub
}
