package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

const plainDBSecret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: hunter2-plaintext\n"

// keyedClusters makes an age identity per cluster name.
func keyedClusters(t *testing.T, names ...string) (ids, recipients map[string]string) {
	ids, recipients = map[string]string{}, map[string]string{}
	for _, c := range names {
		var err error
		if ids[c], recipients[c], err = secrets.NewIdentity(); err != nil {
			t.Fatal(err)
		}
	}
	return ids, recipients
}

// inventoryCluster is a ManagedCluster of an inventory file, publishing
// recipient ("" for none).
func inventoryCluster(name, env, recipient string) string {
	claims := ""
	if recipient != "" {
		claims = "\n    clusterClaims:\n    - name: " + secrets.ClaimName + "\n      value: " + recipient
	}
	return "- apiVersion: cluster.open-cluster-management.io/v1\n  kind: ManagedCluster\n  metadata:\n    name: " + name +
		"\n    labels:\n      env: " + env + "\n  spec:\n    hubAcceptsClient: true\n  status:" + claims + "\n"
}

// decryptsFor checks which identities open the encrypted file: exactly want.
func decryptsFor(t *testing.T, enc string, ids map[string]string, want ...string) {
	t.Helper()
	if strings.Contains(enc, "hunter2") {
		t.Fatal("the output holds the plaintext")
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(enc), &obj.Object); err != nil {
		t.Fatal(err)
	}
	for c, id := range ids {
		k, _ := secrets.NewKeyring(id)
		if _, err := k.Decrypt(obj); (err == nil) != slices.Contains(want, c) {
			t.Errorf("%s decrypts: %v, want %v", c, err == nil, slices.Contains(want, c))
		}
	}
}

// TestSecretsEncryptOffline: 'secrets encrypt' with an inventory file (no
// hub) encrypts for exactly the selected clusters' recipients plus fleet
// keys, and names a selected cluster that publishes none.
func TestSecretsEncryptOffline(t *testing.T) {
	ids, rs := keyedClusters(t, "prod1", "prod2", "dev1", "fleet")
	dir := t.TempDir()
	inv := filepath.Join(dir, "clusters.yaml")
	plain := filepath.Join(dir, "secret.yaml")
	out := filepath.Join(dir, "secret.enc.yaml")
	decision := "- apiVersion: cluster.open-cluster-management.io/v1beta1\n  kind: PlacementDecision\n  metadata:\n    name: web-decision-1\n    namespace: fleet\n" +
		"    labels:\n      " + clusterv1beta1.PlacementLabel + ": web\n  status:\n    decisions:\n    - clusterName: prod2\n      reason: ''\n"
	items := inventoryCluster("prod1", "prod", rs["prod1"]) + inventoryCluster("prod2", "prod", rs["prod2"]) + inventoryCluster("dev1", "dev", rs["dev1"])
	writeTestFile(t, inv, "apiVersion: v1\nkind: List\nitems:\n"+items+inventoryCluster("new", "prod", "")+decision)
	writeTestFile(t, plain, plainDBSecret)

	code, _, errOut := runCmd(t, "secrets", "encrypt", "--clusters", inv, "--selector", "env=prod", plain)
	if code == 0 || !strings.Contains(errOut, "new publish no age recipient") {
		t.Fatalf("a cluster without a recipient: exit %d, %s", code, errOut)
	}
	if code, _, errOut = runCmd(t, "secrets", "encrypt", plain); code != 2 || !strings.Contains(errOut, "--placement NS/NAME, --selector k=v or --clusters") {
		t.Errorf("no selection: exit %d, %s", code, errOut)
	}
	// Fleet keys alone: no cluster chosen, no hub or inventory read (the
	// example fleet's Secret is made so).
	code, enc, errOut := runCmd(t, "secrets", "encrypt", "--recipients", rs["fleet"], "--hub-kubeconfig", filepath.Join(dir, "no-such-hub"), plain)
	if code != 0 || !strings.Contains(errOut, "for 1 recipient only") {
		t.Fatalf("--recipients alone: exit %d: %s", code, errOut)
	}
	decryptsFor(t, enc, ids, "fleet")
	t.Setenv("OCM_GITOPS_CLUSTERS", inv) // as CI would set it
	writeTestFile(t, inv, "apiVersion: v1\nkind: List\nitems:\n"+items+decision)
	code, _, errOut = runCmd(t, "secrets", "encrypt", "--selector", "env=prod", "--recipients", rs["fleet"], "-o", out, plain)
	if code != 0 || !strings.HasSuffix(errOut, " and 1 further recipient\n") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	decryptsFor(t, readTestFile(t, out), ids, "prod1", "prod2", "fleet")

	code, enc, errOut = runCmd(t, "secrets", "encrypt", "--placement", "fleet/web", plain)
	if code != 0 {
		t.Fatalf("--placement: exit %d: %s", code, errOut)
	}
	decryptsFor(t, enc, ids, "prod2")
	if code, _, errOut = runCmd(t, "secrets", "encrypt", "--placement", "fleet/nope", plain); code == 0 || !strings.Contains(errOut, "fleet/nope has no PlacementDecisions") {
		t.Errorf("unknown Placement: exit %d, %s", code, errOut)
	}
}

// TestSecretsEncryptHub reads the clusters and their recipients from a
// real hub, and the sops CLI (hack/tools.sh sops) decrypts what it wrote.
func TestSecretsEncryptHub(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	sops := filepath.Join("..", "..", "bin", "sops")
	if _, err := os.Stat(sops); err != nil {
		t.Fatalf("%s is missing (%v): run hack/tools.sh sops", sops, err)
	}
	ids, rs := keyedClusters(t, "east", "west")
	e := harness.NewHub(t, "east", "west")
	for name, r := range rs {
		mc := &clusterv1.ManagedCluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, mc); err != nil {
			t.Fatal(err)
		}
		mc.Labels = map[string]string{"region": name}
		if err := e.C.Update(e.Ctx, mc); err != nil {
			t.Fatal(err)
		}
		mc.Status.ClusterClaims = []clusterv1.ManagedClusterClaim{{Name: secrets.ClaimName, Value: r}}
		if err := e.C.Status().Update(e.Ctx, mc); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "hub.kubeconfig")
	if err := e.CP.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "secret.yaml")
	writeTestFile(t, plain, plainDBSecret)
	for _, c := range []struct {
		sel  []string
		want []string
	}{{[]string{"--selector", "region=west"}, []string{"west"}}, {[]string{"--clusters", "east,west"}, []string{"east", "west"}}} {
		code, enc, errOut := runCmd(t, append(append([]string{"secrets", "encrypt", "--hub-kubeconfig", kubeconfig}, c.sel...), plain)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.sel, code, errOut)
		}
		decryptsFor(t, enc, ids, c.want...)
		for _, name := range c.want {
			got := sopsDecrypt(t, sops, ids[name], enc)
			if !strings.Contains(got, "password: hunter2-plaintext") || strings.Contains(got, "sops:") {
				t.Errorf("sops --decrypt with %s's key:\n%s", name, got)
			}
		}
	}
}

// sopsDecrypt runs `sops --decrypt`, which also verifies the MAC.
func sopsDecrypt(t *testing.T, sops, identity, doc string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sops, "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY="+identity, "HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(doc)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sops --decrypt: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRenderEncrypted: render prints an encrypted Secret as it is (never
// decrypted) and warns when the cluster's recipient (--claims) is not
// among the file's.
func TestRenderEncrypted(t *testing.T) {
	_, rs := keyedClusters(t, "c1", "c2")
	enc, err := secrets.Encrypt([]byte(plainDBSecret), []string{rs["c1"]})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "app", "db.yaml"), string(enc))
	for c, warn := range map[string]bool{"c1": false, "c2": true} {
		code, out, errOut := runCmd(t, "render", "--dir", dir, "--path", "app", "--cluster", c, "--claims", secrets.ClaimName+"="+rs[c])
		if code != 0 || strings.Contains(out, "hunter2") || !strings.Contains(out, "ENC[AES256_GCM") || !strings.Contains(out, "sops:") {
			t.Fatalf("%s: exit %d, output not the encrypted Secret as it is:\n%s\n%s", c, code, out, errOut)
		}
		if got := strings.Contains(errOut, "Secret apps/db is encrypted for "+rs["c1"]); got != warn {
			t.Errorf("%s: warning %v, want %v: %s", c, got, warn, errOut)
		}
	}
}
