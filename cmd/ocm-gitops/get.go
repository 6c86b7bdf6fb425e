package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// getCommand holds the flags every 'get' subcommand shares.
type getCommand struct {
	fleetCommand
	output   string
	selector string
	format   outputFormat
}

func newGetCommand() *cobra.Command {
	cmd := newParentCommand("get", "List channels, subscriptions, clusters or works with their state",
		newGetSubcommand("channels", []string{"channel", "ch"}, "List Channels: refs in use, revisions, last fetch, errors", (*getCommand).channels),
		newGetSubcommand("subscriptions", []string{"subscription", "subs", "sub", "appsub"}, "List Subscriptions: revision, readiness, clusters by state", (*getCommand).subscriptions),
		newGetSubcommand("clusters", []string{"cluster", "managedclusters", "mc"}, "List managed clusters: availability, sets, Subscriptions by state", (*getCommand).clusters),
		newGetSubcommand("works", []string{"work", "manifestworks", "mw"}, "List ManifestWorks: revision, applied, available, drift, held", (*getCommand).works),
	)
	cmd.Long = `Lists the fleet's objects with what they are doing. Every namespace is listed unless
-n names one. -o wide adds columns (health, drift and held states, messages in full);
-o json and -o yaml print the same rows as data.`
	return cmd
}

// newGetSubcommand makes one 'get KIND' command; list does the work.
func newGetSubcommand(use string, aliases []string, short string, list func(*getCommand, context.Context, client.Client, io.Writer) error) *cobra.Command {
	g := &getCommand{}
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Example: fmt.Sprintf("  ocm-gitops get %s --hub-kubeconfig .lab/hub.kubeconfig\n  ocm-gitops get %s -o wide", use, use),
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if g.format, err = parseOutput(g.output, outputTable, outputWide, outputJSON, outputYAML); err != nil {
				return err
			}
			if _, err := labels.Parse(g.selector); err != nil {
				return usageErrorf("-l %q: %v", g.selector, err)
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			return list(g, cmd.Context(), c, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	g.hub.register(fs)
	fs.StringVarP(&g.namespace, "namespace", "n", "", "only this namespace (default: every namespace)")
	fs.StringVarP(&g.output, "output", "o", "table", "table, wide, json or yaml")
	fs.StringVarP(&g.selector, "selector", "l", "", "label selector, e.g. env=prod (for works: of their cluster)")
	return cmd
}

// listOptions narrow a list by --namespace and --selector.
func (g *getCommand) listOptions() []client.ListOption {
	var opts []client.ListOption
	if g.namespace != "" {
		opts = append(opts, client.InNamespace(g.namespace))
	}
	if g.selector != "" {
		sel, _ := labels.Parse(g.selector) // checked in RunE
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	return opts
}

// channelRow is one Channel as 'get channels' shows it.
type channelRow struct {
	Namespace     string   `json:"namespace"`
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	URL           string   `json:"url"`
	Ready         string   `json:"ready"`
	Reason        string   `json:"reason,omitempty"`
	Message       string   `json:"message,omitempty"`
	Refs          []refRow `json:"refs"`
	Subscriptions int      `json:"subscriptions"`
}

// refRow is one ref in use and the revision last fetched for it.
type refRow struct {
	Ref       string     `json:"ref"`
	Revision  string     `json:"revision"`
	FetchedAt *time.Time `json:"fetchedAt,omitempty"`
	CommitURL string     `json:"commitURL,omitempty"`
}

func (g *getCommand) channels(ctx context.Context, c client.Client, w io.Writer) error {
	var list appsv1.ChannelList
	if err := c.List(ctx, &list, g.listOptions()...); err != nil {
		return fmt.Errorf("list Channels: %w", err)
	}
	var subs appsv1.SubscriptionList
	if err := c.List(ctx, &subs); err != nil {
		return fmt.Errorf("list Subscriptions: %w", err)
	}
	users := map[string]int{}
	for i := range subs.Items {
		if key, err := subs.Items[i].ChannelKey(); err == nil {
			users[key.String()]++
		}
	}
	f := fleetstatus.Build(list.Items, nil, nil)
	rows := make([]channelRow, 0, len(f.Channels))
	byKey := map[string]*appsv1.Channel{}
	for i := range list.Items {
		byKey[list.Items[i].Namespace+"/"+list.Items[i].Name] = &list.Items[i]
	}
	for _, fc := range f.Channels {
		ch := byKey[fc.Namespace+"/"+fc.Name]
		row := channelRow{Namespace: fc.Namespace, Name: fc.Name, Type: fc.Type, URL: fc.Pathname, Ready: fc.Ready, Reason: fc.Reason,
			Message: fc.Message, Refs: []refRow{}, Subscriptions: users[fc.Namespace+"/"+fc.Name]}
		for _, a := range ch.Status.Artifacts {
			r := refRow{Ref: a.Ref, Revision: a.Revision, CommitURL: fleetstatus.CommitURL(ch, a.Revision)}
			if !a.FetchedAt.IsZero() {
				t := a.FetchedAt.Time
				r.FetchedAt = &t
			}
			row.Refs = append(row.Refs, r)
		}
		rows = append(rows, row)
	}
	if g.format == outputJSON || g.format == outputYAML {
		return writeData(w, g.format, rows)
	}
	return g.channelTable(w, rows)
}

func (g *getCommand) channelTable(w io.Writer, rows []channelRow) error {
	wide := g.format == outputWide
	headers := []string{"NAMESPACE", "NAME", "TYPE", "READY", "REASON", "REVISIONS"}
	if wide {
		headers = append(headers, "LAST FETCH", "SUBSCRIPTIONS", "URL", "MESSAGE")
	}
	t := newTable(w, headers...)
	now := time.Now()
	for _, r := range rows {
		var revs []string
		var last time.Time
		for _, ref := range r.Refs {
			revs = append(revs, source.ShortRevision(ref.Revision))
			if ref.FetchedAt != nil && ref.FetchedAt.After(last) {
				last = *ref.FetchedAt
			}
		}
		cells := []string{r.Namespace, r.Name, r.Type, r.Ready, r.Reason, strings.Join(revs, ",")}
		if wide {
			cells = append(cells, age(last, now), fmt.Sprint(r.Subscriptions), r.URL, oneLine(r.Message))
		}
		t.row(cells...)
	}
	return t.flush()
}

// subscriptionRow is one Subscription as 'get subscriptions' shows it.
// Healthy is the hub's summary.healthy (clusters whose workloads are healthy,
// drifted or not), the HEALTHY that kubectl, status and the lab table show.
type subscriptionRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Channel   string `json:"channel"`
	Path      string `json:"path,omitempty"`
	// Revision is deployed; Attempted the newest tried when it differs.
	Revision  string                    `json:"revision,omitempty"`
	Attempted string                    `json:"attempted,omitempty"`
	CommitURL string                    `json:"commitURL,omitempty"`
	Ready     string                    `json:"ready"`
	Reason    string                    `json:"reason,omitempty"`
	Message   string                    `json:"message,omitempty"`
	Paused    bool                      `json:"paused,omitempty"`
	Rollout   string                    `json:"rollout,omitempty"`
	Selected  int                       `json:"selected"`
	Healthy   int                       `json:"healthy"`
	Clusters  map[fleetstatus.Class]int `json:"clusters"`
}

func (g *getCommand) subscriptions(ctx context.Context, c client.Client, w io.Writer) error {
	var list appsv1.SubscriptionList
	if err := c.List(ctx, &list, g.listOptions()...); err != nil {
		return fmt.Errorf("list Subscriptions: %w", err)
	}
	var channels appsv1.ChannelList
	if err := c.List(ctx, &channels); err != nil {
		return fmt.Errorf("list Channels: %w", err)
	}
	chans := map[string]*appsv1.Channel{}
	for i := range channels.Items {
		chans[channels.Items[i].Namespace+"/"+channels.Items[i].Name] = &channels.Items[i]
	}
	rows := make([]subscriptionRow, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, newSubscriptionRow(&list.Items[i], chans))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Namespace+"/"+rows[i].Name < rows[j].Namespace+"/"+rows[j].Name })
	if g.format == outputJSON || g.format == outputYAML {
		return writeData(w, g.format, rows)
	}
	return g.subscriptionTable(w, rows)
}

func newSubscriptionRow(s *appsv1.Subscription, chans map[string]*appsv1.Channel) subscriptionRow {
	row := subscriptionRow{
		Namespace: s.Namespace, Name: s.Name, Channel: s.Spec.Channel, Path: source.SubscriptionPath(s),
		Revision: s.Status.LastAppliedRevision, Ready: string(metav1.ConditionUnknown),
		Paused: s.Labels[appsv1.LabelSubscriptionPause] == "true", Selected: int(s.Status.Summary.Selected),
		Healthy: int(s.Status.Summary.Healthy), Clusters: fleetstatus.Counts(s.Status.Summary),
	}
	if key, err := s.ChannelKey(); err == nil {
		row.Channel = key.String()
		row.CommitURL = fleetstatus.CommitURL(chans[key.String()], row.Revision)
	}
	if a := s.Status.LastAttemptedRevision; a != row.Revision {
		row.Attempted = a
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady); c != nil && s.Status.ObservedGeneration >= s.Generation {
		row.Ready, row.Reason, row.Message = string(c.Status), c.Reason, c.Message
	}
	if ro := s.Status.Rollout; ro != nil {
		row.Rollout = string(ro.Phase)
	}
	return row
}

func (g *getCommand) subscriptionTable(w io.Writer, rows []subscriptionRow) error {
	wide := g.format == outputWide
	headers := []string{"NAMESPACE", "NAME", "REVISION", "READY", "REASON", "HEALTHY", "STATES"}
	if wide {
		headers = append(headers, "CHANNEL", "PATH", "ROLLOUT", "PAUSED", "MESSAGE")
	}
	t := newTable(w, headers...)
	for _, r := range rows {
		rev := source.ShortRevision(r.Revision)
		if r.Attempted != "" {
			rev += " (trying " + source.ShortRevision(r.Attempted) + ")"
		}
		cells := []string{r.Namespace, r.Name, rev, r.Ready, r.Reason,
			fmt.Sprintf("%d/%d", r.Healthy, r.Selected), fleetstatus.CountsText(r.Clusters)}
		if wide {
			cells = append(cells, r.Channel, r.Path, r.Rollout, fmt.Sprint(r.Paused), oneLine(r.Message))
		}
		t.row(cells...)
	}
	return t.flush()
}

// clusterRow is one managed cluster as 'get clusters' shows it.
type clusterRow struct {
	Name        string            `json:"name"`
	Accepted    bool              `json:"accepted"`
	Available   string            `json:"available"`
	Version     string            `json:"kubernetesVersion,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	ClusterSets []string          `json:"clusterSets,omitempty"`
	// Subscriptions counts the Subscriptions reporting on the cluster by
	// class (from their status lists, which name at most 100 clusters each).
	Subscriptions map[fleetstatus.Class]int `json:"subscriptions"`
}

func (g *getCommand) clusters(ctx context.Context, c client.Client, w io.Writer) error {
	var list clusterv1.ManagedClusterList
	if err := c.List(ctx, &list, g.clusterListOptions()...); err != nil {
		return fmt.Errorf("list ManagedClusters: %w", err)
	}
	var subs appsv1.SubscriptionList
	if err := c.List(ctx, &subs); err != nil {
		return fmt.Errorf("list Subscriptions: %w", err)
	}
	var sets clusterv1beta2.ManagedClusterSetList
	if err := c.List(ctx, &sets); err != nil && !meta.IsNoMatchError(err) {
		return fmt.Errorf("list ManagedClusterSets: %w", err)
	}
	setPtrs := make([]*clusterv1beta2.ManagedClusterSet, len(sets.Items))
	for i := range sets.Items {
		setPtrs[i] = &sets.Items[i]
	}
	f := fleetstatus.Build(nil, subs.Items, list.Items)
	byName := map[string]*clusterv1.ManagedCluster{}
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	rows := make([]clusterRow, 0, len(f.Clusters))
	for _, fc := range f.Clusters {
		mc := byName[fc.Name]
		row := clusterRow{Name: fc.Name, Accepted: fc.Accepted, Available: fc.Available, Version: mc.Status.Version.Kubernetes,
			Labels: mc.Labels, ClusterSets: placement.SetsOf(mc, setPtrs), Subscriptions: map[fleetstatus.Class]int{}}
		for state, n := range fc.Deployments {
			row.Subscriptions[fleetstatus.ClassOf(state)] += n
		}
		rows = append(rows, row)
	}
	if g.format == outputJSON || g.format == outputYAML {
		return writeData(w, g.format, rows)
	}
	wide := g.format == outputWide
	headers := []string{"NAME", "ACCEPTED", "AVAILABLE", "SUBSCRIPTIONS"}
	if wide {
		headers = append(headers, "CLUSTERSETS", "VERSION", "LABELS")
	}
	t := newTable(w, headers...)
	for _, r := range rows {
		cells := []string{r.Name, fmt.Sprint(r.Accepted), r.Available, fleetstatus.CountsText(r.Subscriptions)}
		if wide {
			cells = append(cells, strings.Join(r.ClusterSets, ","), r.Version, labelText(r.Labels))
		}
		t.row(cells...)
	}
	return t.flush()
}

// workRow is one ManifestWork as 'get works' shows it.
type workRow struct {
	Cluster      string `json:"cluster"`
	Name         string `json:"name"`
	Subscription string `json:"subscription,omitempty"`
	Revision     string `json:"revision,omitempty"`
	Manifests    int    `json:"manifests"`
	// Applied, Available, Progressing, Degraded and Drifted are the work's
	// conditions: True, False, or "" when not reported for this generation.
	Applied     string `json:"applied"`
	Available   string `json:"available"`
	Progressing string `json:"progressing,omitempty"`
	Degraded    string `json:"degraded,omitempty"`
	Drifted     string `json:"drifted,omitempty"`
	RemovalHeld bool   `json:"removalHeld,omitempty"`
	Message     string `json:"message,omitempty"`
}

func (g *getCommand) works(ctx context.Context, c client.Client, w io.Writer) error {
	opts := []client.ListOption{}
	if g.namespace != "" {
		opts = append(opts, client.InNamespace(g.namespace))
	}
	var clusters map[string]bool
	if g.selector != "" {
		var err error
		if clusters, err = g.selectedClusters(ctx, c); err != nil {
			return err
		}
	}
	var list workv1.ManifestWorkList
	if err := c.List(ctx, &list, opts...); err != nil {
		return fmt.Errorf("list ManifestWorks: %w", err)
	}
	rows := make([]workRow, 0, len(list.Items))
	for i := range list.Items {
		if clusters == nil || clusters[list.Items[i].Namespace] {
			rows = append(rows, newWorkRow(&list.Items[i]))
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Cluster+"/"+rows[i].Name < rows[j].Cluster+"/"+rows[j].Name })
	if g.format == outputJSON || g.format == outputYAML {
		return writeData(w, g.format, rows)
	}
	wide := g.format == outputWide
	headers := []string{"CLUSTER", "NAME", "SUBSCRIPTION", "REVISION", "APPLIED", "AVAILABLE", "DRIFTED"}
	if wide {
		headers = append(headers, "DEGRADED", "PROGRESSING", "HELD", "MANIFESTS", "MESSAGE")
	}
	t := newTable(w, headers...)
	for _, r := range rows {
		cells := []string{r.Cluster, r.Name, r.Subscription, source.ShortRevision(r.Revision), r.Applied, r.Available, r.Drifted}
		if wide {
			cells = append(cells, r.Degraded, r.Progressing, fmt.Sprint(r.RemovalHeld), fmt.Sprint(r.Manifests), oneLine(r.Message))
		}
		t.row(cells...)
	}
	return t.flush()
}

// clusterListOptions narrow a list of clusters (cluster-scoped) by --selector.
func (g *getCommand) clusterListOptions() []client.ListOption {
	if g.selector == "" {
		return nil
	}
	sel, _ := labels.Parse(g.selector) // checked in RunE
	return []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}
}

// selectedClusters names the clusters --selector matches.
func (g *getCommand) selectedClusters(ctx context.Context, c client.Client) (map[string]bool, error) {
	var list clusterv1.ManagedClusterList
	if err := c.List(ctx, &list, g.clusterListOptions()...); err != nil {
		return nil, fmt.Errorf("list ManagedClusters: %w", err)
	}
	out := map[string]bool{}
	for _, mc := range list.Items {
		out[mc.Name] = true
	}
	return out, nil
}

func newWorkRow(w *workv1.ManifestWork) workRow {
	row := workRow{
		Cluster: w.Namespace, Name: w.Name, Subscription: w.Annotations[appsv1.AnnotationHostingSubscription],
		Revision: w.Annotations[appsv1.AnnotationRevision], Manifests: len(w.Spec.Workload.Manifests),
		RemovalHeld: heldRemoval(w.Annotations),
	}
	status := func(typ string) string {
		c := meta.FindStatusCondition(w.Status.Conditions, typ)
		if c == nil || c.ObservedGeneration < w.Generation {
			return ""
		}
		if row.Message == "" && c.Status != metav1.ConditionStatus(goodStatus(typ)) {
			row.Message = c.Message
		}
		return string(c.Status)
	}
	row.Applied, row.Degraded, row.Drifted = status(workv1.WorkApplied), status(workv1.WorkDegraded), status(appsv1.WorkConditionDrifted)
	row.Available, row.Progressing = status(workv1.WorkAvailable), status(workv1.WorkProgressing)
	return row
}

// goodStatus is the status of a work condition when all is well.
func goodStatus(typ string) string {
	switch typ {
	case workv1.WorkDegraded, appsv1.WorkConditionDrifted, workv1.WorkProgressing:
		return string(metav1.ConditionFalse)
	}
	return string(metav1.ConditionTrue)
}

// heldRemoval reads the removal-held annotation as the hub writes it.
func heldRemoval(a map[string]string) bool {
	v, ok := a[appsv1.AnnotationRemovalHeld]
	return ok && v != "false"
}

// subscriptionSelector selects a Subscription's ManifestWorks.
func subscriptionSelector(sub *appsv1.Subscription) client.MatchingLabels {
	return client.MatchingLabels{appsv1.LabelSubscription: hub.SubscriptionLabel(sub.Namespace, sub.Name)}
}

// labelText prints labels as k=v,k2=v2, sorted.
func labelText(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}

// oneLine folds a message's whitespace so it keeps to its table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
