package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
)

// kustomization is one kustomization file reachable from a Kustomize root.
type kustomization struct {
	dir  string // resolved folder
	file string // resolved path of the file
	k    *types.Kustomization
}

// kref is a path a kustomization refers to, and the field it is in.
type kref struct {
	field string
	path  string
	// descend: the path may be a folder holding a kustomization to walk.
	descend bool
}

// remoteRef matches what kustomize would fetch from the network: URLs, SCP
// style git addresses (user@host:path) and github.com shorthands.
var remoteRef = regexp.MustCompile(`(?i)^(git::)?([a-z][a-z0-9+.-]*://|[a-z][a-z0-9-]*@|github\.com[/:])`)

// kustomizeTree parses the kustomizations reachable from dir, root first,
// and refuses references kustomize would fetch from the network and local
// ones that leave the artifact. overlay holds kustomization files' content
// by resolved path where it replaces the file's.
func kustomizeTree(j *jail, dir string, overlay map[string][]byte) ([]*kustomization, error) {
	w := &treeWalk{j: j, overlay: overlay, seen: map[string]bool{}}
	err := w.visit(dir)
	return w.found, err
}

type treeWalk struct {
	j       *jail
	overlay map[string][]byte
	seen    map[string]bool
	found   []*kustomization
}

func (w *treeWalk) visit(dir string) error {
	real, err := w.j.resolve(dir)
	if err != nil || w.seen[real] {
		return err
	}
	w.seen[real] = true
	kz, err := w.parse(real)
	if err != nil {
		return err
	}
	w.found = append(w.found, kz)
	for _, ref := range kustomizationRefs(kz.k) {
		target, err := w.check(kz, ref)
		if err != nil {
			return err
		}
		if st, err := os.Stat(target); ref.descend && err == nil && st.IsDir() {
			if err := w.visit(target); err != nil {
				return err
			}
		}
	}
	return nil
}

// parse reads the kustomization in dir as kustomize does (unknown fields
// refused).
func (w *treeWalk) parse(dir string) (*kustomization, error) {
	kfile := findKustomization(dir)
	data, ok := w.overlay[kfile]
	if !ok {
		var err error
		if data, err = w.j.readFile(kfile); err != nil {
			return nil, err
		}
	}
	k := &types.Kustomization{}
	if err := k.Unmarshal(data); err != nil {
		msg := strings.TrimPrefix(w.j.scrub(err.Error()), "invalid Kustomization: ")
		return nil, &Error{File: w.j.rel(kfile), Err: errors.New("invalid kustomization: " + msg)}
	}
	return &kustomization{dir: dir, file: kfile, k: k}, nil
}

// check refuses a remote or escaping reference and returns its target
// ("" for inline content and absolute paths, which kustomize refuses).
func (w *treeWalk) check(kz *kustomization, ref kref) (string, error) {
	if remoteRef.MatchString(ref.path) {
		return "", &Error{File: w.j.rel(kz.file), Err: fmt.Errorf("%s: %q is remote; a render uses only the files of the revision, so copy it into the repository and refer to it by relative path", ref.field, ref.path)}
	}
	if strings.Contains(ref.path, "\n") || filepath.IsAbs(ref.path) {
		return "", nil
	}
	target, err := w.j.resolve(filepath.Join(kz.dir, ref.path))
	var re *Error
	if errors.As(err, &re) {
		return "", &Error{File: w.j.rel(kz.file), Err: fmt.Errorf("%s: %q: %w", ref.field, ref.path, re.Err)}
	}
	return target, err
}

// kustomizationRefs lists every path k refers to.
func kustomizationRefs(k *types.Kustomization) []kref {
	var refs []kref
	add := func(field string, descend bool, paths ...string) {
		for i, p := range paths {
			if p != "" {
				refs = append(refs, kref{field: fmt.Sprintf("%s[%d]", field, i), path: p, descend: descend})
			}
		}
	}
	add("resources", true, k.Resources...)
	add("bases", true, k.Bases...)
	add("components", true, k.Components...)
	add("generators", true, k.Generators...)
	add("transformers", true, k.Transformers...)
	add("validators", true, k.Validators...)
	add("crds", false, k.Crds...)
	add("configurations", false, k.Configurations...)
	for i, p := range k.PatchesStrategicMerge {
		add(fmt.Sprintf("patchesStrategicMerge[%d]", i), false, string(p))
	}
	for i, p := range k.Patches {
		add(fmt.Sprintf("patches[%d].path", i), false, p.Path)
	}
	for i, p := range k.PatchesJson6902 {
		add(fmt.Sprintf("patchesJson6902[%d].path", i), false, p.Path)
	}
	for i, p := range k.Replacements {
		add(fmt.Sprintf("replacements[%d].path", i), false, p.Path)
	}
	for i, g := range k.ConfigMapGenerator {
		add(fmt.Sprintf("configMapGenerator[%d]", i), false, generatorFiles(g.KvPairSources)...)
	}
	for i, g := range k.SecretGenerator {
		add(fmt.Sprintf("secretGenerator[%d]", i), false, generatorFiles(g.KvPairSources)...)
	}
	add("openapi.path", false, k.OpenAPI["path"])
	return append(refs, helmRefs(k)...)
}

// generatorFiles are the files a generator reads ("key=path" or "path").
func generatorFiles(s types.KvPairSources) []string {
	var out []string
	for _, ref := range append(append(s.FileSources, s.EnvSources...), s.EnvSource) {
		if _, file, found := strings.Cut(ref, "="); found {
			ref = file
		}
		out = append(out, ref)
	}
	return out
}

// helmRefs are the files and folders helmCharts read.
func helmRefs(k *types.Kustomization) []kref {
	var refs []kref
	if k.HelmGlobals != nil && k.HelmGlobals.ChartHome != "" {
		refs = append(refs, kref{field: "helmGlobals.chartHome", path: k.HelmGlobals.ChartHome})
	}
	for i, hc := range k.HelmCharts {
		field := fmt.Sprintf("helmCharts[%d]", i)
		if hc.ValuesFile != "" {
			refs = append(refs, kref{field: field + ".valuesFile", path: hc.ValuesFile})
		}
		for n, f := range hc.AdditionalValuesFiles {
			refs = append(refs, kref{field: fmt.Sprintf("%s.additionalValuesFiles[%d]", field, n), path: f})
		}
	}
	return refs
}
