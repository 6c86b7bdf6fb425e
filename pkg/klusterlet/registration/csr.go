package registration

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
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// newKeyAndRequest creates a private key and a certificate request for the
// identity of a cluster's agent.
func newKeyAndRequest(cluster, agent string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{
			CommonName:   AgentUser(cluster, agent),
			Organization: []string{ClusterGroup(cluster), GroupManagedClusters},
		},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate request: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ErrDenied is returned when the hub denies a certificate request.
var ErrDenied = errors.New("the hub denied the certificate request")

// requestCertificate asks the hub for a client certificate and waits until it
// is issued (or ctx ends). validity is a hint to the signer.
func requestCertificate(ctx context.Context, hub kubernetes.Interface, cluster, agent string, validity time.Duration, onWait func(csr string)) (certPEM, keyPEM []byte, err error) {
	keyPEM, csrPEM, err := newKeyAndRequest(cluster, agent)
	if err != nil {
		return nil, nil, err
	}
	secs := int32(validity / time.Second)
	if secs < 600 {
		secs = 600 // the API's minimum
	}
	csr, err := hub.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: cluster + "-",
			Labels:       map[string]string{LabelClusterName: cluster, "open-cluster-management.io/agent-name": agent},
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           csrPEM,
			SignerName:        SignerName,
			ExpirationSeconds: &secs,
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("create CertificateSigningRequest for cluster %s: %w", cluster, err)
	}
	if onWait != nil {
		onWait(csr.Name)
	}
	cert, err := waitIssued(ctx, hub, csr.Name)
	if err != nil {
		return nil, nil, err
	}
	return cert, keyPEM, nil
}

// waitIssued watches a CertificateSigningRequest until it has a certificate.
func waitIssued(ctx context.Context, hub kubernetes.Interface, name string) ([]byte, error) {
	csrs := hub.CertificatesV1().CertificateSigningRequests()
	for {
		cur, err := csrs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get CertificateSigningRequest %s: %w", name, err)
		}
		if cert, done, err := issued(cur); done || err != nil {
			return cert, err
		}
		w, err := csrs.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: cur.ResourceVersion,
		})
		if err != nil {
			return nil, fmt.Errorf("watch CertificateSigningRequest %s: %w", name, err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break
			}
			c, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
			if !ok {
				continue
			}
			if cert, done, err := issued(c); done || err != nil {
				w.Stop()
				return cert, err
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// issued reads the outcome of a request.
func issued(csr *certificatesv1.CertificateSigningRequest) ([]byte, bool, error) {
	for _, c := range csr.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case certificatesv1.CertificateDenied:
			return nil, true, fmt.Errorf("%w %s: %s", ErrDenied, csr.Name, c.Message)
		case certificatesv1.CertificateFailed:
			return nil, true, fmt.Errorf("signing CertificateSigningRequest %s failed: %s", csr.Name, c.Message)
		}
	}
	if len(csr.Status.Certificate) > 0 {
		return csr.Status.Certificate, true, nil
	}
	return nil, false, nil
}

// certValidity returns the validity window of the first certificate in PEM.
func certValidity(certPEM []byte) (notBefore, notAfter time.Time, cert *x509.Certificate, err error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return time.Time{}, time.Time{}, nil, errors.New("no PEM certificate")
	}
	cert, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, time.Time{}, nil, err
	}
	return cert.NotBefore, cert.NotAfter, cert, nil
}
