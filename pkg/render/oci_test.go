package render

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/test/harness/ocireg"
)

func namedChart(name, version string) *chart.Chart {
	ch := extrasChart(version)
	ch.Metadata.Name = name
	ch.Templates[0].Data = []byte(strings.ReplaceAll(string(ch.Templates[0].Data), "-extras", "-"+name))
	return ch
}

// TestOCIDependencies is issue 17 item 12: `repository: oci://…` (every
// bitnami chart as published) pulls the newest tag in the range from a real
// registry, with the Channel's credentials for the Channel's own registry
// only, trusting its CA, caching by digest, and renders what the helm CLI
// renders with the same charts pulled.
func TestOCIDependencies(t *testing.T) {
	private := ocireg.Start(t, "robot", "s3cret")
	public := ocireg.Start(t, "", "")
	private.Push(t, "charts", extrasChart("1.0.0"), extrasChart("1.1.0"), extrasChart("2.0.0"))
	public.Push(t, "lib", namedChart("common", "0.3.0"))

	art := tempArtifact(t, map[string]string{
		"front/Chart.yaml": "apiVersion: v2\nname: front\nversion: 0.1.0\ndependencies:\n" +
			"  - name: extras\n    version: ^1.0.0\n    repository: oci://" + private.Host + "/charts\n" +
			"  - name: common\n    version: 0.3.0\n    repository: oci://" + public.Host + "/lib\n",
		"front/values.yaml":        "extras:\n  greeting: bonjour\n",
		"front/templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports:\n    - port: 80\n",
	})
	access := Access{
		URL:         "oci://" + private.Host + "/charts",
		Credentials: source.Credentials{Secret: map[string][]byte{"user": []byte("robot"), "password": []byte("s3cret")}, CACerts: private.CAPEM()},
	}
	cache := t.TempDir()
	sub := subscription("front", "web", "front")
	out, err := NewRenderer(local(Options{CacheDir: cache})).RenderWith(t.Context(), art, sub, Cluster{Name: "c1"}, access)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, o := range out.Objects {
		if o.GetKind() == "ConfigMap" {
			versions[o.GetName()], _, _ = unstructured.NestedString(o.Object, "data", "version")
		}
	}
	if versions["front-extras"] != "1.1.0" || versions["front-common"] != "0.3.0" {
		t.Errorf("dependency versions %v, want extras 1.1.0 (newest in ^1.0.0) and common 0.3.0", versions)
	}
	if n := public.WithAuth.Load(); n != 0 {
		t.Errorf("the Channel's credentials went to another registry (%d requests)", n)
	}

	// The helm CLI, given the same charts, renders the same objects.
	helm := tool(t, "helm")
	env := helmEnv(t)
	work := t.TempDir()
	copyDir(t, art.Dir, work)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, private.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	chartsDir := filepath.Join(work, "front/charts")
	if err := os.MkdirAll(chartsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, env, helm, "pull", "oci://"+private.Host+"/charts/extras", "--version", "1.1.0", "--ca-file", ca,
		"--username", "robot", "--password", "s3cret", "--destination", chartsDir)
	run(t, env, helm, "pull", "oci://"+public.Host+"/lib/common", "--version", "0.3.0", "--ca-file", ca, "--destination", chartsDir)
	want := normalizeCLI(t, run(t, env, helm, "template", "front", filepath.Join(work, "front"), "--namespace", "web",
		"--kube-version", DefaultKubeVersion, "--include-crds", "--skip-tests"), "web")
	sameObjects(t, out.Objects, want)

	// A new renderer on the same cache resolves the tags again (with its
	// own credentials) but downloads no blob.
	before := private.BlobReads.Load() + public.BlobReads.Load()
	if _, err := NewRenderer(local(Options{CacheDir: cache})).RenderWith(t.Context(), art, sub, Cluster{Name: "c1"}, access); err != nil {
		t.Fatal(err)
	}
	if n := private.BlobReads.Load() + public.BlobReads.Load() - before; n != 0 {
		t.Errorf("a render from the cache downloaded %d blobs", n)
	}

	// Without credentials the private registry refuses, and the error says
	// what to do; the cache does not stand in for the credentials.
	for _, c := range []struct {
		channel, hint string
	}{
		{"oci://" + private.Host + "/charts", "check the user and password in the Channel's secretRef"},
		{"https://git.example.com/fleet.git", "vendor this chart into charts/"},
	} {
		noCreds := Access{URL: c.channel, Credentials: source.Credentials{CACerts: private.CAPEM()}}
		_, err = NewRenderer(local(Options{CacheDir: cache})).RenderWith(t.Context(), art, sub, Cluster{Name: "c1"}, noCreds)
		if err == nil || !strings.Contains(err.Error(), "the registry asks for a user and password") || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("channel %s: error %v, want the registry asking for credentials and %q", c.channel, err, c.hint)
		}
	}
}

// TestOCIDependencyErrors: every dependency out of range is named, the
// registry's answers are not quoted, and registries on private networks are
// refused unless allowed.
func TestOCIDependencyErrors(t *testing.T) {
	reg := ocireg.Start(t, "", "")
	reg.Push(t, "charts", extrasChart("1.0.0"), extrasChart("1.1.0"))
	art := tempArtifact(t, map[string]string{
		"front/Chart.yaml": "apiVersion: v2\nname: front\nversion: 0.1.0\ndependencies:\n" +
			"  - name: extras\n    version: ^3.0.0\n    repository: oci://" + reg.Host + "/charts\n" +
			"  - name: lib\n    version: ^2.0.0\n    repository: file://../lib\n",
		"lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 1.5.0\n",
	})
	access := Access{Credentials: source.Credentials{CACerts: reg.CAPEM()}}
	sub := subscription("front", "web", "front")
	_, err := NewRenderer(local(Options{})).RenderWith(t.Context(), art, sub, Cluster{Name: "c1"}, access)
	for _, want := range []string{"front/Chart.yaml", "2 dependencies are out of range",
		`dependencies[0] "extras": oci://` + reg.Host + `/charts/extras has no tag in the range "^3.0.0"`,
		`dependencies[1] "lib": the chart is version 1.5.0, outside the range "^2.0.0"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}

	_, err = NewRenderer().RenderWith(t.Context(), art, sub, Cluster{Name: "c1"}, access)
	if err == nil || !strings.Contains(err.Error(), "may not reach") {
		t.Errorf("error %v, want the private address refused", err)
	}
}

// TestMissingDependencySuggestsVendoring is issue 17 item 14: a dependency
// that cannot be fetched says how to vendor it, as the others do.
func TestMissingDependencySuggestsVendoring(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	art := tempArtifact(t, map[string]string{"front/Chart.yaml": "apiVersion: v2\nname: front\nversion: 0.1.0\ndependencies:\n" +
		"  - name: extras\n    version: ^1.0.0\n    repository: " + srv.URL + "/charts\n"})
	_, err := NewRenderer(local(Options{})).Render(t.Context(), art, subscription("front", "web", "front"), Cluster{Name: "c1"})
	for _, want := range []string{`front/Chart.yaml: dependencies[0] "extras"`, "answered 404 Not Found", "vendor it into charts/ (helm dependency build) and commit it"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	// An offline renderer downloads nothing and says so.
	re := renderErr(t, NewRenderer(local(Options{Offline: true})), art, subscription("front", "web", "front"), Cluster{Name: "c1"})
	if re.File != "front/Chart.yaml" || !strings.Contains(re.Error(), "this render may not download it; vendor it into charts/") {
		t.Errorf("offline: error %v", re)
	}
}
