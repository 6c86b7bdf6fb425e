package render

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	workv1 "open-cluster-management.io/api/work/v1"
)

// object makes an object whose JSON is padded by pad bytes of data.
func object(kind, name string, pad int) *unstructured.Unstructured {
	apiVersion := "v1"
	if kind == "CustomResourceDefinition" {
		apiVersion = "apiextensions.k8s.io/v1"
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name},
		"data":     map[string]any{"x": strings.Repeat("x", pad)},
	}}
}

func sizeOf(t *testing.T, o *unstructured.Unstructured) int {
	n, err := ManifestSize(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSplit(t *testing.T) {
	crd := object("CustomResourceDefinition", "crd", 100)
	ns := object("Namespace", "ns", 100)
	a := object("ConfigMap", "a", 300)
	b := object("ConfigMap", "b", 300)
	c := object("ConfigMap", "c", 300)
	small := sizeOf(t, crd)
	medium := sizeOf(t, a)

	cases := []struct {
		name    string
		objs    []*unstructured.Unstructured
		max     int
		want    [][]string
		wantErr string
	}{
		{name: "nothing", objs: nil, max: 1000, want: nil},
		{name: "all fit in one", objs: []*unstructured.Unstructured{crd, ns, a, b, c}, max: ManifestLimit,
			want: [][]string{{"crd", "ns", "a", "b", "c"}}},
		{name: "exactly at the limit", objs: []*unstructured.Unstructured{crd, ns}, max: small + sizeOf(t, ns),
			want: [][]string{{"crd", "ns"}}},
		{name: "one byte under the limit", objs: []*unstructured.Unstructured{crd, ns}, max: small + sizeOf(t, ns) - 1,
			want: [][]string{{"crd"}, {"ns"}}},
		{name: "order kept, definitions first", objs: []*unstructured.Unstructured{crd, ns, a, b, c}, max: 2*small + medium,
			want: [][]string{{"crd", "ns", "a"}, {"b", "c"}}},
		{name: "one per part", objs: []*unstructured.Unstructured{a, b, c}, max: medium,
			want: [][]string{{"a"}, {"b"}, {"c"}}},
		{name: "an object over the limit", objs: []*unstructured.Unstructured{a, object("Secret", "huge", 5000)}, max: 2000,
			wantErr: "Secret huge is"},
		{name: "no limit", objs: []*unstructured.Unstructured{a}, max: 0, wantErr: "must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts, err := Split(c.objs, c.max)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, p := range parts {
				var ns []string
				total := 0
				for _, o := range p {
					ns = append(ns, o.GetName())
					total += sizeOf(t, o)
				}
				if total > c.max {
					t.Errorf("part %v is %d bytes, over %d", ns, total, c.max)
				}
				got = append(got, ns)
			}
			if g, w := strings.Join(flatten(got), "|"), strings.Join(flatten(c.want), "|"); g != w {
				t.Errorf("parts %v, want %v", got, c.want)
			}
		})
	}
}

func flatten(parts [][]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, strings.Join(p, ","))
	}
	return out
}

// TestManifestSizeMatchesOCM checks the count against OCM's own webhook
// test: two Secrets with 300 KiB and 200 KiB of data count 512192 bytes
// there, where each manifest is encoded with Unstructured.MarshalJSON, which
// ends in a newline. The hub encodes with json.Marshal (no newline), so the
// same objects count exactly 2 bytes less, and by the same rule.
func TestManifestSizeMatchesOCM(t *testing.T) {
	secret := func(size int) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"namespace": "test", "name": "test"},
			"data":     strings.Repeat("a", size),
		}}
	}
	ours, ocm := 0, 0
	for _, s := range []*unstructured.Unstructured{secret(300 * 1024), secret(200 * 1024)} {
		ours += sizeOf(t, s)
		raw, err := s.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		ocm += (&workv1.Manifest{RawExtension: runtime.RawExtension{Raw: raw}}).Size()
		compact, _ := json.Marshal(s.Object)
		if n := sizeOf(t, s); n <= len(compact) || n > len(compact)+10 {
			t.Errorf("size %d for %d bytes of JSON: framing is a few bytes", n, len(compact))
		}
	}
	if ocm != 512192 {
		t.Errorf("OCM's encoding counts %d, its webhook test says 512192", ocm)
	}
	if ours != ocm-2 {
		t.Errorf("counted %d, want %d", ours, ocm-2)
	}
	if ManifestLimit != 512000 {
		t.Errorf("ManifestLimit %d, OCM's is 512000", ManifestLimit)
	}
}
