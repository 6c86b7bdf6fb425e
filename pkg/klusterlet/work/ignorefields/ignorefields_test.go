package ignorefields

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	workv1 "open-cluster-management.io/api/work/v1"
)

func TestParseSimplePath(t *testing.T) {
	tests := []struct {
		in   string
		want Path
		ok   bool
	}{
		{".spec.replicas", Path{key("spec"), key("replicas")}, true},
		{"{.data.config\\.yaml}", Path{key("data"), key("config.yaml")}, true},
		{".metadata.annotations['a.b/c']", Path{key("metadata"), key("annotations"), key("a.b/c")}, true},
		{`.metadata.labels["x"].y`, Path{key("metadata"), key("labels"), key("x"), key("y")}, true},
		{".spec.containers[1].image", Path{key("spec"), key("containers"), {Index: 1}, key("image")}, true},
		{`.status.conditions[?(@.type=="Ready")].status`, nil, false},
		{".spec.containers[*].image", nil, false},
		{"spec.replicas", nil, false},
		{".a..b", nil, false},
		{".a['b", nil, false},
		{".a[]", nil, false},
	}
	for _, tc := range tests {
		got, ok := parseSimplePath(tc.in)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseSimplePath(%q) = %v, %t; want %v, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func compile(t *testing.T, fields ...workv1.IgnoreField) (onPresent, onChange Set) {
	t.Helper()
	p, c, err := Compile(&workv1.ServerSideApplyConfig{IgnoreFields: fields})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func TestAdoptAndRemoveJSONPaths(t *testing.T) {
	ctx := context.Background()
	_, set := compile(t, workv1.IgnoreField{Condition: workv1.IgnoreFieldsConditionOnSpokeChange,
		JSONPaths: []string{".spec.replicas", ".spec.paused", `.data[?(@.x=="y")].z`}})
	required := map[string]any{"spec": map[string]any{"replicas": int64(2), "paused": false}, "data": map[string]any{"a": "1"}}
	live := map[string]any{"spec": map[string]any{"replicas": int64(5)}, "data": map[string]any{"a": "2"}}
	if err := set.Adopt(ctx, required, live); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"spec": map[string]any{"replicas": int64(5)}, "data": map[string]any{"a": "1"}}
	if !reflect.DeepEqual(required, want) {
		t.Errorf("adopted = %v, want %v", required, want)
	}

	_, wild := compile(t, workv1.IgnoreField{JSONPaths: []string{".spec.template.spec.containers[*].image"}})
	obj := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"name": "a", "image": "x"}, map[string]any{"name": "b", "image": "y"}}}}}}
	out, err := wild.Without(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := Lookup(out, Path{key("spec"), key("template"), key("spec"), key("containers")})
	for _, c := range cs.([]any) {
		if _, ok := c.(map[string]any)["image"]; ok {
			t.Errorf("image not removed by the wildcard path: %v", cs)
		}
	}
	if _, ok := Lookup(obj, Path{key("spec"), key("template"), key("spec"), key("containers"), {Index: 0}, key("image")}); !ok {
		t.Error("Without modified its input")
	}
}

func TestAdoptCreatesMapsAndDropsWhatCannotBeSet(t *testing.T) {
	ctx := context.Background()
	_, set := compile(t, workv1.IgnoreField{JSONPaths: []string{".metadata.annotations['a/b']", ".spec.list[3]"}})
	required := map[string]any{"metadata": map[string]any{"name": "x"}, "spec": map[string]any{"list": []any{"a"}}}
	live := map[string]any{"metadata": map[string]any{"annotations": map[string]any{"a/b": "live"}},
		"spec": map[string]any{"list": []any{"a", "b", "c", "d"}}}
	if err := set.Adopt(ctx, required, live); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"metadata": map[string]any{"name": "x", "annotations": map[string]any{"a/b": "live"}},
		"spec": map[string]any{"list": []any{"a"}}}
	if !reflect.DeepEqual(required, want) {
		t.Errorf("adopted = %v, want %v", required, want)
	}
}

func TestCompileSplitsByConditionAndRejectsBadPaths(t *testing.T) {
	p, c := compile(t,
		workv1.IgnoreField{Condition: workv1.IgnoreFieldsConditionOnSpokePresent, JSONPaths: []string{".a", ".b"}},
		workv1.IgnoreField{Condition: workv1.IgnoreFieldsConditionOnSpokeChange, JSONPaths: []string{".c"}},
		workv1.IgnoreField{JSONPaths: []string{".d"}}) // no condition: OnSpokeChange
	if len(p.fields) != 2 || len(c.fields) != 2 || p.Union(c).Empty() || !(Set{}).Empty() {
		t.Errorf("onPresent %d, onChange %d fields; want 2 and 2", len(p.fields), len(c.fields))
	}
	_, _, err := Compile(&workv1.ServerSideApplyConfig{IgnoreFields: []workv1.IgnoreField{{JSONPaths: []string{".ok", ".spec["}}}})
	var ife *Error
	if !errors.As(err, &ife) || ife.Expr != ".spec[" || !strings.Contains(err.Error(), `jsonPaths entry ".spec["`) {
		t.Errorf("invalid path: %v", err)
	}
}

func TestSpecHashIgnoresKeyOrder(t *testing.T) {
	a := map[string]any{"x": "1", "y": map[string]any{"b": int64(2), "a": true}}
	b := map[string]any{"y": map[string]any{"a": true, "b": int64(2)}, "x": "1"}
	if SpecHash(a) != SpecHash(b) {
		t.Error("the hash depends on map order")
	}
	b["x"] = "2"
	if SpecHash(a) == SpecHash(b) {
		t.Error("the hash missed a change")
	}
}
