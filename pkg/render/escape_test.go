package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// TestDependencyNamesCannotEscapeTheCache is issue 16 item 1. The hub keeps
// the renderer's download cache beside the source snapshots
// (<cache>/charts and <cache>/artifacts). A tenant's chart names a
// dependency "../../artifacts/<victim snapshot>/charts/evil", served by the
// tenant's own repository index: the download must not land in the victim's
// snapshot, where the victim's next render would pick it up as a vendored
// subchart holding a ClusterRoleBinding to cluster-admin.
func TestDependencyNamesCannotEscapeTheCache(t *testing.T) {
	hubCache := t.TempDir()
	victimDir := filepath.Join(hubCache, "artifacts", "helm-0123abcd", "web")
	writeFiles(t, victimDir, map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
	})
	victim := &source.Artifact{Revision: "web-1.0.0@sha256:0123abcd", Dir: victimDir}

	evil := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "evil", Version: "1.0.0"},
		Templates: []*chart.File{{Name: "templates/crb.yaml", Data: []byte(
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: pwned\n" +
				"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n" +
				"subjects: [{kind: ServiceAccount, name: default, namespace: attacker}]\n")}},
	}
	archiveDir := t.TempDir()
	archivePath, err := chartutil.Save(evil, archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := os.ReadFile(archivePath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	escape := "../../artifacts/helm-0123abcd/web/charts/evil"
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  %q:\n  - name: %q\n    version: 1.0.0\n    apiVersion: v2\n    digest: %s\n    urls: [%s/evil-1.0.0.tgz]\n",
				escape, escape, hex.EncodeToString(sum[:]), srvURL)
		case "/evil-1.0.0.tgz":
			_, _ = w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	srvURL = srv.URL

	attacker := tempArtifact(t, map[string]string{"front/Chart.yaml": "apiVersion: v2\nname: front\nversion: 0.1.0\n" +
		"dependencies:\n  - name: " + escape + "\n    version: 1.0.0\n    repository: " + srv.URL + "\n"})
	r := NewRenderer(Options{CacheDir: filepath.Join(hubCache, "charts")})
	_, attackErr := r.Render(t.Context(), attacker, subscription("front", "attacker", "front"), Cluster{Name: "c1"})

	// Nothing was written outside the renderer's cache.
	if entries, err := os.ReadDir(filepath.Join(victimDir, "charts")); err == nil {
		t.Errorf("the victim's snapshot gained charts/: %v", entries)
	}
	out := mustRender(t, NewRenderer(Options{CacheDir: filepath.Join(hubCache, "charts")}), victim, subscription("web", "victim", ""), Cluster{Name: "c1"})
	for _, o := range out.Objects {
		if o.GetKind() == "ClusterRoleBinding" {
			t.Errorf("the victim's render holds the attacker's %s", describe(o))
		}
	}
	var re *Error
	if !errors.As(attackErr, &re) || re.File != "front/Chart.yaml" || !strings.Contains(re.Error(), "not a chart name") {
		t.Errorf("error %v, want the dependency name refused in front/Chart.yaml", attackErr)
	}
}

// TestDependencyNames: only plain chart names (and aliases) are accepted.
func TestDependencyNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"redis": true, "kube-state-metrics": true, "my_chart.v2": true, "Redis": true,
		"": false, ".": false, "..": false, "../x": false, "a/b": false, `a\b`: false, ".hidden": false,
		"a b": false, "x\x00": false, strings.Repeat("a", 254): false,
	} {
		if err := checkDependencyName(name); (err == nil) != ok {
			t.Errorf("checkDependencyName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
