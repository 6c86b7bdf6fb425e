package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// override is one OCM override document: {path: a.b.c, value: ...}.
type override struct {
	Path  string
	Value any
	// HasValue tells "value: null" from no value at all.
	HasValue bool
}

// decodeOverride reads an override document. OCM also accepts the Kustomize
// form {kustomizeOverride: {...}}, read as a value.
func decodeOverride(raw []byte, field string) (override, error) {
	var m map[string]any
	if len(bytes.TrimSpace(raw)) == 0 {
		return override{}, &Error{Field: field, Err: errors.New("empty override; give {path: ..., value: ...}")}
	}
	if err := utiljson.Unmarshal(raw, &m); err != nil {
		return override{}, &Error{Field: field, Err: fmt.Errorf("not an object: %w", err)}
	}
	var o override
	if p, ok := m["path"]; ok {
		s, ok := p.(string)
		if !ok {
			return override{}, &Error{Field: field + ".path", Err: fmt.Errorf("must be a string like \"spec.replicas\", not %T", p)}
		}
		o.Path = s
	}
	o.Value, o.HasValue = m["value"]
	if !o.HasValue {
		o.Value, o.HasValue = m["kustomizeOverride"]
	}
	return o, nil
}

// helmValues returns the values OCM's packageOverrides give the chart named
// chartName, and the release alias they set. OCM takes the first entry whose
// packageName is the chart's name and applies its overrides to a HelmRelease
// whose spec is the values: {path: spec, value: {...}} sets all values (the
// value may also be a YAML string), {path: spec.image.tag, value: v1} sets one.
func helmValues(sub *appsv1.Subscription, chartName string) (map[string]any, string, error) {
	for i, ov := range sub.Spec.PackageOverrides {
		if ov == nil || ov.PackageName != chartName {
			continue
		}
		vals := map[string]any{}
		for k, po := range ov.PackageOverrides {
			field := fmt.Sprintf("spec.packageOverrides[%d].packageOverrides[%d]", i, k)
			o, err := decodeOverride(po.Raw, field)
			if err != nil {
				return nil, "", err
			}
			if !o.HasValue {
				return nil, "", &Error{Field: field, Err: errors.New("has no value")}
			}
			path := strings.Split(o.Path, ".")
			if path[0] != "spec" {
				return nil, "", &Error{Field: field + ".path", Err: fmt.Errorf("%q: Helm values are overridden under spec (path: spec, value: {...values...})", o.Path)}
			}
			if len(path) == 1 {
				v, err := valuesMap(o.Value)
				if err != nil {
					return nil, "", &Error{Field: field + ".value", Err: err}
				}
				vals = v
				continue
			}
			if err := setPath(vals, path[1:], o.Value); err != nil {
				return nil, "", &Error{Field: field + ".path", Err: err}
			}
		}
		return vals, ov.PackageAlias, nil
	}
	return nil, "", nil
}

// valuesMap accepts values as an object or as a YAML string holding one.
func valuesMap(v any) (map[string]any, error) {
	switch t := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return t, nil
	case string:
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("values given as a string must be a YAML mapping: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("values must be a mapping or a YAML string, not %T", v)
}

// setPath sets m[path...] = v, creating maps on the way.
func setPath(m map[string]any, path []string, v any) error {
	for i, key := range path {
		if key == "" {
			return errors.New("empty segment in path")
		}
		if i == len(path)-1 {
			m[key] = v
			return nil
		}
		next, ok := m[key].(map[string]any)
		if !ok {
			if m[key] != nil {
				return fmt.Errorf("%s is not a mapping", strings.Join(path[:i+1], "."))
			}
			next = map[string]any{}
			m[key] = next
		}
		m = next
	}
	return nil
}

// kustomizeOverrides returns the kustomization fields OCM's packageOverrides
// set for the Kustomize root at relDir (relative to the repository root): an
// entry applies when its packageName is "kustomization" or
// "<relDir>/kustomization"; only its first override is used, and its value
// (an object or a YAML string) replaces top-level kustomization fields.
func kustomizeOverrides(sub *appsv1.Subscription, relDir string) ([]map[string]any, error) {
	want := strings.TrimPrefix(relDir, "./")
	if want != "" && !strings.HasSuffix(want, "/") {
		want += "/"
	}
	var out []map[string]any
	for i, ov := range sub.Spec.PackageOverrides {
		if ov == nil {
			continue
		}
		dir, _, isKustomize := strings.Cut(ov.PackageName, "kustomization")
		if !isKustomize {
			continue
		}
		dir = strings.TrimPrefix(dir, "./")
		if dir != "" && !strings.EqualFold(dir, want) {
			continue
		}
		field := fmt.Sprintf("spec.packageOverrides[%d]", i)
		if len(ov.PackageOverrides) == 0 {
			return nil, &Error{Field: field + ".packageOverrides", Err: errors.New("empty: give one override whose value holds the kustomization fields to replace")}
		}
		o, err := decodeOverride(ov.PackageOverrides[0].Raw, field+".packageOverrides[0]")
		if err != nil {
			return nil, err
		}
		m, err := valuesMap(o.Value)
		if err != nil {
			return nil, &Error{Field: field + ".packageOverrides[0].value", Err: err}
		}
		out = append(out, m)
	}
	return out, nil
}

// mergeValues deep-merges src over dst (maps merge key by key, anything else
// replaces), returning a new map; neither input is modified.
func mergeValues(dst, src map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
