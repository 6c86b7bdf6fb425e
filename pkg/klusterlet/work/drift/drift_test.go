package drift

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func mustObj(t *testing.T, js string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatalf("bad test object: %v", err)
	}
	return u
}

// An object as the API server returns it after a server-side apply by
// "work-agent" of .data.a, .data.b, a label and two containers (keyed by name).
const appliedDeployment = `{
 "apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"web","namespace":"default","resourceVersion":"10",
  "labels":{"app":"web"},
  "managedFields":[
   {"manager":"work-agent","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":
    {"f:metadata":{"f:labels":{"f:app":{}}},
     "f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{
       "k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{}},
       "k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}}}}}}},
   {"manager":"hpa","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:paused":{}}}}
  ]},
 "spec":{"replicas":2,"paused":false,"template":{"spec":{"containers":[
   {"name":"app","image":"app:1","imagePullPolicy":"IfNotPresent"},
   {"name":"sidecar","image":"side:1"}]}}}}`

func TestAppliedBaselineDrift(t *testing.T) {
	applied := mustObj(t, appliedDeployment)
	base, err := FromApplied(applied, "work-agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(base.leaves) != 6 {
		var paths []string
		for _, l := range base.leaves {
			paths = append(paths, l.rendered)
		}
		t.Fatalf("leaves = %v, want 6 owned leaves", paths)
	}
	tests := []struct {
		name string
		edit func(o map[string]any)
		want []string
	}{
		{"unchanged", func(map[string]any) {}, nil},
		{"replicas", func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = int64(5) }, []string{".spec.replicas"}},
		{"field of another manager", func(o map[string]any) { o["spec"].(map[string]any)["paused"] = true }, nil},
		{"defaulted field", func(o map[string]any) {
			containers(o)[0].(map[string]any)["imagePullPolicy"] = "Always"
		}, nil},
		{"image of the second container", func(o map[string]any) {
			containers(o)[1].(map[string]any)["image"] = "side:2"
		}, []string{".spec.template.spec.containers[1].image"}},
		{"containers reordered, values kept", func(o map[string]any) {
			c := containers(o)
			c[0], c[1] = c[1], c[0]
		}, nil},
		{"container added by someone else", func(o map[string]any) {
			s := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			s["containers"] = append(containers(o), map[string]any{"name": "injected", "image": "x"})
		}, nil},
		{"container removed", func(o map[string]any) {
			s := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			s["containers"] = containers(o)[:1]
		}, []string{".spec.template.spec.containers[1].image", ".spec.template.spec.containers[1].name"}},
		{"label removed", func(o map[string]any) {
			delete(o["metadata"].(map[string]any)["labels"].(map[string]any), "app")
		}, []string{".metadata.labels.app"}},
		{"integer as float", func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = float64(2) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := mustObj(t, appliedDeployment)
			live.SetManagedFields(nil)
			tc.edit(live.Object)
			d := mustCompare(t, base, live)
			if !reflect.DeepEqual(d.Fields, tc.want) || d.Deleted {
				t.Errorf("drift = %+v, want fields %v", d, tc.want)
			}
		})
	}
	if d := mustCompare(t, base, nil); !d.Deleted || d.String() != "object was deleted" {
		t.Errorf("deleted object: %+v", d)
	}
}

func containers(o map[string]any) []any {
	return o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
}

func TestAppliedBaselineIgnoresPaths(t *testing.T) {
	applied := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n",
	 "managedFields":[{"manager":"work-agent","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1",
	  "fieldsV1":{"f:data":{".":{},"f:a":{},"f:b":{}}}}]},"data":{"a":"1","b":"1"}}`)
	base, err := FromApplied(applied, "work-agent", without(".data", "b"))
	if err != nil {
		t.Fatal(err)
	}
	live := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":{"a":"2","b":"2"}}`)
	if d := mustCompare(t, base, live); !reflect.DeepEqual(d.Fields, []string{".data.a"}) {
		t.Errorf("drift = %+v, want only .data.a", d)
	}
}

// The owner references the agent applies with the content are each work's
// to set and release: another work letting go of the object is no drift.
func TestAppliedBaselineLeavesOwnersOut(t *testing.T) {
	applied := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n",
	 "ownerReferences":[{"apiVersion":"work.open-cluster-management.io/v1","kind":"AppliedManifestWork","name":"a","uid":"u-a"},
	  {"apiVersion":"work.open-cluster-management.io/v1","kind":"AppliedManifestWork","name":"b","uid":"u-b"}],
	 "managedFields":[{"manager":"work-agent","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1",
	  "fieldsV1":{"f:data":{".":{},"f:a":{}},"f:metadata":{"f:ownerReferences":{
	   "k:{\"uid\":\"u-a\"}":{},"k:{\"uid\":\"u-b\"}":{}}}}}]},"data":{"a":"1"}}`)
	base, err := FromApplied(applied, "work-agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	released := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n",
	 "ownerReferences":[{"apiVersion":"work.open-cluster-management.io/v1","kind":"AppliedManifestWork","name":"a","uid":"u-a"}]},"data":{"a":"1"}}`)
	if d := mustCompare(t, base, released); d.Drifted() {
		t.Errorf("drift = %+v after another work released the object, want none", d)
	}
	changed := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":{"a":"2"}}`)
	if d := mustCompare(t, base, changed); !reflect.DeepEqual(d.Fields, []string{".data.a"}) {
		t.Errorf("drift = %+v, want .data.a", d)
	}
}

func TestShapeBaselineDrift(t *testing.T) {
	desired := mustObj(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"n","labels":{"a":"1"}},
	 "spec":{"ports":[{"port":80}],"selector":{"app":"x"}}}`)
	applied := mustObj(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"n","labels":{"a":"1","added":"y"},"uid":"u"},
	 "spec":{"clusterIP":"10.0.0.1","ports":[{"port":80,"protocol":"TCP","targetPort":80}],"selector":{"app":"x"}}}`)
	base, err := FromShape(desired, applied, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		live string
		want []string
	}{
		{"same with defaults", `{"metadata":{"labels":{"a":"1"}},"spec":{"clusterIP":"10.0.0.9","ports":[{"port":80,"protocol":"TCP"}],"selector":{"app":"x"}}}`, nil},
		{"port changed", `{"metadata":{"labels":{"a":"1"}},"spec":{"ports":[{"port":81}],"selector":{"app":"x"}}}`, []string{".spec.ports[0].port"}},
		{"port added", `{"metadata":{"labels":{"a":"1"}},"spec":{"ports":[{"port":80},{"port":90}],"selector":{"app":"x"}}}`, []string{".spec.ports"}},
		{"label and selector gone", `{"metadata":{},"spec":{"ports":[{"port":80}]}}`, []string{".metadata.labels", ".spec.selector"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustCompare(t, base, mustObj(t, `{"apiVersion":"v1","kind":"Service",`+tc.live[1:]))
			if !reflect.DeepEqual(d.Fields, tc.want) {
				t.Errorf("drift = %v, want %v", d.Fields, tc.want)
			}
		})
	}
}

func mustCompare(t *testing.T, b *Baseline, live *unstructured.Unstructured) Drift {
	t.Helper()
	d, err := b.Compare(live)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// without strips one key of the map at a top-level field, as ignoreFields would.
func without(field, key string) Strip {
	return func(obj map[string]any) (map[string]any, error) {
		out := runtime.DeepCopyJSON(obj)
		if m, ok := out[field[1:]].(map[string]any); ok {
			delete(m, key)
		}
		return out, nil
	}
}

func TestExistenceBaseline(t *testing.T) {
	b := Existence()
	live := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"edited"}}`)
	if d := mustCompare(t, b, live); d.Drifted() {
		t.Errorf("edits of a CreateOnly object are drift: %+v", d)
	}
	if d := mustCompare(t, b, nil); !d.Deleted {
		t.Errorf("deletion of a CreateOnly object is not drift: %+v", d)
	}
}

func TestDiffOfDryRun(t *testing.T) {
	desired := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c", "labels": map[string]any{"a": "1"}},
		"data": map[string]any{"k": "v", "ignored": "x"}}
	want := map[string]any{"metadata": map[string]any{"name": "c", "uid": "u", "labels": map[string]any{"a": "1"}},
		"data": map[string]any{"k": "v", "ignored": "x", "theirs": "t"}}
	tests := []struct {
		name  string
		have  map[string]any
		strip Strip
		want  []string
	}{
		{"same", want, nil, nil},
		{"value edited", map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "1"}}, "data": map[string]any{"k": "edited", "ignored": "x"}}, nil, []string{".data.k"}},
		{"label removed", map[string]any{"metadata": map[string]any{}, "data": map[string]any{"k": "v", "ignored": "x"}}, nil, []string{".metadata.labels"}},
		{"ignored field edited", map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "1"}}, "data": map[string]any{"k": "v", "ignored": "y"}}, without(".data", "ignored"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Diff(desired, want, tc.have, tc.strip)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Fields, tc.want) {
				t.Errorf("drift = %v, want %v", d.Fields, tc.want)
			}
		})
	}
}

func TestCompareReportsStripErrors(t *testing.T) {
	applied := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}`)
	calls := 0
	failing := func(obj map[string]any) (map[string]any, error) {
		if calls++; calls > 2 {
			return nil, errors.New("jq timed out")
		}
		return obj, nil
	}
	b, err := FromShape(applied, applied, failing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Compare(applied); err == nil {
		t.Error("an ignoreFields error was hidden by Compare")
	}
}

func TestManyDriftedFieldsAreBounded(t *testing.T) {
	data := map[string]any{}
	edited := map[string]any{}
	for i := range 30 {
		k := fmt.Sprintf("k%02d", i)
		data[k], edited[k] = "v", "edited"
	}
	applied := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": data}}
	b, err := FromShape(applied, applied, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := mustCompare(t, b, &unstructured.Unstructured{Object: map[string]any{"data": edited}})
	if len(d.Fields) != MaxFields+1 || d.Fields[MaxFields] != "and 10 more" {
		t.Errorf("fields = %v, want %d and a count of the rest", d.Fields, MaxFields)
	}
}

func TestCorrectionsBackOff(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c Corrections
	steps := []struct {
		at      time.Duration
		allowed bool
		make    bool
		next    time.Duration // after t0; -1: none
	}{
		{0, true, true, -1},
		{100 * time.Millisecond, true, true, -1},
		{200 * time.Millisecond, true, true, 1200 * time.Millisecond}, // third: 1 s wait
		{500 * time.Millisecond, false, false, 1200 * time.Millisecond},
		{1200 * time.Millisecond, true, true, 3200 * time.Millisecond}, // fourth: 2 s
		{2 * time.Second, false, false, 3200 * time.Millisecond},
		{3*time.Minute + 3200*time.Millisecond, true, true, -1}, // a quiet minute: free again
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if got := c.Allowed(now); got != s.allowed {
			t.Fatalf("step %d: Allowed = %t, want %t", i, got, s.allowed)
		}
		if s.make {
			c.Made(now)
		}
		want := time.Time{}
		if s.next >= 0 {
			want = t0.Add(s.next)
		}
		if got := c.Next(); !got.Equal(want) {
			t.Fatalf("step %d: Next = %s, want %s", i, got, want)
		}
	}
	var long Corrections
	for i := range 20 {
		long.Made(t0.Add(time.Duration(i) * time.Second))
	}
	if wait := long.Next().Sub(t0.Add(19 * time.Second)); wait != 256*time.Second {
		t.Errorf("backoff after 20 corrections = %s, want 256s, the longest", wait)
	}
}
