package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/provenance"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// DefaultHelmAddr is where the lab serves its Helm repository, so the
// HelmRepo Channel in channels/ can name a fixed URL.
const DefaultHelmAddr = "127.0.0.1:8767"

// VersionsFile, in a Helm repository source folder, maps chart folder names
// to the versions to publish of each.
const VersionsFile = "versions.yaml"

// HelmRepo serves a classic Helm chart repository (index.yaml and chart
// archives) over HTTP on a loopback address.
type HelmRepo struct {
	// URL is the repository's address, e.g. http://127.0.0.1:8767; index.yaml
	// is at URL + "/index.yaml".
	URL string
	// Dir holds index.yaml and charts/*.tgz.
	Dir string
	// Charts lists the published versions of each chart, oldest first.
	Charts map[string][]string

	srv *http.Server
}

// StartHelmRepo packages every chart folder of srcDir (a folder holding
// Chart.yaml) into dir, once per version listed for it in srcDir's
// versions.yaml (the chart's own version when it is not listed), writes the
// repository's index.yaml and serves dir on addr (a free loopback port when
// empty). Index entries use relative URLs, so the repository works on any
// address.
func StartHelmRepo(srcDir, dir, addr string) (*HelmRepo, error) {
	charts, err := PackageCharts(srcDir, dir)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the Helm repository on %s: %w", addr, err)
	}
	h := &HelmRepo{URL: "http://" + l.Addr().String(), Dir: dir, Charts: charts}
	h.srv = &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(l) }()
	return h, nil
}

// Close stops the server.
func (h *HelmRepo) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return h.srv.Shutdown(ctx)
}

// PackageCharts writes the chart archives of srcDir (see StartHelmRepo) to
// dir/charts and their index to dir/index.yaml, and returns the versions
// published per chart.
func PackageCharts(srcDir, dir string) (map[string][]string, error) {
	versions, err := readVersions(filepath.Join(srcDir, VersionsFile))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return nil, fmt.Errorf("read the Helm repository source %s: %w", srcDir, err)
	}
	out := filepath.Join(dir, "charts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	index := repo.NewIndexFile()
	published := map[string][]string{}
	for _, e := range entries {
		chartDir := filepath.Join(srcDir, e.Name())
		if !e.IsDir() || !isFile(filepath.Join(chartDir, "Chart.yaml")) {
			continue
		}
		list, listed := versions[e.Name()]
		delete(versions, e.Name())
		if !listed {
			list = []string{""}
		}
		for _, v := range list {
			// Load afresh for each version: the index keeps the metadata.
			ch, err := loader.LoadDir(chartDir)
			if err != nil {
				return nil, fmt.Errorf("load chart %s: %w", chartDir, err)
			}
			if v != "" {
				ch.Metadata.Version, ch.Metadata.AppVersion = v, v
			}
			file, err := chartutil.Save(ch, out)
			if err != nil {
				return nil, fmt.Errorf("package chart %s version %s: %w", chartDir, ch.Metadata.Version, err)
			}
			digest, err := provenance.DigestFile(file)
			if err != nil {
				return nil, err
			}
			if err := index.MustAdd(ch.Metadata, "charts/"+filepath.Base(file), "", digest); err != nil {
				return nil, fmt.Errorf("index chart %s version %s: %w", chartDir, ch.Metadata.Version, err)
			}
			published[ch.Metadata.Name] = append(published[ch.Metadata.Name], ch.Metadata.Version)
		}
	}
	if len(versions) > 0 {
		var missing []string
		for name := range versions {
			missing = append(missing, name)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("%s lists %v, but %s has no such chart folder (a folder holding Chart.yaml): fix the name or add the chart", filepath.Join(srcDir, VersionsFile), missing, srcDir)
	}
	if len(published) == 0 {
		return nil, fmt.Errorf("no chart folder (holding Chart.yaml) in %s", srcDir)
	}
	index.SortEntries()
	if err := index.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		return nil, fmt.Errorf("write the Helm repository index: %w", err)
	}
	for name := range published {
		sortVersions(published[name])
	}
	return published, nil
}

// readVersions reads a versions file; a missing file lists nothing.
func readVersions(path string) (map[string][]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	versions := map[string][]string{}
	if err := yaml.UnmarshalStrict(data, &versions); err != nil {
		return nil, fmt.Errorf("%s: want chart names mapped to lists of versions (node-probe: [1.2.0, 1.3.1]): %w", path, err)
	}
	for name, list := range versions {
		for _, v := range list {
			if _, err := semver.StrictNewVersion(v); err != nil {
				return nil, fmt.Errorf("%s: chart %s: version %q is not a semantic version like 1.2.3", path, name, v)
			}
		}
	}
	return versions, nil
}

// sortVersions orders semantic versions, oldest first.
func sortVersions(list []string) {
	sort.Slice(list, func(i, j int) bool {
		a, errA := semver.NewVersion(list[i])
		b, errB := semver.NewVersion(list[j])
		if errA != nil || errB != nil {
			return list[i] < list[j]
		}
		return a.LessThan(b)
	})
}
