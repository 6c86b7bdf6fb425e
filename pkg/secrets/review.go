package secrets

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
)

// Redacted is what a review (preview, diff) may show of an encrypted
// document, read without any key: each encrypted value is replaced by a
// short digest of its ciphertext keyed with key, so an unchanged value
// reads the same at both revisions and a changed one differs; the stanza
// is reduced to its recipients, so a recipient added or dropped shows too.
// The hub cannot tell a new value from the same value encrypted again (the
// ciphertext changes either way); only a cluster holding a key can.
func Redacted(obj map[string]any, key []byte) map[string]any {
	out := redactTree(obj, key).(map[string]any)
	out[StanzaKey] = map[string]any{"recipients": toAny(Recipients(obj))}
	return out
}

func redactTree(v any, key []byte) any {
	switch x := v.(type) {
	case map[string]any:
		cp := make(map[string]any, len(x))
		for k, c := range x {
			if k != StanzaKey {
				cp[k] = redactTree(c, key)
			}
		}
		return cp
	case []any:
		cp := make([]any, len(x))
		for i, c := range x {
			cp[i] = redactTree(c, key)
		}
		return cp
	case string:
		if !isSealed(x) {
			return x
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(x))
		return "<encrypted, digest " + hex.EncodeToString(mac.Sum(nil)[:6]) + ">"
	}
	return v
}

func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// Undecryptable names, of the clusters given, those that hold no key for
// an encrypted document (by their ClusterClaims): they would not apply it.
func Undecryptable(obj map[string]any, clusters []*clusterv1.ManagedCluster) []string {
	if !IsEncrypted(obj) {
		return nil
	}
	file := Recipients(obj)
	var out []string
	for _, mc := range clusters {
		if !CanDecrypt(mc, file) {
			out = append(out, mc.Name)
		}
	}
	return out
}

// MissingRecipientMessage explains that clusters cannot decrypt the
// document what (kind namespace/name) and what to do.
func MissingRecipientMessage(what string, obj map[string]any) string {
	file := strings.Join(Recipients(obj), ", ")
	if file == "" {
		file = "no age recipient"
	}
	return fmt.Sprintf("%s is encrypted for %s; a cluster holding none of those keys (by its ClusterClaims %s, %s) "+
		"fails to apply it: re-encrypt it for the clusters it goes to (ocm-gitops secrets encrypt --placement NS/NAME FILE)",
		what, file, ClaimName, HeldClaimName)
}
