// Package hub is the hub's half of cluster registration, as OCM's
// registration hub does it: it approves the certificate requests of
// bootstrap users on the auto-approve list (accepting their clusters) and
// the renewals of accepted clusters' own identities, and leaves every other
// request to an administrator; it signs approved requests when the hub has
// no kube-controller-manager to do it, gives each accepted cluster's
// identity access to its own namespace and the status of its own
// ManagedCluster only, refuses cluster names that would take over a hub
// namespace, marks ManagedClusterSetBindings bound while their set exists,
// and marks clusters whose agent stopped renewing its Lease as unknown.
//
// Who may accept a cluster, move it into a ManagedClusterSet or bind a set
// to a namespace is checked at admission (deploy/hub/admission.yaml).
package hub

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// Options configure the hub side of registration.
type Options struct {
	// CACertPEM and CAKeyPEM are the CA the hub's kube-apiserver trusts for
	// client certificates (its --client-ca-file). When set, approved cluster
	// certificate requests are signed with it; leave them empty when the
	// hub's kube-controller-manager signs kubernetes.io/kube-apiserver-client
	// requests.
	CACertPEM, CAKeyPEM []byte
	// CertValidity caps the lifetime of signed certificates (default 24h).
	CertValidity time.Duration
	// AutoApproveUsers are bootstrap users whose requests are approved (and
	// their clusters accepted) without an administrator.
	AutoApproveUsers []string
	// BootstrapGroups may create ManagedClusters and certificate requests
	// (default registration.DefaultBootstrapGroup).
	BootstrapGroups []string
	// LeaseGraceMultiplier: a cluster whose Lease was not renewed for this
	// many lease durations is marked unknown (default 5, as OCM).
	LeaseGraceMultiplier int
}

// SetupHubWithManager registers the registration controllers with mgr:
// "registration-csr" (approve and sign), "registration-cluster" (namespace,
// RBAC, acceptance and availability of ManagedClusters),
// "registration-clustersetbinding" (the Bound condition) and a start-up step
// that grants the bootstrap groups what joining needs.
func SetupHubWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.CertValidity <= 0 {
		opts.CertValidity = 24 * time.Hour
	}
	if len(opts.BootstrapGroups) == 0 {
		opts.BootstrapGroups = []string{registration.DefaultBootstrapGroup}
	}
	if opts.LeaseGraceMultiplier <= 0 {
		opts.LeaseGraceMultiplier = 5
	}
	var signer *signer
	if len(opts.CACertPEM) > 0 || len(opts.CAKeyPEM) > 0 {
		s, err := newSigner(opts.CACertPEM, opts.CAKeyPEM, opts.CertValidity)
		if err != nil {
			return fmt.Errorf("registration signer: %w", err)
		}
		signer = s
	}
	c := mgr.GetClient()
	auto := map[string]bool{}
	for _, u := range opts.AutoApproveUsers {
		auto[u] = true
	}

	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := ensureStaticRBAC(ctx, c, mgr.GetAPIReader(), opts.BootstrapGroups, opts.AutoApproveUsers); err != nil {
			return fmt.Errorf("grant bootstrap access: %w", err)
		}
		return nil
	})); err != nil {
		return err
	}

	csrs := &csrReconciler{client: c, reader: mgr.GetAPIReader(), signer: signer, autoApprove: auto}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		csr, ok := o.(*certificatesv1.CertificateSigningRequest)
		return ok && csr.Labels[registration.LabelClusterName] != "" && csr.Spec.SignerName == registration.SignerName
	})
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("registration-csr").
		For(&certificatesv1.CertificateSigningRequest{}, builder.WithPredicates(ours)).
		Watches(&clusterv1.ManagedCluster{}, handler.EnqueueRequestsFromMapFunc(csrs.pendingOf)).
		WithOptions(controllerOptions()).
		Complete(csrs); err != nil {
		return err
	}

	if err := setupBindings(mgr); err != nil {
		return err
	}

	clusters := &clusterReconciler{client: c, reader: mgr.GetAPIReader(), grace: opts.LeaseGraceMultiplier}
	// A lease's renewals need no reconcile: the cluster's verdict is a timer
	// (checkLease's recheck) read against the cached lease. Only a lease
	// appearing or going changes it before the timer fires. Thousands of
	// clusters renewing every minute would otherwise keep this controller
	// busy doing nothing.
	leaseName := func(o client.Object) bool { return o.GetName() == registration.LeaseName }
	leases := predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return leaseName(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return leaseName(e.Object) },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(e event.GenericEvent) bool { return leaseName(e.Object) },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("registration-cluster").
		For(&clusterv1.ManagedCluster{}).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
		}), builder.WithPredicates(leases)).
		// Setting up a cluster is a few sequential API calls; onboarding
		// thousands at once wants them in parallel.
		WithOptions(withWorkers(controllerOptions(), 8)).
		Complete(clusters)
}

// signer issues client certificates with the hub's client CA.
type signer struct {
	ca       *x509.Certificate
	key      crypto.Signer
	validity time.Duration
}

func newSigner(certPEM, keyPEM []byte, validity time.Duration) (*signer, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, errors.New("CA certificate is not PEM")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("CA key is not PEM")
	}
	var key any
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key cannot sign")
	}
	return &signer{ca: ca, key: s, validity: validity}, nil
}
