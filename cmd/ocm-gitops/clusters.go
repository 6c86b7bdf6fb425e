package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runClusters holds the inventory subcommands.
func runClusters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "usage: ocm-gitops clusters export --hub-kubeconfig H [-o FILE] [--format yaml|json]")
		if len(args) == 0 {
			return usageErrorf("name a subcommand: export")
		}
		return nil
	}
	if args[0] != "export" {
		return usageErrorf("unknown subcommand %q; the subcommand is export", args[0])
	}
	return runClustersExport(ctx, args[1:], stdout, stderr)
}

// runClustersExport writes the hub's cluster inventory (ManagedClusters,
// sets, bindings, scores, Placements and their decisions, Channels and
// Subscriptions) for 'ocm-gitops preview --clusters', so CI needs no hub.
func runClustersExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("clusters export", stderr)
	var hub clientFlags
	hub.register(fs, "hub-kubeconfig", "kubeconfig of the hub (default: in-cluster configuration)")
	var out string
	fs.StringVar(&out, "output", "", "file to write (default: standard output)")
	fs.StringVar(&out, "o", "", "short for --output")
	format := fs.String("format", "yaml", "yaml or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ocm-gitops clusters export --hub-kubeconfig H [-o FILE] [--format yaml|json]")
		fmt.Fprintln(stderr, "\nWrites the hub's ManagedClusters, ManagedClusterSets and bindings, AddOnPlacementScores,")
		fmt.Fprintln(stderr, "Placements and PlacementDecisions, Channels and Subscriptions as one List, the")
		fmt.Fprintln(stderr, "inventory 'ocm-gitops preview --clusters' reads. It holds no Secrets. Status of Channels,")
		fmt.Fprintln(stderr, "Subscriptions and Placements and managed fields are left out.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "yaml" && *format != "json" {
		return usageErrorf("--format %q: want yaml or json", *format)
	}
	inv, err := loadInventory(ctx, "", &hub, stderr)
	if err != nil {
		return err
	}
	data, err := inv.Marshal(*format == "json")
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
