package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/connrotation"
)

// rotatingCert serves the current client certificate to TLS handshakes and,
// when it is replaced, closes every connection so the next requests present
// the new one (the apiserver checks the certificate on each request, so old
// connections would fail once it expires).
type rotatingCert struct {
	mu     sync.RWMutex
	cert   *tls.Certificate
	dialer *connrotation.Dialer
}

func (r *rotatingCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.cert == nil {
		return &tls.Certificate{}, nil
	}
	return r.cert, nil
}

func (r *rotatingCert) set(certPEM, keyPEM []byte) error {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("load client certificate: %w", err)
	}
	r.mu.Lock()
	old := r.cert
	r.cert = &c
	r.mu.Unlock()
	if old != nil {
		r.dialer.CloseAll()
	}
	return nil
}

// rotatingConfig returns a client configuration for the hub whose client
// certificate can be replaced while clients built from it keep working.
func rotatingConfig(creds *Credentials, userAgent string) (*rest.Config, *rotatingCert, error) {
	u, err := url.Parse(creds.Server)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("hub server %q is not a URL", creds.Server)
	}
	pool := x509.NewCertPool()
	if len(creds.CAData) > 0 && !pool.AppendCertsFromPEM(creds.CAData) {
		return nil, nil, errors.New("the hub CA data holds no PEM certificate")
	}
	if len(creds.CAData) == 0 {
		if pool, err = x509.SystemCertPool(); err != nil {
			return nil, nil, fmt.Errorf("system CA pool: %w", err)
		}
	}
	rc := &rotatingCert{dialer: connrotation.NewDialer((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext)}
	if err := rc.set(creds.CertData, creds.KeyData); err != nil {
		return nil, nil, err
	}
	host := u.Hostname()
	tr := utilnet.SetTransportDefaults(&http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion:           tls.VersionTLS12,
			RootCAs:              pool,
			ServerName:           host,
			GetClientCertificate: rc.get,
		},
		MaxIdleConnsPerHost: 25,
		DialContext:         rc.dialer.DialContext,
	})
	cfg := &rest.Config{Host: creds.Server, Transport: tr, UserAgent: userAgent}
	return cfg, rc, nil
}

// staticConfig is a plain client configuration from credentials.
func staticConfig(creds *Credentials) *rest.Config {
	return &rest.Config{Host: creds.Server, TLSClientConfig: rest.TLSClientConfig{
		CAData: creds.CAData, CertData: creds.CertData, KeyData: creds.KeyData,
	}}
}
