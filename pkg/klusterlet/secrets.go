package klusterlet

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/kubernetes"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// DefaultAgeKeyNamespace keeps the age identity when the agent has no
// namespace of its own (hub kubeconfig kept in a file).
const DefaultAgeKeyNamespace = "open-cluster-management-agent"

// setupSecrets loads (or makes) the cluster's age identity, publishes its
// recipients as ClusterClaims and returns the key Secret's namespace and the
// watcher that keeps the work agent's decrypter (its Opener) in step with
// the Secret.
func setupSecrets(ctx context.Context, opts Options, own string) (string, *secrets.KeyWatcher, error) {
	ns, name := own, secrets.DefaultKeySecretName
	if ns == "" {
		ns = DefaultAgeKeyNamespace
	}
	if opts.AgeKeySecret != "" {
		var ok bool
		ns, name, ok = strings.Cut(opts.AgeKeySecret, "/")
		if !ok || ns == "" || name == "" {
			return "", nil, fmt.Errorf("--age-key-secret %q must be namespace/name", opts.AgeKeySecret)
		}
	}
	kube, err := kubernetes.NewForConfig(opts.Managed)
	if err != nil {
		return "", nil, err
	}
	keys, err := secrets.LoadKeyring(ctx, kube, ns, name)
	if err != nil {
		return "", nil, err
	}
	cc, err := clusterclient.NewForConfig(opts.Managed)
	if err != nil {
		return "", nil, err
	}
	w := &secrets.KeyWatcher{Kube: kube, Claims: cc, Namespace: ns, Name: name,
		Opener: secrets.NewOpener(keys), Log: opts.Logger.WithName("keys")}
	if err := w.Publish(ctx); err != nil {
		return "", nil, err
	}
	return ns, w, nil
}

// refuseAll adds the refusal of the recipient claim to the namespace bound.
func refuseAll(confined func(workv1.ManifestResourceMeta, *workv1.ManifestWorkExecutor) error) func(workv1.ManifestResourceMeta, *workv1.ManifestWorkExecutor) error {
	return func(obj workv1.ManifestResourceMeta, exec *workv1.ManifestWorkExecutor) error {
		if err := secrets.RefuseClaim(obj); err != nil {
			return err
		}
		return confined(obj, exec)
	}
}
