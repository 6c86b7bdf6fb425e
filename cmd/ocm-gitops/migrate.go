package main

import (
	"context"
	"io"
	"os"

	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

// runMigrate prints the Placements and ManagedClusterSetBindings that choose
// what OCM's deprecated PlacementRules choose (placement.MigrateYAML).
func runMigrate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	file := fs.String("placementrules", "", "YAML file holding PlacementRules (- for stdin), e.g. from: kubectl get placementrules -A -o yaml")
	set := fs.String("cluster-set", placement.GlobalClusterSet, "ManagedClusterSet the Placements choose from and bind")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageErrorf("--placementrules is required: a YAML file of PlacementRules, or - for stdin")
	}
	in := io.Reader(os.Stdin)
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	return placement.MigrateYAML(in, stdout, *set)
}
