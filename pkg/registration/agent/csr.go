package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certcsr "k8s.io/client-go/util/certificate/csr"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// requestCertificate asks the hub for a client certificate and waits until it
// is issued, denied or ctx ends. validity is a hint to the signer.
func requestCertificate(ctx context.Context, hub kubernetes.Interface, cluster, agent string, validity time.Duration, onWait func(csr string)) (certPEM, keyPEM []byte, err error) {
	keyPEM, csrPEM, err := registration.NewRequest(cluster, agent)
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
			Labels:       map[string]string{registration.LabelClusterName: cluster, "open-cluster-management.io/agent-name": agent},
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           csrPEM,
			SignerName:        registration.SignerName,
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
	cert, err := certcsr.WaitForCertificate(ctx, hub, csr.Name, csr.UID)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("wait for CertificateSigningRequest %s: %w", csr.Name, ctx.Err())
		}
		return nil, nil, fmt.Errorf("CertificateSigningRequest %s: %w", csr.Name, err)
	}
	return cert, keyPEM, nil
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
