package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
)

// hubCommand holds the flags of 'ocm-gitops hub'.
type hubCommand struct {
	client                     clientFlags
	logs                       logFlags
	controllers                string
	budget                     int
	opts                       hub.Options
	caCert, caKey, autoApprove string
}

func newHubCommand() *cobra.Command {
	h := &hubCommand{}
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the hub controllers",
		Long: `Runs the hub controllers: Channels (fetch), Subscriptions (render, place, write one
ManifestWork per cluster, sum up status), placement, cluster registration, push
webhooks and commit statuses. --controllers runs only some of them, e.g. beside an
existing OCM hub.`,
		Example: "  ocm-gitops hub --kubeconfig hub.kubeconfig --webhook-addr :9443",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return h.run(cmd) },
	}
	fs, opts := cmd.Flags(), &h.opts
	h.client.register(fs, "kubeconfig", "kubeconfig of the hub (default: in-cluster)")
	h.logs.register(fs, "info")
	fs.StringVar(&h.controllers, "controllers", "", "comma-separated controllers to run (default: all): "+strings.Join(hub.ControllerNames(), ","))
	fs.StringVar(&opts.WebhookAddr, "webhook-addr", "", "address of the Git push-webhook receiver, e.g. :9443 (default: off)")
	fs.StringVar(&opts.MetricsAddr, "metrics-addr", ":8080", "address of the Prometheus metrics endpoint (\"0\": off)")
	fs.StringVar(&opts.HealthAddr, "health-addr", ":8081", "address of /healthz and /readyz (\"0\": off)")
	fs.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect one active replica among several")
	fs.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: in-cluster namespace)")
	fs.StringVar(&opts.HubID, "hub-id", "", "name of this hub in commit status contexts, when several hubs report on one repository")
	fs.BoolVar(&opts.AllowLocalGit, "allow-local-git", false, "let Git Channels read repositories on the hub's own disk (file:// URLs); for labs and tests")
	fs.Func("allow-networks", "comma-separated CIDRs or addresses of loopback, link-local or private networks that Channels (Git, Helm, S3) and commit-status APIs may reach, e.g. 10.20.0.0/16 (default: public addresses only)", func(v string) error {
		n, err := egress.ParseNetworks(v)
		opts.AllowNetworks = append(opts.AllowNetworks, n...)
		return err
	})
	fs.StringVar(&opts.CacheDir, "cache-dir", "", "folder for Git clones and artifacts (default: a folder under the system temp dir)")
	fs.IntVar(&h.budget, "deletion-budget-percent", int(hub.DefaultDeletionBudgetPercent),
		"largest share of a Subscription's clusters, in percent, that one change may remove its objects from without the confirm-deletion annotation; a Subscription's spec.deletionBudgetPercent overrides it; 100 turns the check off")
	fs.Func("direct-placement", "what spec.placement.clusters, clusterSelector and local of tenant namespaces select from: bound (the clusters of the ManagedClusterSets bound to the Subscription's namespace) or any (every cluster, as OCM; for hubs used by one team). A namespace labelled ocm-gitops.io/tenant=false always reaches any cluster (default bound)", func(v string) error {
		var err error
		opts.Tenancy.DirectPlacement, err = tenancy.ParseDirectPlacement(v)
		return err
	})
	fs.Func("channel-access", "which namespaces' Subscriptions may use a Channel of another namespace whose spec.allowedNamespaces is empty: restricted (a Channel without credentials serves every namespace; one with spec.secretRef or spec.commitStatus only its own) or ocm (every Channel serves every namespace, as OCM; for hubs used by one team). A Channel's spec.allowedNamespaces, when set, decides in both (default restricted)", func(v string) error {
		var err error
		opts.Tenancy.ChannelAccess, err = tenancy.ParseChannelAccess(v)
		return err
	})
	fs.StringVar(&h.caCert, "registration-ca-cert", "", "PEM file of the CA the hub's kube-apiserver trusts for client certificates: sign approved cluster certificates with it (only for hubs without kube-controller-manager)")
	fs.StringVar(&h.caKey, "registration-ca-key", "", "PEM file of that CA's private key")
	fs.StringVar(&h.autoApprove, "auto-approve-users", "", "comma-separated bootstrap users whose clusters are accepted without an administrator")
	return cmd
}

func (h *hubCommand) run(cmd *cobra.Command) error {
	opts := h.opts
	if (h.caCert == "") != (h.caKey == "") {
		return usageErrorf("--registration-ca-cert and --registration-ca-key go together")
	}
	if h.caCert != "" {
		var err error
		if opts.Registration.CACertPEM, err = os.ReadFile(h.caCert); err != nil {
			return fmt.Errorf("--registration-ca-cert: %w", err)
		}
		if opts.Registration.CAKeyPEM, err = os.ReadFile(h.caKey); err != nil {
			return fmt.Errorf("--registration-ca-key: %w", err)
		}
	}
	if h.autoApprove != "" {
		opts.Registration.AutoApproveUsers = strings.Split(h.autoApprove, ",")
	}
	if h.budget < 0 || h.budget > 100 {
		return usageErrorf("--deletion-budget-percent is %d; give a percentage from 0 (confirm every removal) to 100 (never hold a removal)", h.budget)
	}
	pct := int32(h.budget)
	opts.DeletionBudgetPercent = &pct
	log, err := h.logs.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	cfg, err := h.client.config("kubeconfig")
	if err != nil {
		return err
	}
	if h.controllers != "" {
		opts.Controllers = strings.Split(h.controllers, ",")
	}
	opts.Logger = log
	ctrl.SetLogger(log)
	return hub.Run(cmd.Context(), cfg, opts)
}
