package render

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// renderRun is one base render: the artifact's jail, the Subscription, the
// cluster values, the output budget and the way to remote charts.
type renderRun struct {
	j      *jail
	sub    *appsv1.Subscription
	values map[string]any // from clusterValuesTemplate and Cluster.Values
	charts int            // Helm charts under the path (for release names)
	budget *outputBudget
	remote *remote
}

// renderBase renders every unit under the Subscription's path and orders the
// result for apply. It returns the objects' JSON size too.
func (r *Renderer) renderBase(ctx context.Context, art *source.Artifact, sub *appsv1.Subscription, vals map[string]any, access Access) ([]*unstructured.Unstructured, int64, error) {
	j, err := newJail(art.Dir, r.opts.MaxFileBytes)
	if err != nil {
		return nil, 0, err
	}
	defer j.close()
	root, err := resolvePath(j, source.SubscriptionPath(sub))
	if err != nil {
		return nil, 0, err
	}
	units, err := detect(j, root)
	if err != nil {
		return nil, 0, err
	}
	rn := &renderRun{j: j, sub: sub, values: vals, remote: r.remoteFor(access),
		budget: &outputBudget{limit: r.opts.MaxOutputBytes, global: &r.inflight, globalMax: r.opts.MaxRenderBytes}}
	defer rn.budget.release()
	defer rn.remote.close()
	for _, u := range units {
		if u.kind == unitHelm {
			rn.charts++
		}
	}
	objs, err := r.renderUnits(ctx, rn, units)
	if err != nil {
		return nil, 0, err
	}
	objs = defaultNamespace(objs, sub.Namespace)
	sortForApply(objs)
	return objs, rn.budget.used, nil
}

// renderUnits renders units in order, charging their objects to the budget.
func (r *Renderer) renderUnits(ctx context.Context, rn *renderRun, units []unit) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	var origins []string
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		got, err := r.renderUnit(ctx, rn, u)
		if r.opts.Observer != nil {
			r.opts.Observer.ObserveRender(u.kind.String(), time.Since(start), err)
		}
		if err != nil {
			return nil, budgetError(err, rn.j.rel(u.path))
		}
		objs = append(objs, got...)
		for range got {
			origins = append(origins, rn.j.rel(u.path))
		}
	}
	if err := checkDuplicates(objs, origins); err != nil {
		return nil, err
	}
	return objs, nil
}

// budgetError is err, or the budget's verdict when that is what failed: an
// input error at the unit that crossed the limit, or the transient error of
// a busy renderer.
func budgetError(err error, unit string) error {
	if over := (*overLimitError)(nil); errors.As(err, &over) {
		return &Error{File: unit, Err: over}
	}
	if busy := (*busyError)(nil); errors.As(err, &busy) {
		return busy
	}
	return err
}

func (r *Renderer) renderUnit(ctx context.Context, rn *renderRun, u unit) ([]*unstructured.Unstructured, error) {
	switch u.kind {
	case unitKustomize:
		return r.renderKustomize(ctx, rn, u.path)
	case unitHelm:
		return r.renderChart(ctx, rn, u.path)
	}
	return renderPlain(rn, u.path)
}

func (r *Renderer) renderKustomize(ctx context.Context, rn *renderRun, dir string) ([]*unstructured.Unstructured, error) {
	ovs, err := kustomizeOverrides(rn.sub, rn.j.rel(dir))
	if err != nil {
		return nil, err
	}
	overlay := map[string][]byte{}
	if len(ovs) > 0 {
		path, data, err := kustomizationOverlay(rn.j, dir, ovs)
		if err != nil {
			return nil, err
		}
		overlay[path] = data
	}
	return r.kustomizeBuild(ctx, rn, dir, overlay)
}

func (r *Renderer) renderChart(ctx context.Context, rn *renderRun, dir string) ([]*unstructured.Unstructured, error) {
	ch, err := loadChart(rn.j, dir)
	if err != nil {
		return nil, err
	}
	vals, alias, err := helmValues(rn.sub, ch.Name())
	if err != nil {
		return nil, err
	}
	if vals == nil {
		vals = map[string]any{}
	}
	if len(rn.values) > 0 {
		vals = mergeValues(vals, rn.values)
	}
	return r.helmTemplate(ctx, rn, dir, ch, helmRelease{
		name:      releaseName(rn.sub.Name, alias, ch.Name(), rn.charts),
		namespace: rn.sub.Namespace,
		values:    vals,
		// `helm template --include-crds --skip-tests`
		includeCRDs: true,
		skipTests:   true,
	}, rn.budget)
}

func renderPlain(rn *renderRun, path string) ([]*unstructured.Unstructured, error) {
	data, err := rn.j.readFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := decodeYAML(data, rn.budget)
	if le := (*LineError)(nil); errors.As(err, &le) {
		return nil, &Error{File: rn.j.rel(path), Line: le.Line, Err: le.Err}
	}
	if err != nil {
		return nil, &Error{File: rn.j.rel(path), Err: err}
	}
	return objs, nil
}
