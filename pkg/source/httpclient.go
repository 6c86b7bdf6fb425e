package source

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpClients keeps one HTTP client per credentials identity, so polls reuse
// connections instead of paying a TLS handshake each time.
type httpClients struct {
	mu      sync.Mutex
	clients map[string]*pooledClient
}

type pooledClient struct {
	client   *http.Client
	lastUsed time.Time
}

// get returns a client trusting the system roots plus the Channel's CA
// bundle, presenting its client certificate, and skipping verification only
// when the Channel asks.
func (p *httpClients) get(c Credentials, insecure bool, timeout time.Duration) (*http.Client, error) {
	id := c.identity(insecure)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients == nil {
		p.clients = map[string]*pooledClient{}
	}
	if pc, ok := p.clients[id]; ok {
		pc.lastUsed = time.Now()
		return pc.client, nil
	}
	tlsConfig, err := tlsConfigFor(c, insecure)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	pc := &pooledClient{client: &http.Client{Transport: tr, Timeout: timeout}, lastUsed: time.Now()}
	p.clients[id] = pc
	return pc.client, nil
}

// gc closes and forgets clients unused since cutoff.
func (p *httpClients) gc(cutoff time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, pc := range p.clients {
		if pc.lastUsed.Before(cutoff) {
			pc.client.CloseIdleConnections()
			delete(p.clients, id)
		}
	}
}

func tlsConfigFor(c Credentials, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only when the Channel sets insecureSkipVerify
	if len(c.CACerts) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(c.CACerts) {
			return nil, fail(KindInvalid, nil, "caCerts holds no PEM certificate; put the CA bundle in PEM form in the configMapRef (or secretRef) key caCerts")
		}
		cfg.RootCAs = pool
	}
	if cert, key := c.get(KeyClientCert), c.get(KeyClientKey); cert != "" {
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, fail(KindInvalid, nil, "secretRef keys %s/%s do not hold a PEM certificate and its key", KeyClientCert, KeyClientKey)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
