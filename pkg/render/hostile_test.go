package render

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
)

const parentChart = "apiVersion: v2\nname: front\nversion: 0.1.0\n"

// TestHostileChartArchives: archives that unpack to far more than they
// weigh, or whose entries climb out of the chart, are refused with an error
// naming the archive, and rendering them allocates a few MiB, not what the
// archive claims.
func TestHostileChartArchives(t *testing.T) {
	bomb := hostile.BombChart(t, "bomb", "1.0.0")
	t.Logf("bomb archive: %d KiB, unpacks to 80 MiB", len(bomb)>>10)
	cases := []struct {
		name    string
		archive []byte
		message string
	}{
		{"zip bomb", bomb, "unpacks to more than 64 MiB"},
		{"entry climbing out", hostile.Archive(t,
			hostile.File{Name: "evil/Chart.yaml", Content: "apiVersion: v2\nname: evil\nversion: 1.0.0\n"},
			hostile.File{Name: "evil/../../../../etc/cron.d/x", Content: "* * * * * root true\n"}), "leaves the chart folder"},
		{"absolute entry", hostile.Archive(t,
			hostile.File{Name: "/etc/passwd", Content: "root::0:0::/:/bin/sh\n"}), "leaves the chart folder"},
		{"not an archive", []byte("<html>502 Bad Gateway</html>"), "not a gzipped chart archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, map[string]string{"charts/front/Chart.yaml": parentChart})
			if err := os.MkdirAll(filepath.Join(art.Dir, "charts/front/charts"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(art.Dir, "charts/front/charts/dep-1.0.0.tgz"), c.archive, 0o644); err != nil {
				t.Fatal(err)
			}
			var re *Error
			n := hostile.Allocated(func() {
				re = renderErr(t, NewRenderer(Options{}), art, subscription("front", "web", "charts/front"), Cluster{Name: "c1"})
			})
			if re.File != "charts/front/charts/dep-1.0.0.tgz" || !strings.Contains(re.Error(), c.message) {
				t.Errorf("error %v (file %q), want %q about charts/front/charts/dep-1.0.0.tgz", re, re.File, c.message)
			}
			if n > 16<<20 {
				t.Errorf("rendering allocated %d MiB", n>>20)
			}
		})
	}
}

// TestHostileChartRepository: a chart repository that answers with an
// endless index or serves a zip bomb as a dependency costs a bounded read
// and gives a clear error.
func TestHostileChartRepository(t *testing.T) {
	bomb := hostile.BombChart(t, "extras", "1.0.0")
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/endless/"):
			// An index that never ends (stops at 1 GiB or when the client leaves).
			chunk := bytes.Repeat([]byte("# padding\n"), 1<<16)
			for written := 0; written < 1<<30; written += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case r.URL.Path == "/bomb/index.yaml":
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  extras:\n  - name: extras\n    version: 1.0.0\n    apiVersion: v2\n    urls: [%s/bomb/extras-1.0.0.tgz]\n", srvURL)
		case r.URL.Path == "/bomb/extras-1.0.0.tgz":
			_, _ = w.Write(bomb)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	for _, c := range []struct {
		name, repo, message string
	}{
		{"endless index", srv.URL + "/endless", "more than the 4194304-byte limit"},
		{"zip bomb dependency", srv.URL + "/bomb", "unpacks to more than 64 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, map[string]string{"charts/front/Chart.yaml": parentChart +
				"dependencies:\n  - name: extras\n    version: ^1.0.0\n    repository: " + c.repo + "\n"})
			r := NewRenderer(local(Options{MaxDownloadBytes: 4 << 20}))
			var err error
			n := hostile.Allocated(func() {
				_, err = r.Render(t.Context(), art, subscription("front", "web", "charts/front"), Cluster{Name: "c1"})
			})
			if err == nil || !strings.Contains(err.Error(), c.message) || !strings.Contains(err.Error(), "charts/front/Chart.yaml") {
				t.Errorf("error %v, want %q naming charts/front/Chart.yaml", err, c.message)
			}
			if n > 32<<20 {
				t.Errorf("rendering allocated %d MiB", n>>20)
			}
		})
	}
}

// TestDeepNestingIsRefused: YAML and JSON nested beyond the parser's depth
// limit fail with an error naming the file instead of exhausting the stack.
func TestDeepNestingIsRefused(t *testing.T) {
	head := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  a: "
	for name, doc := range map[string]string{
		"flow sequences": head + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + "\n",
		"flow mappings":  head + strings.Repeat("{a: ", 200000) + "1" + strings.Repeat("}", 200000) + "\n",
		"JSON":           `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":` + strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200000) + "}",
	} {
		t.Run(name, func(t *testing.T) {
			art := tempArtifact(t, map[string]string{"app/deep.yaml": doc})
			var re *Error
			n := hostile.Allocated(func() {
				re = renderErr(t, NewRenderer(Options{}), art, subscription("app", "apps", "app"), Cluster{Name: "c1"})
			})
			if re.File != "app/deep.yaml" || !strings.Contains(re.Error(), "depth") {
				t.Errorf("error %v (file %q)", re, re.File)
			}
			if n > 64<<20 {
				t.Errorf("decoding allocated %d MiB for a %d KiB file", n>>20, len(doc)>>10)
			}
		})
	}
}
