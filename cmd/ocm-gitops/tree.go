package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// treeCommand holds the flags of 'ocm-gitops tree subscription'.
type treeCommand struct {
	fleetCommand
	output string
}

func newTreeCommand() *cobra.Command {
	t := &treeCommand{}
	short := "Show the objects a Subscription puts on each cluster, clusters with the same content together"
	sub := &cobra.Command{
		Use:     "subscription NAME",
		Aliases: []string{"sub", "subs", "appsub"},
		Short:   short,
		Long: `Lists the objects the Subscription's ManifestWorks put on each cluster, as the hub wrote
them. Clusters receiving identical content form one group, printed once with its
clusters, their state and the revisions that produced it. Works the hub is removing,
or holds back from removing, form groups of their own.`,
		Example: `  ocm-gitops tree subscription hello -n fleet
  ocm-gitops tree subscription fleet/hello -o yaml`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error { return t.run(cmd, args[0]) },
	}
	t.register(sub.Flags())
	sub.Flags().StringVarP(&t.output, "output", "o", "table", "table, json or yaml")
	return newParentCommand("tree", short, sub)
}

// subscriptionTree is what 'tree' prints.
type subscriptionTree struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the Subscription's last applied revision.
	Revision string         `json:"revision,omitempty"`
	Groups   []contentGroup `json:"groups"`
}

// contentGroup is a set of clusters holding identical content.
type contentGroup struct {
	// Content is a digest of the manifests, to tell groups apart.
	Content  string        `json:"content"`
	Clusters []treeCluster `json:"clusters"`
	// Revisions produced this content (a cluster keeps the revision that
	// first wrote it while later ones leave it unchanged).
	Revisions []string `json:"revisions"`
	// Removing: the hub is deleting these works; RemovalHeld: it would, and
	// holds back.
	Removing    bool         `json:"removing,omitempty"`
	RemovalHeld bool         `json:"removalHeld,omitempty"`
	Objects     []treeObject `json:"objects"`
}

// treeCluster is one cluster of a group with its state as the hub reports it.
type treeCluster struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

type treeObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Work is the ManifestWork that carries it.
	Work string `json:"work"`
}

func (t *treeCommand) run(cmd *cobra.Command, arg string) error {
	format, err := parseOutput(t.output, outputTable, outputJSON, outputYAML)
	if err != nil {
		return err
	}
	c, err := t.client(cmd)
	if err != nil {
		return err
	}
	sub, err := getSubscription(cmd.Context(), c, t.key(cmd, arg))
	if err != nil {
		return err
	}
	deployed, err := deployedContent(cmd.Context(), c, sub)
	if err != nil {
		return err
	}
	tree := buildTree(sub, deployed)
	if format != outputTable {
		return writeData(cmd.OutOrStdout(), format, tree)
	}
	return tree.write(cmd.OutOrStdout())
}

// deployed is what one cluster holds of a Subscription: its works' objects
// in work order, and the work's metadata.
type deployed struct {
	works   []*workv1.ManifestWork
	objects []*unstructured.Unstructured
	// objectWork names the work of each object.
	objectWork []string
	content    string
	meta       fleetstatus.WorkMeta
	removing   bool
}

// deployedContent reads the Subscription's ManifestWorks by cluster.
func deployedContent(ctx context.Context, c client.Reader, sub *appsv1.Subscription) (map[string]*deployed, error) {
	var list workv1.ManifestWorkList
	if err := c.List(ctx, &list, subscriptionSelector(sub)); err != nil {
		return nil, fmt.Errorf("list the ManifestWorks of Subscription %s/%s: %w", sub.Namespace, sub.Name, err)
	}
	return groupWorks(list.Items)
}

// groupWorks groups works by cluster, in name order, and decodes them.
func groupWorks(works []workv1.ManifestWork) (map[string]*deployed, error) {
	sort.Slice(works, func(i, j int) bool {
		a, b := &works[i], &works[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	out := map[string]*deployed{}
	for i := range works {
		w := &works[i]
		d := out[w.Namespace]
		if d == nil {
			d = &deployed{}
			out[w.Namespace] = d
		}
		d.works = append(d.works, w)
	}
	for cluster, d := range out {
		if err := d.decode(); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", cluster, err)
		}
	}
	return out, nil
}

// decode reads the works' manifests and digests them.
func (d *deployed) decode() error {
	h := sha256.New()
	for _, w := range d.works {
		for i, m := range w.Spec.Workload.Manifests {
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(m.Raw); err != nil {
				return fmt.Errorf("ManifestWork %s manifest %d: %w", w.Name, i, err)
			}
			d.objects = append(d.objects, u)
			d.objectWork = append(d.objectWork, w.Name)
			h.Write(m.Raw)
			h.Write([]byte{0})
		}
		d.meta.Exists = true
		d.meta.RemovalHeld = d.meta.RemovalHeld || heldRemoval(w.Annotations)
		d.meta.Revision = cmp.Or(d.meta.Revision, w.Annotations[appsv1.AnnotationRevision])
		d.removing = d.removing || w.DeletionTimestamp != nil
	}
	d.content = hex.EncodeToString(h.Sum(nil))[:12]
	return nil
}

// buildTree groups the clusters by identical content and state of removal.
func buildTree(sub *appsv1.Subscription, byCluster map[string]*deployed) *subscriptionTree {
	tree := &subscriptionTree{Namespace: sub.Namespace, Name: sub.Name, Revision: sub.Status.LastAppliedRevision, Groups: []contentGroup{}}
	cells := fleetstatus.NewCells(&sub.Status)
	index := map[string]int{}
	for _, cluster := range slices.Sorted(maps.Keys(byCluster)) {
		d := byCluster[cluster]
		key := fmt.Sprintf("%s/%t/%t", d.content, d.removing, d.meta.RemovalHeld)
		i, ok := index[key]
		if !ok {
			i = len(tree.Groups)
			index[key] = i
			tree.Groups = append(tree.Groups, newContentGroup(d))
		}
		g := &tree.Groups[i]
		cell := cells.At(cluster, d.meta)
		g.Clusters = append(g.Clusters, treeCluster{Name: cluster, State: cell.Label(), Message: cell.Message})
		if r := d.meta.Revision; r != "" && !slices.Contains(g.Revisions, r) {
			g.Revisions = append(g.Revisions, r)
		}
	}
	sort.SliceStable(tree.Groups, func(i, j int) bool { return len(tree.Groups[i].Clusters) > len(tree.Groups[j].Clusters) })
	return tree
}

func newContentGroup(d *deployed) contentGroup {
	g := contentGroup{Content: d.content, Removing: d.removing, RemovalHeld: d.meta.RemovalHeld, Revisions: []string{}, Objects: []treeObject{}}
	for i, o := range d.objects {
		g.Objects = append(g.Objects, treeObject{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Work: d.objectWork[i]})
	}
	return g
}

// write prints the tree for people: each group, its clusters, its objects.
func (t *subscriptionTree) write(w io.Writer) error {
	p := &printer{w: w}
	p.printf("Subscription %s/%s", t.Namespace, t.Name)
	if t.Revision != "" {
		p.printf(" at %s", source.ShortRevision(t.Revision))
	}
	p.printf("\n")
	if len(t.Groups) == 0 {
		p.printf("└── no cluster holds a ManifestWork of it ('ocm-gitops get subscriptions -o wide' says why)\n")
	}
	for gi, g := range t.Groups {
		branch, stem := "├── ", "│   "
		if gi == len(t.Groups)-1 {
			branch, stem = "└── ", "    "
		}
		p.printf("%s%s\n", branch, g.heading())
		for oi, o := range g.Objects {
			leaf := "├── "
			if oi == len(g.Objects)-1 {
				leaf = "└── "
			}
			p.printf("%s%s%s %s\n", stem, leaf, o.Kind, objectPath(o.Namespace, o.Name))
		}
	}
	return p.err
}

// heading is a group's line: its clusters with their states (the first
// maxNames; -o json lists all), the revisions and the content digest.
func (g *contentGroup) heading() string {
	const maxNames = 20
	var names []string
	for i, c := range g.Clusters {
		if i == maxNames {
			names = append(names, fmt.Sprintf("and %d more", len(g.Clusters)-maxNames))
			break
		}
		names = append(names, c.Name+" ("+c.State+")")
	}
	revs := make([]string, len(g.Revisions))
	for i, r := range g.Revisions {
		revs[i] = source.ShortRevision(r)
	}
	s := fmt.Sprintf("clusters %s: content %s", strings.Join(names, ", "), g.Content)
	if len(revs) > 0 {
		s += " from " + strings.Join(revs, ", ")
	}
	switch {
	case g.Removing:
		s += ", being removed"
	case g.RemovalHeld:
		s += ", removal held"
	}
	return s
}
