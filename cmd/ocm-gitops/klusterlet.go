package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/confine"
	regagent "github.com/ocm-gitops/ocm-gitops/pkg/registration/agent"
)

// klusterletCommand holds the flags of 'ocm-gitops klusterlet'.
type klusterletCommand struct {
	logs                                logFlags
	managedPath, hubPath, bootstrapPath string
	protected                           string
	opts                                klusterlet.Options
}

func newKlusterletCommand() *cobra.Command {
	k := &klusterletCommand{}
	cmd := &cobra.Command{
		Use:   "klusterlet",
		Short: "Run the agent of one managed cluster",
		Long: `Runs the agent of one managed cluster: it joins the hub (with --bootstrap-kubeconfig),
keeps its Lease, and pulls and applies the cluster's ManifestWorks, reporting their
status, drift and health.`,
		Example: `  # an already-registered agent
  ocm-gitops klusterlet --hub-kubeconfig hub.kubeconfig --kubeconfig cluster1.kubeconfig --cluster-name cluster1
  # join first with a bootstrap identity
  ocm-gitops klusterlet --bootstrap-kubeconfig bootstrap.kubeconfig --hub-kubeconfig hub.kubeconfig --cluster-name cluster1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return k.run(cmd) },
	}
	fs, opts := cmd.Flags(), &k.opts
	k.logs.register(fs, "info")
	fs.StringVar(&k.managedPath, "kubeconfig", "", "kubeconfig of the managed cluster (default: in-cluster)")
	fs.StringVar(&k.hubPath, "hub-kubeconfig", "", "kubeconfig of the hub: the agent's identity when already registered, or where the identity issued on joining is kept (with --bootstrap-kubeconfig)")
	fs.StringVar(&k.bootstrapPath, "bootstrap-kubeconfig", "", "kubeconfig of a bootstrap identity: join the hub with it first (create the ManagedCluster, request a certificate)")
	fs.StringVar(&opts.HubKubeconfigSecret, "hub-kubeconfig-secret", "", "NAMESPACE/NAME of a Secret on the managed cluster that keeps the issued hub kubeconfig, instead of --hub-kubeconfig")
	fs.StringVar(&opts.ClusterName, "cluster-name", "", "name of the managed cluster on the hub (required)")
	fs.StringVar(&opts.AgentName, "agent-name", "klusterlet", "name of this agent in its hub identity")
	fs.DurationVar(&opts.CertValidity, "cert-validity", 0, "client certificate lifetime to ask the hub for (default 24h)")
	fs.IntVar(&opts.Work.Workers, "workers", 0, "ManifestWorks synced at once (default 8)")
	fs.IntVar(&opts.Work.ApplyConcurrency, "apply-concurrency", 0, "writes in flight to the managed cluster (default 32)")
	fs.DurationVar(&opts.Work.ResyncInterval, "resync-interval", 0, "how often every work is re-checked without events (default 1m)")
	fs.DurationVar(&opts.Work.EvictionGracePeriod, "eviction-grace-period", 0, "how long objects of a ManifestWork that vanished from the hub are kept (default 1h)")
	fs.DurationVar(&opts.Work.HandOffWindow, "hand-off-window", 0, "how long the deletion of an object no other ManifestWork applies is held, so a work taking it over meanwhile (a relabel) finds it in place (default 5s; negative: no hold)")
	fs.StringVar(&opts.AgeKeySecret, "age-key-secret", "", "NAMESPACE/NAME of the Secret on the managed cluster holding the cluster's age identities for SOPS-encrypted manifests, made at the first start (default: the namespace of --hub-kubeconfig-secret, else open-cluster-management-agent, and name ocm-gitops-age-identity); its namespace is protected")
	fs.StringVar(&k.protected, "protected-namespaces", strings.Join(confine.DefaultNamespaces(), ","), "comma-separated namespaces of the managed cluster that no work may write, read or run as a ServiceAccount of (the namespace of --hub-kubeconfig-secret always is)")
	return cmd
}

func (k *klusterletCommand) run(cmd *cobra.Command) error {
	opts, managedPath, hubPath, bootstrapPath := k.opts, k.managedPath, k.hubPath, k.bootstrapPath
	opts.ProtectedNamespaces = strings.Split(k.protected, ",")
	if opts.ClusterName == "" {
		return usageErrorf("--cluster-name is required: the name of this cluster's ManagedCluster on the hub")
	}
	if bootstrapPath == "" && hubPath == "" && opts.HubKubeconfigSecret == "" {
		return usageErrorf("give --hub-kubeconfig (already registered) or --bootstrap-kubeconfig with --hub-kubeconfig or --hub-kubeconfig-secret (join first)")
	}
	if bootstrapPath != "" && hubPath == "" && opts.HubKubeconfigSecret == "" {
		return usageErrorf("--bootstrap-kubeconfig needs --hub-kubeconfig PATH or --hub-kubeconfig-secret NAMESPACE/NAME to keep the identity the hub issues")
	}
	log, err := k.logs.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctrl.SetLogger(log)
	opts.Logger = log
	if opts.Managed, err = loadConfig(managedPath, "kubeconfig", true); err != nil {
		return err
	}
	opts.HubKubeconfigPath = hubPath
	switch {
	case bootstrapPath != "":
		if opts.Bootstrap, err = loadConfig(bootstrapPath, "bootstrap-kubeconfig", false); err != nil {
			return err
		}
	case hubPath != "":
		data, err := os.ReadFile(hubPath)
		if err != nil {
			return fmt.Errorf("--hub-kubeconfig %s: %w (to join the hub first, also give --bootstrap-kubeconfig)", hubPath, err)
		}
		// A certificate issued to this cluster is renewed in place; any other
		// identity is used as it is.
		if regagent.IdentityCluster(data) != opts.ClusterName {
			if opts.Hub, err = loadConfig(hubPath, "hub-kubeconfig", false); err != nil {
				return err
			}
		}
	}
	return klusterlet.Run(cmd.Context(), opts)
}

// loadConfig reads a kubeconfig file; an empty path means in-cluster when allowed.
func loadConfig(path, flagName string, inCluster bool) (*rest.Config, error) {
	if path == "" {
		if !inCluster {
			return nil, usageErrorf("--%s is required", flagName)
		}
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, usageErrorf("--%s is not set and this is not running in a cluster (%v): pass a kubeconfig file", flagName, err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", flagName, path, err)
	}
	return cfg, nil
}
