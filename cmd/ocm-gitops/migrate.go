package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

// newMigrateCommand prints the Placements and ManagedClusterSetBindings that
// choose what OCM's deprecated PlacementRules choose (placement.MigrateYAML).
func newMigrateCommand() *cobra.Command {
	var file, set string
	cmd := &cobra.Command{
		Use:     "migrate",
		Short:   "Print the Placements that replace OCM's deprecated PlacementRules",
		Example: "  kubectl get placementrules -A -o yaml | ocm-gitops migrate --placementrules -",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("--placementrules is required: a YAML file of PlacementRules, or - for stdin")
			}
			in := cmd.InOrStdin()
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = io.Reader(f)
			}
			return placement.MigrateYAML(in, cmd.OutOrStdout(), set)
		},
	}
	cmd.Flags().StringVar(&file, "placementrules", "", "YAML file holding PlacementRules (- for stdin), e.g. from: kubectl get placementrules -A -o yaml")
	cmd.Flags().StringVar(&set, "cluster-set", placement.GlobalClusterSet, "ManagedClusterSet the Placements choose from and bind")
	return cmd
}
