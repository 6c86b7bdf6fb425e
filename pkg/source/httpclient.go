package source

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

// maxErrorBody bounds what is read of a non-2xx answer: it is only ever
// logged or discarded, and a server answering with an endless error body
// must not fill the hub's memory (go-git reads error bodies whole).
const maxErrorBody = 64 << 10

// httpClients keeps one HTTP transport per credentials identity, so polls
// reuse connections instead of paying a TLS handshake each time. Every
// transport dials through the egress policy and bounds error bodies.
type httpClients struct {
	policy *egress.Policy

	mu         sync.Mutex
	transports map[string]*pooledTransport
}

type pooledTransport struct {
	transport *http.Transport
	lastUsed  time.Time
}

func newHTTPClients(policy *egress.Policy) *httpClients {
	return &httpClients{policy: policy, transports: map[string]*pooledTransport{}}
}

// get returns a client with the given timeout on the shared transport for
// the credentials (see transport); a 2xx body longer than maxOK fails to
// read (0: no bound).
func (p *httpClients) get(c Credentials, insecure bool, timeout time.Duration, maxOK int64) (*http.Client, error) {
	tr, err := p.transport(c, insecure)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: bounded{tr, maxOK}, Timeout: timeout}, nil
}

// transport returns the transport trusting the system roots plus the
// Channel's CA bundle, presenting its client certificate, skipping
// verification only when the Channel asks, and dialing only what the
// egress policy allows (checked on every connection, redirects included).
func (p *httpClients) transport(c Credentials, insecure bool) (*http.Transport, error) {
	id := c.identity(insecure)
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt, ok := p.transports[id]; ok {
		pt.lastUsed = time.Now()
		return pt.transport, nil
	}
	tlsConfig, err := tlsConfigFor(c, insecure)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           p.policy.Dialer(30 * time.Second).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	p.transports[id] = &pooledTransport{transport: tr, lastUsed: time.Now()}
	return tr, nil
}

// gc closes and forgets transports unused since cutoff.
func (p *httpClients) gc(cutoff time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, pt := range p.transports {
		if pt.lastUsed.Before(cutoff) {
			pt.transport.CloseIdleConnections()
			delete(p.transports, id)
		}
	}
}

// bounded cuts non-2xx bodies at maxErrorBody and, when maxOK > 0, fails a
// 2xx body longer than maxOK.
type bounded struct {
	rt    http.RoundTripper
	maxOK int64
}

func (b bounded) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		resp.Body = &limitedBody{r: io.LimitReader(resp.Body, maxErrorBody), c: resp.Body}
	case b.maxOK > 0:
		resp.Body = &limitedBody{r: &capReader{r: resp.Body, left: b.maxOK}, c: resp.Body}
	}
	return resp, nil
}

type limitedBody struct {
	r io.Reader
	c io.Closer
}

func (l *limitedBody) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *limitedBody) Close() error               { return l.c.Close() }

// errBodyTooLarge is returned by a body read past its bound.
var errBodyTooLarge = errors.New("response body too large")

// capReader fails, rather than silently stopping, once more than left bytes
// were read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, errBodyTooLarge
		}
		return c.r.Read(p)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
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

// httpStatusText says what an HTTP status means for a fetch without quoting
// the number: a tenant's status must not become a probe of what answers
// where.
func httpStatusText(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return "asked for credentials"
	case code == http.StatusForbidden:
		return "refused access"
	case code == http.StatusNotFound:
		return "has no such path"
	case code == http.StatusTooManyRequests:
		return "asked to slow down (rate limited)"
	case code >= 500:
		return "answered with a server error"
	case code >= 400:
		return "refused the request"
	case code >= 300:
		return "answered with a redirect that was not followed"
	}
	return "answered with an unexpected HTTP status"
}

// refusedByPolicy is the error for a source on a network the hub may not
// reach. It names the source as the Channel wrote it, never the address
// it resolved to.
func refusedByPolicy(source string) error {
	return fail(KindInvalid, nil, "%s is on a loopback, link-local or private network, which this hub may not reach; serve it from an allowed address, or ask the hub's administrator to allow the network (--allow-networks)", SanitizeURL(source))
}

// checkRefused maps a connection the egress policy refused to
// refusedByPolicy; other errors pass through.
func checkRefused(err error, source string) error {
	if egress.IsRefused(err) {
		return refusedByPolicy(source)
	}
	return err
}
