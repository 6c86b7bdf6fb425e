package render

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Access is what a render may use to reach the chart repositories and OCI
// registries its charts depend on (Helm dependencies, Kustomize helmCharts).
// The Channel's credentials (user and password or token, client
// certificate) go only to the Channel's own host; its CA bundle is trusted
// for every host. The zero Access reaches public repositories without
// credentials.
type Access struct {
	// URL is the Channel's spec.pathname.
	URL string
	// Credentials are the Channel's secretRef and configMapRef.
	Credentials source.Credentials
	// InsecureSkipVerify is the Channel's: it applies to its host only.
	InsecureSkipVerify bool
}

// AccessFor is the Access a Channel gives with its credentials.
func AccessFor(ch *appsv1.Channel, creds source.Credentials) Access {
	if ch == nil {
		return Access{}
	}
	return Access{URL: ch.Spec.Pathname, Credentials: creds, InsecureSkipVerify: ch.Spec.InsecureSkipVerify}
}

// host is the Channel's host:port, the only host its credentials go to.
func (a Access) host() string {
	u, err := url.Parse(strings.TrimSpace(a.URL))
	if err != nil || u.Host == "" {
		return ""
	}
	return hostPort(u)
}

// key identifies the Access for render caches: renders with different
// credentials may see different dependencies.
func (a Access) key() string {
	if a.URL == "" && len(a.Credentials.Secret) == 0 && len(a.Credentials.CACerts) == 0 {
		return ""
	}
	return a.host() + "\x00" + a.Credentials.Identity(a.InsecureSkipVerify)
}

// hostPort is u's host with the scheme's default port made explicit, so
// "oci://r.example" and "https://r.example:443" are one host.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return strings.ToLower(u.Host)
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// remote is how one render reaches chart repositories and registries:
// connections only where the egress policy allows, answers bounded, and
// the Channel's credentials for its own host only.
type remote struct {
	access   Access
	ownHost  string
	policy   *egress.Policy
	timeout  time.Duration
	maxBytes int64
	offline  bool

	clients map[bool]*http.Client // by "is the Channel's host"
}

func (r *Renderer) remoteFor(a Access) *remote {
	return &remote{access: a, ownHost: a.host(), policy: r.opts.Egress, timeout: r.opts.HTTPTimeout,
		maxBytes: r.opts.MaxDownloadBytes, offline: r.opts.Offline, clients: map[bool]*http.Client{}}
}

// own reports whether the Channel's credentials go to u.
func (rm *remote) own(u *url.URL) bool {
	return rm.ownHost != "" && hostPort(u) == rm.ownHost
}

// basicAuth is the user and password for u, when it is the Channel's host.
func (rm *remote) basicAuth(u *url.URL) (string, string, bool) {
	if !rm.own(u) {
		return "", "", false
	}
	user, pass := rm.access.Credentials.BasicAuth()
	return user, pass, user != "" || pass != ""
}

// scope is what a download from u is cached under besides its own
// identity: the credentials' identity when they go to u (so another
// tenant's request never reads it), else nothing (public content).
func (rm *remote) scope(u *url.URL) string {
	if !rm.own(u) {
		return ""
	}
	return rm.access.Credentials.Identity(rm.access.InsecureSkipVerify)
}

// client is the HTTP client for u.
func (rm *remote) client(u *url.URL) (*http.Client, error) {
	if rm.offline {
		return nil, &Error{Err: fmt.Errorf("%s is not in the repository and this render may not download it; %s", source.SanitizeURL(u.String()), vendorHint)}
	}
	own := rm.own(u)
	if c, ok := rm.clients[own]; ok {
		return c, nil
	}
	var tlsConfig *tls.Config
	var err error
	if own {
		tlsConfig, err = rm.access.Credentials.TLSConfig(rm.access.InsecureSkipVerify)
	} else {
		tlsConfig, err = source.Credentials{CACerts: rm.access.Credentials.CACerts}.TLSConfig(false)
	}
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: rm.timeout, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           rm.policy.Dialer(30 * time.Second).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		ForceAttemptHTTP2:     true,
	}}
	rm.clients[own] = c
	return c, nil
}

// close releases the render's connections.
func (rm *remote) close() {
	for _, c := range rm.clients {
		c.CloseIdleConnections()
	}
}

// get downloads u, reading at most maxBytes of it: a repository that
// answers with an endless body costs no more than that. Errors never quote
// the answer.
func (rm *remote) get(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", source.SanitizeURL(raw), err)
	}
	shown := source.SanitizeURL(raw)
	hc, err := rm.client(u)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}
	ctx, cancel := context.WithTimeout(ctx, rm.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}
	if user, pass, ok := rm.basicAuth(u); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: the server answered %s%s", shown, resp.Status, authHint(resp.StatusCode, rm.own(u)))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, rm.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}
	if int64(len(data)) > rm.maxBytes {
		return nil, fmt.Errorf("download %s: more than the %d-byte limit", shown, rm.maxBytes)
	}
	return data, nil
}

// authHint says what to do about a refusal.
func authHint(status int, own bool) string {
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return ""
	}
	if own {
		return "; check the user and password in the Channel's secretRef"
	}
	return "; the Channel's credentials go only to its own host, so vendor this chart into charts/ (helm dependency build) and commit it"
}
