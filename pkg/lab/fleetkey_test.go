package lab

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// exampleSecret is the example fleet's encrypted Secret.
const exampleSecret = "../../fleet-repo-example/apps/hello/db.yaml"

// TestDemoFleetKeyOpensTheExample: the embedded demo key is labelled as
// such, DemoFleetRecipient is its public half, and the example's encrypted
// Secret is a SOPS file for that recipient alone (re-encrypting it for a
// lab's own cluster keys would break every other lab) that it opens.
func TestDemoFleetKeyOpensTheExample(t *testing.T) {
	if !strings.HasPrefix(demoFleetKey, "# DEMO ONLY") || !strings.Contains(demoFleetKey, "# public key: "+DemoFleetRecipient+"\n") {
		t.Errorf("demo-fleet.agekey does not open with its DEMO ONLY label and public key:\n%s", demoFleetKey)
	}
	keys, err := secrets.NewKeyring(demoFleetKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys.Recipients(); !slices.Equal(got, []string{DemoFleetRecipient}) {
		t.Fatalf("demo key's recipients %v, want [%s]", got, DemoFleetRecipient)
	}
	data, err := os.ReadFile(exampleSecret)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatal(err)
	}
	if !secrets.IsEncrypted(obj.Object) || strings.Contains(string(data), "demo-password") {
		t.Fatalf("%s is not encrypted:\n%s", exampleSecret, data)
	}
	if got := secrets.Recipients(obj.Object); !slices.Equal(got, []string{DemoFleetRecipient}) {
		t.Errorf("%s is encrypted for %v, want the demo fleet key alone (ocm-gitops secrets encrypt --recipients %s)", exampleSecret, got, DemoFleetRecipient)
	}
	plain, err := keys.Decrypt(obj)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _, _ := unstructured.NestedString(plain.Object, "stringData", "password"); pw != "demo-password-1" {
		t.Errorf("%s decrypts to password %q, want demo-password-1 (fleet-repo-example/README.md says so)", exampleSecret, pw)
	}
}

// TestInstallDemoFleetKey: on a real managed control plane, the key Secret
// InstallDemoFleetKey writes is one the klusterlet reads as its own
// identity plus the demo key, and installing again keeps the own identity
// (a changed one would orphan every file encrypted for it).
func TestInstallDemoFleetKey(t *testing.T) {
	ctx := context.Background()
	cp := startManaged(t, "fleetkey")
	kube, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns, name := klusterlet.DefaultAgeKeyNamespace, secrets.DefaultKeySecretName
	if KeySecret != ns+"/"+name {
		t.Fatalf("KeySecret %s is not where the klusterlet looks by default (%s/%s)", KeySecret, ns, name)
	}
	var own string
	for i := range 2 {
		if err := InstallDemoFleetKey(ctx, cp.Config); err != nil {
			t.Fatal(err)
		}
		keys, err := secrets.LoadKeyring(ctx, kube, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		rs := keys.Recipients()
		if len(rs) != 2 || rs[0] == DemoFleetRecipient || rs[1] != DemoFleetRecipient {
			t.Fatalf("install %d: the agent would hold %v, want its own recipient then %s", i+1, rs, DemoFleetRecipient)
		}
		if i == 1 && rs[0] != own {
			t.Errorf("installing again replaced the cluster's own identity: %s, was %s", rs[0], own)
		}
		own = rs[0]
	}
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data[DemoFleetKeyEntry]); got != demoFleetKey {
		t.Errorf("entry %s holds %q", DemoFleetKeyEntry, got)
	}
}
