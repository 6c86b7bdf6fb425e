package source

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Keys of the Channel's Secret and ConfigMap, as OCM names them.
const (
	KeyUser        = "user"
	KeyAccessToken = "accessToken"
	KeyPassword    = "password"
	KeySSHKey      = "sshKey"
	KeyPassphrase  = "passphrase"
	KeyClientKey   = "clientKey"
	KeyClientCert  = "clientCert"
	KeyCACerts     = "caCerts"
	// KeyKnownHosts holds known_hosts lines for SSH Git URLs (ocm-gitops
	// extension: OCM scans the host key on every clone, which trusts whoever
	// answers). "known_hosts" is accepted too.
	KeyKnownHosts    = "sshKnownHosts"
	keyKnownHostsAlt = "known_hosts"

	KeyAccessKeyID     = "AccessKeyID"
	KeySecretAccessKey = "SecretAccessKey"
	KeyRegion          = "Region"
)

// CredentialsFor reads the Channel's spec.secretRef and spec.configMapRef (both
// in the Channel's namespace) and checks their keys fit the Channel's type.
// Errors name the Channel, the field and the fix, never a secret value.
func CredentialsFor(ctx context.Context, c client.Reader, ch *appsv1.Channel) (Credentials, error) {
	var creds Credentials
	name := ch.Namespace + "/" + ch.Name
	if ref := ch.Spec.SecretRef; ref != nil {
		if err := sameNamespace(ch, ref.Namespace, "spec.secretRef"); err != nil {
			return creds, err
		}
		if ref.Name == "" {
			return creds, fmt.Errorf("Channel %s: spec.secretRef.name is empty; name a Secret in namespace %s or remove spec.secretRef", name, ch.Namespace)
		}
		sec := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ch.Namespace, Name: ref.Name}, sec); err != nil {
			if apierrors.IsNotFound(err) {
				return creds, fmt.Errorf("Channel %s: spec.secretRef: Secret %s/%s not found; create it or fix spec.secretRef.name", name, ch.Namespace, ref.Name)
			}
			return creds, fmt.Errorf("Channel %s: spec.secretRef: read Secret %s/%s: %w", name, ch.Namespace, ref.Name, err)
		}
		creds.Secret = map[string][]byte{}
		for k, v := range sec.Data {
			creds.Secret[k] = v
		}
		for k, v := range sec.StringData {
			creds.Secret[k] = []byte(v)
		}
		if ca := creds.Secret[KeyCACerts]; len(ca) > 0 {
			creds.CACerts = append(creds.CACerts, ca...)
			creds.CACerts = append(creds.CACerts, '\n')
		}
	}
	if ref := ch.Spec.ConfigMapRef; ref != nil {
		if err := sameNamespace(ch, ref.Namespace, "spec.configMapRef"); err != nil {
			return creds, err
		}
		if ref.Name == "" {
			return creds, fmt.Errorf("Channel %s: spec.configMapRef.name is empty; name a ConfigMap in namespace %s or remove spec.configMapRef", name, ch.Namespace)
		}
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ch.Namespace, Name: ref.Name}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				return creds, fmt.Errorf("Channel %s: spec.configMapRef: ConfigMap %s/%s not found; create it or fix spec.configMapRef.name", name, ch.Namespace, ref.Name)
			}
			return creds, fmt.Errorf("Channel %s: spec.configMapRef: read ConfigMap %s/%s: %w", name, ch.Namespace, ref.Name, err)
		}
		ca, ok := cm.Data[KeyCACerts]
		if !ok {
			if b, okb := cm.BinaryData[KeyCACerts]; okb {
				ca, ok = string(b), true
			}
		}
		if !ok || strings.TrimSpace(ca) == "" {
			return creds, fmt.Errorf("Channel %s: spec.configMapRef: ConfigMap %s/%s has no %q key; put the PEM CA bundle there", name, ch.Namespace, ref.Name, KeyCACerts)
		}
		creds.CACerts = append(creds.CACerts, []byte(ca)...)
		creds.CACerts = append(creds.CACerts, '\n')
	}
	if err := checkCredentials(ch, creds); err != nil {
		return creds, err
	}
	return creds, nil
}

func sameNamespace(ch *appsv1.Channel, ns, field string) error {
	if ns == "" || ns == ch.Namespace {
		return nil
	}
	return fmt.Errorf("Channel %s/%s: %s.namespace is %q; the object must be in the Channel's namespace %q (clear the namespace field and copy the object there)",
		ch.Namespace, ch.Name, field, ns, ch.Namespace)
}

// checkCredentials validates the keys present against the Channel's type.
func checkCredentials(ch *appsv1.Channel, c Credentials) error {
	if c.Secret == nil {
		return nil
	}
	name := ch.Namespace + "/" + ch.Name
	has := func(k string) bool { return len(strings.TrimSpace(string(c.Secret[k]))) > 0 }
	secret := ch.Spec.SecretRef.Name
	switch ch.Spec.Type.Normalized() {
	case appsv1.ChannelTypeGit, appsv1.ChannelTypeHelmRepo:
		if has(KeyUser) && !has(KeyAccessToken) && !has(KeyPassword) {
			return fmt.Errorf("Channel %s: spec.secretRef: Secret %s has %q but neither %q nor %q; add the token or password",
				name, secret, KeyUser, KeyAccessToken, KeyPassword)
		}
		if has(KeyClientCert) != has(KeyClientKey) {
			return fmt.Errorf("Channel %s: spec.secretRef: Secret %s must hold both %q and %q for client certificates, or neither",
				name, secret, KeyClientCert, KeyClientKey)
		}
		if has(KeyPassphrase) && !has(KeySSHKey) {
			return fmt.Errorf("Channel %s: spec.secretRef: Secret %s has %q but no %q; add the SSH private key",
				name, secret, KeyPassphrase, KeySSHKey)
		}
	case appsv1.ChannelTypeObjectBucket:
		if has(KeyAccessKeyID) != has(KeySecretAccessKey) {
			return fmt.Errorf("Channel %s: spec.secretRef: Secret %s must hold both %q and %q, or neither for anonymous access",
				name, secret, KeyAccessKeyID, KeySecretAccessKey)
		}
	}
	return nil
}

// identity is a digest of everything that decides what a fetch may see: the
// credentials, the trusted CAs and the TLS/host-key policy. Clones and
// caches are shared only between requests with the same identity, so one
// Channel never reads what only another Channel's credentials could fetch.
func (c Credentials) identity(insecure bool) string {
	h := sha256.New()
	keys := make([]string, 0, len(c.Secret))
	for k := range c.Secret {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%d:", k, len(c.Secret[k]))
		h.Write(c.Secret[k])
	}
	fmt.Fprintf(h, "ca=%d:", len(c.CACerts))
	h.Write(c.CACerts)
	fmt.Fprintf(h, "insecure=%t", insecure)
	return hex.EncodeToString(h.Sum(nil))
}

// scopeKey names what one source address read with one set of credentials
// may hold: clones, caches and snapshots are keyed by it besides the
// content's own hash, so naming another tenant's commit, chart digest or
// listing never reaches that tenant's copy.
func scopeKey(address string, c Credentials, insecure bool) string {
	h := sha256.Sum256([]byte(address + "\x00" + c.identity(insecure)))
	return hex.EncodeToString(h[:12])
}

func (c Credentials) get(k string) string {
	return strings.TrimSpace(string(c.Secret[k]))
}

// Identity is a digest of the credentials and TLS policy (see identity),
// for callers outside this package that key caches by credentials
// (pkg/render's chart dependencies).
func (c Credentials) Identity(insecure bool) string { return c.identity(insecure) }

// BasicAuth is the user and password a chart repository or registry gets:
// user, and password or else accessToken.
func (c Credentials) BasicAuth() (user, password string) { return basicAuth(c) }

// TLSConfig trusts the system roots plus the Credentials' CA bundle and
// presents their client certificate; it skips verification only when
// insecure.
func (c Credentials) TLSConfig(insecure bool) (*tls.Config, error) { return tlsConfigFor(c, insecure) }
