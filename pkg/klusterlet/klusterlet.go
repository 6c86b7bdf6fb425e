// Package klusterlet is the agent on every managed cluster: it joins the hub
// and keeps its certificate, Lease and ManagedCluster status current
// (pkg/registration/agent), and applies the cluster's ManifestWorks
// (pkg/klusterlet/work).
package klusterlet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/confine"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	regagent "github.com/ocm-gitops/ocm-gitops/pkg/registration/agent"
)

// Options configure a klusterlet.
type Options struct {
	// ClusterName is the ManagedCluster's name (and its hub namespace).
	ClusterName string
	// AgentName completes the agent's identity on the hub (default "klusterlet").
	AgentName string
	// Managed is the managed cluster the agent applies to.
	Managed *rest.Config

	// Hub is the hub identity of an already registered agent. Leave it nil
	// and set Bootstrap to join first (or to reuse credentials stored by an
	// earlier join).
	Hub *rest.Config
	// Bootstrap is the identity to join the hub with.
	Bootstrap *rest.Config
	// HubKubeconfigPath is the file that keeps the issued hub kubeconfig.
	HubKubeconfigPath string
	// HubKubeconfigSecret is "namespace/name" of a Secret on the managed
	// cluster that keeps it instead.
	HubKubeconfigSecret string
	// CertValidity is the certificate lifetime asked for (default 24h).
	CertValidity time.Duration

	// LeaseInterval overrides the ManagedCluster's lease duration.
	LeaseInterval time.Duration
	// Work tunes the work agent; its cluster, configurations and logger are
	// filled in from these options.
	Work work.Options
	// NoStatus leaves the Lease and ManagedCluster status alone (for hubs
	// whose clusters are registered some other way).
	NoStatus bool
	// ProtectedNamespaces are namespaces no work may reach (nil:
	// confine.DefaultNamespaces()); the namespace of HubKubeconfigSecret,
	// which holds the agent's hub credentials, always is.
	ProtectedNamespaces []string
	// AgeKeySecret is "namespace/name" of the Secret on the managed cluster
	// holding the cluster's age identities (made at the first start, see
	// pkg/secrets); default DefaultAgeKeyNamespace (or the namespace of
	// HubKubeconfigSecret)/secrets.DefaultKeySecretName. Its namespace is
	// protected.
	AgeKeySecret string

	Logger logr.Logger
}

// Run runs the klusterlet until ctx ends, then stops everything it started.
func Run(ctx context.Context, opts Options) error {
	if opts.ClusterName == "" {
		return errors.New("klusterlet: the cluster name is required (--cluster-name)")
	}
	if opts.Managed == nil {
		return errors.New("klusterlet: a managed cluster configuration is required (--kubeconfig)")
	}
	log := opts.Logger
	hub := opts.Hub
	var reg *regagent.Registration
	if opts.Bootstrap != nil || hub == nil {
		store, err := hubStore(opts)
		if err != nil {
			return err
		}
		reg, err = regagent.Join(ctx, regagent.Options{
			ClusterName: opts.ClusterName, AgentName: opts.AgentName,
			Bootstrap: opts.Bootstrap, Managed: opts.Managed, Store: store,
			CertValidity: opts.CertValidity, Logger: log.WithName("registration"),
		})
		if err != nil {
			return err
		}
		defer reg.Close()
		hub = reg.Config()
	}

	wo := opts.Work
	wo.ClusterName, wo.Hub, wo.Managed = opts.ClusterName, hub, opts.Managed
	wo.Logger = log.WithName("work")
	protected := opts.ProtectedNamespaces
	if protected == nil {
		protected = confine.DefaultNamespaces()
	}
	own, _, _ := strings.Cut(opts.HubKubeconfigSecret, "/")
	keysNS, keys, err := setupSecrets(ctx, opts, own)
	if err != nil {
		return err
	}
	wo.Open = keys.Opener.Open
	wo.Refuse = refuseAll(confine.New(append(slices.Clone(protected), keysNS), own).Check)
	agent, err := work.New(wo)
	if err != nil {
		return err
	}
	keys.Changed = agent.RequeueAll
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return keys.Run(ctx) })
	if reg != nil {
		g.Go(func() error { return reg.Run(ctx) })
	}
	if !opts.NoStatus {
		g.Go(func() error {
			return regagent.RunStatus(ctx, regagent.StatusOptions{
				ClusterName: opts.ClusterName, Hub: hub, Managed: opts.Managed,
				Interval: opts.LeaseInterval, Logger: log.WithName("status"),
			})
		})
	}
	g.Go(func() error { return agent.Run(ctx) })
	return g.Wait()
}

// hubStore returns where the issued hub kubeconfig is kept.
func hubStore(opts Options) (regagent.Store, error) {
	switch {
	case opts.HubKubeconfigSecret != "":
		ns, name, ok := strings.Cut(opts.HubKubeconfigSecret, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--hub-kubeconfig-secret %q must be namespace/name", opts.HubKubeconfigSecret)
		}
		kube, err := kubernetes.NewForConfig(opts.Managed)
		if err != nil {
			return nil, err
		}
		return regagent.SecretStore{Client: kube, Namespace: ns, Name: name}, nil
	case opts.HubKubeconfigPath != "":
		return regagent.FileStore{Path: opts.HubKubeconfigPath}, nil
	}
	return nil, errors.New("klusterlet: say where the issued hub kubeconfig is kept: --hub-kubeconfig PATH or --hub-kubeconfig-secret NAMESPACE/NAME")
}
