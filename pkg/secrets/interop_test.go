package secrets

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/keyservice"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The SOPS library is imported by these tests only (see codec.go): they
// check that what Encrypt writes, the library decrypts with its MAC, and
// that what the library writes, Decrypt opens.

// libraryDecrypt decrypts a YAML document as `sops --decrypt` does,
// verifying the MAC in file order.
func libraryDecrypt(t *testing.T, doc []byte, identity string) map[string]any {
	t.Helper()
	t.Setenv(sopsage.SopsAgeKeyEnv, identity)
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	tree, err := store.LoadEncryptedFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := aes.NewCipher()
	computed, err := tree.Decrypt(key, c)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != computed {
		t.Fatalf("MAC: stored %v, computed %v (%v)", stored, computed, err)
	}
	out, err := sops.EmitAsMap(tree.Branches)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// libraryEncrypt encrypts a YAML document as `sops --encrypt --age R` does,
// with the given encrypted regex ("" for SOPS' default rules).
func libraryEncrypt(t *testing.T, plain, recipient, regex string) []byte {
	t.Helper()
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	branches, err := store.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{{keys.MasterKey(mk)}}, EncryptedRegex: regex, Version: "3.13.3"}}
	if regex == "" {
		tree.Metadata.UnencryptedSuffix = "_unencrypted"
	}
	key, errs := tree.GenerateDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	c := aes.NewCipher()
	mac, err := tree.Encrypt(key, c)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC()
	if tree.Metadata.MessageAuthenticationCode, err = c.Encrypt(mac, key, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const typedDoc = `apiVersion: example.com/v1
kind: Config
metadata:
  name: typed
  namespace: app
spec:
  password: hunter2-plaintext
  port: 5432
  ratio: 0.25
  enabled: true
  empty: ""
  hosts:
  - a.example
  - b.example
  note_unencrypted: readable
`

func TestLibraryDecryptsEncrypt(t *testing.T) {
	id, r := identity(t)
	enc, err := Encrypt([]byte(plainSecret+"data:\n  token: dG9rZW4=\n  n: 7\n"), []string{r})
	if err != nil {
		t.Fatal(err)
	}
	got := libraryDecrypt(t, enc, id)
	sd := got["stringData"].(map[string]any)
	if sd["password"] != "hunter2-plaintext" || got["data"].(map[string]any)["n"] != 7 {
		t.Fatalf("the SOPS library decrypted %v", got)
	}
}

func TestDecryptOpensLibraryOutput(t *testing.T) {
	id, r := identity(t)
	k, _ := NewKeyring(id)
	for name, c := range map[string]struct{ doc, regex string }{
		"Secret, encrypted_regex":     {plainSecret, EncryptedRegex},
		"typed values, default rules": {typedDoc, ""},
	} {
		enc := libraryEncrypt(t, c.doc, r, c.regex)
		if strings.Contains(string(enc), "hunter2") {
			t.Fatalf("%s: not encrypted", name)
		}
		got, err := k.Decrypt(asObject(t, enc)) // keys sorted on the way, as on the agent
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := asObject(t, []byte(c.doc))
		a, _ := json.Marshal(got.Object)
		b, _ := json.Marshal(want.Object)
		if string(a) != string(b) {
			t.Errorf("%s:\n got %s\nwant %s", name, a, b)
		}
	}
}

// TestDecryptTypes: the values come back in the types an object decoded
// from JSON holds.
func TestDecryptTypes(t *testing.T) {
	id, r := identity(t)
	k, _ := NewKeyring(id)
	got, err := k.Decrypt(asObject(t, libraryEncrypt(t, typedDoc, r, "")))
	if err != nil {
		t.Fatal(err)
	}
	spec := got.Object["spec"].(map[string]any)
	if spec["port"] != int64(5432) || spec["ratio"] != 0.25 || spec["enabled"] != true {
		t.Fatalf("spec = %#v", spec)
	}
	if _, err := (&unstructured.Unstructured{Object: got.Object}).MarshalJSON(); err != nil {
		t.Fatal(err)
	}
}
