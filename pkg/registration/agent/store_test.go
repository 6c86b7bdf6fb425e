package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

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
	save(registration.AgentUser("c1", "klusterlet"), time.Hour)
	c, why := r.stored(ctx)
	if c == nil || c.Server != "https://hub:6443" {
		t.Fatalf("valid credentials refused: %q", why)
	}
	if data, _ := store.Load(ctx); IdentityCluster(data) != "c1" {
		t.Errorf("IdentityCluster = %q", IdentityCluster(data))
	}
	save(registration.AgentUser("c2", "klusterlet"), time.Hour)
	if c, why := r.stored(ctx); c != nil || !strings.Contains(why, "not cluster c1") {
		t.Errorf("another cluster's credentials: %v %q", c, why)
	}
	save(registration.AgentUser("c1", "klusterlet"), -time.Second)
	if c, why := r.stored(ctx); c != nil || !strings.Contains(why, "expired") {
		t.Errorf("expired credentials: %v %q", c, why)
	}
}
