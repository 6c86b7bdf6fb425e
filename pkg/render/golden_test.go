package render

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// The golden tests compare the renderer with the real CLIs, built from the
// module proxy by `hack/tools.sh cli` (test/tools/cli). The CLI output goes
// through the two rules the renderer adds on top of the tools, and nothing
// else: objects of namespaced kinds without a namespace get the
// Subscription's namespace (as OCM and `helm install` place them), and the
// stable apply order puts CRDs, then Namespaces, first. Everything else —
// content, field values, names, hashes, the order within each group — must be
// identical.
func normalizeCLI(t *testing.T, out []byte, namespace string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := DecodeYAML(out)
	if err != nil {
		t.Fatalf("decode CLI output: %v\n%s", err, out)
	}
	objs = defaultNamespace(objs, namespace)
	sortForApply(objs)
	return objs
}

func TestGoldenKustomize(t *testing.T) {
	kustomize := tool(t, "kustomize")
	art := fleet(t)
	cases := []struct {
		path string
		// must lists objects the build has to contain, so a broken fixture
		// cannot pass by producing nothing on both sides.
		must []string
	}{
		{"apps/kustomize/overlays/prod", []string{
			"Namespace /guestbook-prod", "ServiceMonitor guestbook-prod/prod-guestbook",
			"HorizontalPodAutoscaler guestbook-prod/prod-guestbook", "Secret guestbook-prod/prod-guestbook-db-bb2mc4486b",
		}},
		{"apps/kustomize/overlays/staging", []string{"Deployment guestbook-staging/guestbook-staging"}},
		{"apps/kustomize/base", []string{"Deployment ops/guestbook", "Service ops/guestbook"}},
	}
	r := NewRenderer()
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			sub := subscription("guestbook", "ops", c.path)
			got := mustRender(t, r, art, sub, Cluster{Name: "c1"})
			want := normalizeCLI(t, run(t, nil, kustomize, "build", filepath.Join(art.Dir, c.path)), sub.Namespace)
			sameObjects(t, got.Objects, want)
			have := strings.Join(names(got.Objects), "\n")
			for _, m := range c.must {
				if !strings.Contains(have, m) {
					t.Errorf("render lacks %q; has:\n%s", m, have)
				}
			}
		})
	}
}

func TestGoldenHelm(t *testing.T) {
	helm := tool(t, "helm")
	art := fleet(t)
	// The CLI needs `helm dependency build` to fetch the file:// dependency
	// into charts/; the renderer resolves it itself from the repository.
	work := t.TempDir()
	copyDir(t, art.Dir, work)
	chartDir := filepath.Join(work, "apps/helm/webapp")
	run(t, helmEnv(t), helm, "dependency", "build", chartDir)

	cases := []struct {
		name   string
		values map[string]any
		must   []string
		mustNo []string
	}{
		{"defaults", nil,
			[]string{"CustomResourceDefinition /widgets.example.com", "StatefulSet shop/web-redis", "Job shop/web-webapp-migrate", "Widget shop/web-webapp"},
			[]string{"Pod shop/web-webapp-test", "ServiceMonitor shop/web-metrics", "Ingress shop/web-webapp"}},
		{"subchart off and metrics and ingress on", map[string]any{
			"replicaCount": 3, "image": map[string]any{"tag": "2.2.0"},
			"redis":     map[string]any{"enabled": false},
			"metrics":   map[string]any{"enabled": true},
			"ingress":   map[string]any{"enabled": true, "host": "shop.example.org"},
			"resources": map[string]any{"limits": map[string]any{"cpu": "500m"}},
		},
			// ServiceMonitor's CRD is not in the render: it is namespaced
			// like every kind not known to be cluster-scoped.
			[]string{"ServiceMonitor shop/web-metrics", "Ingress shop/web-webapp"},
			[]string{"StatefulSet shop/web-redis"}},
		{"conditionals off", map[string]any{
			"config": map[string]any{"enabled": false}, "widget": map[string]any{"enabled": false},
			"migrations": map[string]any{"enabled": false}, "redis": map[string]any{"replicas": 3},
		},
			[]string{"StatefulSet shop/web-redis"},
			[]string{"ConfigMap shop/web-webapp", "Widget shop/web-webapp", "Job shop/web-webapp-migrate"}},
	}
	r := NewRenderer()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := subscription("web", "shop", "apps/helm/webapp")
			args := []string{"template", "web", chartDir, "--namespace", "shop", "--kube-version", DefaultKubeVersion, "--include-crds", "--skip-tests"}
			if c.values != nil {
				sub.Spec.PackageOverrides = []*appsv1.Overrides{helmOverride(t, "webapp", c.values)}
				data, err := yaml.Marshal(c.values)
				if err != nil {
					t.Fatal(err)
				}
				valuesFile := filepath.Join(t.TempDir(), "values.yaml")
				if err := os.WriteFile(valuesFile, data, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--values", valuesFile)
			}
			got := mustRender(t, r, art, sub, Cluster{Name: "c1"})
			want := normalizeCLI(t, run(t, helmEnv(t), helm, args...), sub.Namespace)
			sameObjects(t, got.Objects, want)
			have := strings.Join(names(got.Objects), "\n")
			for _, m := range c.must {
				if !strings.Contains(have, m) {
					t.Errorf("render lacks %q; has:\n%s", m, have)
				}
			}
			for _, m := range c.mustNo {
				if strings.Contains(have, m) {
					t.Errorf("render has %q; it must not", m)
				}
			}
		})
	}
}

// helmEnv keeps the helm CLI's configuration and caches inside the test.
func helmEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_REPOSITORY_CONFIG=" + filepath.Join(home, "config", "repositories.yaml"),
		"HELM_REPOSITORY_CACHE=" + filepath.Join(home, "cache", "repository"),
	}
}

// chartRepo serves a Helm chart repository on 127.0.0.1 holding the charts
// given, packaged and indexed with Helm's own Go API.
type chartRepo struct {
	*httptest.Server
	requests atomic.Int64
}

func newChartRepo(t *testing.T, charts ...*chart.Chart) *chartRepo {
	t.Helper()
	dir := t.TempDir()
	for _, ch := range charts {
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
	}
	cr := &chartRepo{}
	files := http.FileServer(http.Dir(dir))
	cr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		cr.requests.Add(1)
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(cr.Close)
	idx, err := repo.IndexDirectory(dir, cr.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cr
}

// extrasChart is a small library-like chart published in two versions.
func extrasChart(version string) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "extras", Version: version},
		Values:   map[string]any{"greeting": "hello"},
		Raw:      []*chart.File{{Name: "values.yaml", Data: []byte("greeting: hello\n")}},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extras\ndata:\n  version: " + version + "\n  greeting: {{ .Values.greeting }}\n")}},
	}
}

func TestGoldenHelmRemoteDependency(t *testing.T) {
	helm := tool(t, "helm")
	cr := newChartRepo(t, extrasChart("1.0.0"), extrasChart("1.1.0"))
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: front\nversion: 0.1.0\ndependencies:\n  - name: extras\n    version: ^1.0.0\n    repository: %s\n", cr.URL)
	files := map[string]string{
		"charts/front/Chart.yaml":         chartYAML,
		"charts/front/values.yaml":        "extras:\n  greeting: bonjour\n",
		"charts/front/templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports:\n    - port: 80\n",
	}

	for _, c := range []struct {
		name, lock, wantVersion string
	}{
		{"newest matching the range", "", "1.1.0"},
		{"pinned by Chart.lock", "dependencies:\n- name: extras\n  repository: " + cr.URL + "\n  version: 1.0.0\ndigest: sha256:0000000000000000000000000000000000000000000000000000000000000000\ngenerated: \"2024-01-01T00:00:00Z\"\n", "1.0.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := map[string]string{}
			for k, v := range files {
				fs[k] = v
			}
			if c.lock != "" {
				fs["charts/front/Chart.lock"] = c.lock
			}
			art := tempArtifact(t, fs)
			cache := t.TempDir()
			r := NewRenderer(local(Options{CacheDir: cache}))
			sub := subscription("front", "web", "charts/front")
			got := mustRender(t, r, art, sub, Cluster{Name: "c1"})

			var cm *unstructured.Unstructured
			for _, o := range got.Objects {
				if o.GetKind() == "ConfigMap" {
					cm = o
				}
			}
			if cm == nil {
				t.Fatalf("no ConfigMap from the dependency in %v", names(got.Objects))
			}
			if v, _, _ := unstructured.NestedString(cm.Object, "data", "version"); v != c.wantVersion {
				t.Errorf("dependency version %q, want %q", v, c.wantVersion)
			}
			if g, _, _ := unstructured.NestedString(cm.Object, "data", "greeting"); g != "bonjour" {
				t.Errorf("parent values did not reach the dependency: greeting %q", g)
			}

			// The real CLI on a copy: add the repository, fetch, template.
			env := helmEnv(t)
			work := t.TempDir()
			copyDir(t, art.Dir, work)
			run(t, env, helm, "repo", "add", "test", cr.URL)
			if c.lock == "" {
				run(t, env, helm, "dependency", "update", filepath.Join(work, "charts/front"))
			} else {
				// What `helm dependency build` fetches for this lock.
				if err := os.MkdirAll(filepath.Join(work, "charts/front/charts"), 0o755); err != nil {
					t.Fatal(err)
				}
				run(t, env, helm, "pull", "extras", "--repo", cr.URL, "--version", c.wantVersion,
					"--destination", filepath.Join(work, "charts/front/charts"))
			}
			want := normalizeCLI(t, run(t, env, helm, "template", "front", filepath.Join(work, "charts/front"), "--namespace", "web",
				"--kube-version", DefaultKubeVersion, "--include-crds", "--skip-tests"), "web")
			sameObjects(t, got.Objects, want)

			// The archive is kept in CacheDir: a pinned version renders
			// again with the repository gone.
			if c.lock != "" {
				before := cr.requests.Load()
				r2 := NewRenderer(local(Options{CacheDir: cache}))
				again := mustRender(t, r2, art, sub, Cluster{Name: "c1"})
				sameObjects(t, again.Objects, got.Objects)
				if n := cr.requests.Load() - before; n != 0 {
					t.Errorf("a pinned dependency in the cache still made %d requests", n)
				}
			}
		})
	}
}

// TestHelmRepoChannelArtifact renders a HelmRepo channel's artifact: the
// unpacked chart is the artifact root, the chart is spec.name.
func TestHelmRepoChannelArtifact(t *testing.T) {
	helm := tool(t, "helm")
	art := &source.Artifact{Revision: "redis@7.2.4@sha256:abc", Dir: filepath.Join(fleet(t).Dir, "apps/helm/webapp/charts/redis")}
	sub := subscription("cache", "data", "")
	sub.Spec.Package = "redis"
	sub.Spec.PackageOverrides = []*appsv1.Overrides{{
		PackageName:  "redis",
		PackageAlias: "main-cache",
		PackageOverrides: []appsv1.PackageOverride{
			// OCM also takes the values as a YAML string.
			{RawExtension: rawJSON(t, map[string]any{"path": "spec", "value": "replicas: 2\npersistence:\n  size: 5Gi\n"})},
		},
	}}
	got := mustRender(t, NewRenderer(), art, sub, Cluster{Name: "c1"})
	values := filepath.Join(t.TempDir(), "v.yaml")
	if err := os.WriteFile(values, []byte("replicas: 2\npersistence:\n  size: 5Gi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := normalizeCLI(t, run(t, helmEnv(t), helm, "template", "main-cache", art.Dir, "--namespace", "data",
		"--kube-version", DefaultKubeVersion, "--include-crds", "--skip-tests", "--values", values), "data")
	sameObjects(t, got.Objects, want)
	if !bytes.Contains(mustJSON(t, got.Objects), []byte(`"storage":"5Gi"`)) {
		t.Errorf("values from the packageOverrides string were not applied")
	}
	if got.Objects[0].GetName() != "main-cache-redis" {
		t.Errorf("release name: got object %s, want main-cache-redis (the packageAlias)", got.Objects[0].GetName())
	}
}

func mustJSON(t testing.TB, objs []*unstructured.Unstructured) []byte {
	var b bytes.Buffer
	for _, o := range objs {
		j, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
	}
	return b.Bytes()
}
