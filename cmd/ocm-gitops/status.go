package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
)

// statusCommand holds the flags of 'ocm-gitops status'.
type statusCommand struct {
	hub         hubFlags
	output      string
	watch       bool
	interval    time.Duration
	allClusters bool
	wide        bool
	timeout     time.Duration
}

func newStatusCommand() *cobra.Command {
	s := &statusCommand{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the fleet at a glance: channels, subscriptions, clusters",
		Example: `  ocm-gitops status --hub-kubeconfig .lab/hub.kubeconfig
  ocm-gitops status --watch -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return s.run(cmd) },
	}
	fs := cmd.Flags()
	s.hub.register(fs)
	fs.StringVarP(&s.output, "output", "o", "table", "output format: table or json")
	fs.BoolVar(&s.watch, "watch", false, "print again whenever the fleet changes, until interrupted")
	fs.DurationVar(&s.interval, "interval", 2*time.Second, "how often --watch reads the hub")
	fs.BoolVar(&s.allClusters, "all-clusters", false, "list every cluster, not only those needing attention in large fleets")
	fs.BoolVar(&s.wide, "wide", false, "keep each message on one line however long (by default long messages wrap)")
	fs.DurationVar(&s.timeout, "timeout", 30*time.Second, "how long one read of the hub may take")
	return cmd
}

func (s *statusCommand) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	output, watch, interval, allClusters, timeout := s.output, s.watch, s.interval, s.allClusters, s.timeout
	if output != "table" && output != "json" {
		return usageErrorf("--output %q: want table or json", output)
	}
	if watch && interval <= 0 {
		return usageErrorf("--interval %s: must be positive", interval)
	}
	cfg, err := s.hub.config(cmd.Flags())
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return fmt.Errorf("hub client: %w", err)
	}
	opts := fleetstatus.PrintOptions{JSON: output == "json", Timeout: timeout,
		Overview: fleetstatus.OverviewOptions{AllClusters: allClusters}}
	if s.wide {
		opts.Overview.MessageWidth = -1
	}
	if watch {
		err = fleetstatus.Watch(ctx, c, interval, stdout, stderr, opts)
	} else {
		err = fleetstatus.Print(ctx, c, stdout, opts)
	}
	if err != nil {
		return fmt.Errorf("read the fleet from %s: %w", cfg.Host, err)
	}
	return nil
}
