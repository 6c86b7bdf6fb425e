package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/repo"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// helmRelease is what a chart is rendered with.
type helmRelease struct {
	name      string
	namespace string
	values    map[string]any
}

// helmTemplate renders the chart in dir client-side, as `helm template
// --include-crds --skip-tests` does: templates and hooks (except test hooks),
// CRDs from crds/ first, no cluster access (lookup returns nothing), and the
// Capabilities fixed by Options.KubeVersion and Helm's built-in API versions.
// Missing dependencies are fetched from the repositories Chart.yaml names.
func (r *Renderer) helmTemplate(ctx context.Context, j *jail, dir string, ch *chart.Chart, rel helmRelease, budget *outputBudget) ([]*unstructured.Unstructured, error) {
	relDir := j.rel(dir)
	if err := r.addDependencies(ctx, j, dir, ch); err != nil {
		return nil, err
	}
	kv, err := chartutil.ParseKubeVersion(r.opts.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("render option KubeVersion %q: %w", r.opts.KubeVersion, err)
	}
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	inst := action.NewInstall(cfg)
	inst.DryRun = true
	inst.DryRunOption = "true"
	inst.ClientOnly = true
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = rel.name
	inst.Namespace = rel.namespace
	inst.KubeVersion = kv
	res, err := inst.RunWithContext(ctx, ch, rel.values)
	if err != nil {
		return nil, helmError(j, relDir, err)
	}
	var manifest bytes.Buffer
	manifest.WriteString(res.Manifest)
	for _, h := range res.Hooks {
		if isTestHook(h) {
			continue
		}
		fmt.Fprintf(&manifest, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	objs, err := decodeYAML(manifest.Bytes(), budget)
	if err != nil {
		return nil, &Error{File: relDir, Err: fmt.Errorf("the chart rendered invalid YAML: %w", err)}
	}
	return objs, nil
}

func isTestHook(h *release.Hook) bool {
	for _, e := range h.Events {
		if e == release.HookTest {
			return true
		}
	}
	return false
}

// templateFile finds the template a Helm error is about, as "chart/path".
var templateFile = regexp.MustCompile(`(?:template: |\(|parse error on )([^\s:()]+\.(?:yaml|yml|tpl|txt|json)):`)

// helmError names the chart file an error is about, relative to the repository.
func helmError(j *jail, relDir string, err error) error {
	msg := j.scrub(err.Error())
	file := relDir
	if m := templateFile.FindStringSubmatch(msg); m != nil {
		if _, inChart, ok := strings.Cut(m[1], "/"); ok {
			file = strings.TrimPrefix(relDir+"/"+inChart, "./")
		}
	}
	return &Error{File: file, Err: errors.New(msg)}
}

// loadChart reads the chart in dir through the jail (Helm's own loader
// would follow symlinks anywhere) and checks its vendored archives before
// Helm unpacks them.
func loadChart(j *jail, dir string) (*chart.Chart, error) {
	files, err := j.chartFiles(dir)
	if err != nil {
		return nil, err
	}
	if err := checkVendoredArchives(j, dir, files); err != nil {
		return nil, err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, &Error{File: j.rel(filepath.Join(dir, "Chart.yaml")), Err: errors.New(j.scrub(err.Error()))}
	}
	return ch, nil
}

// checkVendoredArchives checks the chart archives in a chart's charts/
// folders (which Helm's loader unpacks in memory) with
// source.CheckChartArchive.
func checkVendoredArchives(j *jail, dir string, files []*loader.BufferedFile) error {
	for _, f := range files {
		if !strings.HasSuffix(f.Name, ".tgz") || path.Base(path.Dir(f.Name)) != "charts" {
			continue
		}
		if err := source.CheckChartArchive(bytes.NewReader(f.Data)); err != nil {
			return &Error{File: j.rel(filepath.Join(dir, filepath.FromSlash(f.Name))), Err: err}
		}
	}
	return nil
}

// addDependencies loads the dependencies Chart.yaml lists that charts/ does
// not hold, like `helm dependency build`: file:// ones from the repository,
// http(s) ones from their chart repository (the version Chart.lock pins, else
// the newest matching the range).
func (r *Renderer) addDependencies(ctx context.Context, j *jail, dir string, ch *chart.Chart) error {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	locked := map[string]string{}
	if ch.Lock != nil {
		for _, d := range ch.Lock.Dependencies {
			locked[d.Name+"\x00"+d.Repository] = d.Version
		}
	}
	chartFile := j.rel(filepath.Join(dir, "Chart.yaml"))
	for i, dep := range ch.Metadata.Dependencies {
		if dep == nil || have[dep.Name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		field := fmt.Sprintf("dependencies[%d] %q", i, dep.Name)
		if err := checkDependencyName(dep.Name); err != nil {
			return &Error{File: chartFile, Err: fmt.Errorf("%s: %w", field, err)}
		}
		var sub *chart.Chart
		var err error
		switch repoURL := dep.Repository; {
		case repoURL == "":
			return &Error{File: chartFile, Err: fmt.Errorf("%s has no repository and is not in charts/; vendor it or give its repository URL", field)}
		case strings.HasPrefix(repoURL, "file://"):
			sub, err = r.localDependency(j, dir, strings.TrimPrefix(repoURL, "file://"))
			if err != nil {
				return err
			}
			if err := checkVersion(dep.Version, sub); err != nil {
				return &Error{File: chartFile, Err: fmt.Errorf("%s: %w", field, err)}
			}
		case strings.HasPrefix(repoURL, "http://") || strings.HasPrefix(repoURL, "https://"):
			version := dep.Version
			if v, ok := locked[dep.Name+"\x00"+repoURL]; ok {
				version = v
			}
			sub, err = r.remoteDependency(ctx, repoURL, dep.Name, version)
			if err != nil {
				// Not an *Error: a repository may be down for a while, and
				// such failures must not be cached as a verdict on the input.
				return fmt.Errorf("%s: %s: %w", chartFile, field, err)
			}
		default:
			return &Error{File: chartFile, Err: fmt.Errorf("%s: repository %q is not supported; use an http(s):// chart repository URL, a file:// path inside the repository, or vendor the chart into charts/", field, repoURL)}
		}
		ch.AddDependency(sub)
	}
	return nil
}

// checkVersion refuses a local dependency whose version is outside the range
// Chart.yaml asks for, as `helm dependency build` does.
func checkVersion(constraint string, ch *chart.Chart) error {
	if constraint == "" {
		return nil
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return fmt.Errorf("version %q is not a semver range: %w", constraint, err)
	}
	v, err := semver.NewVersion(ch.Metadata.Version)
	if err != nil {
		return fmt.Errorf("chart %s has version %q, not semver: %w", ch.Name(), ch.Metadata.Version, err)
	}
	if !c.Check(v) {
		return fmt.Errorf("chart %s is version %s, outside the range %q", ch.Name(), v, constraint)
	}
	return nil
}

func (r *Renderer) localDependency(j *jail, chartDir, path string) (*chart.Chart, error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(chartDir, p)
	}
	real, err := j.resolve(p)
	if err != nil {
		return nil, err
	}
	return loadChart(j, real)
}

// remoteDependency fetches a chart from a chart repository, keeping the
// archive in the download cache. Archives are checked against the digest the
// repository index gives.
func (r *Renderer) remoteDependency(ctx context.Context, repoURL, name, version string) (*chart.Chart, error) {
	// An exact version (pinned by Chart.lock) is served from the download
	// cache without asking the repository.
	if v, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err == nil {
		if ch := r.downloads.chart(ctx, "", repoURL, name, v.String()); ch != nil {
			return ch, nil
		}
	}
	idx, err := r.repoIndex(ctx, repoURL)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		return nil, fmt.Errorf("no version matching %q in %s: %w", version, repoURL, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%s %s has no download URL in %s", name, cv.Version, repoURL)
	}
	u, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	if ch := r.downloads.chart(ctx, cv.Digest, repoURL, name, cv.Version); ch != nil {
		return ch, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := r.fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	if !digestOK(data, cv.Digest) {
		return nil, fmt.Errorf("%s: digest does not match the repository index", u)
	}
	if err := source.CheckChartArchive(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if err := r.downloads.put(data, repoURL, name, cv.Version); err != nil {
		r.opts.Logger.Error(err, "keep chart archive", "url", u)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", u, err)
	}
	return ch, nil
}

func (r *Renderer) repoIndex(ctx context.Context, repoURL string) (*repo.IndexFile, error) {
	u := strings.TrimSuffix(repoURL, "/") + "/index.yaml"
	data, err := r.fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	idx := &repo.IndexFile{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("parse %s: %w", u, err)
	}
	if len(idx.Entries) == 0 && idx.APIVersion == "" {
		return nil, fmt.Errorf("%s is not a chart repository index", u)
	}
	idx.SortEntries()
	return idx, nil
}

// fetch downloads a URL, reading at most MaxDownloadBytes of it: a
// repository that answers with an endless body costs no more than that.
func (r *Renderer) fetch(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: the server answered %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.opts.MaxDownloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	if int64(len(data)) > r.opts.MaxDownloadBytes {
		return nil, fmt.Errorf("download %s: more than the %d-byte limit", u, r.opts.MaxDownloadBytes)
	}
	return data, nil
}

func digestOK(data []byte, digest string) bool {
	if digest == "" {
		return true
	}
	sum := sha256.Sum256(data)
	return strings.EqualFold(strings.TrimPrefix(digest, "sha256:"), hex.EncodeToString(sum[:]))
}

// maxReleaseName is Helm's limit on release names.
const maxReleaseName = 53

// releaseName is the packageAlias when set, else the Subscription's name,
// suffixed with the chart's name when the path holds several charts. Names
// over Helm's limit are shortened with a hash.
func releaseName(subName, alias, chartName string, charts int) string {
	name := alias
	if name == "" {
		name = subName
		if charts > 1 {
			name = subName + "-" + chartName
		}
	}
	if len(name) > maxReleaseName {
		sum := sha256.Sum256([]byte(name))
		name = strings.TrimRight(name[:maxReleaseName-9], "-.") + "-" + hex.EncodeToString(sum[:4])
	}
	return name
}
