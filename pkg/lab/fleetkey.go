package lab

import (
	"context"
	_ "embed" // the demo fleet key
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// demoFleetKey is the lab's fleet identity, DEMO ONLY: it is public (see
// the file's header), so that the example fleet can hold a Secret that
// every lab cluster decrypts, whatever own keys this lab's clusters made.
//
//go:embed demo-fleet.agekey
var demoFleetKey string

const (
	// DemoFleetRecipient is the public half of the lab's demo fleet key,
	// the recipient fleet-repo-example's encrypted Secret is encrypted for
	// (`secrets encrypt --recipients`).
	DemoFleetRecipient = "age1tnlcqa5y36l6qed04r9vv9q5tsxrg646ams044gf34shddpr9pus2gwj0l"
	// DemoFleetKeyEntry names the demo key in a cluster's key Secret.
	DemoFleetKeyEntry = "lab-demo-fleet.agekey"
	// KeySecret is where the lab's klusterlets keep their age identities
	// (the klusterlet's default when its hub kubeconfig is a file).
	KeySecret = klusterlet.DefaultAgeKeyNamespace + "/" + secrets.DefaultKeySecretName
)

// InstallDemoFleetKey gives a managed cluster the lab's demo fleet key,
// before its agent starts, so that the first applies find it (a running
// agent would pick it up too, see secrets.KeyWatcher). The
// key Secret is made as the agent makes it (secrets.LoadKeyring: the
// cluster's own identity, generated here, on the cluster) and the demo key
// added beside it; an existing Secret keeps its own identity.
func InstallDemoFleetKey(ctx context.Context, cluster *rest.Config) error {
	kube, err := kubernetes.NewForConfig(cluster)
	if err != nil {
		return err
	}
	ns, name := klusterlet.DefaultAgeKeyNamespace, secrets.DefaultKeySecretName
	if _, err := secrets.LoadKeyring(ctx, kube, ns, name); err != nil {
		return fmt.Errorf("demo fleet key: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"data": map[string][]byte{DemoFleetKeyEntry: []byte(demoFleetKey)}})
	if err != nil {
		return err
	}
	if _, err := kube.CoreV1().Secrets(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("demo fleet key: adding %s to Secret %s/%s: %w", DemoFleetKeyEntry, ns, name, err)
	}
	return nil
}
