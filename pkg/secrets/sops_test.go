package secrets

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/yaml"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app
type: Opaque
stringData:
  password: hunter2-plaintext
  user: admin-plaintext
`

func identity(t testing.TB) (id, recipient string) {
	t.Helper()
	id, recipient, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id, recipient
}

// asObject decodes a document as the agent receives it: through JSON with
// sorted keys, as the API server stores a ManifestWork.
func asObject(t testing.TB, doc []byte) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := json.Unmarshal(j, &obj.Object); err != nil {
		t.Fatal(err)
	}
	return obj
}

func encrypt(t testing.TB, recipients ...string) *unstructured.Unstructured {
	t.Helper()
	enc, err := Encrypt([]byte(plainSecret), recipients)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(enc), "plaintext") {
		t.Fatalf("encrypted file holds plaintext:\n%s", enc)
	}
	return asObject(t, enc)
}

func TestIsEncrypted(t *testing.T) {
	_, r := identity(t)
	cases := []struct {
		name string
		obj  map[string]any
		want bool
	}{
		{"plain", asObject(t, []byte(plainSecret)).Object, false},
		{"encrypted", encrypt(t, r).Object, true},
		{"a field named sops", map[string]any{"sops": map[string]any{"mode": "x"}}, false},
		{"sops not a map", map[string]any{"sops": "yes"}, false},
		{"mac not encrypted", map[string]any{"sops": map[string]any{"mac": "abc"}}, false},
	}
	for _, c := range cases {
		if got := IsEncrypted(c.obj); got != c.want {
			t.Errorf("%s: IsEncrypted = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRecipients(t *testing.T) {
	_, r1 := identity(t)
	_, r2 := identity(t)
	got := Recipients(encrypt(t, r2, r1, r1).Object)
	if len(got) != 2 || !slices.Contains(got, r1) || !slices.Contains(got, r2) {
		t.Fatalf("Recipients = %v, want %s and %s once each", got, r1, r2)
	}
	groups := map[string]any{"sops": map[string]any{"key_groups": []any{
		map[string]any{"age": []any{map[string]any{"recipient": r1}}},
		map[string]any{"age": []any{map[string]any{"recipient": r2}}},
	}}}
	if got := Recipients(groups); len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("Recipients(key_groups) = %v", got)
	}
	if got := Recipients(map[string]any{}); got != nil {
		t.Fatalf("Recipients(plain) = %v, want none", got)
	}
}

func TestDecrypt(t *testing.T) {
	id, r := identity(t)
	k, err := NewKeyring(id)
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, r)
	before, _ := json.Marshal(enc.Object)
	out, err := k.Decrypt(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Object[StanzaKey]; ok {
		t.Fatal("decrypted object still has the sops stanza")
	}
	if v, _, _ := unstructured.NestedString(out.Object, "stringData", "password"); v != "hunter2-plaintext" {
		t.Fatalf("password = %q", v)
	}
	if out.GetName() != "db" || out.GetNamespace() != "app" || out.GetKind() != "Secret" {
		t.Fatalf("identity changed: %v", out.Object)
	}
	after, _ := json.Marshal(enc.Object)
	if string(before) != string(after) {
		t.Fatal("Decrypt modified its input")
	}
}

// TestRotation: a file encrypted for the old and the new key opens with
// either, so a cluster can move to its new key before files are re-encrypted.
func TestRotation(t *testing.T) {
	oldID, oldR := identity(t)
	newID, newR := identity(t)
	enc := encrypt(t, oldR, newR)
	for name, ids := range map[string][]string{"old": {oldID}, "new": {newID}, "both": {newID, oldID}} {
		k, err := NewKeyring(ids...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Decrypt(enc); err != nil {
			t.Errorf("%s keyring: %v", name, err)
		}
	}
	onlyOld := encrypt(t, oldR)
	k, _ := NewKeyring(newID)
	if _, err := k.Decrypt(onlyOld); err == nil {
		t.Fatal("a file encrypted only for the old key opened with the new one")
	}
}

func TestDecryptNotForUs(t *testing.T) {
	_, other := identity(t)
	id, mine := identity(t)
	k, _ := NewKeyring(id)
	_, err := k.Decrypt(encrypt(t, other))
	var nf *NotForUsError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want NotForUsError", err)
	}
	msg := err.Error()
	for _, want := range []string{other, mine, "secrets encrypt"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	var none *Keyring
	if _, err := none.Decrypt(encrypt(t, other)); !errors.As(err, &nf) || !strings.Contains(err.Error(), "no age identity") {
		t.Fatalf("nil keyring: %v", err)
	}
}

// TestDecryptTampered: ciphertexts are bound to their key path; moving one
// to another key, or altering it, fails without leaking any plaintext.
func TestDecryptTampered(t *testing.T) {
	id, r := identity(t)
	k, _ := NewKeyring(id)
	cases := map[string]func(m map[string]any){
		"swapped values": func(m map[string]any) {
			sd := m["stringData"].(map[string]any)
			sd["password"], sd["user"] = sd["user"], sd["password"]
		},
		"altered value": func(m map[string]any) {
			sd := m["stringData"].(map[string]any)
			v := sd["password"].(string)
			sd["password"] = strings.Replace(v, "data:", "data:AA", 1)
		},
		"wrapped key garbled": func(m map[string]any) {
			age := m["sops"].(map[string]any)["age"].([]any)[0].(map[string]any)
			age["enc"] = "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n"
		},
		"plaintext in place of a value": func(m map[string]any) {
			m["stringData"].(map[string]any)["password"] = "chosen-by-attacker"
		},
		"key_groups": func(m map[string]any) {
			m["sops"].(map[string]any)["key_groups"] = []any{map[string]any{}}
		},
		"comment rules": func(m map[string]any) {
			m["sops"].(map[string]any)["encrypted_comment_regex"] = "x"
		},
		"value not a string": func(m map[string]any) {
			m["stringData"].(map[string]any)["password"] = map[string]any{"x": int64(1)}
		},
	}
	for name, tamper := range cases {
		obj := encrypt(t, r)
		tamper(obj.Object)
		_, err := k.Decrypt(obj)
		if err == nil {
			t.Errorf("%s: decrypted", name)
			continue
		}
		if strings.Contains(err.Error(), "plaintext") {
			t.Errorf("%s: error leaks plaintext: %v", name, err)
		}
	}
}

func TestNewKeyring(t *testing.T) {
	id1, r1 := identity(t)
	id2, r2 := identity(t)
	k, err := NewKeyring("# fleet key\n"+id1+"\n\n", id2)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Recipients(); len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("Recipients = %v", got)
	}
	if _, err := NewKeyring("AGE-SECRET-KEY-1NOTAKEY"); err == nil {
		t.Fatal("a malformed identity was accepted")
	}
}

func TestEncryptRefuses(t *testing.T) {
	_, r := identity(t)
	enc, _ := Encrypt([]byte(plainSecret), []string{r})
	cases := []struct {
		name, doc  string
		recipients []string
		want       string
	}{
		{"no recipients", plainSecret, nil, "no recipients"},
		{"bad recipient", plainSecret, []string{"age1nope"}, "age1nope"},
		{"two documents", plainSecret + "---\n" + plainSecret, []string{r}, "2 YAML documents"},
		{"already encrypted", string(enc), []string{r}, "already encrypted"},
		{"nothing to encrypt", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nimmutable: true\n", []string{r}, "nothing to encrypt"},
	}
	for _, c := range cases {
		_, err := Encrypt([]byte(c.doc), c.recipients)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestOpener(t *testing.T) {
	id, r := identity(t)
	k, _ := NewKeyring(id)
	o := NewOpener(k)
	plain := asObject(t, []byte(plainSecret))
	if got, err := o.Open(plain); err != nil || got != plain {
		t.Fatalf("a plain object did not pass through: %v", err)
	}
	enc := encrypt(t, r)
	for range 2 { // the second comes from the cache
		got, err := o.Open(enc)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Object["stringData"]; ok {
			t.Fatal("stringData was not folded into data")
		}
		if v, _, _ := unstructured.NestedString(got.Object, "data", "password"); v != "aHVudGVyMi1wbGFpbnRleHQ=" {
			t.Fatalf("data.password = %q", v)
		}
		got.Object["data"] = nil // callers may change what they get
	}
	_, err := NewOpener(nil).Open(enc)
	if err == nil || !strings.Contains(err.Error(), "Secret app/db") || !strings.Contains(err.Error(), r) {
		t.Fatalf("without keys: %v", err)
	}
}

func TestClusterClaims(t *testing.T) {
	_, own := identity(t)
	_, fleet := identity(t)
	_, other := identity(t)
	mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}
	mc.Status.ClusterClaims = []clusterv1.ManagedClusterClaim{{Name: ClaimName, Value: own + "\n"}, {Name: HeldClaimName, Value: fleet + " " + own}}
	bare := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "new"}}
	if got := HeldBy(mc); !slices.Equal(got, []string{own, fleet}) {
		t.Errorf("HeldBy = %v, want own then fleet", got)
	}
	for _, c := range []struct {
		mc   *clusterv1.ManagedCluster
		file []string
		want bool
	}{{mc, []string{other, own}, true}, {mc, []string{fleet}, true}, {mc, []string{other}, false}, {bare, []string{own}, false}} {
		if got := CanDecrypt(c.mc, c.file); got != c.want {
			t.Errorf("%s CanDecrypt(%v) = %v", c.mc.Name, c.file, got)
		}
	}
	rs, missing := RecipientsOf([]*clusterv1.ManagedCluster{mc, bare})
	if !slices.Equal(rs, []string{own}) || !slices.Equal(missing, []string{"new"}) {
		t.Errorf("RecipientsOf = %v, missing %v", rs, missing)
	}
	// A claim holds at most 1024 bytes: what does not fit is counted.
	many := slices.Repeat([]string{fleet}, 20)
	v, omitted := heldClaimValue(many)
	if len(v) > maxClaimValue || omitted != 20-len(strings.Fields(v)) || omitted == 0 {
		t.Errorf("heldClaimValue: %d bytes, %d omitted", len(v), omitted)
	}
}
