package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
)

func TestCheckChartArchive(t *testing.T) {
	chartYAML := hostile.File{Name: "c/Chart.yaml", Content: "apiVersion: v2\nname: c\nversion: 1.0.0\n"}
	cases := []struct {
		name    string
		archive []byte
		err     string // "" means accepted
	}{
		{"a chart", hostile.Archive(t, chartYAML, hostile.File{Name: "c/templates/cm.yaml", Content: "kind: ConfigMap\n"}), ""},
		{"unpacks to 80 MiB", hostile.BombChart(t, "c", "2.0.0"), "unpacks to more than 64 MiB"},
		{"one entry claims 10 GiB", hostile.Archive(t, chartYAML, hostile.File{Name: "c/huge", Size: 10 << 30}), "unpacks to more than 64 MiB"},
		{"parent directory", hostile.Archive(t, chartYAML, hostile.File{Name: "c/../../x", Content: "x"}), "leaves the chart folder"},
		{"windows parent directory", hostile.Archive(t, chartYAML, hostile.File{Name: `c\..\..\x`, Content: "x"}), "leaves the chart folder"},
		{"absolute", hostile.Archive(t, hostile.File{Name: "/etc/x", Content: "x"}), "leaves the chart folder"},
		{"too many entries", func() []byte {
			files := []hostile.File{chartYAML}
			for i := range MaxChartFiles {
				files = append(files, hostile.File{Name: fmt.Sprintf("c/f%d", i), Content: "x"})
			}
			return hostile.Archive(t, files...)
		}(), "more than 10000 entries"},
		{"empty", hostile.Archive(t), "empty"},
		{"not gzip", []byte("<html>oops</html>"), "not a gzipped chart archive"},
		{"truncated", func() []byte { a := hostile.BombChart(t, "c", "2.0.0"); return a[:len(a)/3] }(), "chart archive entry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := hostile.Allocated(func() { err = CheckChartArchive(bytes.NewReader(c.archive)) })
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want %q", err, c.err)
			}
			if n > 8<<20 {
				t.Errorf("checking allocated %d MiB", n>>20)
			}
		})
	}
}

// fileServer serves fixed bodies by path; set changes them.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
}

func newFileServer(t testing.TB) *fileServer {
	s := &fileServer{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fileServer) set(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
}

// indexFor is a repository index listing one archive per version.
func indexFor(base, chart string, archives map[string][]byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nentries:\n  %s:\n", chart)
	for version, data := range archives {
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "  - name: %s\n    version: %s\n    apiVersion: v2\n    digest: %s\n    urls: [%s/%s-%s.tgz]\n",
			chart, version, hex.EncodeToString(sum[:]), base, chart, version)
	}
	return []byte(b.String())
}

// TestHostileHelmRepository: a repository serving a zip bomb, an archive
// whose entries climb out of the chart, or garbage as its index gets a clear
// error, costs a bounded amount of memory, and leaves the last good chart
// in place.
func TestHostileHelmRepository(t *testing.T) {
	srv := newFileServer(t)
	good := hostile.Archive(t, hostile.File{Name: "demo/Chart.yaml", Content: "apiVersion: v2\nname: demo\nversion: 1.0.0\n"})
	publish := func(version string, archive []byte) {
		srv.set("/demo-"+version+".tgz", archive)
		srv.set("/index.yaml", indexFor(srv.URL, "demo", map[string][]byte{version: archive}))
	}
	publish("1.0.0", good)
	dir := t.TempDir()
	store := NewStore(dir, testLogger(t), lab())
	ctx := ctxT(t)
	req := func() Request {
		return Request{Channel: channel("HelmRepo", srv.URL), Ref: Ref{Chart: "demo"}, NotBefore: time.Now()}
	}
	first, err := store.Fetch(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		publish func()
		message string
	}{
		{"zip bomb", func() { publish("2.0.0", hostile.BombChart(t, "demo", "2.0.0")) }, "unpacks to more than 64 MiB"},
		{"entry climbing out", func() {
			publish("2.0.1", hostile.Archive(t, hostile.File{Name: "demo/Chart.yaml", Content: "apiVersion: v2\nname: demo\nversion: 2.0.1\n"},
				hostile.File{Name: "demo/../../../outside", Content: "x"}))
		}, "leaves the chart folder"},
		{"garbage index", func() { srv.set("/index.yaml", []byte("\x00\x01<html>{{{{ not an index")) }, "not a valid Helm repository index"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.publish()
			var err error
			n := hostile.Allocated(func() { _, err = store.Fetch(ctx, req()) })
			if err == nil || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("error %v, want %q", err, c.message)
			}
			if strings.Contains(err.Error(), dir) {
				t.Errorf("the error shows the hub's cache folder: %v", err)
			}
			if n > 16<<20 {
				t.Errorf("the fetch allocated %d MiB", n>>20)
			}
			if last := store.Cached(req()); last == nil || last.Revision != first.Revision {
				t.Errorf("the last good chart is gone: %+v", last)
			}
		})
	}
}

// FuzzCheckChartArchive: any bytes are refused with an error or accepted;
// an accepted archive is within the limits by Helm's own reading too.
// Seeds are in testdata/fuzz/FuzzCheckChartArchive; explore further with
//
//	go test ./pkg/source -run '^$' -fuzz '^FuzzCheckChartArchive$' -fuzztime 5m
func FuzzCheckChartArchive(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := CheckChartArchive(bytes.NewReader(data)); err != nil {
			return
		}
		files, err := loader.LoadArchiveFiles(bytes.NewReader(data))
		if err != nil {
			return
		}
		var total int
		for _, f := range files {
			total += len(f.Data)
			if strings.HasPrefix(f.Name, "/") || strings.HasPrefix(f.Name, "../") {
				t.Fatalf("accepted an archive with the entry %q", f.Name)
			}
		}
		if total > MaxChartUnpackedBytes || len(files) > MaxChartFiles {
			t.Fatalf("accepted an archive of %d files and %d bytes", len(files), total)
		}
	})
}
