package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"

	"github.com/ocm-gitops/ocm-gitops/pkg/preview"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

func newSecretsCommand() *cobra.Command {
	return newParentCommand("secrets", "Encrypt Secrets for the clusters that should read them", newSecretsEncryptCommand())
}

// encryptFlags choose the clusters to encrypt for.
type encryptFlags struct {
	hub                 clientFlags
	placement, selector string
	clusters            string
	recipients          []string
	output              string
}

func newSecretsEncryptCommand() *cobra.Command {
	f := &encryptFlags{}
	cmd := &cobra.Command{
		Use:   "encrypt FILE",
		Short: "Encrypt a Secret with SOPS for the age recipients of chosen clusters",
		Long: `Encrypts FILE (one YAML object, usually a Secret) as 'sops --encrypt --age ...
--encrypted-regex '^(data|stringData)$'' would, for exactly the age recipients the chosen clusters
publish (ClusterClaim ` + secrets.ClaimName + `), plus --recipients (fleet keys). Only those
clusters' agents (and holders of the fleet keys) can decrypt it; the sops CLI decrypts it too, and
'sops edit' edits it. A chosen cluster that publishes no recipient is an error naming it.

To re-encrypt after a key rotation, run the same command on the plain file again.

Choose clusters with --placement NS/NAME (its PlacementDecisions), --selector (ManagedCluster
labels) or --clusters with names; --clusters FILE reads an inventory that 'ocm-gitops clusters
export' wrote instead of the hub (offline, for CI), and then selects all its clusters unless
--placement or --selector narrow them. With --recipients and none of these, the file is for
those recipients only (fleet keys) and no hub is read.`,
		Example: `  ocm-gitops secrets encrypt --hub-kubeconfig hub.kubeconfig --placement fleet/prod secret.yaml > secret.enc.yaml
  ocm-gitops secrets encrypt --clusters cluster1,cluster2 --hub-kubeconfig hub.kubeconfig -o secret.enc.yaml secret.yaml
  ocm-gitops secrets encrypt --clusters inventory/clusters.yaml --selector env=prod secret.yaml
  ocm-gitops secrets encrypt --recipients age1... secret.yaml > secret.enc.yaml   # a fleet key only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return secretsEncrypt(cmd.Context(), f, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	f.hub.register(fs, "hub-kubeconfig", "kubeconfig of the hub to read clusters and their recipients from (default: in-cluster configuration)")
	fs.StringVar(&f.placement, "placement", "", "NAMESPACE/NAME of a Placement: encrypt for the clusters it decided")
	fs.StringVar(&f.selector, "selector", "", "label selector of ManagedClusters (k=v,...): encrypt for the clusters it matches")
	fs.StringVar(&f.clusters, "clusters", "", "comma-separated cluster names, or an inventory file from 'ocm-gitops clusters export' (offline)")
	fs.StringSliceVar(&f.recipients, "recipients", nil, "further age recipients (fleet keys installed on chosen clusters, an administrator's own), comma-separated")
	fs.StringVarP(&f.output, "output", "o", "", "file to write (default: standard output)")
	return cmd
}

func secretsEncrypt(ctx context.Context, f *encryptFlags, file string, stdout, stderr io.Writer) error {
	plain, err := os.ReadFile(file)
	if err != nil {
		return usageErrorf("%v", err)
	}
	chosen, recipients, err := encryptionClusters(ctx, f, stderr)
	if err != nil {
		return err
	}
	enc, err := secrets.Encrypt(plain, append(recipients, f.recipients...))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if f.output == "" || f.output == "-" {
		_, err = stdout.Write(enc)
	} else {
		err = os.WriteFile(f.output, enc, 0o644)
	}
	if err != nil {
		return err
	}
	if len(chosen) == 0 {
		fmt.Fprintf(stderr, "encrypted %s for %s only (no cluster's own)\n", file, counted(len(f.recipients), "recipient"))
		return nil
	}
	fmt.Fprintf(stderr, "encrypted %s for %s (%s) and %s\n", file, counted(len(chosen), "cluster"),
		strings.Join(clusterNames(chosen), ", "), counted(len(f.recipients), "further recipient"))
	return nil
}

// counted is "1 cluster", "3 clusters".
func counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// encryptionClusters returns the clusters the flags choose and their own
// recipients. With --recipients alone it chooses none and reads no hub:
// a file for fleet keys only (the example fleet's, made before any
// cluster has a key of its own).
func encryptionClusters(ctx context.Context, f *encryptFlags, stderr io.Writer) ([]*clusterv1.ManagedCluster, []string, error) {
	inventoryFile, names := "", []string(nil)
	if st, err := os.Stat(f.clusters); f.clusters != "" && err == nil && !st.IsDir() {
		inventoryFile = f.clusters
	} else if f.clusters != "" {
		names = strings.Split(f.clusters, ",")
	}
	if f.placement == "" && f.selector == "" && names == nil && inventoryFile == "" {
		if len(f.recipients) > 0 {
			return nil, nil, nil
		}
		return nil, nil, usageErrorf("say which clusters may decrypt: --placement NS/NAME, --selector k=v or --clusters a,b|FILE (or only fleet keys: --recipients age1...)")
	}
	inv, err := loadInventory(ctx, inventoryFile, &f.hub, stderr)
	if err != nil {
		return nil, nil, err
	}
	chosen, err := chooseClusters(inv, f.placement, f.selector, names)
	if err != nil {
		return nil, nil, err
	}
	recipients, missing := secrets.RecipientsOf(chosen)
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("clusters %s publish no age recipient (ClusterClaim %s): their agents could not decrypt; start their klusterlets (they make a key at the first start) or leave them out",
			strings.Join(missing, ", "), secrets.ClaimName)
	}
	return chosen, recipients, nil
}

// chooseClusters applies the selection flags to the inventory's clusters.
func chooseClusters(inv *preview.Inventory, placement, selector string, names []string) ([]*clusterv1.ManagedCluster, error) {
	out := inv.Clusters
	if placement != "" {
		ns, name, ok := strings.Cut(placement, "/")
		if !ok || ns == "" || name == "" {
			return nil, usageErrorf("--placement %q must be NAMESPACE/NAME", placement)
		}
		decided := map[string]bool{}
		found := false
		for _, d := range inv.Decisions {
			if d.Namespace == ns && d.Labels[clusterv1beta1.PlacementLabel] == name {
				found = true
				for _, c := range d.Status.Decisions {
					decided[c.ClusterName] = true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("Placement %s has no PlacementDecisions: check its name, or wait for the scheduler", placement)
		}
		out = slices.DeleteFunc(slices.Clone(out), func(mc *clusterv1.ManagedCluster) bool { return !decided[mc.Name] })
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return nil, usageErrorf("--selector: %v", err)
		}
		out = slices.DeleteFunc(slices.Clone(out), func(mc *clusterv1.ManagedCluster) bool { return !sel.Matches(labels.Set(mc.Labels)) })
	}
	if names != nil {
		var picked []*clusterv1.ManagedCluster
		for _, n := range names {
			i := slices.IndexFunc(out, func(mc *clusterv1.ManagedCluster) bool { return mc.Name == strings.TrimSpace(n) })
			if i < 0 {
				return nil, fmt.Errorf("cluster %q is not a ManagedCluster of the hub (or not among those selected)", n)
			}
			picked = append(picked, out[i])
		}
		out = picked
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cluster matches: nothing to encrypt for")
	}
	return out, nil
}

func clusterNames(cs []*clusterv1.ManagedCluster) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}
