package secrets_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestKeySecretReloadedWithoutRestart edits the key Secret of a running
// klusterlet: a fleet key added is published as held and opens a work's
// Secret that failed before; an entry that does not parse is refused with a
// Warning Event and the agent keeps decrypting new ciphertexts with the keys
// it had; a deleted Secret is written back with the same identities.
func TestKeySecretReloadedWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("control planes")
	}
	e := harness.NewHub(t, "cluster1")
	spoke := harness.NewSpoke(t, "cluster1")
	harness.RunHub(t, e.CP.Config, func(o *hub.Options) {
		o.Controllers = []string{"registration"}
		o.Registration = reghub.Options{CACertPEM: e.CP.ClientCA.CertPEM, CAKeyPEM: e.CP.ClientCA.KeyPEM,
			AutoApproveUsers: []string{harness.BootstrapUser}}
	})
	harness.RunKlusterlet(t, e, nil, "cluster1", spoke)
	ctx := e.Ctx
	key := client.ObjectKey{Namespace: klusterlet.DefaultAgeKeyNamespace, Name: secrets.DefaultKeySecretName}
	claims := func() (string, string, error) { return publishedClaims(ctx, spoke.C) }
	var own string
	poll.Eventually(t, 60*time.Second, "the own recipient published", func() (err error) {
		if own, _, err = claims(); err == nil && own == "" {
			err = fmt.Errorf("no %s claim", secrets.ClaimName)
		}
		return err
	})
	fleetID, fleet, err := secrets.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	e.Create(t, &workv1.ManifestWork{ObjectMeta: harness.Meta("cluster1", "db"), Spec: workv1.ManifestWorkSpec{
		Workload: workv1.ManifestsTemplate{Manifests: []workv1.Manifest{
			manifest(t, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "apps"}}),
			manifest(t, encryptSecret(t, plaintext, fleet)),
		}}}})
	poll.Eventually(t, 60*time.Second, "the Secret for the fleet key fails while the cluster lacks it", secretFails(e, fleet))

	patchKeys(t, spoke, map[string]string{"fleet.agekey": fleetID})
	poll.Eventually(t, 60*time.Second, "the fleet key published as held", heldIs(claims, own, fleet))
	poll.Eventually(t, 60*time.Second, "the Secret decrypted with the fleet key, no restart", passwordIs(ctx, spoke, plaintext))

	// A broken entry is refused; the keys in use still open a new ciphertext.
	patchKeys(t, spoke, map[string]string{"broken.agekey": "AGE-SECRET-KEY-1NOTAKEY"})
	poll.Eventually(t, 60*time.Second, "a Warning Event naming the broken entry", func() error {
		var evs corev1.EventList
		if err := spoke.C.List(ctx, &evs, client.InNamespace(key.Namespace)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Reason == secrets.ReasonKeySecretInvalid && ev.InvolvedObject.Name == key.Name && strings.Contains(ev.Message, `"broken.agekey"`) {
				return nil
			}
		}
		return fmt.Errorf("%d events, none %s about broken.agekey", len(evs.Items), secrets.ReasonKeySecretInvalid)
	})
	const second = "s3cr3t-after-the-broken-edit"
	poll.Eventually(t, 30*time.Second, "the work updated with a new ciphertext", func() error {
		w := &workv1.ManifestWork{}
		if err := e.C.Get(ctx, client.ObjectKey{Namespace: "cluster1", Name: "db"}, w); err != nil {
			return err
		}
		w.Spec.Workload.Manifests[1] = manifest(t, encryptSecret(t, second, fleet))
		return e.C.Update(ctx, w)
	})
	poll.Eventually(t, 60*time.Second, "the new ciphertext decrypted with the keys kept", passwordIs(ctx, spoke, second))
	if err := heldIs(claims, own, fleet)(); err != nil {
		t.Errorf("after the broken edit: %v", err)
	}

	// A deleted Secret is written back with the identities in use.
	if err := spoke.C.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "the key Secret written back with the same keys", func() error {
		s := &corev1.Secret{}
		if err := spoke.C.Get(ctx, key, s); err != nil {
			return err
		}
		k, err := secrets.KeyringFromSecret(s)
		if err != nil {
			return err
		}
		if r := k.Recipients(); len(r) != 2 || r[0] != own || r[1] != fleet {
			return fmt.Errorf("recipients %v, want %s then %s", r, own, fleet)
		}
		return nil
	})
	if err := heldIs(claims, own, fleet)(); err != nil {
		t.Errorf("after the Secret was written back: %v", err)
	}
}

func manifest(t *testing.T, obj map[string]any) workv1.Manifest {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return workv1.Manifest{RawExtension: runtime.RawExtension{Raw: raw}}
}

func encryptSecret(t *testing.T, password, recipient string) map[string]any {
	t.Helper()
	enc, err := secrets.Encrypt([]byte(secretYAML(password)), []string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(enc, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// patchKeys merges entries into the key Secret on the managed cluster.
func patchKeys(t *testing.T, spoke *harness.Spoke, entries map[string]string) {
	t.Helper()
	data := map[string][]byte{}
	for k, v := range entries {
		data[k] = []byte(v)
	}
	patch, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: klusterlet.DefaultAgeKeyNamespace, Name: secrets.DefaultKeySecretName}}
	if err := spoke.C.Patch(context.Background(), s, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

func heldIs(claims func() (string, string, error), own, held string) func() error {
	return func() error {
		o, h, err := claims()
		if err != nil {
			return err
		}
		if o != own || h != held {
			return fmt.Errorf("claims: own %q held %q, want %q and %q", o, h, own, held)
		}
		return nil
	}
}

// secretFails checks that work cluster1/db reports its Secret not applied,
// naming the recipient the file is for.
func secretFails(e *harness.Hub, recipient string) func() error {
	return func() error {
		w := &workv1.ManifestWork{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "cluster1", Name: "db"}, w); err != nil {
			return err
		}
		for _, m := range w.Status.ResourceStatus.Manifests {
			if m.ResourceMeta.Kind != "Secret" {
				continue
			}
			for _, c := range m.Conditions {
				if c.Type == workv1.WorkApplied && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, recipient) {
					return nil
				}
			}
			return fmt.Errorf("Secret conditions: %+v", m.Conditions)
		}
		return fmt.Errorf("no Secret in the status: %+v", w.Status.ResourceStatus)
	}
}

// publishedClaims reads the own and held recipient ClusterClaims of a
// managed cluster.
func publishedClaims(ctx context.Context, c client.Client) (own, held string, err error) {
	var list clusterv1alpha1.ClusterClaimList
	if err := c.List(ctx, &list); err != nil {
		return "", "", err
	}
	for _, cl := range list.Items {
		switch cl.Name {
		case secrets.ClaimName:
			own = cl.Spec.Value
		case secrets.HeldClaimName:
			held = cl.Spec.Value
		}
	}
	return own, held, nil
}
