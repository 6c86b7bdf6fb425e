package render

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// TestRenderPassesSOPSThrough: SOPS-encrypted objects render untouched in
// plain folders and through Kustomize (which may rewrite their namespace and
// labels): the stanza and the sealed values are kept, and the cluster's
// identity still opens the rendered object.
func TestRenderPassesSOPSThrough(t *testing.T) {
	id, recipient, err := secrets.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := secrets.Encrypt([]byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\ntype: Opaque\nstringData:\n  password: hunter2-plaintext\n"), []string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	var original map[string]any
	if err := yaml.Unmarshal(enc, &original); err != nil {
		t.Fatal(err)
	}
	art := tempArtifact(t, map[string]string{
		"plain/secret.yaml":       string(enc),
		"kust/secret.yaml":        string(enc),
		"kust/kustomization.yaml": "resources:\n- secret.yaml\nnamespace: shop\nlabels:\n- pairs:\n    team: shop\n",
	})
	keys, err := secrets.NewKeyring(id)
	if err != nil {
		t.Fatal(err)
	}
	for path, wantNS := range map[string]string{"plain": "apps", "kust": "shop"} {
		out := mustRender(t, NewRenderer(), art, subscription("s", "fleet", path), Cluster{Name: "c1"})
		if len(out.Objects) != 1 {
			t.Fatalf("%s: %d objects", path, len(out.Objects))
		}
		obj := out.Objects[0]
		if !reflect.DeepEqual(obj.Object["sops"], original["sops"]) || !reflect.DeepEqual(obj.Object["stringData"], original["stringData"]) {
			t.Errorf("%s: the stanza or the sealed values changed:\n%v", path, obj.Object)
		}
		if obj.GetNamespace() != wantNS {
			t.Errorf("%s: namespace %q, want %q", path, obj.GetNamespace(), wantNS)
		}
		plain, err := keys.Decrypt(obj)
		if err != nil {
			t.Fatalf("%s: the rendered object does not open: %v", path, err)
		}
		if v, _, _ := unstructured.NestedString(plain.Object, "stringData", "password"); v != "hunter2-plaintext" {
			t.Errorf("%s: password %q", path, v)
		}
	}
}
