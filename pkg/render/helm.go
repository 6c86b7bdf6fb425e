package render

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// helmRelease is what a chart is rendered with, and how.
type helmRelease struct {
	name         string
	namespace    string
	values       map[string]any
	nameTemplate string
	// kubeVersion overrides Options.KubeVersion; apiVersions are added to
	// Helm's built-in ones.
	kubeVersion string
	apiVersions []string
	includeCRDs bool // CRDs from crds/ first
	skipTests   bool // leave out test hooks
	skipHooks   bool // leave out every hook
}

// helmTemplate renders the chart in dir client-side, as `helm template`
// does with the release's options: templates and hooks, no cluster access
// (lookup returns nothing), and the Capabilities fixed by the Kubernetes
// version (Options.KubeVersion unless the release says) and Helm's built-in
// API versions. Missing dependencies are fetched from the repositories
// Chart.yaml names. Objects are charged to budget.
func (r *Renderer) helmTemplate(ctx context.Context, rn *renderRun, dir string, ch *chart.Chart, rel helmRelease, budget *outputBudget) ([]*unstructured.Unstructured, error) {
	j := rn.j
	relDir := j.rel(dir)
	if err := r.addDependencies(ctx, j, dir, ch, rn.remote); err != nil {
		return nil, err
	}
	inst, err := r.helmInstall(rel)
	if err != nil {
		return nil, &Error{File: relDir, Err: err}
	}
	res, err := inst.RunWithContext(ctx, ch, rel.values)
	if err != nil {
		return nil, helmError(j, relDir, err)
	}
	var manifest bytes.Buffer
	manifest.WriteString(res.Manifest)
	for _, h := range res.Hooks {
		if rel.skipHooks || (rel.skipTests && isTestHook(h)) {
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

// helmInstall is Helm's client-only dry run for rel.
func (r *Renderer) helmInstall(rel helmRelease) (*action.Install, error) {
	version := cmp.Or(rel.kubeVersion, r.opts.KubeVersion)
	kv, err := chartutil.ParseKubeVersion(version)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes version %q: %w", version, err)
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun = true
	inst.DryRunOption = "true"
	inst.ClientOnly = true
	inst.Replace = true
	inst.IncludeCRDs = rel.includeCRDs
	inst.ReleaseName = rel.name
	inst.NameTemplate = rel.nameTemplate
	inst.Namespace = rel.namespace
	inst.KubeVersion = kv
	inst.APIVersions = chartutil.VersionSet(rel.apiVersions)
	return inst, nil
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
