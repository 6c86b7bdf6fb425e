package render

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// The fuzz targets below run over their seeds (testdata/fuzz/<name>) in
// every `go test`; explore further with, for example,
//
//	go test ./pkg/render -run '^$' -fuzz '^FuzzDecodeYAML$' -fuzztime 5m
//
// and commit any crasher the fuzzer writes to testdata/fuzz as a new seed.

// maxFuzzInput keeps single fuzz inputs small: size limits are tested
// separately, the fuzzer is after structure.
const maxFuzzInput = 16 << 10

// FuzzDecodeYAML: any byte stream decodes or fails, never panics; what
// decodes is a list of complete objects that survive a JSON round trip, and
// two streams joined by a document separator decode to both lists.
func FuzzDecodeYAML(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a)+len(b) > maxFuzzInput {
			return
		}
		objsA, errA := DecodeYAML(a)
		if errA != nil {
			if !strings.HasPrefix(errA.Error(), "line ") {
				t.Fatalf("error %q does not say which line", errA)
			}
			return
		}
		for _, o := range objsA {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("incomplete object decoded: %v", o.Object)
			}
			js, err := json.Marshal(o.Object)
			if err != nil {
				t.Fatalf("decoded object does not encode: %v", err)
			}
			again, err := DecodeYAML(js)
			if err != nil || len(again) != 1 || !equalObjects(again[0], o) {
				t.Fatalf("object does not survive a round trip: %s -> %v (%v)", js, again, err)
			}
		}
		objsB, errB := DecodeYAML(b)
		if errB != nil {
			return
		}
		joined, err := DecodeYAML([]byte(string(a) + "\n---\n" + string(b)))
		if err != nil {
			t.Fatalf("two valid streams joined by --- fail: %v", err)
		}
		if len(joined) != len(objsA)+len(objsB) {
			t.Fatalf("joined streams decode to %d objects, want %d + %d", len(joined), len(objsA), len(objsB))
		}
	})
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	x, _ := json.Marshal(a.Object)
	y, _ := json.Marshal(b.Object)
	return string(x) == string(y)
}

// marker is the content of a file next to (outside) each fuzzed artifact:
// no render may ever show it.
const marker = "outside-the-artifact-3b1f9c"

// fuzzArtifact writes files into a fresh artifact folder that sits next to
// a file holding marker, and returns it.
func fuzzArtifact(t *testing.T, files map[string][]byte) *source.Artifact {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "secret.yaml"),
		[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  value: "+marker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "repo")
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &source.Artifact{Revision: "fuzz@sha1:" + filepath.Base(root), Dir: dir}
}

// checkRender is what every fuzzed render must satisfy: a failure is an
// *Error (or wraps one) that names a file or field without the hub's
// folders; a success holds complete objects and nothing from outside.
func checkRender(t *testing.T, art *source.Artifact, path string, out *Output, err error) {
	t.Helper()
	if err != nil {
		var re *Error
		if !errors.As(err, &re) {
			t.Fatalf("not a render error: %T %v", err, err)
		}
		if re.File == "" && re.Field == "" {
			t.Fatalf("error names no file or field: %v", err)
		}
		if strings.Contains(err.Error(), filepath.Dir(art.Dir)) {
			t.Fatalf("error shows the hub's folders: %v", err)
		}
		if strings.Contains(err.Error(), marker) {
			t.Fatalf("error shows a file outside the artifact: %v", err)
		}
		return
	}
	for _, o := range out.Objects {
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			t.Fatalf("incomplete object rendered: %v", o.Object)
		}
		js, _ := json.Marshal(o.Object)
		if strings.Contains(string(js), marker) {
			t.Fatalf("render of %s read a file outside the artifact: %s", path, js)
		}
	}
}

// FuzzKustomization builds a fuzzed kustomization.yaml (over a fixed
// ConfigMap, a base and a patch) with the in-process Kustomize: it renders or
// fails with an error naming a file, never panics, never reads outside the
// artifact and never reaches the network (remote bases are refused; the
// renderer is offline, so helmCharts must be vendored).
func FuzzKustomization(f *testing.F) {
	f.Fuzz(func(t *testing.T, kustomization []byte) {
		if len(kustomization) > maxFuzzInput {
			return
		}
		art := fuzzArtifact(t, map[string][]byte{
			"app/kustomization.yaml":              kustomization,
			"app/cm.yaml":                         []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n"),
			"app/patch.yaml":                      []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  b: \"2\"\n"),
			"base/kustomization.yaml":             []byte("resources:\n- svc.yaml\n"),
			"base/svc.yaml":                       []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: base\nspec:\n  ports:\n  - port: 80\n"),
			"app/files/settings.env":              []byte("A=1\nB=2\n"),
			"app/files/settings.json":             []byte(`{"a":1}`),
			"app/components/c/kustomization.yaml": []byte("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  c: \"yes\"\n"),
		})
		out, err := NewRenderer(Options{Offline: true}).Render(t.Context(), art, subscription("app", "apps", "app"), Cluster{Name: "c1"})
		checkRender(t, art, "app", out, err)
	})
}

// expanding lists template functions whose cost grows with a number in the
// template (until 100000000, repeat, printf "%09999999d"...), and recursion.
// Templates are programs: their cost is not bounded by the renderer (see
// docs/security.md), so the fuzzer stays away from these.
var (
	expanding      = regexp.MustCompile(`until|seq|repeat|printf|indent|pad|wrap|include|tpl|template|define|range|[0-9]{4}`)
	templateAction = regexp.MustCompile(`{{`)
)

// FuzzHelmChart renders a chart from a fuzzed Chart.yaml, values.yaml and
// template: it renders or fails with an error naming a file or field, never
// panics and never reads outside the artifact.
func FuzzHelmChart(f *testing.F) {
	f.Fuzz(func(t *testing.T, chartYAML, values, template []byte) {
		if len(chartYAML)+len(values)+len(template) > maxFuzzInput {
			return
		}
		if templateAction.Match(template) && expanding.Match(template) {
			return
		}
		art := fuzzArtifact(t, map[string][]byte{
			"chart/Chart.yaml":          chartYAML,
			"chart/values.yaml":         values,
			"chart/templates/fuzz.yaml": template,
			"chart/templates/cm.yaml":   []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  chart: {{ .Chart.Name | quote }}\n"),
		})
		out, err := NewRenderer(Options{Offline: true}).Render(t.Context(), art, subscription("app", "apps", "chart"), Cluster{Name: "c1"})
		checkRender(t, art, "chart", out, err)
	})
}
