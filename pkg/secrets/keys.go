package secrets

import (
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
)

const (
	// ClaimName is the ClusterClaim through which a klusterlet publishes its
	// own age recipient on the hub (its ManagedCluster's
	// status.clusterClaims), where Placements, the inventory and `secrets
	// encrypt` read it.
	ClaimName = "age.secrets.ocm-gitops.io"
	// HeldClaimName lists, space-separated, the further recipients whose
	// identities the cluster holds: fleet keys an administrator installed,
	// and the previous key during a rotation. Previews read it to tell
	// whether a cluster can decrypt a file; `secrets encrypt` does not
	// encrypt for them (fleet keys are named with --recipients).
	HeldClaimName = "held.age.secrets.ocm-gitops.io"
	// maxClaimValue is the longest value a ClusterClaim takes.
	maxClaimValue = 1024
)

// NewIdentity generates an X25519 age identity; it returns the private key
// ("AGE-SECRET-KEY-1...") and its recipient ("age1...").
func NewIdentity() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("generating an age identity: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}

// RecipientOf is the age recipient a ManagedCluster publishes as its own
// ("" when none).
func RecipientOf(mc *clusterv1.ManagedCluster) string {
	return strings.TrimSpace(claim(mc, ClaimName))
}

// HeldBy lists every recipient whose identity the cluster holds: its own
// first, then fleet keys and a key being rotated out.
func HeldBy(mc *clusterv1.ManagedCluster) []string {
	var out []string
	if own := RecipientOf(mc); own != "" {
		out = append(out, own)
	}
	for _, r := range strings.Fields(claim(mc, HeldClaimName)) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// CanDecrypt says whether a cluster holds an identity for one of a file's
// recipients, as far as its claims tell.
func CanDecrypt(mc *clusterv1.ManagedCluster, fileRecipients []string) bool {
	for _, r := range HeldBy(mc) {
		if slices.Contains(fileRecipients, r) {
			return true
		}
	}
	return false
}

// RecipientsOf returns the own recipients of clusters, and the names of
// those that publish none (their agents could not decrypt).
func RecipientsOf(clusters []*clusterv1.ManagedCluster) (recipients, missing []string) {
	for _, mc := range clusters {
		if r := RecipientOf(mc); r != "" {
			recipients = append(recipients, r)
		} else {
			missing = append(missing, mc.Name)
		}
	}
	return recipients, missing
}

// heldClaimValue is the value of HeldClaimName for recipients, and how many
// of them did not fit a claim.
func heldClaimValue(recipients []string) (string, int) {
	value := ""
	for i, r := range recipients {
		next := strings.TrimSpace(value + " " + r)
		if len(next) > maxClaimValue {
			return value, len(recipients) - i
		}
		value = next
	}
	return value, 0
}

func claim(mc *clusterv1.ManagedCluster, name string) string {
	for _, c := range mc.Status.ClusterClaims {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}
