// Package drift tells how a live object differs from what the work agent
// applied. It is pure: a Baseline is taken from the object a write returned,
// and later compared with what the watch cache shows, without any request.
//
// For server-side apply the baseline is the set of leaves the agent's field
// manager owns after the apply, so fields other managers add never count and
// a re-apply always restores what is reported. For Update it is the
// manifest's own shape, since an update replaces the whole object. For
// CreateOnly only the object's existence counts.
package drift

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// Strip returns a copy of an object without the fields the agent leaves
// alone (ignoreFields); nil strips nothing.
type Strip func(obj map[string]any) (map[string]any, error)

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

// MaxFields bounds the fields listed for one object.
const MaxFields = 20

// Baseline is what was applied, reduced to the fields the agent set.
type Baseline struct {
	// leaves are owned leaf fields with their applied values (server-side apply).
	leaves []leaf
	// shape is the manifest projected on the applied object (Update).
	shape any
	// strip removes the ignored fields before comparing.
	strip Strip
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

// Existence is the baseline of an object whose content is not the agent's
// to keep (CreateOnly): only its deletion is drift.
func Existence() *Baseline { return &Baseline{} }

// OwnedFields returns the fields manager owns through apply operations on
// the main resource.
func OwnedFields(obj *unstructured.Unstructured, manager string) (*fieldpath.Set, error) {
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

// FromApplied records the leaves manager owns in an object returned by a
// server-side apply (or its dry run).
func FromApplied(applied *unstructured.Unstructured, manager string, strip Strip) (*Baseline, error) {
	set, err := OwnedFields(applied, manager)
	if err != nil {
		return nil, err
	}
	content, err := stripped(applied.Object, strip)
	if err != nil {
		return nil, err
	}
	b := &Baseline{strip: strip, leaves: []leaf{}}
	set.Leaves().Iterate(func(p fieldpath.Path) {
		if notContent(p) {
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

// notContent says a field is not the manifest's content to keep: status,
// and the owner references, which each work sets and releases on its own
// (another work letting go of an object is no drift of this one).
func notContent(p fieldpath.Path) bool {
	name := func(i int) string {
		if len(p) <= i || p[i].FieldName == nil {
			return ""
		}
		return *p[i].FieldName
	}
	return name(0) == "status" || name(0) == "metadata" && name(1) == "ownerReferences"
}

// FromShape records the manifest's fields as they are in the object
// returned by an update or a create.
func FromShape(desired, applied *unstructured.Unstructured, strip Strip) (*Baseline, error) {
	shape, err := stripped(Shape(desired.Object), strip)
	if err != nil {
		return nil, err
	}
	content, err := stripped(applied.Object, strip)
	if err != nil {
		return nil, err
	}
	return &Baseline{shape: project(shape, content), strip: strip}, nil
}

func stripped(obj map[string]any, strip Strip) (map[string]any, error) {
	if strip == nil {
		return obj, nil
	}
	return strip(obj)
}

// Shape is the part of a manifest compared for drift: everything but
// status and the metadata the server owns.
func Shape(obj map[string]any) map[string]any {
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

// Compare checks a live object (nil: deleted) against the baseline.
func (b *Baseline) Compare(live *unstructured.Unstructured) (Drift, error) {
	if live == nil {
		return Drift{Deleted: true}, nil
	}
	content, err := stripped(live.Object, b.strip)
	if err != nil {
		return Drift{}, err
	}
	var fields []string
	switch {
	case b.leaves != nil:
		fields = b.compareLeaves(content)
	case b.shape != nil:
		diffShape(b.shape, project(b.shape, content), "", &fields)
	}
	return Drift{Fields: bounded(dedupe(fields))}, nil
}

func (b *Baseline) compareLeaves(content map[string]any) []string {
	var fields []string
	for _, l := range b.leaves {
		v, rendered, ok := resolvePath(content, l.path)
		switch {
		case !ok:
			fields = append(fields, l.rendered)
		case !sameLeaf(l.value, v):
			fields = append(fields, rendered)
		}
	}
	return fields
}

// Diff lists the fields of the manifest (desired) where want, what the
// server would make of an apply, differs from have, the live object; both
// come from a server-side dry run when no baseline is known.
func Diff(desired, want, have map[string]any, strip Strip) (Drift, error) {
	shape := Shape(desired)
	var err error
	for _, p := range []*map[string]any{&shape, &want, &have} {
		if *p, err = stripped(*p, strip); err != nil {
			return Drift{}, err
		}
	}
	var fields []string
	diffShape(project(shape, want), project(shape, have), "", &fields)
	return Drift{Fields: bounded(dedupe(fields))}, nil
}

func bounded(fields []string) []string {
	if len(fields) > MaxFields {
		fields = append(fields[:MaxFields], fmt.Sprintf("and %d more", len(fields)-MaxFields))
	}
	return fields
}

func dedupe(in []string) []string {
	slices.Sort(in)
	return slices.Compact(in)
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
		if !sameScalar(applied, live) {
			*out = append(*out, orRoot(at))
		}
	}
}

func sameScalar(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	return a != nil && b != nil && value.Equals(value.NewValueInterface(a), value.NewValueInterface(b))
}

func orRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
