package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"
)

const (
	// IdentityKey holds the cluster's own identity in its key Secret. Other
	// entries whose names end in ".agekey" are further identities: a fleet
	// key an administrator installs, or the previous key during rotation.
	IdentityKey = "identity.agekey"
	// DefaultKeySecretName names the key Secret in the agent's namespace.
	DefaultKeySecretName = "ocm-gitops-age-identity"
)

// LoadKeyring reads the cluster's identities from the Secret namespace/name
// on the managed cluster, creating the Secret (and its namespace) with a new
// identity the first time. The private key never leaves the cluster.
func LoadKeyring(ctx context.Context, kube kubernetes.Interface, namespace, name string) (*Keyring, error) {
	s, err := kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s, err = createKeySecret(ctx, kube, namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("age identity Secret %s/%s: %w", namespace, name, err)
	}
	return KeyringFromSecret(s)
}

// KeyringFromSecret parses a key Secret: IdentityKey first, then every other
// "*.agekey" entry in name order. Errors name the Secret, the entry and the
// fix.
func KeyringFromSecret(s *corev1.Secret) (*Keyring, error) {
	where := "age identity Secret " + s.Namespace + "/" + s.Name
	own, ok := s.Data[IdentityKey]
	if !ok {
		return nil, fmt.Errorf("%s has no %q entry (the cluster's own identity): put it back, or write a new one from age-keygen to rotate (docs/security.md)", where, IdentityKey)
	}
	names := []string{IdentityKey}
	texts := []string{string(own)}
	for _, k := range sortedKeys(s.Data) {
		if k != IdentityKey && strings.HasSuffix(k, ".agekey") {
			names, texts = append(names, k), append(texts, string(s.Data[k]))
		}
	}
	for i, text := range texts {
		if _, err := NewKeyring(text); err != nil {
			return nil, fmt.Errorf("%s, entry %q: %w: replace it with age-keygen output or remove the entry", where, names[i], err)
		}
	}
	return NewKeyring(texts...)
}

func createKeySecret(ctx context.Context, kube kubernetes.Interface, namespace, name string) (*corev1.Secret, error) {
	id, _, err := NewIdentity()
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{IdentityKey: []byte(id + "\n")},
	}
	secrets := kube.CoreV1().Secrets(namespace)
	created, err := secrets.Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) {
		// Only a missing namespace is made: a deployed agent's namespace
		// exists, and its RBAC need not allow creating namespaces.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
		}
		created, err = secrets.Create(ctx, s, metav1.CreateOptions{})
	}
	if apierrors.IsAlreadyExists(err) {
		// Another agent replica made it first: use theirs.
		return secrets.Get(ctx, name, metav1.GetOptions{})
	}
	return created, err
}

// PublishRecipients publishes the keyring's recipients on the hub through
// ClusterClaims: the cluster's own as ClaimName, the further ones it holds
// (fleet keys, a key being rotated out) as HeldClaimName, deleted when there
// are none. It returns how many further recipients did not fit the claim.
func PublishRecipients(ctx context.Context, c clusterclient.Interface, keys *Keyring) (int, error) {
	all := keys.Recipients()
	if err := setClaim(ctx, c, ClaimName, all[0]); err != nil {
		return 0, err
	}
	held, omitted := heldClaimValue(all[1:])
	return omitted, setClaim(ctx, c, HeldClaimName, held)
}

// setClaim makes ClusterClaim name say value ("": no such claim).
func setClaim(ctx context.Context, c clusterclient.Interface, name, value string) error {
	claims := c.ClusterV1alpha1().ClusterClaims()
	cur, err := claims.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && value == "":
		err = nil
	case apierrors.IsNotFound(err):
		_, err = claims.Create(ctx, &clusterv1alpha1.ClusterClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       clusterv1alpha1.ClusterClaimSpec{Value: value},
		}, metav1.CreateOptions{})
	case err == nil && value == "":
		err = claims.Delete(ctx, name, metav1.DeleteOptions{})
	case err == nil && cur.Spec.Value != value:
		cur.Spec.Value = value
		_, err = claims.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("publishing age recipients as ClusterClaim %s: %w", name, err)
	}
	return nil
}

// RefuseClaim refuses manifests that would rewrite the recipient claims: a
// work could otherwise make the fleet encrypt this cluster's secrets for
// someone else's key.
func RefuseClaim(obj workv1.ManifestResourceMeta) error {
	if obj.Group == clusterv1alpha1.GroupName && obj.Kind == "ClusterClaim" && (obj.Name == ClaimName || obj.Name == HeldClaimName) {
		return fmt.Errorf("ClusterClaim %s is the agent's own (its age recipients); no work may write or read it", obj.Name)
	}
	return nil
}

// maxCached bounds the decrypted objects kept in memory.
const maxCached = 4096

// Opener decrypts a work's manifests for the work agent, once per distinct
// encrypted manifest. Plain objects pass through. Its keyring can be swapped
// while it decrypts (the key Secret changed, see KeyWatcher).
type Opener struct {
	cur atomic.Pointer[openerState]
}

// openerState is one keyring and the plaintexts decrypted with it: a swap
// replaces both at once, so no plaintext outlives the keyring that opened it.
type openerState struct {
	keys  *Keyring
	mu    sync.Mutex
	cache map[[32]byte]*unstructured.Unstructured
}

// NewOpener decrypts with keys (nil: encrypted manifests fail, naming the
// missing identity).
func NewOpener(keys *Keyring) *Opener {
	o := &Opener{}
	o.Swap(keys)
	return o
}

// Swap makes later Opens decrypt with keys and drops every cached
// plaintext: content that only a removed key opened fails from now on, even
// a ciphertext decrypted before (what was applied with it stays applied).
// An Open already under way finishes with the former keyring.
func (o *Opener) Swap(keys *Keyring) {
	o.cur.Store(&openerState{keys: keys, cache: map[[32]byte]*unstructured.Unstructured{}})
}

// Keys is the keyring in use.
func (o *Opener) Keys() *Keyring {
	return o.cur.Load().keys
}

// Open returns the object to apply: obj itself when it is not encrypted,
// else a copy of its plaintext. The error names the object and never holds
// plaintext.
func (o *Opener) Open(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if obj == nil || !IsEncrypted(obj.Object) {
		return obj, nil
	}
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	st := o.cur.Load()
	st.mu.Lock()
	hit := st.cache[sum]
	st.mu.Unlock()
	if hit != nil {
		return hit.DeepCopy(), nil
	}
	plain, err := st.keys.Decrypt(obj)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", obj.GetKind(), objName(obj), err)
	}
	foldStringData(plain)
	st.mu.Lock()
	if len(st.cache) >= maxCached {
		clear(st.cache)
	}
	st.cache[sum] = plain
	st.mu.Unlock()
	return plain.DeepCopy(), nil
}

// foldStringData writes a Secret's stringData into data, as the API server
// does, so that drift is measured against what the live Secret holds.
func foldStringData(obj *unstructured.Unstructured) {
	if obj.GetAPIVersion() != "v1" || obj.GetKind() != "Secret" {
		return
	}
	sd, ok := obj.Object["stringData"].(map[string]any)
	if !ok {
		return
	}
	data, _ := obj.Object["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	obj.Object["data"] = data
	delete(obj.Object, "stringData")
}

func objName(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
