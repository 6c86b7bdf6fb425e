package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

func TestRenderPlain(t *testing.T) {
	out := mustRender(t, NewRenderer(), fleet(t), subscription("shop", "apps", "apps/plain"), Cluster{Name: "c1"})
	want := []string{
		"CustomResourceDefinition /carts.shop.example.com",
		"Namespace /shop",
		"Cart apps/default-cart", // namespaced per the CRD in the same render
		"ConfigMap shop/shop-config",
		"Service shop/shop",
		"Deployment shop/shop",
	}
	if got := names(out.Objects); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if out.Key == "" {
		t.Error("empty key")
	}
}

func TestRenderPathForms(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	a := mustRender(t, r, art, subscription("shop", "apps", "apps/plain"), Cluster{})
	for _, p := range []string{"/apps/plain", "apps/plain/", "./apps/plain", "apps/../apps/plain"} {
		b := mustRender(t, r, art, subscription("shop", "apps", p), Cluster{})
		if b.Key != a.Key {
			t.Errorf("path %q renders differently from apps/plain", p)
		}
	}
	// The older github-path annotation still works.
	s := subscription("shop", "apps", "")
	s.Annotations = map[string]string{appsv1.AnnotationGithubPath: "apps/plain"}
	if b := mustRender(t, r, art, s, Cluster{}); b.Key != a.Key {
		t.Error("github-path is not honoured")
	}
	// A single file can be the path.
	one := mustRender(t, r, art, subscription("shop", "apps", "apps/plain/namespace.yaml"), Cluster{})
	if got := names(one.Objects); len(got) != 1 || got[0] != "Namespace /shop" {
		t.Errorf("single file: %v", got)
	}
}

func TestRenderBadInput(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{
		"secret.yaml":             "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
		"base/kustomization.yaml": "resources:\n- cm.yaml\n",
		"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	})
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += fmt.Sprintf("%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	cases := []struct {
		name    string
		files   map[string]string
		links   map[string]string // link -> target ("OUTSIDE/..." for the outside dir)
		path    string
		opts    Options
		sub     func(*appsv1.Subscription)
		file    string // Error.File wanted
		line    int    // Error.Line wanted
		field   string // Error.Field wanted
		message string // part of the message wanted
	}{
		{name: "invalid YAML", path: "app",
			files: map[string]string{"app/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n", "app/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"},
			file:  "app/bad.yaml", line: 4, message: "did not find expected ',' or ']' (what opens on this line is not closed)"},
		{name: "object without name", path: "app",
			files: map[string]string{"app/cm.yaml": "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\n"},
			file:  "app/cm.yaml", line: 2, message: "metadata.name"},
		{name: "broken kustomization", path: "k",
			files: map[string]string{"k/kustomization.yaml": "resources:\n- missing.yaml\n"},
			file:  "k/kustomization.yaml", message: "missing.yaml"},
		{name: "kustomization that is not YAML", path: "k",
			files: map[string]string{"k/kustomization.yaml": "resources: [\n"},
			file:  "k/kustomization.yaml", message: "invalid kustomization"},
		{name: "remote kustomize base", path: "k",
			files: map[string]string{"k/kustomization.yaml": "resources:\n- github.com/kubernetes-sigs/kustomize//examples/multibases?ref=v1.0.6\n"},
			file:  "k/kustomization.yaml", message: "remote"},
		{name: "remote kustomize file", path: "k",
			files: map[string]string{"k/kustomization.yaml": "resources:\n- https://example.com/deploy.yaml\n"},
			file:  "k/kustomization.yaml", message: "remote"},
		{name: "kustomize base outside the repository", path: "k",
			files: map[string]string{"k/kustomization.yaml": "resources:\n- ../../../../../../../../../tmp\n"},
			file:  "k/kustomization.yaml", message: "outside the repository"},
		{name: "kustomize symlinked base escaping", path: "k",
			files: map[string]string{"k/kustomization.yaml": "resources:\n- base\n"},
			links: map[string]string{"k/base": "OUTSIDE/base"},
			file:  "k/kustomization.yaml", message: "outside the repository"},
		{name: "failing chart template", path: "chart",
			files: map[string]string{
				"chart/Chart.yaml":          "apiVersion: v2\nname: c\nversion: 1.0.0\n",
				"chart/templates/ok.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
				"chart/templates/fail.yaml": "{{ required \"tag is required\" .Values.tag }}\n",
			},
			file: "chart/templates/fail.yaml", message: "tag is required"},
		{name: "chart template syntax error", path: "chart",
			files: map[string]string{
				"chart/Chart.yaml":         "apiVersion: v2\nname: c\nversion: 1.0.0\n",
				"chart/templates/bad.yaml": "{{ if }}\n",
			},
			file: "chart/templates/bad.yaml", message: "bad.yaml"},
		{name: "chart rendering invalid YAML", path: "chart",
			files: map[string]string{
				"chart/Chart.yaml":         "apiVersion: v2\nname: c\nversion: 1.0.0\n",
				"chart/templates/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
			},
			file: "chart/templates/bad.yaml", message: "YAML parse error"},
		{name: "chart symlink escaping", path: "chart",
			files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n"},
			links: map[string]string{"chart/templates/leak.yaml": "OUTSIDE/secret.yaml"},
			file:  "chart/templates/leak.yaml", message: "outside the repository"},
		{name: "chart dependency missing", path: "chart",
			files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: gone\n  version: 1.0.0\n"},
			file:  "chart/Chart.yaml", message: "not in charts/"},
		{name: "chart dependency from an unsupported repository", path: "chart",
			files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: x\n  version: 1.0.0\n  repository: \"@stable\"\n"},
			file:  "chart/Chart.yaml", message: "not supported"},
		{name: "local dependency outside the range", path: "chart",
			files: map[string]string{
				"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: lib\n  version: ^2.0.0\n  repository: file://../lib\n",
				"lib/Chart.yaml":   "apiVersion: v2\nname: lib\nversion: 1.5.0\n",
			},
			file: "chart/Chart.yaml", message: "outside the range"},
		{name: "path outside the repository", path: "../..", files: map[string]string{"a.yaml": ""},
			file: "../..", field: "metadata.annotations[apps.open-cluster-management.io/git-path]", message: "leaves the repository"},
		{name: "path that does not exist", path: "nope", files: map[string]string{"a.yaml": ""},
			file: "nope", field: "metadata.annotations[apps.open-cluster-management.io/git-path]", message: "no such folder"},
		{name: "path through a symlink escaping", path: "link",
			files: map[string]string{"a.yaml": ""}, links: map[string]string{"link": "OUTSIDE"},
			file: "link", field: "metadata.annotations[apps.open-cluster-management.io/git-path]", message: "outside the repository"},
		{name: "plain file symlink escaping", path: "app",
			files: map[string]string{"app/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"},
			links: map[string]string{"app/stolen.yaml": "OUTSIDE/secret.yaml"},
			file:  "app/stolen.yaml", message: "outside the repository"},
		{name: "gigantic file", path: "app", opts: Options{MaxFileBytes: 1024},
			files: map[string]string{"app/big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: " + strings.Repeat("y", 4096) + "\n"},
			file:  "app/big.yaml", message: "over the 1024-byte limit"},
		{name: "gigantic output", path: "app", opts: Options{MaxOutputBytes: 2048},
			files: func() map[string]string {
				m := map[string]string{}
				for i := 0; i < 20; i++ {
					m[fmt.Sprintf("app/cm%d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\ndata:\n  x: %s\n", i, strings.Repeat("z", 200))
				}
				return m
			}(),
			file: "app/cm15.yaml", message: "over the 2048-byte limit"}, // the eighth file in lexical order crosses it
		{name: "YAML bomb", path: "app",
			files: map[string]string{"app/bomb.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n" + indent(bomb)},
			file:  "app/bomb.yaml", line: 1, message: "alias"},
		{name: "duplicate objects", path: "app",
			files: map[string]string{
				"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n  namespace: x\n",
				"app/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n  namespace: x\n",
			},
			file: "app/b.yaml", message: "also in app/a.yaml"},
		{name: "bad cluster values template", path: "app",
			files: map[string]string{"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"},
			sub: func(s *appsv1.Subscription) {
				s.Spec.ClusterValuesTemplate = "replicas: {{ .Cluster.Labels.size | bogus }}"
			},
			field: "spec.clusterValuesTemplate", message: "bogus"},
		{name: "cluster values template not YAML", path: "app",
			files: map[string]string{"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"},
			sub:   func(s *appsv1.Subscription) { s.Spec.ClusterValuesTemplate = "- {{ .Cluster.Name }}" },
			field: "spec.clusterValuesTemplate", message: "YAML mapping"},
		{name: "cluster override no object has", path: "app",
			files: map[string]string{"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"},
			sub: func(s *appsv1.Subscription) {
				s.Spec.Overrides = []appsv1.ClusterOverrides{{ClusterName: "c1", ClusterOverrides: []appsv1.ClusterOverride{
					{RawExtension: rawJSON(t, map[string]any{"path": "spec.replicas", "value": 3})}}}}
			},
			field: "spec.overrides[0].clusterOverrides[0]", message: "no rendered object has the field spec.replicas"},
		{name: "helm override outside spec", path: "chart",
			files: map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n"},
			sub: func(s *appsv1.Subscription) {
				s.Spec.PackageOverrides = []*appsv1.Overrides{{PackageName: "c", PackageOverrides: []appsv1.PackageOverride{
					{RawExtension: rawJSON(t, map[string]any{"path": "metadata.name", "value": "x"})}}}}
			},
			field: "spec.packageOverrides[0].packageOverrides[0].path", message: "under spec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, c.files)
			for link, target := range c.links {
				target = strings.Replace(target, "OUTSIDE", outside, 1)
				full := filepath.Join(art.Dir, link)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, full); err != nil {
					t.Fatal(err)
				}
			}
			sub := subscription("app", "apps", c.path)
			if c.sub != nil {
				c.sub(sub)
			}
			start := time.Now()
			re := renderErr(t, NewRenderer(c.opts), art, sub, Cluster{Name: "c1"})
			if re.File != c.file {
				t.Errorf("Error.File = %q, want %q (error: %v)", re.File, c.file, re)
			}
			if re.Line != c.line {
				t.Errorf("Error.Line = %d, want %d (error: %v)", re.Line, c.line, re)
			}
			if re.Field != c.field {
				t.Errorf("Error.Field = %q, want %q (error: %v)", re.Field, c.field, re)
			}
			if !strings.Contains(re.Error(), c.message) {
				t.Errorf("error %q does not mention %q", re.Error(), c.message)
			}
			if strings.Contains(re.Error(), art.Dir) {
				t.Errorf("error %q shows the artifact's location on the hub", re.Error())
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

// TestRenderKeepsGoodRenderAfterBadRevision: a bad revision fails on its own
// and leaves the good revision's Output cached and shared.
func TestRenderKeepsGoodRenderAfterBadRevision(t *testing.T) {
	good := tempArtifact(t, map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"})
	bad := tempArtifact(t, map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
	r := NewRenderer()
	sub := subscription("app", "apps", "app")
	first := mustRender(t, r, good, sub, Cluster{Name: "c1"})
	renderErr(t, r, bad, sub, Cluster{Name: "c1"})
	renderErr(t, r, bad, sub, Cluster{Name: "c2"}) // served from the cached failure
	if again := mustRender(t, r, good, sub, Cluster{Name: "c3"}); again != first {
		t.Error("the good revision's Output was not kept")
	}
}

func TestRenderSharesOutputs(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	sub := subscription("web", "shop", "apps/helm/webapp")
	first := mustRender(t, r, art, sub, Cluster{Name: "c0", Labels: map[string]string{"region": "eu"}})
	var wg sync.WaitGroup
	outs := make([]*Output, 200)
	for i := range outs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := r.Render(context.Background(), art, sub, Cluster{Name: fmt.Sprintf("c%d", i), Labels: map[string]string{"n": fmt.Sprint(i)}})
			if err != nil {
				t.Error(err)
				return
			}
			outs[i] = out
		}(i)
	}
	wg.Wait()
	for i, o := range outs {
		if o != first {
			t.Fatalf("cluster %d got another *Output", i)
		}
	}
	if n, _ := r.bases.stats(); n != 1 {
		t.Errorf("%d renders cached, want 1", n)
	}

	// A different input that yields the same objects shares the Output too.
	same := subscription("web", "shop", "apps/helm/webapp")
	same.Spec.PackageOverrides = []*appsv1.Overrides{helmOverride(t, "webapp", map[string]any{"replicaCount": 1})}
	if o := mustRender(t, r, art, same, Cluster{Name: "x"}); o != first {
		t.Error("equal objects from different inputs got different Outputs")
	}
}

func TestClusterValuesTemplate(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	sub := subscription("web", "shop", "apps/helm/webapp")
	sub.Spec.PackageOverrides = []*appsv1.Overrides{helmOverride(t, "webapp", map[string]any{"replicaCount": 1, "image": map[string]any{"tag": "9.9.9"}})}
	sub.Spec.ClusterValuesTemplate = `
replicaCount: {{ if eq .Cluster.Labels.region "us" }}5{{ else }}2{{ end }}
config:
  settings:
    region: {{ .Cluster.Labels.region | default "none" | quote }}
    tier: {{ .Cluster.Claims.tier | default "standard" | quote }}
`
	replicas := func(o *Output) int64 {
		for _, obj := range o.Objects {
			if obj.GetKind() == "Deployment" {
				n, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
				return n
			}
		}
		t.Fatal("no Deployment")
		return 0
	}
	us1 := mustRender(t, r, art, sub, Cluster{Name: "us1", Labels: map[string]string{"region": "us"}})
	us2 := mustRender(t, r, art, sub, Cluster{Name: "us2", Labels: map[string]string{"region": "us", "other": "x"}})
	eu1 := mustRender(t, r, art, sub, Cluster{Name: "eu1", Labels: map[string]string{"region": "eu"}})
	gold := mustRender(t, r, art, sub, Cluster{Name: "eu2", Labels: map[string]string{"region": "eu"}, Claims: map[string]string{"tier": "gold"}})
	if us1 != us2 {
		t.Error("clusters of one region do not share the Output")
	}
	if us1 == eu1 || eu1 == gold {
		t.Error("clusters with different values share an Output")
	}
	if replicas(us1) != 5 || replicas(eu1) != 2 {
		t.Errorf("replicas us=%d eu=%d, want 5 and 2", replicas(us1), replicas(eu1))
	}
	if !strings.Contains(string(mustJSON(t, gold.Objects)), `"tier":"gold"`) {
		t.Error("claims did not reach the values")
	}
	if !strings.Contains(string(mustJSON(t, eu1.Objects)), `webapp:9.9.9`) {
		t.Error("packageOverrides values were lost under the cluster values")
	}
	if n, _ := r.bases.stats(); n != 3 {
		t.Errorf("%d renders, want 3 (us, eu, eu+gold)", n)
	}
}

func TestClusterOverrides(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	sub := subscription("shop", "apps", "apps/plain")
	sub.Spec.Overrides = []appsv1.ClusterOverrides{
		{ClusterName: "big", ClusterOverrides: []appsv1.ClusterOverride{
			{RawExtension: rawJSON(t, map[string]any{"path": "spec.replicas", "value": 7})},
			{RawExtension: rawJSON(t, map[string]any{"path": "data.mode", "value": "canary"})},
		}},
		{ClusterName: "big", ClusterOverrides: []appsv1.ClusterOverride{ // OCM uses the first entry only
			{RawExtension: rawJSON(t, map[string]any{"path": "spec.replicas", "value": 99})},
		}},
	}
	plain := mustRender(t, r, art, sub, Cluster{Name: "small"})
	big := mustRender(t, r, art, sub, Cluster{Name: "big"})
	if big == plain {
		t.Fatal("the overridden cluster shares the plain Output")
	}
	get := func(o *Output, kind string, path ...string) any {
		for _, obj := range o.Objects {
			if obj.GetKind() == kind {
				v, _, _ := unstructured.NestedFieldNoCopy(obj.Object, path...)
				return v
			}
		}
		return nil
	}
	if v := get(big, "Deployment", "spec", "replicas"); v != int64(7) {
		t.Errorf("big replicas = %v, want 7", v)
	}
	if v := get(big, "ConfigMap", "data", "mode"); v != "canary" {
		t.Errorf("big mode = %v", v)
	}
	if v := get(plain, "Deployment", "spec", "replicas"); v != int64(2) {
		t.Errorf("the shared render was modified: replicas = %v", v)
	}
	// Objects the override does not touch are shared, not copied.
	for i := range plain.Objects {
		if plain.Objects[i].GetKind() == "Namespace" && big.Objects[i] != plain.Objects[i] {
			t.Error("untouched objects were copied")
		}
	}
	if again := mustRender(t, r, art, sub, Cluster{Name: "big"}); again != big {
		t.Error("the overridden cluster's Output is not reused")
	}
}

func TestAllowDeny(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	sub := subscription("shop", "apps", "apps/plain")
	sub.Spec.Allow = []*appsv1.AllowDenyItem{{APIVersion: "v1", Kinds: []string{"*"}}, {APIVersion: "apps/v1", Kinds: []string{"Deployment"}}}
	sub.Spec.Deny = []*appsv1.AllowDenyItem{{APIVersion: "v1", Kinds: []string{"Service"}}}
	out := mustRender(t, r, art, sub, Cluster{Name: "c"})
	want := "Namespace /shop\nConfigMap shop/shop-config\nDeployment shop/shop"
	if got := strings.Join(names(out.Objects), "\n"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestKustomizePackageOverrides(t *testing.T) {
	r := NewRenderer()
	art := fleet(t)
	for _, c := range []struct {
		name        string
		packageName string
		value       any
		wantPrefix  string
	}{
		{"all kustomizations", "kustomization", map[string]any{"namePrefix": "blue-", "commonLabels": map[string]any{"color": "blue"}}, "blue-"},
		{"this kustomization, value as YAML string", "apps/kustomize/overlays/prod/kustomization", "namePrefix: green-\ncommonLabels:\n  color: green\n", "green-"},
		{"another kustomization", "apps/kustomize/overlays/staging/kustomization", map[string]any{"namePrefix": "red-"}, "prod-"},
		{"a Helm chart's overrides", "webapp", map[string]any{"namePrefix": "red-"}, "prod-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := subscription("gb", "ops", "apps/kustomize/overlays/prod")
			sub.Spec.PackageOverrides = []*appsv1.Overrides{{PackageName: c.packageName, PackageOverrides: []appsv1.PackageOverride{
				{RawExtension: rawJSON(t, map[string]any{"value": c.value})}}}}
			out := mustRender(t, r, art, sub, Cluster{Name: "c"})
			for _, o := range out.Objects {
				if o.GetKind() == "Deployment" && !strings.HasPrefix(o.GetName(), c.wantPrefix) {
					t.Errorf("Deployment %s, want prefix %q", o.GetName(), c.wantPrefix)
				}
			}
		})
	}
	// The artifact itself is never written.
	data, err := os.ReadFile(filepath.Join(art.Dir, "apps/kustomize/overlays/prod/kustomization.yaml"))
	if err != nil || strings.Contains(string(data), "blue") {
		t.Errorf("the kustomization file changed on disk: %v", err)
	}
}

func TestHelmValuePathOverride(t *testing.T) {
	r := NewRenderer()
	sub := subscription("web", "shop", "apps/helm/webapp")
	sub.Spec.PackageOverrides = []*appsv1.Overrides{{PackageName: "webapp", PackageOverrides: []appsv1.PackageOverride{
		{RawExtension: rawJSON(t, map[string]any{"path": "spec", "value": map[string]any{"replicaCount": 4}})},
		{RawExtension: rawJSON(t, map[string]any{"path": "spec.image.tag", "value": "3.0.0"})},
	}}}
	out := mustRender(t, r, fleet(t), sub, Cluster{Name: "c"})
	j := string(mustJSON(t, out.Objects))
	if !strings.Contains(j, `"replicas":4`) || !strings.Contains(j, `webapp:3.0.0`) {
		t.Errorf("values not applied: %s", j)
	}
}

func TestRenderCacheIsBounded(t *testing.T) {
	r := NewRenderer(Options{CacheBytes: 64 << 10, CacheEntries: 8})
	for i := 0; i < 40; i++ {
		art := tempArtifact(t, map[string]string{"app/cm.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\ndata:\n  x: %q\n", i, strings.Repeat("v", 2000))})
		mustRender(t, r, art, subscription("a", "b", "app"), Cluster{Name: "c"})
	}
	for name, s := range map[string]interface{ stats() (int, int64) }{"bases": r.bases, "outputs": r.outputs, "routes": r.routes} {
		n, cost := s.stats()
		if n > 8*16 || cost > 64<<10 {
			t.Errorf("%s cache holds %d entries, %d bytes: over its bounds", name, n, cost)
		}
	}
	if n, _ := r.bases.stats(); n > 8 {
		t.Errorf("%d base renders kept, want at most 8", n)
	}
}

func TestNoArtifact(t *testing.T) {
	if _, err := NewRenderer().Render(context.Background(), &source.Artifact{}, subscription("a", "b", ""), Cluster{}); err == nil {
		t.Error("no error for an empty artifact")
	}
}

// TestNamespaceDefaulting is issue 17 item 11: objects without a namespace
// get the Subscription's, unless their kind is cluster-scoped in Kubernetes
// (or a well-known add-on) or by a CustomResourceDefinition in the render.
// Kinds the renderer cannot know (newer API versions, custom resources whose
// CRD is installed separately) are namespaced: the agent clears the
// namespace of kinds its cluster's discovery says are cluster-scoped.
func TestNamespaceDefaulting(t *testing.T) {
	art := tempArtifact(t, map[string]string{
		"app/hpa.yaml":       "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  minReplicas: 1\n",
		"app/sm.yaml":        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\n",
		"app/new.yaml":       "apiVersion: apps/v9\nkind: Deployment\nmetadata:\n  name: future\n",
		"app/cr.yaml":        "apiVersion: cluster.example.com/v1\nkind: Fleetwide\nmetadata:\n  name: all\n",
		"app/crd.yaml":       "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: fleetwides.cluster.example.com\nspec:\n  group: cluster.example.com\n  scope: Cluster\n  names: {kind: Fleetwide, plural: fleetwides}\n",
		"app/rbac.yaml":      "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n",
		"app/issuer.yaml":    "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: letsencrypt\n",
		"app/vap.yaml":       "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: p\n",
		"app/pc.yaml":        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: high\n",
		"app/ns.yaml":        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
		"app/elsewhere.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: other\n",
	})
	out := mustRender(t, NewRenderer(), art, subscription("web", "team-a", "app"), Cluster{Name: "c1"})
	got := map[string]string{}
	for _, o := range out.Objects {
		got[o.GetKind()+"/"+o.GetName()] = o.GetNamespace()
	}
	for obj, ns := range map[string]string{
		"HorizontalPodAutoscaler/web": "team-a", "ServiceMonitor/web": "team-a", "Deployment/future": "team-a",
		"Fleetwide/all": "", "CustomResourceDefinition/fleetwides.cluster.example.com": "", "ClusterRole/reader": "",
		"ClusterIssuer/letsencrypt": "", "ValidatingAdmissionPolicy/p": "", "PriorityClass/high": "", "Namespace/web": "",
		"ConfigMap/kept": "other",
	} {
		if g, ok := got[obj]; !ok || g != ns {
			t.Errorf("%s: namespace %q (present %v), want %q", obj, g, ok, ns)
		}
	}
}

// TestErrorsPointAtTheLineAndTheCluster is issue 15 item 8: a YAML error
// names the file and the line of the problem (an unclosed quote's own line,
// not the end of the file), and a render error names a cluster only when
// the render depends on the cluster.
func TestErrorsPointAtTheLineAndTheCluster(t *testing.T) {
	nine := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  a: b\n  b: \"unclosed\n  c: d\n  e: f\n"
	for _, c := range []struct {
		name, file string
		line       int
		message    string
	}{
		{"unclosed quote", nine, 7, "found unexpected end of stream (what opens on this line is not closed)"},
		{"unclosed quote in the second document", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  b: 'x\n  c: d\n", 11, "found unexpected end of stream"},
		{"unclosed bracket", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  b: [x\n  c: d\n", 6, "did not find expected ',' or ']'"},
		{"a tab", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: b\n", 4, "found character that cannot start any token"},
		{"a stray indent", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n", 5, "mapping values are not allowed in this context"},
		{"a broken separator", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n--- x\n", 5, "invalid document separator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, map[string]string{"app/cm.yaml": c.file})
			re := renderErr(t, NewRenderer(), art, subscription("app", "apps", "app"), Cluster{Name: "cluster1"})
			if re.File != "app/cm.yaml" || re.Line != c.line || !strings.Contains(re.Error(), c.message) {
				t.Errorf("error %q (file %q line %d), want %q at app/cm.yaml line %d", re, re.File, re.Line, c.message, c.line)
			}
			if re.Cluster != "" || strings.Contains(re.Error(), "cluster1") {
				t.Errorf("error %q names the cluster; plain YAML is the same on every cluster", re)
			}
		})
	}

	// A chart failing on values from clusterValuesTemplate fails for the
	// clusters with those values, each named in its own error.
	art := tempArtifact(t, map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  size: {{ required \"size is required\" .Values.size | quote }}\n",
	})
	sub := subscription("app", "apps", "chart")
	sub.Spec.ClusterValuesTemplate = `{{ if .Cluster.Labels.size }}size: {{ .Cluster.Labels.size }}{{ end }}`
	r := NewRenderer()
	for _, name := range []string{"east", "west"} {
		re := renderErr(t, r, art, sub, Cluster{Name: name, Labels: map[string]string{"region": name}})
		if re.Cluster != name || !strings.HasPrefix(re.Error(), "cluster "+name+": chart/templates/cm.yaml") {
			t.Errorf("error %q, want it to start with cluster %s", re, name)
		}
	}
	mustRender(t, r, art, sub, Cluster{Name: "sized", Labels: map[string]string{"size": "3"}})
}
