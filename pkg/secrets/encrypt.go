package secrets

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
)

// EncryptedRegex is what `secrets encrypt` encrypts: a Secret's values.
// Everything else (kind, metadata) stays readable so the hub can render,
// place and review the object. It is the convention Flux users follow.
const EncryptedRegex = "^(data|stringData)$"

// Encrypt encrypts a plain YAML document for the given age recipients, as
// `sops --encrypt --age R1,R2 --encrypted-regex EncryptedRegex` would; the
// `sops` CLI decrypts the result.
func Encrypt(plain []byte, recipients []string) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, fmt.Errorf("no recipients: the chosen clusters publish no age recipient (claim %s)", ClaimName)
	}
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, fmt.Errorf("reading the plain document: %w", err)
	}
	if len(branches) != 1 {
		return nil, fmt.Errorf("the file holds %d YAML documents: encrypt one object per file", len(branches))
	}
	if store.HasSopsTopLevelKey(branches[0]) {
		return nil, fmt.Errorf("the file is already encrypted: decrypt it with sops first, or edit it with `sops FILE`")
	}
	var group sops.KeyGroup
	for _, r := range dedupe(recipients) {
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r, err)
		}
		group = append(group, keys.MasterKey(mk))
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("generating the data key: %w", err)
	}
	for _, mk := range group {
		if err := mk.Encrypt(dataKey); err != nil {
			return nil, fmt.Errorf("wrapping the data key for %s: %w", mk.ToString(), err)
		}
	}
	tree := sops.Tree{
		Branches: branches,
		Metadata: sops.Metadata{
			KeyGroups:      []sops.KeyGroup{group},
			EncryptedRegex: EncryptedRegex,
			Version:        version.Version,
		},
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, fmt.Errorf("encrypting values: %w", err)
	}
	tree.Metadata.LastModified = time.Now().UTC()
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, fmt.Errorf("encrypting the MAC: %w", err)
	}
	return store.EmitEncryptedFile(tree)
}

func dedupe(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
