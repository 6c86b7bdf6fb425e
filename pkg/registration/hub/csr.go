package hub

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// controllerOptions: several hubs may run in one process (the lab, tests).
func controllerOptions() controller.Options {
	return controller.Options{SkipNameValidation: ptr.To(true)}
}

func withWorkers(o controller.Options, n int) controller.Options {
	o.MaxConcurrentReconciles = n
	return o
}

// csrReconciler approves and signs the certificate requests of clusters.
type csrReconciler struct {
	client client.Client
	// reader reads namespaces from the API server (not cached).
	reader      client.Reader
	signer      *signer
	autoApprove map[string]bool
}

// allowedUsages are what a cluster's client certificate may be used for.
var allowedUsages = map[certificatesv1.KeyUsage]bool{
	certificatesv1.UsageDigitalSignature: true, certificatesv1.UsageKeyEncipherment: true, certificatesv1.UsageClientAuth: true,
}

func (r *csrReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := log.FromContext(ctx)
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.client.Get(ctx, req.NamespacedName, csr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if finished(csr) {
		return ctrl.Result{}, nil
	}
	cluster := csr.Labels[registration.LabelClusterName]
	if !approved(csr) {
		ok, reason, err := r.decide(ctx, csr, cluster)
		if err != nil {
			return ctrl.Result{}, err
		}
		if reason != "" && !ok {
			return ctrl.Result{}, r.setCondition(ctx, csr, certificatesv1.CertificateDenied, "InvalidClusterRequest", reason)
		}
		if !ok {
			log.V(1).Info("certificate request waits for an administrator to approve it", "cluster", cluster, "csr", csr.Name, "requester", csr.Spec.Username)
			return ctrl.Result{}, nil
		}
		if err := r.setCondition(ctx, csr, certificatesv1.CertificateApproved, "AutoApprovedByHub", reason); err != nil {
			return ctrl.Result{}, err
		}
		log.Info("approved cluster certificate request", "cluster", cluster, "csr", csr.Name, "reason", reason)
	}
	if r.signer == nil || len(csr.Status.Certificate) > 0 {
		return ctrl.Result{}, nil
	}
	// Only requests that are a cluster identity get signed, however approved.
	if _, err := registration.ValidateRequest(csr.Spec.Request, cluster); err != nil {
		return ctrl.Result{}, r.setCondition(ctx, csr, certificatesv1.CertificateFailed, "InvalidClusterRequest", err.Error())
	}
	cert, err := r.signer.sign(csr)
	if err != nil {
		return ctrl.Result{}, r.setCondition(ctx, csr, certificatesv1.CertificateFailed, "SigningFailed", err.Error())
	}
	csr.Status.Certificate = cert
	if err := r.client.SubResource("status").Update(ctx, csr); err != nil {
		if apierrors.IsConflict(err) {
			// Another writer moved the request on; the next event brings it back.
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, fmt.Errorf("store certificate in %s: %w", csr.Name, err)
	}
	log.Info("signed cluster certificate", "cluster", cluster, "csr", csr.Name)
	return ctrl.Result{}, nil
}

// decide returns whether to approve; a non-empty reason with false denies.
func (r *csrReconciler) decide(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, cluster string) (bool, string, error) {
	x, err := registration.ValidateRequest(csr.Spec.Request, cluster)
	if err != nil {
		return false, err.Error(), nil
	}
	for _, u := range csr.Spec.Usages {
		if !allowedUsages[u] {
			return false, fmt.Sprintf("usage %q is not allowed for a cluster client certificate", u), nil
		}
	}
	facts := requestFacts{Requester: csr.Spec.Username, Identity: x.Subject.CommonName, AutoApprove: r.autoApprove[csr.Spec.Username]}
	if facts.NameRefused, err = nameRefusal(ctx, r.reader, cluster); err != nil {
		return false, "", err
	}
	mc := &clusterv1.ManagedCluster{}
	err = r.client.Get(ctx, types.NamespacedName{Name: cluster}, mc)
	switch {
	case apierrors.IsNotFound(err):
		// The agent creates it first; watched.
	case err != nil:
		return false, "", err
	default:
		facts.Cluster = mc
	}
	verdict, reason := judge(facts)
	if verdict != approve {
		return false, reason, nil
	}
	if facts.AutoApprove && !mc.Spec.HubAcceptsClient {
		patch := client.MergeFrom(mc.DeepCopy())
		mc.Spec.HubAcceptsClient = true
		if err := r.client.Patch(ctx, mc, patch); err != nil {
			return false, "", fmt.Errorf("accept ManagedCluster %s: %w", cluster, err)
		}
	}
	return true, reason, nil
}

// requestFacts are what a certificate request is judged on.
type requestFacts struct {
	// Requester is the user who sent the request, Identity the user name
	// it asks a certificate for (a validated cluster agent identity).
	Requester, Identity string
	// AutoApprove says the requester is a bootstrap user on the hub's
	// auto-approve list (--auto-approve-users).
	AutoApprove bool
	// Cluster is the requested cluster's ManagedCluster, nil while missing.
	Cluster *clusterv1.ManagedCluster
	// NameRefused says why the cluster's name may not be used, if so.
	NameRefused string
}

// verdict is what the hub does with a certificate request.
type verdict int

const (
	wait verdict = iota // for an administrator, or for the ManagedCluster
	approve
	deny
)

// judge decides a cluster's certificate request as OCM's hub does: it
// approves a renewal by the cluster's own identity while the hub accepts the
// cluster, and any request of a bootstrap user on the auto-approve list
// (which accepts the cluster). Every other request waits for an
// administrator (kubectl certificate approve), however the ManagedCluster is
// set: spec.hubAcceptsClient is not an approval, since whoever creates a
// ManagedCluster may set it, and an accepted cluster's name is no proof that
// the requester is that cluster. Requests for names that would take over a
// hub namespace are denied.
func judge(f requestFacts) (verdict, string) {
	switch {
	case f.NameRefused != "":
		return deny, f.NameRefused
	case f.Cluster == nil:
		return wait, ""
	case f.Requester == f.Identity:
		if f.Cluster.Spec.HubAcceptsClient {
			return approve, "renewal by the cluster's own identity"
		}
		return wait, ""
	case f.AutoApprove:
		return approve, fmt.Sprintf("bootstrap user %s is on the auto-approve list", f.Requester)
	}
	return wait, ""
}

// nameRefusal says why a cluster may not be named name ("" when it may): a
// reserved or invalid name, or an existing namespace that is not the
// cluster's.
func nameRefusal(ctx context.Context, reader client.Reader, name string) (string, error) {
	if err := registration.ValidateClusterName(name); err != nil {
		return err.Error(), nil
	}
	ns := &corev1.Namespace{}
	switch err := reader.Get(ctx, types.NamespacedName{Name: name}, ns); {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read namespace %s: %w", name, err)
	}
	if err := registration.ValidateNamespace(ns, name); err != nil {
		return err.Error(), nil
	}
	return "", nil
}

func (r *csrReconciler) setCondition(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType, reason, msg string) error {
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	})
	sub := "status"
	if typ == certificatesv1.CertificateApproved || typ == certificatesv1.CertificateDenied {
		sub = "approval"
	}
	if err := r.client.SubResource(sub).Update(ctx, csr); err != nil {
		return fmt.Errorf("set %s on CertificateSigningRequest %s: %w", typ, csr.Name, err)
	}
	return nil
}

// pendingOf maps a ManagedCluster to its undecided certificate requests.
func (r *csrReconciler) pendingOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list certificatesv1.CertificateSigningRequestList
	if err := r.client.List(ctx, &list, client.MatchingLabels{registration.LabelClusterName: o.GetName()}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, c := range list.Items {
		if !finished(&c) && (!approved(&c) || len(c.Status.Certificate) == 0) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: c.Name}})
		}
	}
	return out
}

func approved(csr *certificatesv1.CertificateSigningRequest) bool {
	return hasCondition(csr, certificatesv1.CertificateApproved)
}

func finished(csr *certificatesv1.CertificateSigningRequest) bool {
	return hasCondition(csr, certificatesv1.CertificateDenied) || hasCondition(csr, certificatesv1.CertificateFailed)
}

func hasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// sign issues the requested client certificate, valid for the shorter of the
// signer's validity and the request's expirationSeconds.
func (s *signer) sign(csr *certificatesv1.CertificateSigningRequest) ([]byte, error) {
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		return nil, fmt.Errorf("request is not PEM")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	validity := s.validity
	if e := csr.Spec.ExpirationSeconds; e != nil && time.Duration(*e)*time.Second < validity {
		validity = time.Duration(*e) * time.Second
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(s.ca.NotAfter) {
		notAfter = s.ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      req.Subject,
		NotBefore:    now.Add(-30 * time.Second),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, req.PublicKey, s.key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
