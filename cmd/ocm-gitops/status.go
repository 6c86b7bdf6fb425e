package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	var (
		hubKubeconfig string
		output        string
		watch         bool
		interval      time.Duration
		allClusters   bool
		timeout       time.Duration
	)
	fs.StringVar(&hubKubeconfig, "hub-kubeconfig", "", "kubeconfig of the hub (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&output, "output", "table", "output format: table or json")
	fs.StringVar(&output, "o", "table", "shorthand for --output")
	fs.BoolVar(&watch, "watch", false, "print again whenever the fleet changes, until interrupted")
	fs.DurationVar(&interval, "interval", 2*time.Second, "how often --watch reads the hub")
	fs.BoolVar(&allClusters, "all-clusters", false, "list every cluster, not only those needing attention in large fleets")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long one read of the hub may take")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if output != "table" && output != "json" {
		return usageErrorf("--output %q: want table or json", output)
	}
	if watch && interval <= 0 {
		return usageErrorf("--interval %s: must be positive", interval)
	}
	cfg, err := hubConfig(hubKubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return fmt.Errorf("hub client: %w", err)
	}
	render := func() ([]byte, error) {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		f, err := fleetstatus.Collect(rctx, c)
		if err != nil {
			return nil, fmt.Errorf("read the fleet from %s: %w", cfg.Host, err)
		}
		var buf bytes.Buffer
		if output == "json" {
			err = f.WriteJSON(&buf)
		} else {
			err = f.WriteOverview(&buf, fleetstatus.OverviewOptions{AllClusters: allClusters})
		}
		return buf.Bytes(), err
	}

	out, err := render()
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	if !watch {
		return nil
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := render()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A hub briefly out of reach is no reason to stop watching.
			fmt.Fprintf(stderr, "ocm-gitops status: %v\n", err)
			continue
		}
		if bytes.Equal(next, out) {
			continue
		}
		out = next
		if output == "table" {
			fmt.Fprintf(stdout, "\n--- %s\n", time.Now().Format(time.TimeOnly))
		}
		if _, err := stdout.Write(out); err != nil {
			return err
		}
	}
}

// hubConfig loads the given kubeconfig, else the usual kubectl defaults
// ($KUBECONFIG, ~/.kube/config), else the in-cluster configuration.
func hubConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("--hub-kubeconfig %s: %w", path, err)
		}
		if inCluster, ierr := rest.InClusterConfig(); ierr == nil {
			return inCluster, nil
		}
		return nil, usageErrorf("no hub to read: pass --hub-kubeconfig, or set $KUBECONFIG (%v)", err)
	}
	return cfg, nil
}
