package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// TestKeyRotation follows the rotation that docs/security.md describes on
// a real managed cluster, each agent start played by loading the key
// Secret and publishing the claims as the klusterlet does: while the old
// key is kept as previous.agekey, files for the old recipient, the new one
// or both decrypt, and the old recipient is published as held; once it is
// deleted, only files re-encrypted for the new recipient do, and a file
// still for the old one fails naming both.
func TestKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("control plane")
	}
	ctx := context.Background()
	spoke := harness.NewSpoke(t, "cluster1")
	kube := kubernetes.NewForConfigOrDie(spoke.CP.Config)
	claims := clusterclient.NewForConfigOrDie(spoke.CP.Config)
	const ns, name = "open-cluster-management-agent", secrets.DefaultKeySecretName
	start := func() *secrets.Keyring { // what the klusterlet does at start
		t.Helper()
		k, err := secrets.LoadKeyring(ctx, kube, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := secrets.PublishRecipients(ctx, claims, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	published := func() (own, held string) {
		t.Helper()
		own, held, err := publishedClaims(ctx, spoke.C)
		if err != nil {
			t.Fatal(err)
		}
		return own, held
	}

	old := start().Recipients()[0]
	forOld := encryptFor(t, old)
	// Step 1: the old identity becomes previous.agekey, a new one identity.agekey.
	s := &corev1.Secret{}
	if err := spoke.C.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	id, fresh, err := secrets.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	s.Data["previous.agekey"] = s.Data[secrets.IdentityKey]
	s.Data[secrets.IdentityKey] = []byte(id)
	if err := spoke.C.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	opener := secrets.NewOpener(start())
	if own, held := published(); own != fresh || held != old {
		t.Fatalf("claims after the new key: own %q held %q, want %q and %q", own, held, fresh, old)
	}
	// Until the files are re-encrypted, old and new recipients both decrypt.
	for what, obj := range map[string]*unstructured.Unstructured{"old": forOld, "new": encryptFor(t, fresh), "both": encryptFor(t, old, fresh)} {
		if err := opensTo(opener, obj); err != nil {
			t.Errorf("a file for the %s recipient: %v", what, err)
		}
	}
	// Step 3: previous.agekey deleted once every file is re-encrypted.
	delete(s.Data, "previous.agekey")
	if err := spoke.C.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	opener = secrets.NewOpener(start())
	if own, held := published(); own != fresh || held != "" {
		t.Fatalf("claims after the old key is gone: own %q held %q", own, held)
	}
	if err := opensTo(opener, encryptFor(t, fresh)); err != nil {
		t.Errorf("a re-encrypted file: %v", err)
	}
	var notForUs *secrets.NotForUsError
	if err := opensTo(opener, forOld); !errors.As(err, &notForUs) || !strings.Contains(err.Error(), old) || !strings.Contains(err.Error(), fresh) {
		t.Errorf("a file still for the old recipient: %v, want a failure naming both recipients", err)
	}
}

func encryptFor(t *testing.T, recipients ...string) *unstructured.Unstructured {
	t.Helper()
	enc, err := secrets.Encrypt([]byte(secretYAML(plaintext)), recipients)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(enc, &obj.Object); err != nil {
		t.Fatal(err)
	}
	return obj
}

// opensTo checks that the opener decrypts obj to the plaintext.
func opensTo(o *secrets.Opener, obj *unstructured.Unstructured) error {
	plain, err := o.Open(obj)
	if err != nil {
		return err
	}
	if got, _, _ := unstructured.NestedString(plain.Object, "data", "password"); got == "" || strings.Contains(fmt.Sprint(plain.Object), "ENC[") {
		return fmt.Errorf("not decrypted: %v", plain.Object["data"])
	}
	return nil
}
