package render

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestDecodeYAML(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and separators only", in: "# hi\n---\n---\n# bye\n", want: nil},
		{name: "two documents", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n",
			want: []string{"ConfigMap /a", "Secret /b"}},
		{name: "JSON", in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j","namespace":"n"}}`, want: []string{"ConfigMap n/j"}},
		{name: "not a Kubernetes object is skipped", in: "replicas: 3\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", want: []string{"ConfigMap /a"}},
		{name: "List expanded", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n",
			want: []string{"ConfigMap /a", "ConfigMap /b"}},
		{name: "kind without apiVersion", in: "kind: ConfigMap\nmetadata:\n  name: a\n", wantErr: "no apiVersion"},
		{name: "no name", in: "apiVersion: v1\nkind: ConfigMap\n", wantErr: "ConfigMap has no metadata.name"},
		{name: "a scalar", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\njust text\n", wantErr: "line 6: a Kubernetes object must be a mapping"},
		{name: "List item without name", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n", wantErr: "List item 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := DecodeYAML([]byte(c.in))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(objs); !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestKustomizeOverrideMatching(t *testing.T) {
	value := []appsv1.PackageOverride{{RawExtension: rawJSON(t, map[string]any{"value": map[string]any{"namespace": "x"}})}}
	cases := []struct {
		packageName, dir string
		match            bool
	}{
		{"kustomization", "apps/a", true},
		{"apps/a/kustomization", "apps/a", true},
		{"Apps/A/kustomization", "apps/a", true}, // OCM compares case-insensitively
		{"./apps/a/kustomization", "apps/a", true},
		{"apps/b/kustomization", "apps/a", false},
		{"nginx", "apps/a", false},
	}
	for _, c := range cases {
		sub := subscription("s", "n", "")
		sub.Spec.PackageOverrides = []*appsv1.Overrides{{PackageName: c.packageName, PackageOverrides: value}}
		got, err := kustomizeOverrides(sub, c.dir)
		if err != nil {
			t.Fatal(err)
		}
		if (len(got) == 1) != c.match {
			t.Errorf("packageName %q for %s: matched %v, want %v", c.packageName, c.dir, len(got) == 1, c.match)
		}
	}
	sub := subscription("s", "n", "")
	sub.Spec.PackageOverrides = []*appsv1.Overrides{{PackageName: "kustomization"}}
	if _, err := kustomizeOverrides(sub, "a"); err == nil || !strings.Contains(err.Error(), "spec.packageOverrides[0].packageOverrides") {
		t.Errorf("an empty override list: %v", err)
	}
}

func TestHelmValuesFromPackageOverrides(t *testing.T) {
	sub := subscription("s", "n", "")
	sub.Spec.PackageOverrides = []*appsv1.Overrides{
		{PackageName: "other", PackageOverrides: []appsv1.PackageOverride{{RawExtension: rawJSON(t, map[string]any{"path": "spec", "value": map[string]any{"x": 1}})}}},
		{PackageName: "web", PackageAlias: "front", PackageOverrides: []appsv1.PackageOverride{
			{RawExtension: rawJSON(t, map[string]any{"path": "spec", "value": "a: 1\nb:\n  c: 2\n"})},
			{RawExtension: rawJSON(t, map[string]any{"path": "spec.b.d", "value": true})},
		}},
		{PackageName: "web", PackageOverrides: []appsv1.PackageOverride{{RawExtension: rawJSON(t, map[string]any{"path": "spec", "value": map[string]any{"ignored": 1}})}}},
	}
	vals, alias, err := helmValues(sub, "web")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": float64(1), "b": map[string]any{"c": float64(2), "d": true}}
	if !reflect.DeepEqual(vals, want) {
		t.Errorf("values %#v, want %#v", vals, want)
	}
	if alias != "front" {
		t.Errorf("alias %q", alias)
	}
	if v, _, _ := helmValues(sub, "none"); v != nil {
		t.Errorf("values for a chart without overrides: %v", v)
	}
}

func TestMergeValues(t *testing.T) {
	dst := map[string]any{"a": 1, "m": map[string]any{"x": 1, "y": 2}, "keep": "k"}
	src := map[string]any{"a": 2, "m": map[string]any{"y": 3, "z": 4}, "n": nil}
	got := mergeValues(dst, src)
	want := map[string]any{"a": 2, "m": map[string]any{"x": 1, "y": 3, "z": 4}, "keep": "k", "n": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if dst["a"] != 1 || dst["m"].(map[string]any)["y"] != 2 {
		t.Error("merge modified its input")
	}
}

func TestReleaseName(t *testing.T) {
	cases := []struct {
		sub, alias, chart string
		charts            int
		want              string
	}{
		{"web", "", "webapp", 1, "web"},
		{"web", "front", "webapp", 1, "front"},
		{"web", "", "webapp", 2, "web-webapp"},
	}
	for _, c := range cases {
		if got := releaseName(c.sub, c.alias, c.chart, c.charts); got != c.want {
			t.Errorf("releaseName(%q, %q, %q, %d) = %q, want %q", c.sub, c.alias, c.chart, c.charts, got, c.want)
		}
	}
	long := releaseName(strings.Repeat("a", 60), "", "c", 1)
	if len(long) > maxReleaseName || long != releaseName(strings.Repeat("a", 60), "", "c", 1) {
		t.Errorf("long name %q (%d chars) is not shortened deterministically", long, len(long))
	}
}

func TestDetectIgnoresAndHooks(t *testing.T) {
	art := tempArtifact(t, map[string]string{
		"app/.kubernetesignore":      "/skip/\n*.tmp.yaml\n!keep.tmp.yaml\n",
		"app/a.yaml":                 "",
		"app/x.tmp.yaml":             "",
		"app/keep.tmp.yaml":          "",
		"app/skip/b.yaml":            "",
		"app/sub/skip/c.yaml":        "",
		"app/prehook/h.yaml":         "",
		"app/posthook/h.yaml":        "",
		"app/sub/prehook/kept.yaml":  "",
		"app/.hidden/d.yaml":         "",
		"app/chart/Chart.yaml":       "",
		"app/chart/templates/t.yaml": "",
		"app/k/kustomization.yml":    "",
		"app/k/r.yaml":               "",
		"app/notes.txt":              "",
	})
	j, err := newJail(art.Dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	units, err := detect(j, j.root+"/app")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range units {
		got = append(got, u.kind.String()+" "+j.rel(u.path))
	}
	want := []string{
		"plain app/a.yaml", "helm app/chart", "kustomize app/k", "plain app/keep.tmp.yaml",
		"plain app/sub/prehook/kept.yaml", "plain app/sub/skip/c.yaml",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("units\n%v\nwant\n%v", got, want)
	}
}
