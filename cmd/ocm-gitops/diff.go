package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/preview"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// diffCommand holds the flags of 'ocm-gitops diff subscription'.
type diffCommand struct {
	fleetCommand
	dir    string
	output string
}

func newDiffCommand() *cobra.Command {
	d := &diffCommand{}
	short := "Show what a local checkout would change on each cluster of a Subscription"
	sub := &cobra.Command{
		Use:     "subscription NAME --dir PATH",
		Aliases: []string{"sub", "subs", "appsub"},
		Short:   short,
		Long: `Renders the fleet repository checked out at --dir (as it is on disk, uncommitted changes
included) for the Subscription with the hub's renderer, once for each cluster holding its
ManifestWorks (with that cluster's name, labels and claims, so overrides and
clusterValuesTemplate apply as on the hub), and compares the objects with the manifests
deployed now. Clusters with the same changes are shown together; Secret values are shown
as digests, never in clear.

The clusters are those the Subscription deploys to now: to preview a change of placement,
run 'ocm-gitops preview'.

Exit status: 0 when nothing would change, 1 when something would, 2 on errors.`,
		Example: `  ocm-gitops diff --dir . subscription hello -n fleet
  ocm-gitops diff subscription fleet/hello --dir ~/src/fleet -o json`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed, err := d.run(cmd, args[0])
			switch {
			case err != nil && errors.As(err, new(usageError)):
				return err
			case err != nil:
				return exitError{code: 2, err: err}
			case changed:
				return exitError{code: 1}
			}
			return nil
		},
	}
	fs := sub.Flags()
	d.register(fs)
	fs.StringVar(&d.dir, "dir", "", "local checkout of the Subscription's Git repository (required)")
	fs.StringVarP(&d.output, "output", "o", "diff", "diff (unified, grouped by cluster), json or yaml")
	return newParentCommand("diff", short, sub)
}

// subscriptionDiff is what 'diff' found, as printed with -o json or yaml.
type subscriptionDiff struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Dir       string `json:"dir"`
	// Clusters counts the clusters compared; Groups are those that change,
	// clusters with identical changes together.
	Clusters int             `json:"clusters"`
	Groups   []preview.Group `json:"groups"`
	// Errors are the clusters the checkout does not render for, one entry
	// per message.
	Errors []renderFailure `json:"errors,omitempty"`
}

// renderFailure is a render error and the clusters it happens on.
type renderFailure struct {
	Clusters []string `json:"clusters"`
	Message  string   `json:"message"`
}

func (d *diffCommand) run(cmd *cobra.Command, arg string) (bool, error) {
	format, err := parseOutput(d.output, "diff", outputJSON, outputYAML)
	if err != nil {
		return false, err
	}
	dir, err := checkoutDir(d.dir)
	if err != nil {
		return false, err
	}
	c, err := d.client(cmd)
	if err != nil {
		return false, err
	}
	ctx := cmd.Context()
	sub, err := getSubscription(ctx, c, d.key(cmd, arg))
	if err != nil {
		return false, err
	}
	if err := checkGitChannel(ctx, c, sub); err != nil {
		return false, err
	}
	deployed, err := deployedContent(ctx, c, sub)
	if err != nil {
		return false, err
	}
	result, err := diffCheckout(ctx, c, sub, dir, deployed)
	if err != nil {
		return false, err
	}
	if format != "diff" {
		err = writeData(cmd.OutOrStdout(), format, result)
	} else {
		err = result.write(cmd.OutOrStdout())
	}
	if err == nil && len(result.Errors) > 0 {
		err = fmt.Errorf("%d of %d clusters do not render from %s", len(result.Errors), result.Clusters, dir)
	}
	return len(result.Groups) > 0, err
}

// checkoutDir checks --dir names a folder.
func checkoutDir(dir string) (string, error) {
	if dir == "" {
		return "", usageErrorf("--dir is required: the local checkout of the Subscription's Git repository")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", usageErrorf("--dir %q: %v", dir, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return "", usageErrorf("--dir %q is not a folder", dir)
	}
	return abs, nil
}

// checkGitChannel refuses Subscriptions whose content is no Git repository:
// a checkout cannot stand for a Helm repository or a bucket.
func checkGitChannel(ctx context.Context, c client.Reader, sub *appsv1.Subscription) error {
	key, err := sub.ChannelKey()
	if err != nil {
		return fmt.Errorf("Subscription %s/%s: %w", sub.Namespace, sub.Name, err)
	}
	ch := &appsv1.Channel{}
	if err := c.Get(ctx, key, ch); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("Subscription %s/%s: Channel %s not found; the hub deploys nothing from it", sub.Namespace, sub.Name, key)
		}
		return fmt.Errorf("get Channel %s: %w", key, err)
	}
	switch strings.ToLower(string(ch.Spec.Type)) {
	case "git", "github":
		return nil
	}
	return usageErrorf("Subscription %s/%s follows Channel %s of type %s; --dir stands for a Git repository only", sub.Namespace, sub.Name, key, ch.Spec.Type)
}

// diffCheckout renders dir for each cluster holding the Subscription's works
// and compares with what they hold.
func diffCheckout(ctx context.Context, c client.Reader, sub *appsv1.Subscription, dir string, byCluster map[string]*deployed) (*subscriptionDiff, error) {
	key, err := preview.NewSecretKey()
	if err != nil {
		return nil, err
	}
	result := &subscriptionDiff{Namespace: sub.Namespace, Name: sub.Name, Dir: dir, Clusters: len(byCluster), Groups: []preview.Group{}}
	renderer := render.NewRenderer()
	art := &source.Artifact{Revision: "local", Dir: dir}
	groups := map[string]int{}
	failed := map[string]int{}
	for _, cluster := range slices.Sorted(maps.Keys(byCluster)) {
		rc, err := renderClusterNamed(ctx, c, cluster)
		if err != nil {
			return nil, err
		}
		local, err := renderer.Render(ctx, art, sub, rc)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			addProblem(result, failed, cluster, err.Error())
			continue
		}
		// Works carry the namespaces a render uses but does not declare.
		if local, err = render.NewOutput(hub.WithUndeclaredNamespaces(local.Objects)); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", cluster, err)
		}
		now, err := render.NewOutput(byCluster[cluster].objects)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: the deployed manifests: %w", cluster, err)
		}
		changes, err := preview.DiffOutputs(now, local, "deployed", "local", key)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", cluster, err)
		}
		if len(changes) == 0 {
			continue
		}
		k := preview.ChangesKey(changes)
		i, ok := groups[k]
		if !ok {
			i = len(result.Groups)
			groups[k] = i
			result.Groups = append(result.Groups, preview.Group{Objects: changes})
		}
		result.Groups[i].Clusters = append(result.Groups[i].Clusters, cluster)
	}
	return result, nil
}

// addProblem records a render failure, one entry per message.
func addProblem(result *subscriptionDiff, index map[string]int, cluster, msg string) {
	i, ok := index[msg]
	if !ok {
		i = len(result.Errors)
		index[msg] = i
		result.Errors = append(result.Errors, renderFailure{Message: msg})
	}
	result.Errors[i].Clusters = append(result.Errors[i].Clusters, cluster)
}

// renderClusterNamed is what the renderer sees of a cluster: its name,
// labels and claims. A cluster no longer on the hub renders with its name
// only (the hub removes its works).
func renderClusterNamed(ctx context.Context, c client.Reader, name string) (render.Cluster, error) {
	mc := &clusterv1.ManagedCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
		if apierrors.IsNotFound(err) {
			return render.Cluster{Name: name}, nil
		}
		return render.Cluster{}, fmt.Errorf("get ManagedCluster %s: %w", name, err)
	}
	return renderCluster(mc), nil
}

// renderCluster is what the renderer sees of a ManagedCluster.
func renderCluster(mc *clusterv1.ManagedCluster) render.Cluster {
	claims := make(map[string]string, len(mc.Status.ClusterClaims))
	for _, cl := range mc.Status.ClusterClaims {
		claims[cl.Name] = cl.Value
	}
	return render.Cluster{Name: mc.Name, Labels: mc.Labels, Claims: claims}
}

// write prints the changes for people: each group's clusters, then the
// unified diff of each object, then what could not be rendered.
func (r *subscriptionDiff) write(w io.Writer) error {
	p := &printer{w: w}
	changed := 0
	for _, g := range r.Groups {
		changed += len(g.Clusters)
		p.printf("=== %s/%s on %s: %d objects change\n", r.Namespace, r.Name, strings.Join(g.Clusters, ", "), len(g.Objects))
		for _, o := range g.Objects {
			p.printf("%s %s %s\n", o.Change, o.Kind, objectPath(o.Namespace, o.Name))
			p.printf("%s", o.Diff)
		}
	}
	for _, e := range r.Errors {
		p.printf("=== %s/%s on %s: does not render from %s:\n%s\n", r.Namespace, r.Name, strings.Join(e.Clusters, ", "), r.Dir, e.Message)
	}
	switch {
	case r.Clusters == 0:
		p.printf("no cluster holds a ManifestWork of %s/%s: nothing to compare with\n", r.Namespace, r.Name)
	case changed == 0 && len(r.Errors) == 0:
		p.printf("no changes: the %d clusters of %s/%s hold what %s renders\n", r.Clusters, r.Namespace, r.Name, r.Dir)
	default:
		p.printf("%d of %d clusters of %s/%s would change\n", changed, r.Clusters, r.Namespace, r.Name)
	}
	return p.err
}
