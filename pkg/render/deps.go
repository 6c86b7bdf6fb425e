package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// vendorHint is what to do when a dependency cannot be fetched.
const vendorHint = "vendor it into charts/ (helm dependency build) and commit it"

// dependency is one Chart.yaml dependency that charts/ does not hold.
type dependency struct {
	field   string // `dependencies[0] "redis"`, for messages
	name    string
	repo    string
	version string // the range, or the version Chart.lock pins
}

// rangeError: no version of a dependency is in its range. remote tells a
// repository's answer (which may change) from a chart in the artifact.
type rangeError struct {
	msg    string
	remote bool
}

func (e *rangeError) Error() string { return e.msg }

// addDependencies loads the dependencies Chart.yaml lists that charts/ does
// not hold, like `helm dependency build`: file:// ones from the repository,
// http(s) ones from their chart repository and oci:// ones from their
// registry (the version Chart.lock pins, else the newest in the range).
// Every dependency out of its range is named, not just the first.
func (r *Renderer) addDependencies(ctx context.Context, j *jail, dir string, ch *chart.Chart, rm *remote) error {
	chartFile := j.rel(filepath.Join(dir, "Chart.yaml"))
	deps, err := missingDependencies(ch)
	if err != nil {
		return &Error{File: chartFile, Err: err}
	}
	var outOfRange []string
	remoteRange := false
	for _, d := range deps {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub, err := r.dependency(ctx, j, dir, d, rm)
		var re *rangeError
		switch {
		case errors.As(err, &re):
			outOfRange = append(outOfRange, d.field+": "+re.msg)
			remoteRange = remoteRange || re.remote
			continue
		case err != nil:
			return inChart(err, chartFile, d.field)
		}
		ch.AddDependency(sub)
	}
	return rangeFailure(chartFile, outOfRange, remoteRange)
}

// inChart puts a dependency's error in Chart.yaml. Input errors stay
// *Error; a repository's failure stays transient (a repository may be down
// for a while and must not be cached as a verdict on the input).
func inChart(err error, chartFile, field string) error {
	var re *Error
	if errors.As(err, &re) {
		if re.File == "" {
			return &Error{File: chartFile, Err: fmt.Errorf("%s: %w", field, re.Err)}
		}
		return err
	}
	if strings.Contains(err.Error(), "vendor this chart") {
		return fmt.Errorf("%s: %s: %w", chartFile, field, err)
	}
	return fmt.Errorf("%s: %s: %w; or %s", chartFile, field, err, vendorHint)
}

func rangeFailure(chartFile string, outOfRange []string, remote bool) error {
	if len(outOfRange) == 0 {
		return nil
	}
	err := fmt.Errorf("%d %s out of range: %s", len(outOfRange), plural(len(outOfRange), "dependency is", "dependencies are"), strings.Join(outOfRange, "; "))
	if remote {
		return fmt.Errorf("%s: %w", chartFile, err)
	}
	return &Error{File: chartFile, Err: err}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// missingDependencies lists the dependencies charts/ does not hold, with
// the version Chart.lock pins where it does, refusing names that are not
// plain chart names.
func missingDependencies(ch *chart.Chart) ([]dependency, error) {
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
	var out []dependency
	for i, dep := range ch.Metadata.Dependencies {
		if dep == nil || have[dep.Name] {
			continue
		}
		field := fmt.Sprintf("dependencies[%d] %q", i, dep.Name)
		if err := checkDependencyName(dep.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		d := dependency{field: field, name: dep.Name, repo: dep.Repository, version: dep.Version}
		if v, ok := locked[dep.Name+"\x00"+dep.Repository]; ok {
			d.version = v
		}
		out = append(out, d)
	}
	return out, nil
}

// dependency loads one missing dependency from where its repository says.
func (r *Renderer) dependency(ctx context.Context, j *jail, dir string, d dependency, rm *remote) (*chart.Chart, error) {
	scheme, _, _ := strings.Cut(d.repo, "://")
	switch {
	case d.repo == "":
		return nil, &Error{Err: fmt.Errorf("not in charts/ and no repository given; %s, or give its repository URL", vendorHint)}
	case scheme == "file" && strings.Contains(d.repo, "://"):
		return r.localDependency(j, dir, strings.TrimPrefix(d.repo, "file://"), d.version)
	case scheme == "http" || scheme == "https":
		return r.remoteDependency(ctx, rm, d)
	case scheme == "oci":
		return r.ociDependency(ctx, rm, d)
	}
	return nil, &Error{Err: fmt.Errorf("repository %q is not supported; use an http(s):// chart repository, an oci:// registry or a file:// path inside the repository, or %s", d.repo, vendorHint)}
}

// localDependency loads a file:// dependency from the artifact.
func (r *Renderer) localDependency(j *jail, chartDir, path, constraint string) (*chart.Chart, error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(chartDir, p)
	}
	real, err := j.resolve(p)
	if err != nil {
		return nil, err
	}
	ch, err := loadChart(j, real)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Err: fmt.Errorf("repository %q: %s is not in the repository; fix the path (relative to %s) or %s",
			"file://"+path, j.rel(p), j.rel(chartDir), vendorHint)}
	}
	if err != nil {
		return nil, err
	}
	if err := checkVersion(constraint, ch.Metadata.Version); err != nil {
		return nil, err
	}
	return ch, nil
}

// checkVersion refuses a version outside the range, as `helm dependency
// build` does (a *rangeError), and ranges or versions that are not semver.
func checkVersion(constraint, version string) error {
	if constraint == "" {
		return nil
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return &Error{Err: fmt.Errorf("version %q is not a semver range: %w", constraint, err)}
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return &Error{Err: fmt.Errorf("the chart's version %q is not semver: %w", version, err)}
	}
	if !c.Check(v) {
		return &rangeError{msg: fmt.Sprintf("the chart is version %s, outside the range %q", v, constraint)}
	}
	return nil
}

// remoteDependency fetches a chart from a chart repository, keeping the
// archive in the download cache. Archives are checked against the digest
// the repository index gives.
func (r *Renderer) remoteDependency(ctx context.Context, rm *remote, d dependency) (*chart.Chart, error) {
	base, err := url.Parse(d.repo)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("repository %q: %w", source.SanitizeURL(d.repo), err)}
	}
	scope := rm.scope(base)
	// An exact version (pinned by Chart.lock) is served from the download
	// cache without asking the repository.
	if v, err := semver.StrictNewVersion(strings.TrimPrefix(d.version, "v")); err == nil {
		if ch := r.downloads.chart(ctx, "", scope, d.repo, d.name, v.String()); ch != nil {
			return ch, nil
		}
	}
	idx, err := repoIndex(ctx, rm, d.repo)
	if err != nil {
		return nil, err
	}
	cv, err := indexVersion(idx, d)
	if err != nil {
		return nil, err
	}
	u, err := repo.ResolveReferenceURL(d.repo, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	if ch := r.downloads.chart(ctx, cv.Digest, scope, d.repo, d.name, cv.Version); ch != nil {
		return ch, nil
	}
	data, err := rm.get(ctx, u)
	if err != nil {
		return nil, err
	}
	if !digestOK(data, cv.Digest) {
		return nil, fmt.Errorf("%s: digest does not match the repository index", source.SanitizeURL(u))
	}
	return r.keep(data, u, scope, d.repo, d.name, cv.Version)
}

// keep checks a downloaded archive, stores it in the download cache under
// key and loads it.
func (r *Renderer) keep(data []byte, from string, key ...string) (*chart.Chart, error) {
	shown := source.SanitizeURL(from)
	if err := source.CheckChartArchive(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	if err := r.downloads.put(data, key...); err != nil {
		r.opts.Logger.Error(err, "keep chart archive", "url", shown)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", shown, err)
	}
	return ch, nil
}

// indexVersion picks d's version from a repository index.
func indexVersion(idx *repo.IndexFile, d dependency) (*repo.ChartVersion, error) {
	versions := idx.Entries[d.name]
	if len(versions) == 0 {
		return nil, fmt.Errorf("%s holds no chart named %q", source.SanitizeURL(d.repo), d.name)
	}
	cv, err := idx.Get(d.name, d.version)
	if err != nil {
		return nil, &rangeError{remote: true, msg: fmt.Sprintf("%s has no version in the range %q (newest: %s)", source.SanitizeURL(d.repo), d.version, newest(versions))}
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%s %s has no download URL in %s", d.name, cv.Version, source.SanitizeURL(d.repo))
	}
	return cv, nil
}

// newest lists up to five versions, newest first (the index is sorted).
func newest(versions repo.ChartVersions) string {
	var out []string
	for i, v := range versions {
		if i == 5 {
			out = append(out, "…")
			break
		}
		out = append(out, v.Version)
	}
	return strings.Join(out, ", ")
}

func repoIndex(ctx context.Context, rm *remote, repoURL string) (*repo.IndexFile, error) {
	u := strings.TrimSuffix(repoURL, "/") + "/index.yaml"
	data, err := rm.get(ctx, u)
	if err != nil {
		return nil, err
	}
	idx := &repo.IndexFile{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("%s is not a chart repository index (it does not parse)", source.SanitizeURL(u))
	}
	if len(idx.Entries) == 0 && idx.APIVersion == "" {
		return nil, fmt.Errorf("%s is not a chart repository index", source.SanitizeURL(u))
	}
	idx.SortEntries()
	return idx, nil
}
