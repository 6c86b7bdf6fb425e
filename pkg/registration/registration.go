// Package registration holds the identity conventions both halves of cluster
// registration share, which are OCM's: user and group names of a cluster's
// agent, the labels and signer of its certificate requests, the shape of a
// valid request, and the name of its Lease.
//
// Package agent is the managed cluster's half (join, certificate rotation,
// Lease, status); package hub is the hub's (approval, signing, access,
// availability).
package registration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"strings"
)

// Identity conventions of OCM's registration.
const (
	// userPrefix starts the user and group names of managed clusters.
	userPrefix = "system:open-cluster-management:"
	// GroupManagedClusters is the group every cluster's identity is in.
	GroupManagedClusters = "system:open-cluster-management:managed-clusters"
	// LabelClusterName marks a cluster's CertificateSigningRequests.
	LabelClusterName = "open-cluster-management.io/cluster-name"
	// LeaseName is the Lease a cluster's agent renews in its hub namespace.
	LeaseName = "managed-cluster-lease"
	// DefaultBootstrapGroup is the group bootstrap identities belong to.
	DefaultBootstrapGroup = "system:bootstrappers:managedcluster"
	// SignerName is the signer of cluster client certificates.
	SignerName = "kubernetes.io/kube-apiserver-client"
)

// ClusterGroup is the group of a cluster's identities; the hub grants it
// access to the cluster's namespace.
func ClusterGroup(cluster string) string { return userPrefix + cluster }

// AgentUser is the user name of a cluster's agent.
func AgentUser(cluster, agent string) string { return userPrefix + cluster + ":" + agent }

// ParseAgentUser splits an agent user name into cluster and agent names.
func ParseAgentUser(user string) (cluster, agent string, ok bool) {
	rest, found := strings.CutPrefix(user, userPrefix)
	if !found {
		return "", "", false
	}
	cluster, agent, ok = strings.Cut(rest, ":")
	if !ok || cluster == "" || agent == "" || strings.Contains(agent, ":") {
		return "", "", false
	}
	return cluster, agent, true
}

// ValidateRequest checks that a certificate request asks for exactly the
// identity of one cluster's agent: the right common name, and the cluster's
// group and the managed-clusters group as organizations, nothing more (so a
// request cannot smuggle in, say, system:masters).
func ValidateRequest(csrPEM []byte, cluster string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("the request is not a PEM-encoded CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	c, _, ok := ParseAgentUser(req.Subject.CommonName)
	if !ok || c != cluster {
		return nil, fmt.Errorf("common name %q is not an agent of cluster %s (want %s<agent>)", req.Subject.CommonName, cluster, userPrefix+cluster+":")
	}
	orgs := map[string]bool{}
	for _, o := range req.Subject.Organization {
		orgs[o] = true
	}
	if len(orgs) != 2 || !orgs[ClusterGroup(cluster)] || !orgs[GroupManagedClusters] {
		return nil, fmt.Errorf("organizations %v must be exactly %s and %s", req.Subject.Organization, ClusterGroup(cluster), GroupManagedClusters)
	}
	if len(req.DNSNames)+len(req.EmailAddresses)+len(req.IPAddresses)+len(req.URIs) > 0 {
		return nil, fmt.Errorf("a client certificate request must not carry subject alternative names")
	}
	return req, nil
}

// NewRequest creates a private key and a certificate request for the
// identity of a cluster's agent, shaped as ValidateRequest wants it.
func NewRequest(cluster, agent string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{
			CommonName:   AgentUser(cluster, agent),
			Organization: []string{ClusterGroup(cluster), GroupManagedClusters},
		},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate request: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
