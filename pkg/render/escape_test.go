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
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
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
	r := NewRenderer(local(Options{CacheDir: filepath.Join(hubCache, "charts")}))
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

// TestClusterValuesTemplateIsBounded is issue 16 item 10: a
// clusterValuesTemplate runs on the hub for every cluster, so loops,
// recursion, huge arguments and growing values must stop at a limit with an
// error that names the field and the limit, having cost little.
func TestClusterValuesTemplateIsBounded(t *testing.T) {
	art := tempArtifact(t, map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"})
	for _, c := range []struct{ name, template, message string }{
		{"a long loop", `{{range 100000000}}{{end}}a: 1`, "more than 100000 loop iterations"},
		{"nested loops", `{{range 100000}}{{range 100000}}{{end}}{{end}}a: 1`, "more than 100000 loop iterations"},
		{"exponential recursion", `{{define "t"}}{{template "t" .}}{{template "t" .}}{{end}}{{template "t" .}}a: 1`, "more than 1000 times"},
		{"a huge indent", `a: {{indent 300000000 "x"}}`, "width 300000000 is over the limit of 4096"},
		{"a huge printf width", `a: {{printf "%0300000000d" 1}}`, "over the limit of 4096"},
		{"a printf width from the arguments", `a: {{printf "%*d" 300000000 1}}`, "'*' widths are not allowed"},
		{"random strings", `a: {{randAlphaNum 30000000}}`, `function "randAlphaNum" is not allowed`},
		{"the hub's environment", `a: {{env "HOME"}}`, `function "env" is not allowed`},
		{"key generation", `a: {{genPrivateKey "rsa"}}`, `function "genPrivateKey" is not allowed`},
		{"a doubling string", `{{$s := "xxxxxxxxxxxxxxxx"}}{{range 40}}{{$s = cat $s $s}}{{end}}a: 1`, "over the limit of 1048576 bytes"},
		{"a doubling list", `{{$l := list 1 2 3 4}}{{range 40}}{{$l = concat $l $l}}{{end}}a: 1`, "over the limit of"},
		{"many large values", `{{$s := "xxxxxxxxxxxxxxxx"}}{{range 15}}{{$s = cat $s $s}}{{end}}{{range 100}}{{$t := cat $s "y"}}{{end}}a: 1`, "produced more than 16777216 bytes"},
		{"endless output", `{{range 90000}}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{{end}}`, "output is over the limit of 1048576 bytes"},
		{"a huge template", "a: 1\n" + strings.Repeat("#", 70000), "over the limit of 65536"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := subscription("app", "apps", "app")
			sub.Spec.ClusterValuesTemplate = c.template
			var err error
			n := hostile.Allocated(func() {
				_, err = NewRenderer().Render(t.Context(), art, sub, Cluster{Name: "c1"})
			})
			var re *Error
			if !errors.As(err, &re) || re.Field != "spec.clusterValuesTemplate" || !strings.Contains(err.Error(), c.message) {
				t.Errorf("error %v, want %q about spec.clusterValuesTemplate", err, c.message)
			}
			if n > 64<<20 {
				t.Errorf("the template allocated %d MiB", n>>20)
			}
		})
	}
}

// TestClusterValuesTemplateTimeLimit: an execution stops at its time limit.
func TestClusterValuesTemplateTimeLimit(t *testing.T) {
	art := tempArtifact(t, map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"})
	sub := subscription("app", "apps", "app")
	sub.Spec.ClusterValuesTemplate = `{{range 10}}{{end}}a: 1`
	r := NewRenderer()
	r.tlimits.timeout = time.Nanosecond
	_, err := r.Render(t.Context(), art, sub, Cluster{Name: "c1"})
	if err == nil || !strings.Contains(err.Error(), "cluster c1: spec.clusterValuesTemplate:") || !strings.Contains(err.Error(), "ran longer than 1ns, the limit") {
		t.Errorf("error %v, want the time limit", err)
	}
}

// TestJailOpensOnlyInsideTheArtifact: a path checked by the jail and then
// turned into an escape (a folder swapped for a symlink out of the artifact)
// is still not read: files are opened through an os.Root on the artifact.
func TestJailOpensOnlyInsideTheArtifact(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"x.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n"})
	art := tempArtifact(t, map[string]string{"app/data/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"})
	j, err := newJail(art.Dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	real, err := j.resolve(filepath.Join(art.Dir, "app/data/x.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The swap, between the check and the open.
	if err := os.RemoveAll(filepath.Join(art.Dir, "app/data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(art.Dir, "app/data")); err != nil {
		t.Fatal(err)
	}
	data, err := j.readResolved(real)
	if err == nil || strings.Contains(string(data), "stolen") {
		t.Fatalf("read %q (error %v) from outside the artifact", data, err)
	}
	if !strings.Contains(err.Error(), "app/data/x.yaml: leads outside the repository") {
		t.Errorf("error %v, want it to name app/data/x.yaml as leading outside", err)
	}
}

// TestChartSymlinkCycle: a chart folder linking back to a folder above it
// is refused, where Helm's own loader would walk it until the path is too
// long.
func TestChartSymlinkCycle(t *testing.T) {
	art := tempArtifact(t, map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n"})
	if err := os.Symlink("..", filepath.Join(art.Dir, "chart/loop")); err != nil {
		t.Fatal(err)
	}
	re := renderErr(t, NewRenderer(), art, subscription("c", "apps", "chart"), Cluster{Name: "c1"})
	if re.File != "chart/loop/chart" || !strings.Contains(re.Error(), "symlink cycle") {
		t.Errorf("error %v (file %q), want a symlink cycle", re, re.File)
	}
}
