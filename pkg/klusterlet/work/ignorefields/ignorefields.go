// Package ignorefields implements OCM's serverSideApply.ignoreFields: fields
// of a manifest the work agent leaves alone on the managed cluster. It is
// pure; every function works on decoded objects (map[string]any).
//
// OnSpokePresent fields are set when the object is created and never after;
// OnSpokeChange fields keep the spoke's edits until the manifest changes.
// Both are left out of drift detection. Fields are named by Kubernetes JSON
// paths, RFC 6901 JSON Pointers, or jq path expressions (OCM API v1.3; run
// with gojq, as OCM's agent does, each bounded to JQTimeout per object).
package ignorefields

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	workv1 "open-cluster-management.io/api/work/v1"
)

// field is one ignored field, as the manifest config names it.
type field interface {
	// remove deletes what the field names in obj, in place.
	remove(ctx context.Context, obj map[string]any) error
	// adopt makes required carry live's value of the field, or not carry it
	// when live has none.
	adopt(ctx context.Context, required, live map[string]any) error
}

// Set is a list of ignored fields.
type Set struct{ fields []field }

// Empty says the set ignores nothing.
func (s Set) Empty() bool { return len(s.fields) == 0 }

// Union returns the fields of both sets.
func (s Set) Union(o Set) Set {
	return Set{fields: append(append([]field(nil), s.fields...), o.fields...)}
}

// Error is an ignoreFields entry that cannot be used; OCM reports it with
// the Applied reason AppliedManifestSSAIgnoreFieldError.
type Error struct {
	// Kind is jsonPaths, jsonPointers or jqPathExpressions.
	Kind string
	// Expr is the entry.
	Expr string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("serverSideApply.ignoreFields %s entry %q: %v", e.Kind, e.Expr, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Compile reads a server-side apply config's ignoreFields, split by condition.
func Compile(cfg *workv1.ServerSideApplyConfig) (onPresent, onChange Set, err error) {
	if cfg == nil {
		return Set{}, Set{}, nil
	}
	for _, f := range cfg.IgnoreFields {
		fields, err := compileField(f)
		if err != nil {
			return Set{}, Set{}, err
		}
		if f.Condition == workv1.IgnoreFieldsConditionOnSpokePresent {
			onPresent.fields = append(onPresent.fields, fields...)
		} else { // OnSpokeChange, OCM's default
			onChange.fields = append(onChange.fields, fields...)
		}
	}
	return onPresent, onChange, nil
}

// compileField reads the JSON paths, JSON Pointers and jq path expressions
// of one ignoreFields entry.
func compileField(f workv1.IgnoreField) ([]field, error) {
	var out []field
	for _, kind := range []struct {
		name    string
		exprs   []string
		compile func(string) (field, error)
	}{
		{"jsonPaths", f.JSONPaths, compileJSONPath},
		{"jsonPointers", f.JSONPointers, compilePointer},
		{"jqPathExpressions", f.JQPathExpressions, compileJQ},
	} {
		for _, e := range kind.exprs {
			fld, err := kind.compile(e)
			if err != nil {
				return nil, &Error{Kind: kind.name, Expr: e, Err: err}
			}
			out = append(out, fld)
		}
	}
	return out, nil
}

// Remove deletes the set's fields from obj, in place.
func (s Set) Remove(ctx context.Context, obj map[string]any) error {
	for _, f := range s.fields {
		if err := f.remove(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// Without returns a deep copy of obj without the set's fields.
func (s Set) Without(ctx context.Context, obj map[string]any) (map[string]any, error) {
	out := runtime.DeepCopyJSON(obj)
	if err := s.Remove(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Adopt makes the set's fields of an apply request carry the live values,
// so applying neither overwrites a spoke's edit nor drops a field the agent
// still owns. Fields absent on the spoke are left out of the request.
func (s Set) Adopt(ctx context.Context, required, live map[string]any) error {
	for _, f := range s.fields {
		if err := f.adopt(ctx, required, live); err != nil {
			return err
		}
	}
	return nil
}

// SpecHash digests a manifest without its OnSpokePresent fields: OCM stores
// it in the object's config-spec-hash annotation and skips the apply while it
// matches, so spoke edits to ignored fields survive until the manifest changes.
func SpecHash(obj map[string]any) string {
	b, _ := json.Marshal(obj)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}
