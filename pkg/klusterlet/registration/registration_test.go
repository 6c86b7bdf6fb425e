package registration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	_, good, err := newKeyAndRequest("c1", "klusterlet")
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

func selfSigned(t *testing.T, cn string, validity time.Duration) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(validity)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestStoredCredentials(t *testing.T) {
	ctx := context.Background()
	store := FileStore{Path: filepath.Join(t.TempDir(), "dir", "hub.kubeconfig")}
	r := &Registration{opts: Options{ClusterName: "c1", Store: store}}
	if c, why := r.stored(ctx); c != nil || why != "no hub kubeconfig stored yet" {
		t.Fatalf("empty store: %v %q", c, why)
	}
	save := func(cn string, validity time.Duration) {
		cert, key := selfSigned(t, cn, validity)
		kc, err := (&Credentials{Server: "https://hub:6443", CAData: cert, CertData: cert, KeyData: key}).Kubeconfig("c1")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save(ctx, kc); err != nil {
			t.Fatal(err)
		}
	}
	save(AgentUser("c1", "klusterlet"), time.Hour)
	c, why := r.stored(ctx)
	if c == nil || c.Server != "https://hub:6443" {
		t.Fatalf("valid credentials refused: %q", why)
	}
	if data, _ := store.Load(ctx); IdentityCluster(data) != "c1" {
		t.Errorf("IdentityCluster = %q", IdentityCluster(data))
	}
	save(AgentUser("c2", "klusterlet"), time.Hour)
	if c, why := r.stored(ctx); c != nil || !strings.Contains(why, "not cluster c1") {
		t.Errorf("another cluster's credentials: %v %q", c, why)
	}
	save(AgentUser("c1", "klusterlet"), -time.Second)
	if c, why := r.stored(ctx); c != nil || !strings.Contains(why, "expired") {
		t.Errorf("expired credentials: %v %q", c, why)
	}
}
