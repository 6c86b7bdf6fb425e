package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// registrationEnv is a standalone hub (deploy/hub, its admission policies
// included) running only its registration controller as its ServiceAccount,
// and clients for distinct users of the hub's API server.
type registrationEnv struct {
	*hubEnv
	cp *lab.ControlPlane
}

const autoApproveUser = "system:bootstrap:auto"

func startRegistrationHub(t *testing.T) *registrationEnv {
	t.Helper()
	var cp *lab.ControlPlane
	e := startDeployedHub(t, "hub", lab.RoleManaged, func(context.Context, client.Client) {}, func(o *hub.Options, c *lab.ControlPlane) {
		cp = c
		o.Controllers = []string{"registration"}
		o.Registration = reghub.Options{CACertPEM: c.ClientCA.CertPEM, CAKeyPEM: c.ClientCA.KeyPEM, AutoApproveUsers: []string{autoApproveUser}}
	})
	return &registrationEnv{hubEnv: e, cp: cp}
}

// user returns a client of the hub authenticating as name in groups.
func (e *registrationEnv) user(t *testing.T, name string, groups ...string) (client.Client, kubernetes.Interface) {
	t.Helper()
	cfg, err := e.cp.UserConfig(name, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return e.clientsFor(t, cfg)
}

func (e *registrationEnv) clientsFor(t *testing.T, cfg *rest.Config) (client.Client, kubernetes.Interface) {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c, kubernetes.NewForConfigOrDie(cfg)
}

// requestIdentity sends a certificate request for the agent identity of
// cluster with kube's credentials; it returns the request's name and key.
func requestIdentity(t *testing.T, ctx context.Context, kube kubernetes.Interface, cluster string) (string, []byte) {
	t.Helper()
	key, req, err := registration.NewRequest(cluster, "klusterlet")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := kube.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: cluster + "-", Labels: map[string]string{registration.LabelClusterName: cluster}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: registration.SignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request a certificate for %s: %v", cluster, err)
	}
	return csr.Name, key
}

// decision returns a request's Approved or Denied condition, and its certificate.
func (e *registrationEnv) decision(t *testing.T, name string) (*certificatesv1.CertificateSigningRequestCondition, []byte) {
	t.Helper()
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Name: name}, csr); err != nil {
		t.Fatal(err)
	}
	for i, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied {
			return &csr.Status.Conditions[i], csr.Status.Certificate
		}
	}
	return nil, csr.Status.Certificate
}

// join registers cluster as the auto-approved bootstrap user does and
// returns the identity it is issued.
func (e *registrationEnv) join(t *testing.T, cluster string) *rest.Config {
	t.Helper()
	c, kube := e.user(t, autoApproveUser, registration.DefaultBootstrapGroup)
	if err := c.Create(e.ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}}); err != nil {
		t.Fatal(err)
	}
	name, key := requestIdentity(t, e.ctx, kube, cluster)
	var cert []byte
	poll.Eventually(t, 30*time.Second, cluster+"'s certificate issued", func() error {
		var cond *certificatesv1.CertificateSigningRequestCondition
		cond, cert = e.decision(t, name)
		if cond == nil || cond.Type != certificatesv1.CertificateApproved || len(cert) == 0 {
			return fmt.Errorf("decision %+v, %d bytes of certificate", cond, len(cert))
		}
		return nil
	})
	cfg := rest.AnonymousClientConfig(e.cp.Config)
	cfg.CertData, cfg.KeyData = cert, key
	return cfg
}

func forbiddenErr(err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
		return nil
	}
	if err == nil {
		return errors.New("admitted")
	}
	return err
}

// TestRegistrationRefusesTakeovers attacks a standalone hub's registration
// (issue 16 items 2, 3, 5 and 14) as distinct users of a real API server
// whose RBAC and deploy/hub's admission policies decide:
//   - a bootstrap identity not on the auto-approve list asks for the
//     certificate of an existing, accepted cluster, or of a cluster it
//     created accepted and in a ClusterSet: nothing is approved, and the
//     ManagedCluster cannot be created accepted or in a set;
//   - accepting a cluster takes managedclusters/accept, moving it between
//     sets managedclustersets/join, binding a set to a namespace
//     managedclustersets/bind;
//   - a cluster's own identity cannot relabel its ManagedCluster;
//   - cluster names that are hub namespaces (kube-system, or a namespace
//     made for something else) are refused, even for the auto-approve list.
func TestRegistrationRefusesTakeovers(t *testing.T) {
	e := startRegistrationHub(t)
	ctx := e.ctx
	attacker, attackerKube := e.user(t, "system:bootstrap:attacker", registration.DefaultBootstrapGroup)

	// The admission policies take a moment to be enforced once created.
	probe := 0
	poll.Eventually(t, 30*time.Second, "the admission policy refuses a self-accepted cluster", func() error {
		probe++
		mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", probe)}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
		err := attacker.Create(ctx, mc)
		if err == nil {
			_ = e.admin.Delete(ctx, mc)
		}
		return forbiddenErr(err)
	})

	eastIdentity := e.join(t, "east")
	createAll(t, ctx, e.admin, &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}, namespace("team-a"))

	t.Run("bootstrap identities take over no cluster", func(t *testing.T) {
		// (b) A ManagedCluster the attacker creates accepted, or in a set.
		for _, mc := range []*clusterv1.ManagedCluster{
			{ObjectMeta: metav1.ObjectMeta{Name: "evil"}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}},
			{ObjectMeta: metav1.ObjectMeta{Name: "evil", Labels: map[string]string{clusterv1beta2.ClusterSetLabel: "team-a"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "evil", Labels: map[string]string{clusterv1beta2.ClusterSetLabel: "team-a"}}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}},
		} {
			if err := forbiddenErr(attacker.Create(ctx, mc)); err != nil {
				t.Errorf("create ManagedCluster %v accepted=%t: %v", mc.Labels, mc.Spec.HubAcceptsClient, err)
			}
		}
		if err := attacker.Create(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "evil-pending"}}); err != nil {
			t.Fatalf("a bootstrap identity may create a cluster that waits for the hub: %v", err)
		}
		// Should admission be missing, an accepted cluster in a set still
		// gets no certificate for the attacker.
		createAll(t, ctx, e.admin, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "evil-accepted",
			Labels: map[string]string{clusterv1beta2.ClusterSetLabel: "team-a"}}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})
		attacks := map[string]string{}
		for _, cluster := range []string{"east", "evil-pending", "evil-accepted"} {
			name, _ := requestIdentity(t, ctx, attackerKube, cluster)
			attacks[name] = cluster
		}
		// A later request of the auto-approved user is decided: the
		// controller has been through the attacker's (one worker, in order).
		e.join(t, "sentinel")
		poll.Consistently(t, 2*time.Second, "the attacker's requests stay undecided", func() error {
			for name, cluster := range attacks {
				if cond, cert := e.decision(t, name); (cond != nil && cond.Type == certificatesv1.CertificateApproved) || len(cert) > 0 {
					return fmt.Errorf("the request for %s's identity was approved (%+v) or signed", cluster, cond)
				}
			}
			return nil
		})
	})

	t.Run("accept, join and bind take their permissions", func(t *testing.T) {
		teamAdmin, _ := e.user(t, "team-a-admin")
		grant(t, e, "team-a-admin", "", rbacv1.PolicyRule{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "update", "patch"}})
		grant(t, e, "team-a-admin", "team-a", rbacv1.PolicyRule{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclustersetbindings"}, Verbs: []string{"get", "create"}})
		patchCluster := func(name, patch string) error {
			mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
			return teamAdmin.Patch(ctx, mc, client.RawPatch(types.MergePatchType, []byte(patch)))
		}
		binding := func(name, set string) *clusterv1beta2.ManagedClusterSetBinding {
			return &clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name},
				Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: set}}
		}
		for what, err := range map[string]error{
			"accept a cluster":          patchCluster("evil-pending", `{"spec":{"hubAcceptsClient":true}}`),
			"put a cluster into a set":  patchCluster("east", `{"metadata":{"labels":{"`+clusterv1beta2.ClusterSetLabel+`":"team-b"}}}`),
			"take a cluster out of one": patchCluster("evil-accepted", `{"metadata":{"labels":{"`+clusterv1beta2.ClusterSetLabel+`":null}}}`),
			"bind another team's set":   teamAdmin.Create(ctx, binding("team-b", "team-b")),
			"bind under another's name": teamAdmin.Create(ctx, binding("team-a", "team-b")),
		} {
			if err := forbiddenErr(err); err != nil {
				t.Errorf("%s without the permission: %v", what, err)
			}
		}
		grant(t, e, "team-a-admin", "", rbacv1.PolicyRule{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclustersets/join", "managedclustersets/bind"},
			ResourceNames: []string{"team-a"}, Verbs: []string{"create"}})
		poll.Eventually(t, 10*time.Second, "team-a's admin puts east into team-a", func() error {
			return patchCluster("east", `{"metadata":{"labels":{"`+clusterv1beta2.ClusterSetLabel+`":"team-a"}}}`)
		})
		if err := forbiddenErr(patchCluster("east", `{"metadata":{"labels":{"`+clusterv1beta2.ClusterSetLabel+`":"team-b"}}}`)); err != nil {
			t.Errorf("move a cluster on into another team's set: %v", err)
		}
		if err := teamAdmin.Create(ctx, binding("team-a", "team-a")); err != nil {
			t.Fatalf("bind its own set: %v", err)
		}
		// The hub marks the binding bound while its set exists.
		poll.Eventually(t, 20*time.Second, "binding team-a/team-a bound", func() error {
			b := &clusterv1beta2.ManagedClusterSetBinding{}
			if err := e.admin.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "team-a"}, b); err != nil {
				return err
			}
			if !meta.IsStatusConditionTrue(b.Status.Conditions, clusterv1beta2.ClusterSetBindingBoundType) {
				return fmt.Errorf("conditions %+v", b.Status.Conditions)
			}
			return nil
		})
		if err := e.admin.Delete(ctx, &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 20*time.Second, "binding team-a/team-a unbound once its set is gone", func() error {
			b := &clusterv1beta2.ManagedClusterSetBinding{}
			if err := e.admin.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "team-a"}, b); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(b.Status.Conditions, clusterv1beta2.ClusterSetBindingBoundType); c == nil || c.Status != metav1.ConditionFalse || c.Reason != reghub.ReasonClusterSetNotFound {
				return fmt.Errorf("Bound = %+v", c)
			}
			return nil
		})
	})

	t.Run("a cluster's identity writes only its status", func(t *testing.T) {
		own, _ := e.clientsFor(t, eastIdentity)
		mc := &clusterv1.ManagedCluster{}
		poll.Eventually(t, 20*time.Second, "east reads its ManagedCluster", func() error {
			return own.Get(ctx, client.ObjectKey{Name: "east"}, mc)
		})
		for what, patch := range map[string]string{
			"join another set":  `{"metadata":{"labels":{"` + clusterv1beta2.ClusterSetLabel + `":"team-b"}}}`,
			"change its labels": `{"metadata":{"labels":{"env":"prod"}}}`,
			"change its spec":   `{"spec":{"leaseDurationSeconds":3600}}`,
		} {
			err := own.Patch(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}}, client.RawPatch(types.MergePatchType, []byte(patch)))
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: err = %v, want Forbidden", what, err)
			}
		}
		mc.Labels = map[string]string{clusterv1beta2.ClusterSetLabel: "team-b"}
		if err := own.Update(ctx, mc); !apierrors.IsForbidden(err) {
			t.Errorf("update its ManagedCluster: err = %v, want Forbidden", err)
		}
		status := `{"status":{"version":{"kubernetes":"v1.37.2"}}}`
		if err := own.Status().Patch(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}}, client.RawPatch(types.MergePatchType, []byte(status))); err != nil {
			t.Errorf("report its status: %v", err)
		}
	})

	t.Run("cluster names that are hub namespaces", func(t *testing.T) {
		auto, autoKube := e.user(t, autoApproveUser, registration.DefaultBootstrapGroup)
		requests := map[string]string{}
		for _, cluster := range []string{"kube-system", "team-a"} {
			if err := auto.Create(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}}); err != nil {
				t.Fatal(err)
			}
			name, _ := requestIdentity(t, ctx, autoKube, cluster)
			requests[cluster] = name
		}
		for cluster, name := range requests {
			poll.Eventually(t, 20*time.Second, "the request for "+cluster+" denied", func() error {
				cond, cert := e.decision(t, name)
				if cond == nil || cond.Type != certificatesv1.CertificateDenied || len(cert) > 0 {
					return fmt.Errorf("decision %+v, %d bytes of certificate", cond, len(cert))
				}
				if !strings.Contains(cond.Message, cluster) {
					return fmt.Errorf("the denial does not say why: %s", cond.Message)
				}
				return nil
			})
		}
		// Accepted by an administrator all the same, the names get no access.
		for cluster := range requests {
			mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}}
			if err := e.admin.Patch(ctx, mc, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"hubAcceptsClient":true}}`))); err != nil {
				t.Fatal(err)
			}
			poll.Eventually(t, 20*time.Second, cluster+" refused", func() error {
				if err := e.admin.Get(ctx, client.ObjectKey{Name: cluster}, mc); err != nil {
					return err
				}
				c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionHubAccepted)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reghub.ReasonClusterNameRefused {
					return fmt.Errorf("HubAccepted = %+v", c)
				}
				return nil
			})
			err := e.admin.Get(ctx, client.ObjectKey{Namespace: cluster, Name: reghub.WorkClusterRole}, &rbacv1.RoleBinding{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("cluster %s was given access to namespace %s (%v)", cluster, cluster, err)
			}
		}
		ns := &corev1.Namespace{}
		if err := e.admin.Get(ctx, client.ObjectKey{Name: "team-a"}, ns); err != nil || ns.Labels[registration.LabelClusterName] != "" {
			t.Errorf("namespace team-a was claimed for a cluster: %v %v", err, ns.Labels)
		}
	})
	e.logs.check(t)
}

// grant gives user rule, cluster-wide (namespace "") or in namespace.
func grant(t *testing.T, e *registrationEnv, user, namespace string, rule rbacv1.PolicyRule) {
	t.Helper()
	name := fmt.Sprintf("test-%s-%d", user, time.Now().UnixNano())
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	objs := []client.Object{&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule}}}
	if namespace == "" {
		objs = append(objs, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: subject})
	} else {
		objs = append(objs, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, RoleRef: ref, Subjects: subject})
	}
	createAll(t, e.ctx, e.admin, objs...)
}
