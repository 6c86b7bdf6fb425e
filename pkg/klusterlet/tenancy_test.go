package klusterlet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clusterclientset "open-cluster-management.io/api/client/cluster/clientset/versioned"
	workclientset "open-cluster-management.io/api/client/work/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	regagent "github.com/ocm-gitops/ocm-gitops/pkg/registration/agent"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// joinCluster runs a klusterlet for name until the test ends, waits until
// the hub sees it available and returns the hub identity it was issued.
func joinCluster(t *testing.T, name string) *rest.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.kubeconfig")
	runKlusterlet(t, klusterlet.Options{ClusterName: name, Bootstrap: bootstrapConfig(t, autoUser), HubKubeconfigPath: path, LeaseInterval: time.Second})
	poll.Eventually(t, 30*time.Second, name+" joined and available", clusterConditionIs(t, name, clusterv1.ManagedClusterConditionAvailable, metav1.ConditionTrue, ""))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := regagent.ParseKubeconfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return regagent.StaticConfig(creds)
}

func forbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: err = %v, want Forbidden", what, err)
	}
}

// TestClusterIdentityReachesItsOwnNamespaceOnly: the hub credentials a
// klusterlet is issued read and update the ManifestWorks of its own
// namespace and nothing else: not another cluster's works, Leases,
// ManagedCluster or Secrets, not Secrets anywhere, not creating or deleting
// works; and it cannot obtain another cluster's identity.
func TestClusterIdentityReachesItsOwnNamespaceOnly(t *testing.T) {
	needControlPlanes(t)
	ctx := context.Background()
	a := joinCluster(t, "tenant-a")
	joinCluster(t, "tenant-b")
	if err := hubC.Create(ctx, configMapWork("tenant-b", "b-work", "tenant-b-apps")); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, "tenant-b", "b-work", 20*time.Second)
	for _, ns := range []string{"tenant-a", "tenant-b"} {
		if err := hubC.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hub-side-secret"},
			StringData: map[string]string{"token": "do-not-read"}}); err != nil {
			t.Fatal(err)
		}
	}
	works, _ := workclientset.NewForConfig(a)
	kube, _ := kubernetes.NewForConfig(a)
	clusters, _ := clusterclientset.NewForConfig(a)

	// Its own namespace: works readable, and nothing more than the agent needs.
	if _, err := works.WorkV1().ManifestWorks("tenant-a").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list own ManifestWorks: %v", err)
	}
	_, err := works.WorkV1().ManifestWorks("tenant-a").Create(ctx, configMapWork("tenant-a", "self-made", "x"), metav1.CreateOptions{})
	forbidden(t, "create a ManifestWork in its own namespace", err)
	_, err = kube.CoreV1().Secrets("tenant-a").Get(ctx, "hub-side-secret", metav1.GetOptions{})
	forbidden(t, "get a Secret in its own namespace", err)

	// Another cluster's namespace.
	bw := works.WorkV1().ManifestWorks("tenant-b")
	_, err = bw.List(ctx, metav1.ListOptions{})
	forbidden(t, "list another cluster's ManifestWorks", err)
	_, err = bw.Get(ctx, "b-work", metav1.GetOptions{})
	forbidden(t, "get another cluster's ManifestWork", err)
	_, err = bw.Patch(ctx, "b-work", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	forbidden(t, "patch another cluster's ManifestWork", err)
	_, err = bw.Patch(ctx, "b-work", types.MergePatchType, []byte(`{"status":{"conditions":[]}}`), metav1.PatchOptions{}, "status")
	forbidden(t, "patch another cluster's ManifestWork status", err)
	forbidden(t, "delete another cluster's ManifestWork", bw.Delete(ctx, "b-work", metav1.DeleteOptions{}))
	_, err = bw.Create(ctx, configMapWork("tenant-b", "planted", "x"), metav1.CreateOptions{})
	forbidden(t, "create a ManifestWork for another cluster", err)
	_, err = kube.CoreV1().Secrets("tenant-b").List(ctx, metav1.ListOptions{})
	forbidden(t, "list another cluster's Secrets", err)
	_, err = kube.CoordinationV1().Leases("tenant-b").Update(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-b", Name: registration.LeaseName}}, metav1.UpdateOptions{})
	forbidden(t, "renew another cluster's Lease", err)
	_, err = clusters.ClusterV1().ManagedClusters().Get(ctx, "tenant-b", metav1.GetOptions{})
	forbidden(t, "get another ManagedCluster", err)
	_, err = clusters.ClusterV1().ManagedClusters().Patch(ctx, "tenant-b", types.MergePatchType, []byte(`{"status":{"conditions":[]}}`), metav1.PatchOptions{}, "status")
	forbidden(t, "patch another ManagedCluster's status", err)
	forbidden(t, "delete its own ManagedCluster", clusters.ClusterV1().ManagedClusters().Delete(ctx, "tenant-a", metav1.DeleteOptions{}))
	_, err = clusters.ClusterV1().ManagedClusters().Patch(ctx, "tenant-a", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"cluster.open-cluster-management.io/clusterset":"other-team","env":"prod"}}}`), metav1.PatchOptions{})
	forbidden(t, "relabel its own ManagedCluster (join another team's set)", err)
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-more"}}, metav1.CreateOptions{})
	forbidden(t, "create a namespace", err)

	// Asking for tenant-b's identity with tenant-a's is never approved.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:   registration.AgentUser("tenant-b", "klusterlet"),
		Organization: []string{registration.ClusterGroup("tenant-b"), registration.GroupManagedClusters},
	}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := kube.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-b-", Labels: map[string]string{registration.LabelClusterName: "tenant-b"}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: registration.SignerName, Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a cluster identity may request certificates (renewals): %v", err)
	}
	poll.Consistently(t, 3*time.Second, "the request for another cluster's identity stays undecided", func() error {
		cur := &certificatesv1.CertificateSigningRequest{}
		if err := hubC.Get(ctx, client.ObjectKey{Name: csr.Name}, cur); err != nil {
			return err
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == certificatesv1.CertificateApproved {
				return errors.New("approved: " + c.Message)
			}
		}
		if len(cur.Status.Certificate) != 0 {
			return errors.New("a certificate was issued")
		}
		return nil
	})
}

// TestClusterNamesCannotTakeOverSharedRoles: clusters named like the shared
// roles ("work", "common", "bootstrap") join without changing those roles,
// and the other clusters keep their access.
func TestClusterNamesCannotTakeOverSharedRoles(t *testing.T) {
	needControlPlanes(t)
	ctx := context.Background()
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, o := range reghub.StaticRBAC([]string{registration.DefaultBootstrapGroup}, []string{autoUser}) {
			switch want := o.(type) {
			case *rbacv1.ClusterRole:
				have := &rbacv1.ClusterRole{}
				if err := hubC.Get(ctx, client.ObjectKey{Name: want.Name}, have); err != nil {
					t.Fatal(err)
				}
				out["ClusterRole "+want.Name] = fmt.Sprint(have.Rules)
			case *rbacv1.ClusterRoleBinding:
				have := &rbacv1.ClusterRoleBinding{}
				if err := hubC.Get(ctx, client.ObjectKey{Name: want.Name}, have); err != nil {
					t.Fatal(err)
				}
				out["ClusterRoleBinding "+want.Name] = fmt.Sprint(have.RoleRef, have.Subjects)
			}
		}
		return out
	}
	first := joinCluster(t, "innocent")
	before := snapshot()
	for _, name := range []string{"work", "common", "bootstrap"} {
		joinCluster(t, name)
	}
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed when clusters named like it joined:\n  before %s\n  after  %s", k, v, after[k])
		}
	}
	// The first cluster still may do what agents do.
	kube, _ := kubernetes.NewForConfig(first)
	for _, attr := range []authorizationv1.ResourceAttributes{
		{Group: workv1.GroupName, Resource: "manifestworks", Verb: "watch", Namespace: "innocent"},
		{Group: workv1.GroupName, Resource: "manifestworks", Subresource: "status", Verb: "patch", Namespace: "innocent"},
		{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create"},
	} {
		r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Status.Allowed {
			t.Errorf("cluster innocent may no longer %s %s/%s: %s", attr.Verb, attr.Resource, attr.Subresource, r.Status.Reason)
		}
	}
}
