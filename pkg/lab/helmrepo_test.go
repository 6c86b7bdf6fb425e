package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// TestHelmRepoServesExampleCharts serves the example's chart source and reads
// it back as a Helm client would: index, relative URLs, digests, versions.
func TestHelmRepoServesExampleCharts(t *testing.T) {
	h, err := StartHelmRepo("../../fleet-repo-example/helm-repo-src", t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := fmt.Sprint(h.Charts); got != "map[node-probe:[1.2.0 1.3.1 2.0.0]]" {
		t.Fatalf("published %s", got)
	}
	body := get(t, h.URL+"/index.yaml")
	index := &repo.IndexFile{}
	if err := yaml.Unmarshal(body, index); err != nil {
		t.Fatal(err)
	}
	versions := index.Entries["node-probe"]
	if len(versions) != 3 || versions[0].Version != "2.0.0" {
		t.Fatalf("index entries %+v, want 3 versions newest first", versions)
	}
	for _, v := range versions {
		if len(v.URLs) != 1 || v.URLs[0] != "charts/node-probe-"+v.Version+".tgz" {
			t.Errorf("version %s URLs %v, want one relative URL", v.Version, v.URLs)
			continue
		}
		archive := get(t, h.URL+"/"+v.URLs[0])
		sum := sha256.Sum256(archive)
		if hex.EncodeToString(sum[:]) != v.Digest {
			t.Errorf("version %s: digest %s in the index, archive has %x", v.Version, v.Digest, sum)
		}
		ch, err := loader.LoadArchive(bytes.NewReader(archive))
		if err != nil {
			t.Fatal(err)
		}
		if ch.Metadata.Version != v.Version || ch.Metadata.AppVersion != v.Version || len(ch.Templates) == 0 {
			t.Errorf("archive of %s holds version %s, appVersion %s, %d templates", v.Version, ch.Metadata.Version, ch.Metadata.AppVersion, len(ch.Templates))
		}
	}
}

func TestPackageCharts(t *testing.T) {
	chart := func(dir, name, version string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name, "templates"), 0o755); err != nil {
			t.Fatal(err)
		}
		meta := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
		if err := os.WriteFile(filepath.Join(dir, name, "Chart.yaml"), []byte(meta), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		versions string // versions.yaml, none when empty
		charts   []string
		want     string // published, or a part of the error
	}{
		"own version when not listed": {charts: []string{"a"}, want: "map[a:[0.1.0]]"},
		"listed versions, sorted":     {versions: "a: [1.10.0, 1.2.0]\n", charts: []string{"a", "b"}, want: "map[a:[1.2.0 1.10.0] b:[0.1.0]]"},
		"listed chart missing":        {versions: "a: [1.0.0]\nc: [1.0.0]\n", charts: []string{"a"}, want: "lists [c], but"},
		"not a version":               {versions: "a: [1.x]\n", charts: []string{"a"}, want: `version "1.x" is not a semantic version`},
		"not a map":                   {versions: "- a\n", charts: []string{"a"}, want: "want chart names mapped to lists of versions"},
		"no charts":                   {want: "no chart folder"},
	} {
		t.Run(name, func(t *testing.T) {
			src := t.TempDir()
			for _, c := range tc.charts {
				chart(src, c, "0.1.0")
			}
			if tc.versions != "" {
				if err := os.WriteFile(filepath.Join(src, VersionsFile), []byte(tc.versions), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := PackageCharts(src, t.TempDir())
			msg := fmt.Sprint(got)
			if err != nil {
				msg = err.Error()
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("got %q, want %q", msg, tc.want)
			}
		})
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return body
}
