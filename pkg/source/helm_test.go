package source

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// packageChart builds a chart with Helm's own scaffolding and packaging and
// returns the archive path.
func packageChart(t testing.TB, name, version, outDir string) string {
	t.Helper()
	src := t.TempDir()
	dir, err := chartutil.Create(name, src)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Version = version
	ch.Metadata.AppVersion = version
	path, err := chartutil.Save(ch, outDir)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// helmRepoServer is a chart repository: archives plus Helm's own index.yaml.
type helmRepoServer struct {
	dir      string
	srv      *httptest.Server
	requests atomic.Int64
	archives atomic.Int64
}

func (h *helmRepoServer) reindex(t testing.TB) {
	t.Helper()
	idx, err := repo.IndexDirectory(h.dir, h.srv.URL+"/charts")
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(h.dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func startHelmRepo(t testing.TB, user, pass string, ca *testCA) *helmRepoServer {
	t.Helper()
	h := &helmRepoServer{dir: t.TempDir()}
	files := http.FileServer(http.Dir(h.dir))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if strings.HasSuffix(r.URL.Path, ".tgz") {
			h.archives.Add(1)
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/charts")
		files.ServeHTTP(w, r)
	})
	if ca != nil {
		h.srv = startTLS(t, ca, handler, nil)
	} else {
		h.srv = httptest.NewServer(handler)
		t.Cleanup(h.srv.Close)
	}
	return h
}

func TestHelmHTTPRepositoryPicksNewestInRange(t *testing.T) {
	ca := newTestCA(t)
	hr := startHelmRepo(t, "helm", "chart-pass", ca)
	for _, v := range []string{"1.2.0", "1.2.3", "1.3.0", "2.0.0-rc.1"} {
		packageChart(t, "demo", v, hr.dir)
	}
	hr.reindex(t)
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("HelmRepo", hr.srv.URL+"/charts")
	creds := Credentials{CACerts: ca.certPEM, Secret: map[string][]byte{KeyUser: []byte("helm"), KeyPassword: []byte("chart-pass")}}
	fetch := func(version string) (*Artifact, error) {
		return store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo", Version: version}, Credentials: creds, NotBefore: time.Now()})
	}

	a, err := fetch("1.2.x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Revision, "demo-1.2.3@sha256:") {
		t.Fatalf("1.2.x picked %s, want demo-1.2.3", a.Revision)
	}
	if !strings.Contains(readFile(t, filepath.Join(a.Dir, "Chart.yaml")), "version: 1.2.3") {
		t.Fatal("Dir must be the unpacked chart root")
	}
	if a, err := fetch(""); err != nil || !strings.HasPrefix(a.Revision, "demo-1.3.0@") {
		t.Fatalf("no range takes the newest stable: %v %v", a, err)
	}
	if a, err := fetch(">=2.0.0-0"); err != nil || !strings.HasPrefix(a.Revision, "demo-2.0.0-rc.1@") {
		t.Fatalf("a prerelease range takes the prerelease: %v %v", a, err)
	}

	// A newer matching version is taken at the next poll; the archive of an
	// unchanged version is not downloaded again.
	packageChart(t, "demo", "1.2.9", hr.dir)
	hr.reindex(t)
	archives := hr.archives.Load()
	a2, err := fetch("1.2.x")
	if err != nil || !strings.HasPrefix(a2.Revision, "demo-1.2.9@") {
		t.Fatalf("after publishing 1.2.9: %v %v", a2, err)
	}
	if got := hr.archives.Load() - archives; got != 1 {
		t.Fatalf("downloaded %d archives for one new version", got)
	}
	archives = hr.archives.Load()
	if _, err := fetch("1.2.x"); err != nil || hr.archives.Load() != archives {
		t.Fatalf("an unchanged version must come from the digest cache (err %v)", err)
	}

	// Errors say what exists and what to fix.
	_, err = fetch("9.x")
	if !IsNotFound(err) || !strings.Contains(err.Error(), "packageFilter.version") || !strings.Contains(err.Error(), "1.3.0") {
		t.Fatalf("no match: %v", err)
	}
	_, err = store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "nginx"}, Credentials: creds, NotBefore: time.Now()})
	if !IsNotFound(err) || !strings.Contains(err.Error(), "demo") {
		t.Fatalf("missing chart: %v", err)
	}
	_, err = store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo", Version: "not a range!"}, Credentials: creds})
	if Reason(err) != appsv1.ReasonInvalidSpec {
		t.Fatalf("bad range: %v", err)
	}
	badPass := Credentials{CACerts: ca.certPEM, Secret: map[string][]byte{KeyUser: []byte("helm"), KeyPassword: []byte("nope-password")}}
	ch2 := channel("HelmRepo", hr.srv.URL+"/charts")
	ch2.Name = "other"
	_, err = store.Fetch(ctx, Request{Channel: ch2, Ref: Ref{Chart: "demo"}, Credentials: badPass, NotBefore: time.Now()})
	if !IsAuthError(err) || strings.Contains(err.Error(), "nope-password") {
		t.Fatalf("bad password: %v", err)
	}
	_, err = store.Fetch(ctx, Request{Channel: ch2, Ref: Ref{Chart: "demo"}, Credentials: Credentials{Secret: creds.Secret}, NotBefore: time.Now()})
	if !IsAuthError(err) || !strings.Contains(err.Error(), "caCerts") {
		t.Fatalf("untrusted CA: %v", err)
	}
}

func TestHelmIndexPollUsesConditionalRequests(t *testing.T) {
	hr := startHelmRepo(t, "", "", nil)
	packageChart(t, "demo", "0.1.0", hr.dir)
	hr.reindex(t)
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ch := channel("HelmRepo", hr.srv.URL+"/charts/")
	ctx := ctxT(t)
	a, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo"}, NotBefore: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	before := hr.requests.Load()
	a2, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo"}, NotBefore: time.Now()})
	if err != nil || a2.Revision != a.Revision || a2.Dir != a.Dir {
		t.Fatalf("unchanged poll: %v %v", a2, err)
	}
	if got := hr.requests.Load() - before; got != 1 {
		t.Fatalf("unchanged poll made %d requests, want 1 (a conditional GET of index.yaml)", got)
	}
}

// startOCIRegistry serves go-containerregistry's in-memory registry over
// TLS, optionally behind basic auth.
func startOCIRegistry(t testing.TB, ca *testCA, user, pass string) *httptest.Server {
	t.Helper()
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		reg.ServeHTTP(w, r)
	})
	return startTLS(t, ca, h, nil)
}

// pushChart pushes a packaged chart with Helm's own registry client.
func pushChart(t testing.TB, ca *testCA, host, user, pass, name, version string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	opts := []registry.ClientOption{registry.ClientOptHTTPClient(hc), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "creds.json"))}
	if user != "" {
		opts = append(opts, registry.ClientOptBasicAuth(user, pass))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(packageChart(t, name, version, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Push(data, host+"/charts/"+name+":"+version); err != nil {
		t.Fatalf("helm push %s %s: %v", name, version, err)
	}
}

func TestHelmOCIRegistry(t *testing.T) {
	ca := newTestCA(t)
	srv := startOCIRegistry(t, ca, "oci-user", "oci-pass")
	host := strings.TrimPrefix(srv.URL, "https://")
	pushChart(t, ca, host, "oci-user", "oci-pass", "demo", "0.1.0")
	pushChart(t, ca, host, "oci-user", "oci-pass", "demo", "0.2.0")
	pushChart(t, ca, host, "oci-user", "oci-pass", "demo", "1.0.0")
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("HelmRepo", "oci://"+host+"/charts")
	creds := Credentials{CACerts: ca.certPEM, Secret: map[string][]byte{KeyUser: []byte("oci-user"), KeyPassword: []byte("oci-pass")}}

	a, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo", Version: "0.x"}, Credentials: creds, NotBefore: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Revision, "demo-0.2.0@sha256:") || !strings.Contains(readFile(t, filepath.Join(a.Dir, "Chart.yaml")), "version: 0.2.0") {
		t.Fatalf("0.x picked %s", a.Revision)
	}
	pushChart(t, ca, host, "oci-user", "oci-pass", "demo", "0.3.0")
	a2, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo", Version: "0.x"}, Credentials: creds, NotBefore: time.Now()})
	if err != nil || !strings.HasPrefix(a2.Revision, "demo-0.3.0@") {
		t.Fatalf("after pushing 0.3.0: %v %v", a2, err)
	}

	bad := Credentials{CACerts: ca.certPEM, Secret: map[string][]byte{KeyUser: []byte("oci-user"), KeyPassword: []byte("wrong-oci-pass")}}
	ch2 := channel("HelmRepo", "oci://"+host+"/charts")
	ch2.Name = "bad"
	_, err = store.Fetch(ctx, Request{Channel: ch2, Ref: Ref{Chart: "demo"}, Credentials: bad, NotBefore: time.Now()})
	if !IsAuthError(err) || strings.Contains(err.Error(), "wrong-oci-pass") {
		t.Fatalf("bad registry password: %v", err)
	}
}
