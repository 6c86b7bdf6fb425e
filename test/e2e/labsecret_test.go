package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// The passwords of the example's encrypted Secret hello/hello-db: the one
// checked in (fleet-repo-example/README.md says it) and the one the README
// tour rotates it to.
const (
	examplePassword = "demo-password-1"
	rotatedPassword = "demo-password-2"
)

// exampleSecret checks the example fleet's encrypted Secret in the lab:
// every managed cluster publishes the demo fleet key among the keys it
// holds (agents read keys at start, so the lab installed it before), and
// holds hello/hello-db decrypted; the hub, a managed cluster of itself,
// holds no fleet key.
func exampleSecret(ctx context.Context, t *testing.T, hub client.Client, clusters map[string]client.Client) {
	t.Helper()
	for name, c := range clusters {
		mc := &clusterv1.ManagedCluster{}
		if err := hub.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
			t.Fatal(err)
		}
		held := slices.Contains(secrets.HeldBy(mc), lab.DemoFleetRecipient)
		if name == lab.LocalClusterName {
			if held {
				t.Errorf("the hub (%s) holds the demo fleet key", name)
			}
			continue
		}
		if !held || secrets.RecipientOf(mc) == lab.DemoFleetRecipient {
			t.Errorf("%s publishes own recipient %q and holds %v: want its own and the demo fleet key %s", name, secrets.RecipientOf(mc), secrets.HeldBy(mc), lab.DemoFleetRecipient)
		}
		if err := passwordIs(ctx, c, examplePassword)(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// tourRotateSecret follows the README tour's rotation: the new value is
// encrypted for the clusters' own recipients (their claims, as `secrets
// encrypt --placement hello/everywhere` reads them) plus the demo fleet
// key, pushed, and every cluster holds it. Then no object on the hub holds
// either value.
func tourRotateSecret(ctx context.Context, t *testing.T, clone string, hub client.Client, clusters map[string]client.Client) {
	t.Helper()
	var mcs clusterv1.ManagedClusterList
	if err := hub.List(ctx, &mcs, client.HasLabels{"name"}); err != nil {
		t.Fatal(err)
	}
	chosen := make([]*clusterv1.ManagedCluster, len(mcs.Items))
	for i := range mcs.Items {
		chosen[i] = &mcs.Items[i]
	}
	recipients, missing := secrets.RecipientsOf(chosen)
	if len(recipients) != 3 || len(missing) > 0 {
		t.Fatalf("the managed clusters' own recipients: %v, none from %v", recipients, missing)
	}
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hello-db\n  namespace: hello\ntype: Opaque\nstringData:\n  password: " + rotatedPassword + "\n"
	enc, err := secrets.Encrypt([]byte(plain), append(recipients, lab.DemoFleetRecipient))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clone, "apps/hello/db.yaml"), enc, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"commit", "--quiet", "-am", "hello: rotate the database password"}, {"push", "--quiet", "origin", "main"}} {
		if err := lab.Git(ctx, clone, args...); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range clusters {
		if name != lab.LocalClusterName {
			poll.Eventually(t, 30*time.Second, name+" holds the rotated password", passwordIs(ctx, c, rotatedPassword))
		}
	}
	scanHub(ctx, t, hub, examplePassword, rotatedPassword)
}

// passwordIs checks the password of Secret hello/hello-db on a cluster.
func passwordIs(ctx context.Context, c client.Client, want string) func() error {
	return func() error {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "hello", Name: "hello-db"}, s); err != nil {
			return err
		}
		if !bytes.Equal(s.Data["password"], []byte(want)) {
			return fmt.Errorf("Secret hello/hello-db: password %q, want %q", s.Data["password"], want)
		}
		return nil
	}
}

// scanHub reads every ManifestWork (with status), Event, Subscription,
// ManagedCluster, Secret and ConfigMap on the hub and fails on any trace of
// the plaintexts, as they are or base64-encoded as in a Secret's data.
func scanHub(ctx context.Context, t *testing.T, hub client.Client, plaintexts ...string) {
	t.Helper()
	var leaks []string
	for _, p := range plaintexts {
		leaks = append(leaks, p, base64.StdEncoding.EncodeToString([]byte(p)))
	}
	lists := []client.ObjectList{&workv1.ManifestWorkList{}, &corev1.EventList{}, &eventsv1.EventList{},
		&appsv1.SubscriptionList{}, &clusterv1.ManagedClusterList{}, &corev1.SecretList{}, &corev1.ConfigMapList{}}
	for _, l := range lists {
		if err := hub.List(ctx, l); err != nil {
			t.Fatalf("list %T: %v", l, err)
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range leaks {
			if strings.Contains(string(b), leak) {
				t.Errorf("%T on the hub holds a plaintext (%q)", l, leak)
			}
		}
		if _, ok := l.(*workv1.ManifestWorkList); ok && !strings.Contains(string(b), "ENC[AES256_GCM") {
			t.Error("no ManifestWork carries the encrypted Secret: the scan proves nothing")
		}
	}
}
