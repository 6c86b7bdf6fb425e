// Package secrets decrypts SOPS-encrypted manifests on the managed cluster
// with the cluster's own age identity, and encrypts them for the recipients
// of chosen clusters. The hub never holds a private key: it only reads the
// public parts of the `sops` stanza (recipients, which keys are encrypted).
//
// Only age is supported. The SOPS library does the tree walk, the AES-GCM
// values and the MAC; age unwraps the data key with identities held in
// memory (never SOPS' environment or files).
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	"google.golang.org/grpc"
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
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding encrypted object: %w", err)
	}
	plain, err := k.decryptJSON(data)
	if err != nil {
		return nil, err
	}
	out := &unstructured.Unstructured{}
	if err := json.Unmarshal(plain, &out.Object); err != nil {
		return nil, fmt.Errorf("decoding decrypted object: %w", err)
	}
	return out, nil
}

func (k *Keyring) canOpen(fileRecipients []string) bool {
	for _, r := range fileRecipients {
		if slices.Contains(k.recipients, r) {
			return true
		}
	}
	return false
}

// decryptJSON decrypts a SOPS JSON document and checks its MAC.
func (k *Keyring) decryptJSON(data []byte) (_ []byte, err error) {
	// Malformed stanzas have made the SOPS library panic (Flux saw the
	// same): a hostile manifest must fail, not stop the agent.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed SOPS document: %v", r)
		}
	}()
	store := sopsjson.NewStore(&config.JSONStoreConfig{})
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		return nil, fmt.Errorf("reading SOPS stanza: %w", err)
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{ageService{ids: k.identities}}, nil)
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key: %w", err)
	}
	// Each value is AES-GCM sealed with its key path as additional data, so
	// it cannot be altered or moved to another key. The whole-document MAC
	// is not checked: it hashes values in file order, and the order is gone
	// once the object has been through the API server (JSON keys sorted);
	// Kustomize edits unencrypted fields too. Flux skips it for the same
	// reasons. docs/security.md says what this leaves open.
	if _, err := tree.Decrypt(key, aes.NewCipher()); err != nil {
		return nil, fmt.Errorf("decrypting values: %w", err)
	}
	return store.EmitPlainFile(tree.Branches)
}

// ageService is an in-process SOPS key service that unwraps data keys with
// the keyring's age identities and refuses every other key type.
type ageService struct {
	ids sopsage.ParsedIdentities
}

func (s ageService) Decrypt(_ context.Context, req *keyservice.DecryptRequest, _ ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	ak := req.GetKey().GetAgeKey()
	if ak == nil || len(s.ids) == 0 {
		// Without identities SOPS would look in the environment and the
		// user's files; the agent uses only its keyring.
		return nil, errors.New("only age keys are supported")
	}
	mk := &sopsage.MasterKey{Recipient: ak.GetRecipient(), EncryptedKey: string(req.GetCiphertext())}
	s.ids.ApplyToMasterKey(mk)
	plain, err := mk.Decrypt()
	if err != nil {
		return nil, err
	}
	return &keyservice.DecryptResponse{Plaintext: plain}, nil
}

func (s ageService) Encrypt(context.Context, *keyservice.EncryptRequest, ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return nil, errors.New("the agent's key service does not encrypt")
}
