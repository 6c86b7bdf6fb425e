package render

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
	"sigs.k8s.io/yaml"
)

// inflatedCharts is the file, beside each kustomization with helmCharts,
// that holds the charts' objects; it exists only in the build's overlay.
const inflatedCharts = ".ocm-gitops-helm-charts.yaml"

// inflateHelmCharts renders the helmCharts of every kustomization in tree
// with the renderer's own Helm, as `kustomize build --enable-helm` does with
// the helm CLI: the chart from helmGlobals.chartHome (default charts/) when
// it is vendored there, else pulled from its repo (http(s) or oci, with the
// same egress, credentials, bounds and cache as chart dependencies); values
// from valuesFile (default the chart's values.yaml) and valuesInline as
// valuesMerge says, then additionalValuesFiles. Each kustomization's
// overlay then lists the objects as a resource instead of helmCharts, marked
// helm-generated as kustomize marks them (its namespace transformer leaves
// them alone).
func (r *Renderer) inflateHelmCharts(ctx context.Context, rn *renderRun, tree []*kustomization, overlay map[string][]byte) error {
	for _, kz := range tree {
		if len(kz.k.HelmChartInflationGenerator) > 0 {
			return &Error{File: rn.j.rel(kz.file), Err: errors.New("helmChartInflationGenerator is deprecated; list the charts under helmCharts")}
		}
		if len(kz.k.HelmCharts) == 0 {
			continue
		}
		var out bytes.Buffer
		for i, hc := range kz.k.HelmCharts {
			objs, err := r.inflateChart(ctx, rn, kz, hc)
			if err != nil {
				return chartError(rn.j, kz, i, hc, err)
			}
			if err := writeHelmGenerated(&out, objs); err != nil {
				return &Error{File: rn.j.rel(kz.file), Err: err}
			}
		}
		if err := listInflated(rn.j, kz, overlay, out.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// chartError puts an inflation error in the kustomization, naming the chart.
func chartError(j *jail, kz *kustomization, i int, hc types.HelmChart, err error) error {
	field := fmt.Sprintf("helmCharts[%d] %q", i, hc.Name)
	var re *Error
	if errors.As(err, &re) && re.File != "" && re.File != j.rel(kz.file) {
		return err // about a file of the chart
	}
	if errors.As(err, &re) {
		return &Error{File: j.rel(kz.file), Err: fmt.Errorf("%s: %w", field, re.Err)}
	}
	return fmt.Errorf("%s: %s: %w", j.rel(kz.file), field, err) // a repository's failure: transient
}

// inflateChart renders one entry of helmCharts.
func (r *Renderer) inflateChart(ctx context.Context, rn *renderRun, kz *kustomization, hc types.HelmChart) ([]*unstructured.Unstructured, error) {
	if err := checkDependencyName(hc.Name); err != nil {
		return nil, &Error{Err: err}
	}
	dir, ch, err := r.helmChart(ctx, rn, kz, hc)
	if err != nil {
		return nil, err
	}
	vals, err := chartValues(rn.j, kz, hc, dir, ch)
	if err != nil {
		return nil, err
	}
	rel := helmRelease{
		name:         cmp.Or(hc.ReleaseName, "release-name"), // helm template's name when none is given
		namespace:    cmp.Or(hc.Namespace, "default"),
		values:       vals,
		nameTemplate: hc.NameTemplate,
		kubeVersion:  hc.KubeVersion,
		apiVersions:  hc.ApiVersions,
		includeCRDs:  hc.IncludeCRDs,
		skipTests:    hc.SkipTests,
		skipHooks:    hc.SkipHooks,
	}
	// Counted again as kustomize's output: here only bounded.
	return r.helmTemplate(ctx, rn, cmp.Or(dir, kz.dir), ch, rel, &outputBudget{limit: r.opts.MaxOutputBytes})
}

// helmChart finds the chart of hc: vendored under the chart home (returned
// with its folder), else pulled from its repo (folder "").
func (r *Renderer) helmChart(ctx context.Context, rn *renderRun, kz *kustomization, hc types.HelmChart) (string, *chart.Chart, error) {
	home, err := chartHome(kz, hc)
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(home, hc.Name)
	if real, err := rn.j.resolve(dir); err == nil && isDir(real) {
		ch, err := loadChart(rn.j, real)
		return real, ch, err
	}
	if hc.Repo == "" {
		return "", nil, &Error{Err: fmt.Errorf("the chart is not at %s and no repo is given; vendor it there (helm pull --untar) or give its repo", rn.j.rel(dir))}
	}
	ch, err := r.dependency(ctx, rn.j, kz.dir, dependency{name: hc.Name, repo: hc.Repo, version: hc.Version}, rn.remote)
	var re *rangeError
	if errors.As(err, &re) {
		err = fmt.Errorf("%s", re.msg)
	}
	return "", ch, err
}

// chartHome is where kustomize looks for the chart: helmGlobals.chartHome
// (default charts/) in the kustomization's folder, in <name>-<version>/
// when both repo and version are given.
func chartHome(kz *kustomization, hc types.HelmChart) (string, error) {
	home := types.HelmDefaultHome
	if kz.k.HelmGlobals != nil && kz.k.HelmGlobals.ChartHome != "" {
		home = kz.k.HelmGlobals.ChartHome
	}
	if filepath.IsAbs(home) {
		return "", &Error{Err: fmt.Errorf("helmGlobals.chartHome %q must be a path inside the repository", home)}
	}
	home = filepath.Join(kz.dir, home)
	if hc.Version != "" && hc.Repo != "" {
		home = filepath.Join(home, hc.Name+"-"+hc.Version)
	}
	return home, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// chartValues are the values kustomize hands helm: the values file (or,
// with valuesInline, the two merged as valuesMerge says, or valuesInline
// alone for "replace"), then each additional values file over them.
func chartValues(j *jail, kz *kustomization, hc types.HelmChart, dir string, ch *chart.Chart) (map[string]any, error) {
	base, err := valuesFileBytes(j, kz, hc, dir, ch)
	if err != nil {
		return nil, err
	}
	vals, err := mergeInline(base, hc)
	if err != nil {
		return nil, err
	}
	for i, f := range hc.AdditionalValuesFiles {
		data, err := j.readFile(filepath.Join(kz.dir, f))
		if err != nil {
			return nil, err
		}
		more := map[string]any{}
		if err := yaml.Unmarshal(data, &more); err != nil {
			return nil, &Error{Err: fmt.Errorf("additionalValuesFiles[%d] %s: %w", i, f, err)}
		}
		vals = mergeValues(vals, more)
	}
	return vals, nil
}

// valuesFileBytes reads valuesFile, or the chart's values.yaml.
func valuesFileBytes(j *jail, kz *kustomization, hc types.HelmChart, dir string, ch *chart.Chart) ([]byte, error) {
	if hc.ValuesFile != "" {
		return j.readFile(filepath.Join(kz.dir, hc.ValuesFile))
	}
	if dir != "" {
		return j.readFile(filepath.Join(dir, "values.yaml"))
	}
	for _, f := range ch.Raw {
		if f.Name == "values.yaml" {
			return f.Data, nil
		}
	}
	return nil, nil
}

// mergeInline merges valuesInline into the values file's content with
// kustomize's own merge (valuesMerge: override, the default, lets inline
// values win; merge lets the file's win; replace drops the file).
func mergeInline(file []byte, hc types.HelmChart) (map[string]any, error) {
	vals := map[string]any{}
	if len(hc.ValuesInline) == 0 {
		err := yaml.Unmarshal(file, &vals)
		return vals, wrapValues("valuesFile", err)
	}
	if len(bytes.TrimSpace(file)) == 0 {
		file = []byte("{}")
	}
	mode := cmp.Or(hc.ValuesMerge, "override")
	if mode == "replace" {
		return hc.ValuesInline, nil
	}
	fileNode, err := kyaml.Parse(string(file))
	if err != nil {
		return nil, wrapValues("valuesFile", err)
	}
	inline, err := kyaml.FromMap(hc.ValuesInline)
	if err != nil {
		return nil, wrapValues("valuesInline", err)
	}
	var merged *kyaml.RNode
	switch mode {
	case "override":
		merged, err = merge2.Merge(inline, fileNode.Copy(), kyaml.MergeOptions{})
	case "merge":
		merged, err = merge2.Merge(fileNode, inline.Copy(), kyaml.MergeOptions{})
	default:
		return nil, &Error{Err: fmt.Errorf("valuesMerge %q: use override, merge or replace", hc.ValuesMerge)}
	}
	if err != nil {
		return nil, wrapValues("valuesInline", err)
	}
	m, err := merged.Map()
	return m, wrapValues("valuesInline", err)
}

func wrapValues(field string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: fmt.Errorf("%s: %w", field, err)}
}

// writeHelmGenerated appends objs to a YAML stream, marked as kustomize
// marks what Helm generated.
func writeHelmGenerated(out *bytes.Buffer, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		o = o.DeepCopy()
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[konfig.HelmGeneratedAnnotation] = "true"
		o.SetAnnotations(a)
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return nil
}

// listInflated puts the inflated objects beside kz and makes kz's overlay
// list them as a resource instead of helmCharts.
func listInflated(j *jail, kz *kustomization, overlay map[string][]byte, objs []byte) error {
	data, ok := overlay[kz.file]
	if !ok {
		var err error
		if data, err = j.readFile(kz.file); err != nil {
			return err
		}
	}
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		return &Error{File: j.rel(kz.file), Err: fmt.Errorf("invalid kustomization: %w", err)}
	}
	delete(k, "helmCharts")
	delete(k, "helmGlobals")
	resources, _ := k["resources"].([]any)
	k["resources"] = append(resources, inflatedCharts)
	merged, err := yaml.Marshal(k)
	if err != nil {
		return &Error{File: j.rel(kz.file), Err: err}
	}
	overlay[kz.file] = merged
	overlay[filepath.Join(kz.dir, inflatedCharts)] = objs
	return nil
}
