package source

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

// lab allows what the lab and these tests serve from: loopback.
func lab() Option { return WithEgress(egress.Allow(egress.Loopback()...)) }

// TestLocalGitBackDoors: spellings of a path on the hub's disk that the
// fetcher reads as a local repository are refused like file:// itself
// unless the hub allows local Git (issue 16 item 7).
func TestLocalGitBackDoors(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "private", map[string]string{"secret.yaml": "kind: Secret\n"})
	// A relative path is read from the hub's working folder.
	t.Chdir(filepath.Dir(root))
	rel := filepath.Join(filepath.Base(root), "private.git")
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	for _, pathname := range []string{
		repo.bare,
		"file://" + repo.bare,
		" " + repo.bare,
		"\t" + repo.bare,
		"\n" + repo.bare,
		"FILE://" + repo.bare,
		"File://" + repo.bare,
		" file://" + repo.bare,
		rel,
		"./" + rel,
	} {
		ch := channel("Git", pathname)
		a, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()})
		if err == nil {
			t.Errorf("pathname %q read the hub's disk: %s", pathname, a.Dir)
			continue
		}
		var fe *Error
		if !asError(err, &fe) || fe.Kind != KindInvalid || !strings.Contains(err.Error(), "--allow-local-git") {
			t.Errorf("pathname %q: error %v, want InvalidSpec naming --allow-local-git", pathname, err)
		}
	}

	allowed := NewStore(t.TempDir(), testLogger(t), lab(), WithLocalRepositories(true))
	for _, pathname := range []string{" " + repo.bare, "FILE://" + repo.bare, rel} {
		if _, err := allowed.Fetch(ctx, Request{Channel: channel("Git", pathname), NotBefore: time.Now()}); err != nil {
			t.Errorf("with local Git allowed, %q: %v", pathname, err)
		}
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

func countingServer(t *testing.T, addr string, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen on %s: %v", addr, err)
	}
	cl := &countingListener{Listener: l}
	srv := &httptest.Server{Listener: cl, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cl
}

// TestSourcesRefuseInternalAddresses: with the default policy, Git (HTTP and
// SSH), Helm (index and OCI) and S3 Channels pointing at loopback, whether
// by address, by a name that resolves there or through a redirect, are
// refused before any connection is made, with a message that names no
// address (issue 16 item 8). Link-local and private ranges are refused by
// the same check (pkg/egress TestAllowed); tests only ever dial loopback.
func TestSourcesRefuseInternalAddresses(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "kind: ConfigMap\n"})
	gitSrv, gitConns := countingServer(t, "127.0.0.1:0", gitHTTPHandler(t, root, "", "", nil))
	_, port, _ := net.SplitHostPort(gitSrv.Listener.Addr().String())
	helm, helmConns := countingServer(t, "127.0.0.1:0", http.FileServer(http.Dir(t.TempDir())))
	s3, s3Conns := countingServer(t, "127.0.0.1:0", http.NotFoundHandler())
	sshSrv := startSSHGitServer(t, root, "")

	cases := []struct {
		name  string
		typ   string
		path  string
		ref   Ref
		creds Credentials
	}{
		{"git over http", "Git", gitSrv.URL + "/fleet.git", Ref{}, Credentials{}},
		{"git by a name resolving to loopback", "Git", "http://localhost:" + port + "/fleet.git", Ref{}, Credentials{}},
		{"git over ssh", "Git", "ssh://git@" + sshSrv.addr + "/fleet.git", Ref{},
			Credentials{Secret: map[string][]byte{KeySSHKey: sshSrv.userKeyPEM, KeyKnownHosts: []byte(sshSrv.hostKeyLine)}}},
		{"helm index", "HelmRepo", helm.URL + "/charts", Ref{Chart: "demo"}, Credentials{}},
		{"helm oci", "HelmRepo", "oci://" + strings.TrimPrefix(helm.URL, "http://") + "/charts", Ref{Chart: "demo"}, Credentials{}},
		{"s3", "ObjectBucket", s3.URL + "/bucket", Ref{}, Credentials{}},
	}
	store := NewStore(t.TempDir(), testLogger(t))
	ctx := ctxT(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := store.Fetch(ctx, Request{Channel: channel(appsv1.ChannelType(c.typ), c.path), Ref: c.ref, Credentials: c.creds, NotBefore: time.Now()})
			if err == nil {
				t.Fatal("fetched from loopback with the default policy")
			}
			if !strings.Contains(err.Error(), "may not reach") || (strings.Contains(err.Error(), "127.0.0.1") && !strings.Contains(c.path, "127.0.0.1")) {
				t.Errorf("error %q: want the refusal, without the resolved address", err)
			}
		})
	}
	for name, n := range map[string]int64{"git": gitConns.accepted.Load(), "helm": helmConns.accepted.Load(), "s3": s3Conns.accepted.Load()} {
		if n != 0 {
			t.Errorf("the %s server accepted %d connections", name, n)
		}
	}

	// A redirect from an allowed server into a refused one gets nowhere.
	redirect, _ := countingServer(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, gitSrv.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	only2 := NewStore(t.TempDir(), testLogger(t), WithEgress(egress.Allow(netip.MustParsePrefix("127.0.0.2/32"))))
	if _, err := only2.Fetch(ctx, Request{Channel: channel("Git", redirect.URL+"/fleet.git"), NotBefore: time.Now()}); err == nil || !strings.Contains(err.Error(), "may not reach") {
		t.Errorf("redirect into loopback: %v, want refused", err)
	}
	if n := gitConns.accepted.Load(); n != 0 {
		t.Errorf("the redirect reached the refused server (%d connections)", n)
	}
}

// TestHelmPathnameCannotNameAnExactURL: a HelmRepo pathname ending in "#a"
// used to swallow "/index.yaml" and fetch exactly the URL given, e.g. a
// cloud metadata document, whose first unknown JSON field (AccessKeyId)
// then showed in the status. Neither happens now, and no answer's status
// code or body is quoted (issue 16 item 8).
func TestHelmPathnameCannotNameAnExactURL(t *testing.T) {
	var exact atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/meta-data/iam/credentials":
			exact.Add(1)
			_, _ = w.Write([]byte(`{"AccessKeyId":"ASIAEXAMPLEKEY","SecretAccessKey":"wJalrEXAMPLE","Token":"tok"}`))
		case "/json/index.yaml":
			_, _ = w.Write([]byte(`{"AccessKeyId":"ASIAEXAMPLEKEY","apiVersion":"v1"}`))
		case "/teapot/index.yaml":
			w.WriteHeader(599)
			_, _ = w.Write([]byte("internal banner v1.2.3"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	for _, path := range []string{
		srv.URL + "/latest/meta-data/iam/credentials#a",
		srv.URL + "/latest/meta-data/iam/credentials?#",
		srv.URL + "/json",
		srv.URL + "/teapot",
	} {
		_, err := store.Fetch(ctx, Request{Channel: channel("HelmRepo", path), Ref: Ref{Chart: "demo"}, NotBefore: time.Now()})
		if err == nil {
			t.Fatalf("%s: fetched", path)
		}
		for _, leak := range []string{"AccessKeyId", "ASIA", "599", "banner"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: the error quotes the answer (%q): %v", path, leak, err)
			}
		}
	}
	if n := exact.Load(); n != 0 {
		t.Errorf("the exact URL was fetched %d times", n)
	}
}

// TestBucketErrorsQuoteNoAnswer: an S3 endpoint's own error text is not
// copied into the status.
func TestBucketErrorsQuoteNoAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<?xml version="1.0"?><Error><Code>InternalDetail</Code><Message>AccessKeyId=ASIAEXAMPLEKEY</Message></Error>`))
	}))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab())
	_, err := store.Fetch(ctxT(t), Request{Channel: channel("ObjectBucket", srv.URL+"/bucket"), NotBefore: time.Now()})
	if err == nil || strings.Contains(err.Error(), "ASIA") || strings.Contains(err.Error(), "InternalDetail") {
		t.Fatalf("error %v: want a failure that quotes nothing of the answer", err)
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

// classifyOCI reads a refusal by the egress policy as one, whatever digits
// the registry's address holds: port 44011 once read as a 401 and asked for
// credentials.
func TestClassifyOCI(t *testing.T) {
	ref := "oci://127.0.0.1:44011/charts/demo"
	refused := fmt.Errorf("GET %s: %w", "https://127.0.0.1:44011/v2/", &url.Error{Op: "Get", URL: "https://127.0.0.1:44011/v2/", Err: &egress.RefusedError{}})
	for _, tc := range []struct {
		name string
		err  error
		kind Kind
		says string
	}{
		{"refused on a port with 401 in it", refused, KindInvalid, "may not reach"},
		{"unreachable on a port with 401 in it", errors.New("dial tcp 127.0.0.1:44011: connect: connection refused"), KindUnavailable, "reach"},
		{"401 from a client without ErrorResponse", errors.New("unexpected status code 401: Unauthorized"), KindAuth, "set user and password"},
		{"ErrorResponse 403", &errcode.ErrorResponse{StatusCode: http.StatusForbidden}, KindAuth, "refused access (403)"},
		{"ErrorResponse 404", &errcode.ErrorResponse{StatusCode: http.StatusNotFound}, KindNotFound, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classifyOCI(tc.err, ref)
			if kindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("classifyOCI = %v (kind %d), want kind %d saying %q", err, kindOf(err), tc.kind, tc.says)
			}
		})
	}
}
