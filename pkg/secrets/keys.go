package secrets

import (
	"fmt"

	"filippo.io/age"
)

// ClaimName is the ClusterClaim through which a klusterlet publishes its age
// recipient on the hub (its ManagedCluster's status.clusterClaims), where
// Placements, the inventory and `secrets encrypt` read it.
const ClaimName = "age.secrets.ocm-gitops.io"

// NewIdentity generates an X25519 age identity; it returns the private key
// ("AGE-SECRET-KEY-1...") and its recipient ("age1...").
func NewIdentity() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("generating an age identity: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}
