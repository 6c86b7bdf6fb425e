// Package secrets decrypts SOPS-encrypted manifests on the managed cluster
// with the cluster's own age identity, and encrypts them for the recipients
// of chosen clusters. The hub never holds a private key: it only reads the
// public parts of the `sops` stanza (recipients, which keys are encrypted).
//
// Only age is supported. SOPS' age key source unwraps the data key with
// identities held in memory (never SOPS' environment or files); codec.go
// says why the values are opened here rather than by SOPS' tree package.
package secrets

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"
	sopsage "github.com/getsops/sops/v3/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// StanzaKey is the top-level field SOPS adds to an encrypted document.
const StanzaKey = "sops"

// IsEncrypted says whether obj is a SOPS-encrypted document: a top-level
// `sops` map carrying a MAC. Objects that merely have a field named sops
// (a CRD could) are not taken for encrypted ones.
func IsEncrypted(obj map[string]any) bool {
	st, ok := obj[StanzaKey].(map[string]any)
	if !ok {
		return false
	}
	mac, ok := st["mac"].(string)
	return ok && strings.HasPrefix(mac, "ENC[")
}

// Recipients lists the age recipients a document is encrypted for, in the
// order of its stanza. It reads only public metadata.
func Recipients(obj map[string]any) []string {
	st, _ := obj[StanzaKey].(map[string]any)
	var out []string
	add := func(list any) {
		items, _ := list.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if r, ok := m["recipient"].(string); ok && r != "" && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	add(st["age"])
	groups, _ := st["key_groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		add(gm["age"])
	}
	return out
}

// Keyring holds a cluster's age identities (its own, fleet keys, a key
// being rotated out) and their recipients.
type Keyring struct {
	identities sopsage.ParsedIdentities
	recipients []string
}

// NewKeyring parses age identities ("AGE-SECRET-KEY-1..." lines; blank
// lines and # comments are skipped).
func NewKeyring(identities ...string) (*Keyring, error) {
	k := &Keyring{}
	for _, text := range identities {
		ids, err := age.ParseIdentities(strings.NewReader(text))
		if err != nil {
			return nil, fmt.Errorf("parsing age identity: %w", err)
		}
		for _, id := range ids {
			x, ok := id.(*age.X25519Identity)
			if !ok {
				return nil, fmt.Errorf("unsupported age identity type %T: use X25519 keys (age-keygen)", id)
			}
			k.identities = append(k.identities, x)
			k.recipients = append(k.recipients, x.Recipient().String())
		}
	}
	return k, nil
}

// Recipients are the public keys of the keyring's identities.
func (k *Keyring) Recipients() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.recipients)
}

// NotForUsError says that a document is encrypted for none of this
// cluster's recipients. It names both sides so the fix is obvious:
// re-encrypt the file including the cluster's recipient.
type NotForUsError struct {
	File    []string // the document's age recipients
	Cluster []string // this cluster's recipients
}

func (e *NotForUsError) Error() string {
	file := strings.Join(e.File, ", ")
	if file == "" {
		file = "no age recipient (only other key types, which this agent does not use)"
	}
	cluster := strings.Join(e.Cluster, ", ")
	if cluster == "" {
		cluster = "none (the agent has no age identity)"
	}
	return fmt.Sprintf("cannot decrypt: encrypted for %s; this cluster's recipient is %s; "+
		"re-encrypt the file for this cluster (ocm-gitops secrets encrypt)", file, cluster)
}

// Decrypt returns the plaintext object of a SOPS-encrypted one, without its
// stanza. The input is not modified. Errors never contain plaintext.
func (k *Keyring) Decrypt(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	recipients := Recipients(obj.Object)
	if k == nil || !k.canOpen(recipients) {
		return nil, &NotForUsError{File: recipients, Cluster: k.Recipients()}
	}
	return k.decrypt(obj)
}

func (k *Keyring) canOpen(fileRecipients []string) bool {
	for _, r := range fileRecipients {
		if slices.Contains(k.recipients, r) {
			return true
		}
	}
	return false
}

// decrypt unwraps the data key with an identity of the keyring and opens
// every encrypted value of a copy of obj.
//
// Each value is AES-GCM sealed with its key path as additional data, so it
// cannot be altered or moved to another key. The whole-document MAC is not
// checked: it hashes values in file order, and the order is gone once the
// object has been through the API server (JSON keys sorted); Kustomize
// edits unencrypted fields too. Flux skips it for the same reasons;
// docs/security.md says what this leaves open.
func (k *Keyring) decrypt(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	stanza, _ := obj.Object[StanzaKey].(map[string]any)
	r, err := rulesOf(stanza)
	if err != nil {
		return nil, err
	}
	key, err := k.dataKey(stanza)
	if err != nil {
		return nil, err
	}
	out := obj.DeepCopy()
	delete(out.Object, StanzaKey)
	if _, err := r.openTree(out.Object, nil, key); err != nil {
		return nil, err
	}
	return out, nil
}

// dataKey unwraps the document's data key with the first of its age
// entries the keyring holds an identity for.
func (k *Keyring) dataKey(stanza map[string]any) ([]byte, error) {
	if groups, _ := stanza["key_groups"].([]any); len(groups) > 0 {
		return nil, errors.New("sops key_groups (Shamir secret sharing) are not supported: encrypt for a plain list of age recipients")
	}
	entries, _ := stanza["age"].([]any)
	var errs []error
	for _, e := range entries {
		m, _ := e.(map[string]any)
		r, _ := m["recipient"].(string)
		enc, _ := m["enc"].(string)
		if !slices.Contains(k.recipients, r) {
			continue
		}
		mk := &sopsage.MasterKey{Recipient: r, EncryptedKey: enc}
		k.identities.ApplyToMasterKey(mk)
		key, err := mk.Decrypt()
		if err == nil && len(key) != 32 {
			err = fmt.Errorf("the data key has %d bytes, want 32", len(key))
		}
		if err == nil {
			return key, nil
		}
		errs = append(errs, fmt.Errorf("unwrapping the data key for %s: %w", r, err))
	}
	if len(errs) == 0 {
		return nil, &NotForUsError{File: Recipients(map[string]any{StanzaKey: stanza}), Cluster: k.Recipients()}
	}
	return nil, errors.Join(errs...)
}
