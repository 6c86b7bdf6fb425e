package work

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// baseline is what was applied, reduced to the fields the agent set, so a
// live object can be checked for drift without another request.
//
// For server-side apply the fields are the leaves the agent's field manager
// owns after the apply (so fields added by other managers never count, and a
// re-apply always restores what is reported). For Update the fields are the
// manifest's own shape, since an update replaces the whole object.
type baseline struct {
	// leaves are owned leaf fields with their applied values (server-side apply).
	leaves []leaf
	// shape is the manifest projected on the applied object (Update).
	shape any
	// ignore are the JSON paths left out of the comparison.
	ignore []string
}

// leaf is one field the agent owns, with the value it had after the apply.
type leaf struct {
	path fieldpath.Path
	// rendered is the path as reported, with list positions of the applied object.
	rendered string
	// value is the applied value; for maps and lists only presence is compared,
	// their owned contents are leaves of their own.
	value any
}

// ownedFieldSet returns the fields manager owns through apply operations on
// the main resource.
func ownedFieldSet(obj *unstructured.Unstructured, manager string) (*fieldpath.Set, error) {
	set := fieldpath.NewSet()
	for _, e := range obj.GetManagedFields() {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		s := fieldpath.NewSet()
		if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			return nil, fmt.Errorf("parse managed fields of %s: %w", manager, err)
		}
		set = set.Union(s)
	}
	return set, nil
}

// appliedBaseline records the leaves manager owns in an object returned by a
// server-side apply (or its dry run).
func appliedBaseline(applied *unstructured.Unstructured, manager string, ignore []string) (*baseline, error) {
	set, err := ownedFieldSet(applied, manager)
	if err != nil {
		return nil, err
	}
	content := applied.Object
	if len(ignore) > 0 {
		content = withoutPaths(applied.Object, ignore)
	}
	b := &baseline{ignore: ignore}
	set.Leaves().Iterate(func(p fieldpath.Path) {
		if len(p) > 0 && p[0].FieldName != nil && *p[0].FieldName == "status" {
			return
		}
		v, rendered, ok := resolvePath(content, p)
		if !ok {
			return
		}
		b.leaves = append(b.leaves, leaf{path: p.Copy(), rendered: rendered, value: v})
	})
	return b, nil
}

// shapeBaseline records the manifest's fields as they are in the object
// returned by an update or a create.
func shapeBaseline(desired, applied *unstructured.Unstructured, ignore []string) *baseline {
	shape := manifestShape(desired.Object)
	content := applied.Object
	if len(ignore) > 0 {
		content = withoutPaths(applied.Object, ignore)
		shape = withoutPaths(shape, ignore)
	}
	return &baseline{shape: project(shape, content), ignore: ignore}
}

// manifestShape is the part of a manifest compared for drift: everything but
// status and the metadata the server owns.
func manifestShape(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		switch k {
		case "status", "apiVersion", "kind":
			continue
		case "metadata":
			md, _ := v.(map[string]any)
			keep := map[string]any{}
			for _, f := range []string{"labels", "annotations"} {
				if x, ok := md[f]; ok {
					keep[f] = x
				}
			}
			out[k] = keep
		default:
			out[k] = v
		}
	}
	return out
}

// project keeps from obj only what shape has, element by element in lists.
func project(shape, obj any) any {
	switch s := shape.(type) {
	case map[string]any:
		o, ok := obj.(map[string]any)
		if !ok {
			return obj
		}
		out := make(map[string]any, len(s))
		for k, sv := range s {
			if ov, ok := o[k]; ok {
				out[k] = project(sv, ov)
			}
		}
		return out
	case []any:
		o, ok := obj.([]any)
		if !ok {
			return obj
		}
		out := make([]any, len(o))
		for i := range o {
			if i < len(s) {
				out[i] = project(s[i], o[i])
			} else {
				out[i] = o[i]
			}
		}
		return out
	default:
		return obj
	}
}

// Drift says how a live object differs from its baseline.
type Drift struct {
	// Deleted is true when the object is gone.
	Deleted bool
	// Fields are the drifted paths, such as ".spec.replicas".
	Fields []string
}

// Drifted reports whether there is any drift.
func (d Drift) Drifted() bool { return d.Deleted || len(d.Fields) > 0 }

// String is the message form: the fields, or "object was deleted".
func (d Drift) String() string {
	if d.Deleted {
		return "object was deleted"
	}
	return strings.Join(d.Fields, ", ")
}

// maxDriftFields bounds the fields listed for one object.
const maxDriftFields = 20

// compare checks a live object against the baseline.
func (b *baseline) compare(live *unstructured.Unstructured) Drift {
	if live == nil {
		return Drift{Deleted: true}
	}
	content := live.Object
	if len(b.ignore) > 0 {
		content = withoutPaths(live.Object, b.ignore)
	}
	var fields []string
	switch {
	case b.leaves != nil:
		for _, l := range b.leaves {
			v, rendered, ok := resolvePath(content, l.path)
			if !ok {
				fields = append(fields, l.rendered)
				continue
			}
			if !sameLeaf(l.value, v) {
				fields = append(fields, rendered)
			}
		}
	case b.shape != nil:
		diffShape(b.shape, project(b.shape, content), "", &fields)
	}
	fields = dedupe(fields)
	if len(fields) > maxDriftFields {
		fields = append(fields[:maxDriftFields], fmt.Sprintf("and %d more", len(fields)-maxDriftFields))
	}
	return Drift{Fields: fields}
}

func dedupe(in []string) []string {
	if len(in) < 2 {
		return in
	}
	sort.Strings(in)
	out := in[:1]
	for _, s := range in[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// sameLeaf compares an applied leaf with the live one. Maps and lists only
// need to be present with the same kind: what they contain is either owned
// (and a leaf of its own) or someone else's.
func sameLeaf(applied, live any) bool {
	switch applied.(type) {
	case map[string]any:
		_, ok := live.(map[string]any)
		return ok
	case []any:
		_, ok := live.([]any)
		return ok
	}
	if applied == nil || live == nil {
		return applied == nil && live == nil
	}
	return value.Equals(value.NewValueInterface(applied), value.NewValueInterface(live))
}

// diffShape lists where live differs from the applied projection.
func diffShape(applied, live any, at string, out *[]string) {
	switch a := applied.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			*out = append(*out, orRoot(at))
			return
		}
		for k, av := range a {
			lv, ok := l[k]
			if !ok {
				*out = append(*out, at+"."+k)
				continue
			}
			diffShape(av, lv, at+"."+k, out)
		}
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(a) {
			*out = append(*out, orRoot(at))
			return
		}
		for i := range a {
			diffShape(a[i], l[i], fmt.Sprintf("%s[%d]", at, i), out)
		}
	default:
		if !reflect.DeepEqual(applied, live) && !(applied != nil && live != nil &&
			value.Equals(value.NewValueInterface(applied), value.NewValueInterface(live))) {
			*out = append(*out, orRoot(at))
		}
	}
}

func orRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// resolvePath finds the value at a managed-fields path in obj and renders
// the path with list positions as indexes (".spec.containers[0].image").
func resolvePath(obj any, p fieldpath.Path) (any, string, bool) {
	var sb strings.Builder
	cur := obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			sb.WriteString(".")
			sb.WriteString(*pe.FieldName)
			if !ok {
				return nil, sb.String(), false
			}
			v, ok := m[*pe.FieldName]
			if !ok {
				return nil, sb.String(), false
			}
			cur = v
		case pe.Key != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, sb.String() + pe.String(), false
			}
			i := indexByKey(l, *pe.Key)
			if i < 0 {
				return nil, sb.String() + pe.String(), false
			}
			fmt.Fprintf(&sb, "[%d]", i)
			cur = l[i]
		case pe.Value != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, sb.String() + pe.String(), false
			}
			i := -1
			for j, e := range l {
				if value.Equals(value.NewValueInterface(e), *pe.Value) {
					i = j
					break
				}
			}
			if i < 0 {
				return nil, sb.String() + pe.String(), false
			}
			fmt.Fprintf(&sb, "[%d]", i)
			cur = l[i]
		case pe.Index != nil:
			l, ok := cur.([]any)
			fmt.Fprintf(&sb, "[%d]", *pe.Index)
			if !ok || *pe.Index >= len(l) {
				return nil, sb.String(), false
			}
			cur = l[*pe.Index]
		}
	}
	return cur, sb.String(), true
}

func indexByKey(l []any, key value.FieldList) int {
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		match := true
		for _, f := range key {
			v, ok := m[f.Name]
			if !ok || !value.Equals(value.NewValueInterface(v), f.Value) {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
