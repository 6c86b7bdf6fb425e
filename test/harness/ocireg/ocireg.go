// Package ocireg serves a real OCI registry (go-containerregistry's) on
// 127.0.0.1 behind TLS for tests, optionally asking for a user and password,
// and publishes Helm charts to it with Helm's own registry client, as
// `helm push` does.
package ocireg

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	helmregistry "helm.sh/helm/v3/pkg/registry"
)

// Registry is a running registry; it stops when the test ends.
type Registry struct {
	*httptest.Server
	// Host is the registry's host:port, as oci:// references name it.
	Host string
	// WithAuth counts requests that carried an Authorization header.
	WithAuth atomic.Int64
	// BlobReads counts blob downloads.
	BlobReads atomic.Int64

	user, password string
}

// Start serves a registry; with a user, every request must carry it and
// password (basic authentication).
func Start(t testing.TB, user, password string) *Registry {
	t.Helper()
	reg := &Registry{user: user, password: password}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			reg.WithAuth.Add(1)
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			reg.BlobReads.Add(1)
		}
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	reg.Config.ErrorLog = log.New(io.Discard, "", 0) // clients that refuse the certificate
	reg.StartTLS()
	t.Cleanup(reg.Close)
	reg.Host = strings.TrimPrefix(reg.URL, "https://")
	return reg
}

// CAPEM is the CA of the registry's certificate (every httptest TLS server
// shares it).
func (reg *Registry) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw})
}

// Push publishes charts as oci://Host/path/<name>:<version>.
func (reg *Registry) Push(t testing.TB, path string, charts ...*chart.Chart) {
	t.Helper()
	opts := []helmregistry.ClientOption{
		helmregistry.ClientOptHTTPClient(reg.Client()),
		helmregistry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")),
	}
	if reg.user != "" {
		opts = append(opts, helmregistry.ClientOptBasicAuth(reg.user, reg.password))
	}
	client, err := helmregistry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range charts {
		archive, err := chartutil.Save(ch, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Push(data, reg.Host+"/"+path+"/"+ch.Name()+":"+ch.Metadata.Version); err != nil {
			t.Fatalf("push %s %s: %v", ch.Name(), ch.Metadata.Version, err)
		}
	}
}
