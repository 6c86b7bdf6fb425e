package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	workclientset "open-cluster-management.io/api/client/work/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	regagent "github.com/ocm-gitops/ocm-gitops/pkg/registration/agent"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestStandaloneHubRegistersClustersWithItsRBAC installs deploy/hub and runs
// the registration controller as the hub's ServiceAccount, signing with the
// control plane's client CA (what --registration-ca-cert does on a hub
// without kube-controller-manager) and accepting one bootstrap user without
// an administrator (--auto-approve-users, which makes the hub add that user
// to the bootstrap binding). A klusterlet joins through a certificate
// request, end to end: the hub approves and signs it, creates the cluster's
// namespace and access, and the agent applies a ManifestWork with the
// identity it was issued. The hub is never refused anything, though it holds
// neither "escalate" nor any role's permissions beyond its own.
func TestStandaloneHubRegistersClustersWithItsRBAC(t *testing.T) {
	const bootstrapUser = "system:bootstrap:deploy-test"
	var hubCP *lab.ControlPlane
	e := startDeployedHub(t, "hub", lab.RoleManaged, func(context.Context, client.Client) {}, func(o *hub.Options, cp *lab.ControlPlane) {
		hubCP = cp
		o.Controllers = []string{"registration"}
		o.Registration = reghub.Options{CACertPEM: cp.ClientCA.CertPEM, CAKeyPEM: cp.ClientCA.KeyPEM, AutoApproveUsers: []string{bootstrapUser}}
	})
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	spoke, err := lab.StartControlPlane(e.ctx, "east", lab.RoleManaged, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spoke.Stop() })
	bootstrap, err := hubCP.UserConfig(bootstrapUser, registration.DefaultBootstrapGroup)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hub.kubeconfig")
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		done <- klusterlet.Run(ctx, klusterlet.Options{ClusterName: "east", Managed: spoke.Config, Bootstrap: bootstrap,
			HubKubeconfigPath: path, LeaseInterval: time.Second, Logger: e.logs.logger(t).WithName("klusterlet")})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("klusterlet: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("klusterlet did not stop within 30s")
		}
	})

	poll.Eventually(t, 60*time.Second, "cluster joined and available", func() error {
		mc := &clusterv1.ManagedCluster{}
		if err := e.admin.Get(e.ctx, client.ObjectKey{Name: "east"}, mc); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Available = %+v", c)
		}
		return nil
	})
	var csrs certificatesv1.CertificateSigningRequestList
	if err := e.admin.List(e.ctx, &csrs, client.MatchingLabels{registration.LabelClusterName: "east"}); err != nil || len(csrs.Items) == 0 {
		t.Fatalf("no certificate request for east (%v)", err)
	}
	csr := csrs.Items[0]
	if len(csr.Status.Certificate) == 0 || len(csr.Status.Conditions) == 0 || csr.Status.Conditions[0].Type != certificatesv1.CertificateApproved {
		t.Fatalf("request not approved and signed by the hub: %+v", csr.Status.Conditions)
	}
	// The bootstrap binding gained the auto-approved user; the shared roles
	// are as deployed.
	b := &rbacv1.ClusterRoleBinding{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Name: reghub.BootstrapClusterRole}, b); err != nil {
		t.Fatal(err)
	}
	if n := len(b.Subjects); n != 2 || b.Subjects[1].Name != bootstrapUser {
		t.Errorf("bootstrap binding subjects %+v, want the bootstrap group and %s", b.Subjects, bootstrapUser)
	}

	// The agent applies a work with the identity it was issued.
	raw := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hello","namespace":"default"},"data":{"k":"v"}}`
	w := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "east", Name: "hello"},
		Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{Manifests: []workv1.Manifest{{RawExtension: runtime.RawExtension{Raw: []byte(raw)}}}}}}
	if err := e.admin.Create(e.ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, "work applied by the agent", func() error {
		got := &workv1.ManifestWork{}
		if err := e.admin.Get(e.ctx, client.ObjectKeyFromObject(w), got); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, workv1.WorkApplied); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Applied = %+v", c)
		}
		return nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := regagent.ParseKubeconfig(data)
	if err != nil {
		t.Fatal(err)
	}
	works, err := workclientset.NewForConfig(regagent.StaticConfig(creds))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := works.WorkV1().ManifestWorks("east").List(e.ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the issued identity cannot list its own works: %v", err)
	}
	if _, err := works.WorkV1().ManifestWorks("default").List(e.ctx, metav1.ListOptions{}); err == nil {
		t.Error("the issued identity reads ManifestWorks outside its namespace")
	}

	// Refusing the cluster takes its access away again, also as the SA.
	mc := &clusterv1.ManagedCluster{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Name: "east"}, mc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(mc.DeepCopy())
	mc.Spec.HubAcceptsClient = false
	if err := e.admin.Patch(e.ctx, mc, patch); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, "access revoked", func() error {
		if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: "east", Name: reghub.WorkClusterRole}, &rbacv1.RoleBinding{}); err == nil {
			return fmt.Errorf("the work RoleBinding is still there")
		}
		return nil
	})
	cancel()
	e.logs.check(t)
}
