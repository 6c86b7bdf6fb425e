package render

import (
	"strings"
	"testing"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/test/harness/ocireg"
)

// TestMissingDependencyMessages is issue 17 item 14: every way a Chart.yaml
// dependency can be missing names the dependency in Chart.yaml and says to
// vendor it into charts/, as the OCI one does.
func TestMissingDependencyMessages(t *testing.T) {
	repo := newChartRepo(t, extrasChart("1.0.0"))
	for _, c := range []struct {
		name, dependency string
		want             []string
	}{
		{"no repository", "  - name: gone\n    version: 1.0.0\n",
			[]string{`dependencies[0] "gone"`, "not in charts/ and no repository given", vendorHint}},
		{"repository without the chart", "  - name: gone\n    version: ^1.0.0\n    repository: " + repo.URL + "\n",
			[]string{`dependencies[0] "gone"`, `holds no chart named "gone"`, vendorHint}},
		{"file path that is not there", "  - name: gone\n    version: 1.0.0\n    repository: file://../gone\n",
			[]string{`dependencies[0] "gone"`, `repository "file://../gone": gone is not in the repository; fix the path (relative to front)`, vendorHint}},
		{"unreachable repository", "  - name: gone\n    version: 1.0.0\n    repository: http://127.0.0.1:1/charts\n",
			[]string{`dependencies[0] "gone"`, "connection refused", vendorHint}},
		{"unsupported repository", "  - name: gone\n    version: 1.0.0\n    repository: \"@stable\"\n",
			[]string{`dependencies[0] "gone"`, "is not supported", vendorHint}},
	} {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, map[string]string{"front/Chart.yaml": "apiVersion: v2\nname: front\nversion: 0.1.0\ndependencies:\n" + c.dependency})
			_, err := NewRenderer(local(Options{})).Render(t.Context(), art, subscription("front", "web", "front"), Cluster{Name: "c1"})
			if err == nil || !strings.Contains(err.Error(), "front/Chart.yaml") {
				t.Fatalf("error %v, want it in front/Chart.yaml", err)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want %q", err, want)
				}
			}
		})
	}
}

// TestEveryDependencyOutOfRangeIsNamed is issue 17 item 14: a chart whose
// dependencies from a chart repository, an OCI registry and the repository
// itself are all out of range names all three, with what each source has,
// not the first alone.
func TestEveryDependencyOutOfRangeIsNamed(t *testing.T) {
	repo := newChartRepo(t, extrasChart("1.0.0"), extrasChart("1.1.0"))
	reg := ocireg.Start(t, "", "")
	reg.Push(t, "charts", namedChart("cache", "2.0.0"))
	art := tempArtifact(t, map[string]string{
		"front/Chart.yaml": "apiVersion: v2\nname: front\nversion: 0.1.0\ndependencies:\n" +
			"  - name: extras\n    version: ^3.0.0\n    repository: " + repo.URL + "\n" +
			"  - name: cache\n    version: ~1.2.0\n    repository: oci://" + reg.Host + "/charts\n" +
			"  - name: lib\n    version: ^2.0.0\n    repository: file://../lib\n",
		"lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 1.5.0\n",
	})
	access := Access{Credentials: source.Credentials{CACerts: reg.CAPEM()}}
	_, err := NewRenderer(local(Options{})).RenderWith(t.Context(), art, subscription("front", "web", "front"), Cluster{Name: "c1"}, access)
	for _, want := range []string{
		"front/Chart.yaml: 3 dependencies are out of range",
		`dependencies[0] "extras": ` + repo.URL + ` has no version in the range "^3.0.0" (newest: 1.1.0, 1.0.0)`,
		`dependencies[1] "cache": oci://` + reg.Host + `/charts/cache has no tag in the range "~1.2.0"`,
		`dependencies[2] "lib": the chart is version 1.5.0, outside the range "^2.0.0"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
}
