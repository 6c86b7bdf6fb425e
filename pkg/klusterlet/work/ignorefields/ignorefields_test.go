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

func TestJSONPointers(t *testing.T) {
	ctx := context.Background()
	obj := func() map[string]any {
		return map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{"a/b": "1", "c~d": "2", "keep": "3"}},
			"spec":     map[string]any{"replicas": int64(2), "list": []any{"x", "y", "z"}, "m": map[string]any{"0": "zero"}},
		}
	}
	tests := []struct {
		pointer string
		want    func(o map[string]any)
	}{
		{"/spec/replicas", func(o map[string]any) { delete(o["spec"].(map[string]any), "replicas") }},
		{"/metadata/annotations/a~1b", func(o map[string]any) { delete(o["metadata"].(map[string]any)["annotations"].(map[string]any), "a/b") }},
		{"/metadata/annotations/c~0d", func(o map[string]any) { delete(o["metadata"].(map[string]any)["annotations"].(map[string]any), "c~d") }},
		{"/spec/list/1", func(o map[string]any) { o["spec"].(map[string]any)["list"] = []any{"x", "z"} }},
		{"/spec/m/0", func(o map[string]any) { delete(o["spec"].(map[string]any)["m"].(map[string]any), "0") }},
		{"/spec/list/01", func(map[string]any) {}},
		{"/spec/list/9", func(map[string]any) {}},
		{"/spec/missing/deeper", func(map[string]any) {}},
	}
	for _, tc := range tests {
		_, set := compile(t, workv1.IgnoreField{JSONPointers: []string{tc.pointer}})
		got, err := set.Without(ctx, obj())
		if err != nil {
			t.Fatalf("%s: %v", tc.pointer, err)
		}
		want := obj()
		tc.want(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("without %s = %v, want %v", tc.pointer, got, want)
		}
	}
	for _, bad := range []string{"", "spec/replicas"} {
		_, _, err := Compile(&workv1.ServerSideApplyConfig{IgnoreFields: []workv1.IgnoreField{{JSONPointers: []string{bad}}}})
		var ife *Error
		if !errors.As(err, &ife) || ife.Kind != "jsonPointers" {
			t.Errorf("pointer %q accepted: %v", bad, err)
		}
	}
	// Adopting a pointer carries the live value, or drops the field.
	_, set := compile(t, workv1.IgnoreField{JSONPointers: []string{"/spec/replicas", "/metadata/annotations/keep"}})
	required := obj()
	live := map[string]any{"spec": map[string]any{"replicas": int64(7)}}
	if err := set.Adopt(ctx, required, live); err != nil {
		t.Fatal(err)
	}
	if v, _ := Lookup(required, Path{key("spec"), key("replicas")}); v != int64(7) {
		t.Errorf("replicas = %v, want the live 7", v)
	}
	if _, ok := Lookup(required, Path{key("metadata"), key("annotations"), key("keep")}); ok {
		t.Error("a field absent on the spoke stayed in the request")
	}
}

func TestJQPathExpressions(t *testing.T) {
	ctx := context.Background()
	obj := func() map[string]any {
		return map[string]any{"spec": map[string]any{"replicas": int64(3), "template": map[string]any{"spec": map[string]any{
			"containers": []any{
				map[string]any{"name": "app", "image": "app:1"},
				map[string]any{"name": "sidecar", "image": "side:1"},
			}}}}}
	}
	_, set := compile(t, workv1.IgnoreField{JQPathExpressions: []string{
		`.spec.template.spec.containers[] | select(.name == "sidecar") | .image`,
		`.spec | select(.replicas > 2) | .replicas`,
	}})
	got, err := set.Without(ctx, obj())
	if err != nil {
		t.Fatal(err)
	}
	want := obj()
	delete(want["spec"].(map[string]any), "replicas")
	delete(want["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[1].(map[string]any), "image")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("without = %v, want %v", got, want)
	}

	// The live sidecar image is kept in the apply request.
	required := obj()
	live := obj()
	live["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[1].(map[string]any)["image"] = "side:spoke"
	if err := set.Adopt(ctx, required, live); err != nil {
		t.Fatal(err)
	}
	if v, _ := Lookup(required, Path{key("spec"), key("template"), key("spec"), key("containers"), {Index: 1}, key("image")}); v != "side:spoke" {
		t.Errorf("sidecar image = %v, want the live one", v)
	}

	for _, tc := range []struct{ expr, says string }{
		{".spec.[", "parse"},
		{"1 + 1", "path"},
		{`.spec | select(last(range(1e10)) > 0) | .replicas`, "did not finish within 1s"},
		{`path(..)`, "path"},
		{`.`, "names the whole object"},
	} {
		p, c, err := Compile(&workv1.ServerSideApplyConfig{IgnoreFields: []workv1.IgnoreField{{JQPathExpressions: []string{tc.expr}}}})
		if err == nil {
			_, err = p.Union(c).Without(ctx, obj())
		}
		var ife *Error
		if !errors.As(err, &ife) || ife.Kind != "jqPathExpressions" || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("jq %q: error %v, want one naming jqPathExpressions and saying %q", tc.expr, err, tc.says)
		}
	}
	long := strings.Repeat(".a", maxJQBytes)
	if _, _, err := Compile(&workv1.ServerSideApplyConfig{IgnoreFields: []workv1.IgnoreField{{JQPathExpressions: []string{long}}}}); err == nil {
		t.Error("an overlong jq expression was accepted")
	}
}
