package registration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"testing"
)

func TestParseAgentUser(t *testing.T) {
	for _, tc := range []struct {
		user, cluster, agent string
		ok                   bool
	}{
		{"system:open-cluster-management:c1:klusterlet", "c1", "klusterlet", true},
		{"system:open-cluster-management:c1", "", "", false},
		{"system:open-cluster-management:c1:a:b", "", "", false},
		{"system:serviceaccount:ns:sa", "", "", false},
	} {
		c, a, ok := ParseAgentUser(tc.user)
		if c != tc.cluster || a != tc.agent || ok != tc.ok {
			t.Errorf("ParseAgentUser(%q) = %q, %q, %t", tc.user, c, a, ok)
		}
	}
}

func request(t *testing.T, cn string, orgs []string, ips ...net.IP) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestValidateRequest(t *testing.T) {
	_, good, err := NewRequest("c1", "klusterlet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ValidateRequest(good, "c1"); err != nil {
		t.Errorf("agent's own request rejected: %v", err)
	}
	for name, tc := range map[string]struct {
		csr     []byte
		cluster string
		want    string
	}{
		"other cluster":  {good, "c2", "not an agent of cluster c2"},
		"extra group":    {request(t, AgentUser("c1", "k"), []string{ClusterGroup("c1"), GroupManagedClusters, "system:masters"}), "c1", "must be exactly"},
		"missing group":  {request(t, AgentUser("c1", "k"), []string{ClusterGroup("c1")}), "c1", "must be exactly"},
		"alt names":      {request(t, AgentUser("c1", "k"), []string{ClusterGroup("c1"), GroupManagedClusters}, net.ParseIP("10.0.0.1")), "c1", "subject alternative names"},
		"not a request":  {[]byte("junk"), "c1", "not a PEM-encoded"},
		"admin identity": {request(t, "admin", []string{ClusterGroup("c1"), GroupManagedClusters}), "c1", "not an agent"},
	} {
		if _, err := ValidateRequest(tc.csr, tc.cluster); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
