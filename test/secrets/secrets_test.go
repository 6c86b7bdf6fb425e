// Package secrets_test runs SOPS-encrypted Secrets through the whole system
// (Git, hub, registration, klusterlets on two managed clusters) and checks
// that only the cluster they are encrypted for decrypts them, and that no
// plaintext reaches the hub or any log.
package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// plaintext is the secret value; it must appear on cluster1 only.
const plaintext = "s3cr3t-only-for-cluster1"

func TestEncryptedSecretOnlyWhereItsKeyIs(t *testing.T) {
	if testing.Short() {
		t.Skip("control planes")
	}
	logs := &harness.LogBuffer{}
	e := harness.NewHub(t, "cluster1", "cluster2")
	spokes := map[string]*harness.Spoke{"cluster1": harness.NewSpoke(t, "cluster1"), "cluster2": harness.NewSpoke(t, "cluster2")}
	harness.RunHub(t, e.CP.Config, func(o *hub.Options) {
		o.Controllers = []string{"channel", "subscription", "registration"}
		o.Registration = reghub.Options{CACertPEM: e.CP.ClientCA.CertPEM, CAKeyPEM: e.CP.ClientCA.KeyPEM,
			AutoApproveUsers: []string{harness.BootstrapUser}}
		o.Logger = logs.Logger(10).WithName("hub")
	})
	for name, s := range spokes {
		runKlusterlet(t, e, name, s, logs.Logger(10))
	}

	// Each klusterlet made its identity at join and published the recipient.
	recipients := map[string]string{}
	poll.Eventually(t, 60*time.Second, "both recipients published as ClusterClaims", func() error {
		for name := range spokes {
			mc := &clusterv1.ManagedCluster{}
			if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, mc); err != nil {
				return err
			}
			for _, c := range mc.Status.ClusterClaims {
				if c.Name == secrets.ClaimName {
					recipients[name] = c.Value
				}
			}
			if !strings.HasPrefix(recipients[name], "age1") {
				return fmt.Errorf("%s claims %v", name, mc.Status.ClusterClaims)
			}
		}
		return nil
	})
	key := &corev1.Secret{}
	if err := spokes["cluster1"].C.Get(e.Ctx, client.ObjectKey{Namespace: klusterlet.DefaultAgeKeyNamespace, Name: secrets.DefaultKeySecretName}, key); err != nil {
		t.Fatalf("the identity is not kept on the managed cluster: %v", err)
	}

	enc, err := secrets.Encrypt([]byte(secretYAML(plaintext)), []string{recipients["cluster1"]})
	if err != nil {
		t.Fatal(err)
	}
	repo := harness.NewFleet(t, map[string]string{
		"apps/app/secret.yaml": string(enc),
		"apps/app/cm.yaml":     harness.ConfigMapYAML("plain", "visible"),
	})
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}},
		harness.GitSubscription("app", "repo", "cluster1", "cluster2"))

	poll.Eventually(t, 90*time.Second, "the Secret decrypted on cluster1", passwordIs(e.Ctx, spokes["cluster1"], plaintext))
	var failed string
	poll.Eventually(t, 60*time.Second, "cluster2 applies the ConfigMap and names both recipients for the Secret", func() error {
		if _, err := spokes["cluster2"].Value("plain"); err != nil {
			return err
		}
		var list workv1.ManifestWorkList
		if err := e.C.List(e.Ctx, &list, client.InNamespace("cluster2")); err != nil {
			return err // the API server may be slow on a loaded machine
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d works in cluster2", len(list.Items))
		}
		w := &list.Items[0]
		for _, m := range w.Status.ResourceStatus.Manifests {
			if m.ResourceMeta.Kind != "Secret" {
				continue
			}
			for _, c := range m.Conditions {
				if c.Type == workv1.WorkApplied && c.Status == metav1.ConditionFalse &&
					strings.Contains(c.Message, recipients["cluster1"]) && strings.Contains(c.Message, recipients["cluster2"]) {
					failed = c.Message
					return nil
				}
			}
			return fmt.Errorf("Secret conditions: %+v", m.Conditions)
		}
		return fmt.Errorf("no Secret in the status: %+v", w.Status.ResourceStatus)
	})
	t.Logf("cluster2 says: %s", failed)
	if err := spokes["cluster2"].C.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "db"}, &corev1.Secret{}); err == nil {
		t.Fatal("cluster2 has the Secret it cannot decrypt")
	}

	// Drift on the decrypted Secret is corrected to the decrypted value.
	s := &corev1.Secret{}
	if err := spokes["cluster1"].C.Get(e.Ctx, client.ObjectKey{Namespace: "apps", Name: "db"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["password"] = []byte("changed-by-hand")
	if err := spokes["cluster1"].C.Update(e.Ctx, s); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "drift on the Secret corrected", passwordIs(e.Ctx, spokes["cluster1"], plaintext))

	// Nothing on the hub holds the plaintext (nor its base64), nor does any log.
	scanHub(t, e)
	for _, leak := range leaks() {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("a log holds the plaintext (%q)", leak)
		}
	}
	if !strings.Contains(logs.String(), "age recipient published") {
		t.Error("the log capture saw nothing of the agents: the scan proves nothing")
	}
}

// passwordIs checks the password of Secret apps/db on a managed cluster.
func passwordIs(ctx context.Context, spoke *harness.Spoke, want string) func() error {
	return func() error {
		s := &corev1.Secret{}
		if err := spoke.C.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "db"}, s); err != nil {
			return err
		}
		if !bytes.Equal(s.Data["password"], []byte(want)) {
			return fmt.Errorf("password = %q", s.Data["password"])
		}
		return nil
	}
}

func secretYAML(password string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\ntype: Opaque\nstringData:\n  password: " + password + "\n  user: admin\n"
}

// leaks are the forms in which the plaintext could show.
func leaks() []string {
	b, _ := json.Marshal([]byte(plaintext)) // base64, as a Secret's data
	return []string{plaintext, strings.Trim(string(b), `"`)}
}

// scanHub reads every ManifestWork (with status), Event, Subscription and
// ManagedCluster on the hub and fails on any trace of the plaintext.
func scanHub(t *testing.T, e *harness.Hub) {
	t.Helper()
	lists := []client.ObjectList{&workv1.ManifestWorkList{}, &corev1.EventList{}, &eventsv1.EventList{},
		&appsv1.SubscriptionList{}, &clusterv1.ManagedClusterList{}, &corev1.SecretList{}, &corev1.ConfigMapList{}}
	works := 0
	for _, l := range lists {
		if err := e.C.List(e.Ctx, l); err != nil {
			t.Fatalf("list %T: %v", l, err)
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range leaks() {
			if strings.Contains(string(b), leak) {
				t.Errorf("%T on the hub holds the plaintext (%q)", l, leak)
			}
		}
		if wl, ok := l.(*workv1.ManifestWorkList); ok {
			works = len(wl.Items)
			if !strings.Contains(string(b), "ENC[AES256_GCM") {
				t.Error("the ManifestWorks do not carry the encrypted Secret: the scan proves nothing")
			}
		}
	}
	if works != 2 {
		t.Errorf("scanned %d ManifestWorks, want 2", works)
	}
}

func runKlusterlet(t *testing.T, e *harness.Hub, name string, s *harness.Spoke, log logr.Logger) {
	t.Helper()
	bootstrap, err := e.CP.UserConfig(harness.BootstrapUser, registration.DefaultBootstrapGroup)
	if err != nil {
		t.Fatal(err)
	}
	opts := klusterlet.Options{
		ClusterName: name, Managed: s.CP.Config, Bootstrap: bootstrap,
		HubKubeconfigPath: filepath.Join(t.TempDir(), "hub.kubeconfig"),
		LeaseInterval:     time.Second,
		Logger:            log.WithName("klusterlet").WithValues("cluster", name),
	}
	harness.Run(t, "klusterlet "+name, func(ctx context.Context) error { return klusterlet.Run(ctx, opts) })
}
