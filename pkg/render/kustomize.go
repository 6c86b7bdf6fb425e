package render

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizeBuild builds the Kustomize root dir in-process, with the options
// the kustomize CLI uses by default (legacy resource order, files restricted
// to each kustomization's root, builtin plugins only). helmCharts are
// inflated with the renderer's own Helm (see inflateHelmCharts). overlay
// replaces the content of kustomization files (OCM packageOverrides) and
// holds inflated charts. Remote bases and files are refused: a render uses
// the revision's files only.
func (r *Renderer) kustomizeBuild(ctx context.Context, rn *renderRun, dir string, overlay map[string][]byte) ([]*unstructured.Unstructured, error) {
	j := rn.j
	kfile := findKustomization(dir)
	tree, err := kustomizeTree(j, dir, overlay)
	if err != nil {
		return nil, err
	}
	if err := r.inflateHelmCharts(ctx, rn, tree, overlay); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified // the CLI's default: legacy order unless sortOptions says otherwise
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()

	// kyaml keeps the OpenAPI schema a kustomization may select in package
	// state; builds are serialized so one build's schema cannot leak into another.
	r.kustomizeMu.Lock()
	m, err := krusty.MakeKustomizer(opts).Run(&jailFS{FileSystem: filesys.MakeFsOnDisk(), jail: j, overlay: overlay}, dir)
	r.kustomizeMu.Unlock()
	if err != nil {
		var re *Error
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, &Error{File: j.rel(kfile), Err: errors.New(j.scrub(err.Error()))}
	}
	return kustomizeObjects(j, kfile, m, rn.budget)
}

// kustomizeObjects converts a build's resources, charging them to budget.
func kustomizeObjects(j *jail, kfile string, m resmap.ResMap, budget *outputBudget) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, res := range m.Resources() {
		b, err := res.MarshalJSON()
		if err != nil {
			return nil, &Error{File: j.rel(kfile), Err: fmt.Errorf("encode %s: %w", res.CurId(), err)}
		}
		if err := budget.charge(int64(len(b))); err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, &Error{File: j.rel(kfile), Err: fmt.Errorf("decode %s: %w", res.CurId(), err)}
		}
		if err := checkObject(u); err != nil {
			return nil, &Error{File: j.rel(kfile), Err: err}
		}
		out = append(out, u)
	}
	return out, nil
}

func findKustomization(dir string) string {
	for _, k := range kustomizationFiles {
		p := filepath.Join(dir, k)
		if exists(p) {
			return p
		}
	}
	return filepath.Join(dir, kustomizationFiles[0])
}

// kustomizationOverlay merges OCM kustomization overrides into dir's
// kustomization file: each override's top-level fields replace the file's.
func kustomizationOverlay(j *jail, dir string, overrides []map[string]any) (string, []byte, error) {
	kfile := findKustomization(dir)
	data, err := j.readFile(kfile)
	if err != nil {
		return "", nil, err
	}
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		return "", nil, &Error{File: j.rel(kfile), Err: fmt.Errorf("parse kustomization to apply packageOverrides: %w", err)}
	}
	if k == nil {
		k = map[string]any{}
	}
	for _, o := range overrides {
		for key, v := range o {
			k[key] = v
		}
	}
	merged, err := yaml.Marshal(k)
	if err != nil {
		return "", nil, &Error{File: j.rel(kfile), Err: err}
	}
	real, err := j.resolve(kfile)
	if err != nil {
		return "", nil, err
	}
	return real, merged, nil
}

// jailFS is the file system kustomize reads through: reads stay inside the
// artifact and under the size limit, overridden kustomization files are
// served from memory, and nothing can be written.
type jailFS struct {
	filesys.FileSystem
	jail    *jail
	overlay map[string][]byte
}

var errReadOnly = errors.New("the artifact is read-only")

func (f *jailFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (f *jailFS) Mkdir(string) error                  { return errReadOnly }
func (f *jailFS) MkdirAll(string) error               { return errReadOnly }
func (f *jailFS) RemoveAll(string) error              { return errReadOnly }
func (f *jailFS) WriteFile(string, []byte) error      { return errReadOnly }

func (f *jailFS) Open(p string) (filesys.File, error) {
	real, err := f.jail.resolve(p)
	if err != nil {
		return nil, err
	}
	return f.jail.open(real)
}

func (f *jailFS) ReadFile(p string) ([]byte, error) {
	real, err := f.jail.resolve(p)
	if err != nil {
		return nil, err
	}
	if data, ok := f.overlay[real]; ok {
		return data, nil
	}
	return f.jail.readResolved(real)
}

func (f *jailFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	real, err := f.jail.resolve(p)
	if err != nil {
		return "", "", err
	}
	if f.virtual(real) {
		return filesys.ConfirmedDir(filepath.Dir(real)), filepath.Base(real), nil
	}
	return f.FileSystem.CleanedAbs(p)
}

// virtual reports whether real is a file only the overlay holds.
func (f *jailFS) virtual(real string) bool {
	_, ok := f.overlay[real]
	return ok && !exists(real)
}

func (f *jailFS) Exists(p string) bool {
	real, err := f.jail.resolve(p)
	if err != nil {
		return false
	}
	return f.virtual(real) || f.FileSystem.Exists(p)
}

func (f *jailFS) IsDir(p string) bool {
	if _, err := f.jail.resolve(p); err != nil {
		return false
	}
	return f.FileSystem.IsDir(p)
}

func (f *jailFS) ReadDir(p string) ([]string, error) {
	if _, err := f.jail.resolve(p); err != nil {
		return nil, err
	}
	return f.FileSystem.ReadDir(p)
}

func (f *jailFS) Glob(pattern string) ([]string, error) {
	matches, err := f.FileSystem.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := matches[:0]
	for _, m := range matches {
		if _, err := f.jail.resolve(m); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *jailFS) Walk(p string, fn filepath.WalkFunc) error {
	if _, err := f.jail.resolve(p); err != nil {
		return err
	}
	return f.FileSystem.Walk(p, fn)
}
