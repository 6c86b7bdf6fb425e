package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newClustersCommand() *cobra.Command {
	return newParentCommand("clusters", "Export the cluster inventory that previews read", newClustersExportCommand())
}

// newClustersExportCommand writes the hub's cluster inventory (ManagedClusters,
// sets, bindings, scores, Placements and their decisions, Channels and
// Subscriptions) for 'ocm-gitops preview --clusters', so CI needs no hub.
func newClustersExportCommand() *cobra.Command {
	var (
		hub    clientFlags
		out    string
		format string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the hub's cluster inventory for 'ocm-gitops preview --clusters'",
		Long: `Writes the hub's ManagedClusters, ManagedClusterSets and bindings, AddOnPlacementScores,
Placements and PlacementDecisions, Channels and Subscriptions as one List, the
inventory 'ocm-gitops preview --clusters' reads. It holds no Secrets. Status of Channels,
Subscriptions and Placements and managed fields are left out.`,
		Example: "  ocm-gitops clusters export --hub-kubeconfig hub.kubeconfig -o inventory/clusters.yaml",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clustersExport(cmd.Context(), &hub, out, format, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	hub.register(fs, "hub-kubeconfig", "kubeconfig of the hub (default: in-cluster configuration)")
	fs.StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	fs.StringVar(&format, "format", "yaml", "yaml or json")
	return cmd
}

func clustersExport(ctx context.Context, hub *clientFlags, out, format string, stdout, stderr io.Writer) error {
	if format != "yaml" && format != "json" {
		return usageErrorf("--format %q: want yaml or json", format)
	}
	inv, err := loadInventory(ctx, "", hub, stderr)
	if err != nil {
		return err
	}
	data, err := inv.Marshal(format == "json")
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		_, err = stdout.Write(data)
		return err
	}
	// Write next to the target and rename, so a reader never sees half a file.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".clusters-*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("--output %s: %w", out, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("--output %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--output %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("--output %s: %w", out, err)
	}
	fmt.Fprintf(stderr, "wrote %d clusters to %s\n", len(inv.Clusters), out)
	return nil
}
