package work

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	base, err := appliedBaseline(applied, "work-agent", nil)
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
			d := base.compare(live)
			if !reflect.DeepEqual(d.Fields, tc.want) || d.Deleted {
				t.Errorf("drift = %+v, want fields %v", d, tc.want)
			}
		})
	}
	if d := base.compare(nil); !d.Deleted || d.String() != "object was deleted" {
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
	base, err := appliedBaseline(applied, "work-agent", []string{".data.b"})
	if err != nil {
		t.Fatal(err)
	}
	live := mustObj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":{"a":"2","b":"2"}}`)
	if d := base.compare(live); !reflect.DeepEqual(d.Fields, []string{".data.a"}) {
		t.Errorf("drift = %+v, want only .data.a", d)
	}
}

func TestShapeBaselineDrift(t *testing.T) {
	desired := mustObj(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"n","labels":{"a":"1"}},
	 "spec":{"ports":[{"port":80}],"selector":{"app":"x"}}}`)
	applied := mustObj(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"n","labels":{"a":"1","added":"y"},"uid":"u"},
	 "spec":{"clusterIP":"10.0.0.1","ports":[{"port":80,"protocol":"TCP","targetPort":80}],"selector":{"app":"x"}}}`)
	base := shapeBaseline(desired, applied, nil)
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
			d := base.compare(mustObj(t, `{"apiVersion":"v1","kind":"Service",`+tc.live[1:]))
			if !reflect.DeepEqual(d.Fields, tc.want) {
				t.Errorf("drift = %v, want %v", d.Fields, tc.want)
			}
		})
	}
}
