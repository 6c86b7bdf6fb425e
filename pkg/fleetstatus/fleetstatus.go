// Package fleetstatus collects the fleet at a glance from the hub: every
// Channel with the revisions it fetched, every Subscription with its revision
// and the state of the clusters it targets, and every ManagedCluster with its
// availability and the states of its deployments.
package fleetstatus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Fleet is a snapshot of a hub.
type Fleet struct {
	Totals        Totals         `json:"totals"`
	Channels      []Channel      `json:"channels"`
	Subscriptions []Subscription `json:"subscriptions"`
	Clusters      []Cluster      `json:"clusters"`
}

// Totals count the fleet.
type Totals struct {
	Channels           int `json:"channels"`
	ChannelsReady      int `json:"channelsReady"`
	Subscriptions      int `json:"subscriptions"`
	SubscriptionsReady int `json:"subscriptionsReady"`
	Clusters           int `json:"clusters"`
	ClustersAvailable  int `json:"clustersAvailable"`
	// Deployments sums every Subscription's summary: (Subscription, cluster)
	// pairs by state.
	Deployments appsv1.ClusterSummary `json:"deployments"`
}

// Channel is one Channel's standing.
type Channel struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	// Pathname is the source address without any credentials in it.
	Pathname string `json:"pathname"`
	// Ready is the status of the Ready condition: True, False or Unknown.
	Ready   string `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Revisions are the refs fetched and their revisions.
	Revisions []Revision `json:"revisions,omitempty"`
}

// Revision is what one ref of a Channel was last fetched at.
type Revision struct {
	Ref      string `json:"ref"`
	Revision string `json:"revision"`
}

// Subscription is one Subscription's standing.
type Subscription struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Channel   string `json:"channel,omitempty"`
	// Revision is the revision deployed; Attempted the newest one tried when
	// it differs (a broken commit, a rollout in progress).
	Revision  string                `json:"revision,omitempty"`
	Attempted string                `json:"attempted,omitempty"`
	Ready     bool                  `json:"ready"`
	Reason    string                `json:"reason,omitempty"`
	Message   string                `json:"message,omitempty"`
	Summary   appsv1.ClusterSummary `json:"summary"`
	// Clusters maps cluster names to their state ("Applied", "Degraded",
	// "Drifted", …). Subscriptions list at most 100 clusters, those needing
	// attention first; Summary counts them all.
	Clusters map[string]appsv1.ClusterState `json:"clusters"`
	// Overrides maps the clusters where other Subscriptions apply objects of
	// this one with other content and lose to it, to those Subscriptions
	// (status.clusters[].overrides): the cluster is fine, but not silently.
	Overrides map[string][]string `json:"overrides,omitempty"`
	// Rollback is the automatic rollback of a revision whose rollout
	// failed, while it holds the Subscription (status.rollback).
	Rollback *appsv1.RollbackStatus `json:"rollback,omitempty"`
}

// RevisionCell is the deployed revision, short, followed by the revision
// rolled back or the newer one being tried: "main@0123456 (rolled back
// main@89abcde)".
func (s Subscription) RevisionCell() string {
	rev := source.ShortRevision(s.Revision)
	switch {
	case s.Rollback != nil:
		rev += " (rolled back " + source.ShortRevision(s.Rollback.Revision) + ")"
	case s.Attempted != "":
		rev += " (trying " + source.ShortRevision(s.Attempted) + ")"
	}
	return rev
}

// Cluster is one ManagedCluster's standing.
type Cluster struct {
	Name string `json:"name"`
	// Accepted is spec.hubAcceptsClient.
	Accepted bool `json:"accepted"`
	// Available is the status of ManagedClusterConditionAvailable: True,
	// False or Unknown (never reported).
	Available string `json:"available"`
	// Deployments counts the Subscriptions reporting on this cluster, by
	// state. It is read from the Subscriptions' bounded cluster lists.
	Deployments map[appsv1.ClusterState]int `json:"deployments"`
}

// Collect reads Channels, Subscriptions and ManagedClusters from the hub.
func Collect(ctx context.Context, c client.Reader) (*Fleet, error) {
	var subs appsv1.SubscriptionList
	if err := c.List(ctx, &subs); err != nil {
		return nil, fmt.Errorf("list Subscriptions: %w", err)
	}
	var channels appsv1.ChannelList
	if err := c.List(ctx, &channels); err != nil {
		return nil, fmt.Errorf("list Channels: %w", err)
	}
	var clusters clusterv1.ManagedClusterList
	if err := c.List(ctx, &clusters); err != nil {
		return nil, fmt.Errorf("list ManagedClusters: %w", err)
	}
	return Build(channels.Items, subs.Items, clusters.Items), nil
}

// Build makes the snapshot from the objects; Collect reads them.
func Build(channels []appsv1.Channel, subs []appsv1.Subscription, clusters []clusterv1.ManagedCluster) *Fleet {
	f := &Fleet{Channels: []Channel{}, Subscriptions: []Subscription{}, Clusters: []Cluster{}}
	for i := range channels {
		ch := &channels[i]
		entry := Channel{
			Namespace: ch.Namespace, Name: ch.Name, Type: string(ch.Spec.Type),
			Pathname: redact(ch.Spec.Pathname), Ready: string(metav1.ConditionUnknown),
		}
		if c := meta.FindStatusCondition(ch.Status.Conditions, appsv1.ConditionReady); c != nil && c.ObservedGeneration >= ch.Generation {
			entry.Ready, entry.Reason, entry.Message = string(c.Status), c.Reason, c.Message
		}
		for _, a := range ch.Status.Artifacts {
			entry.Revisions = append(entry.Revisions, Revision{Ref: a.Ref, Revision: a.Revision})
		}
		f.Totals.Channels++
		if entry.Ready == string(metav1.ConditionTrue) {
			f.Totals.ChannelsReady++
		}
		f.Channels = append(f.Channels, entry)
	}

	perCluster := map[string]map[appsv1.ClusterState]int{}
	for i := range subs {
		s := &subs[i]
		entry := Subscription{
			Namespace: s.Namespace, Name: s.Name, Channel: s.Spec.Channel,
			Revision: s.Status.LastAppliedRevision, Summary: s.Status.Summary,
			Clusters: map[string]appsv1.ClusterState{}, Rollback: s.Status.Rollback,
		}
		if a := s.Status.LastAttemptedRevision; a != "" && a != entry.Revision {
			entry.Attempted = a
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady); c != nil {
			entry.Ready, entry.Reason, entry.Message = c.Status == metav1.ConditionTrue, c.Reason, c.Message
		}
		for _, cl := range s.Status.Clusters {
			entry.Clusters[cl.Name] = cl.State
			if len(cl.Overrides) > 0 {
				if entry.Overrides == nil {
					entry.Overrides = map[string][]string{}
				}
				entry.Overrides[cl.Name] = cl.Overrides
			}
			if perCluster[cl.Name] == nil {
				perCluster[cl.Name] = map[appsv1.ClusterState]int{}
			}
			perCluster[cl.Name][cl.State]++
		}
		f.Totals.Subscriptions++
		if entry.Ready {
			f.Totals.SubscriptionsReady++
		}
		addSummary(&f.Totals.Deployments, s.Status.Summary)
		f.Subscriptions = append(f.Subscriptions, entry)
	}

	for i := range clusters {
		mc := &clusters[i]
		entry := Cluster{Name: mc.Name, Accepted: mc.Spec.HubAcceptsClient, Available: string(metav1.ConditionUnknown), Deployments: perCluster[mc.Name]}
		if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c != nil {
			entry.Available = string(c.Status)
		}
		if entry.Deployments == nil {
			entry.Deployments = map[appsv1.ClusterState]int{}
		}
		f.Totals.Clusters++
		if entry.Available == string(metav1.ConditionTrue) {
			f.Totals.ClustersAvailable++
		}
		f.Clusters = append(f.Clusters, entry)
	}

	sort.Slice(f.Channels, func(i, j int) bool {
		return key(f.Channels[i].Namespace, f.Channels[i].Name) < key(f.Channels[j].Namespace, f.Channels[j].Name)
	})
	sort.Slice(f.Subscriptions, func(i, j int) bool {
		return key(f.Subscriptions[i].Namespace, f.Subscriptions[i].Name) < key(f.Subscriptions[j].Namespace, f.Subscriptions[j].Name)
	})
	sort.Slice(f.Clusters, func(i, j int) bool { return f.Clusters[i].Name < f.Clusters[j].Name })
	return f
}

func key(ns, name string) string { return ns + "/" + name }

func addSummary(to *appsv1.ClusterSummary, s appsv1.ClusterSummary) {
	to.Selected += s.Selected
	to.Applied += s.Applied
	to.Healthy += s.Healthy
	to.Degraded += s.Degraded
	to.Progressing += s.Progressing
	to.Pending += s.Pending
	to.Drifted += s.Drifted
	to.Failed += s.Failed
	to.Offline += s.Offline
	to.Stale += s.Stale
	to.Held += s.Held
}

// redact drops credentials from a URL ("https://user:token@host/x" shows as
// "https://host/x").
func redact(pathname string) string {
	u, err := url.Parse(pathname)
	if err != nil || u.User == nil {
		return pathname
	}
	u.User = nil
	return u.String()
}

// ClusterNames lists every cluster any Subscription reports on, sorted.
func (f *Fleet) ClusterNames() []string {
	seen := map[string]bool{}
	for _, s := range f.Subscriptions {
		for c := range s.Clusters {
			seen[c] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// WriteTable prints subscriptions × clusters with the revision and counts:
// compact for a few clusters (the lab), see WriteOverview for fleets.
func (f *Fleet) WriteTable(w io.Writer) error {
	clusters := f.ClusterNames()
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "SUBSCRIPTION\tREVISION\tAPPLIED\tDRIFT")
	for _, c := range clusters {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(c))
	}
	fmt.Fprintln(tw)
	for _, s := range f.Subscriptions {
		fmt.Fprintf(tw, "%s/%s\t%s\t%d/%d\t%d", s.Namespace, s.Name, source.ShortRevision(s.Revision), s.Summary.Applied, s.Summary.Selected, s.Summary.Drifted)
		for _, c := range clusters {
			state := string(s.Clusters[c])
			if state == "" {
				state = "-"
			}
			fmt.Fprintf(tw, "\t%s", state)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// OverviewOptions tune WriteOverview.
type OverviewOptions struct {
	// AllClusters lists every cluster; by default, past MaxClusters, only
	// clusters needing attention are listed.
	AllClusters bool
	// MaxClusters is how many clusters are listed in full (default 30).
	MaxClusters int
	// MessageWidth wraps messages onto more lines at word boundaries, so
	// none is cut (default 80; negative: one line however long, as --wide).
	MessageWidth int
}

// WriteOverview prints the fleet at a glance: totals, then Channels,
// Subscriptions and clusters, one line each.
func (f *Fleet) WriteOverview(out io.Writer, opts OverviewOptions) error {
	var buf bytes.Buffer
	if err := f.writeOverview(&buf, opts); err != nil {
		return err
	}
	// tabwriter pads empty last cells; drop the trailing blanks.
	lines := strings.SplitAfter(buf.String(), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l, " \n") + "\n"
		}
	}
	_, err := io.WriteString(out, strings.Join(lines, ""))
	return err
}

func (f *Fleet) writeOverview(w io.Writer, opts OverviewOptions) error {
	if opts.MaxClusters <= 0 {
		opts.MaxClusters = 30
	}
	if opts.MessageWidth == 0 {
		opts.MessageWidth = 80
	}
	t := f.Totals
	d := t.Deployments
	fmt.Fprintf(w, "FLEET  %d/%d channels ready, %d/%d subscriptions ready, %d/%d clusters available\n",
		t.ChannelsReady, t.Channels, t.SubscriptionsReady, t.Subscriptions, t.ClustersAvailable, t.Clusters)
	fmt.Fprintf(w, "       deployments: %d applied, %d healthy, %d progressing, %d pending, %d degraded, %d drifted, %d failed, %d offline, %d stale, %d held\n",
		d.Applied, d.Healthy, d.Progressing, d.Pending, d.Degraded, d.Drifted, d.Failed, d.Offline, d.Stale, d.Held)
	for _, section := range []func(io.Writer, OverviewOptions) error{f.writeChannels, f.writeSubscriptions, f.writeClusters} {
		if err := section(w, opts); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fleet) writeChannels(w io.Writer, opts OverviewOptions) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCHANNELS")
	if len(f.Channels) == 0 {
		fmt.Fprintln(tw, "  (none)")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "NAME\tTYPE\tREADY\tREVISIONS\tMESSAGE")
	for _, c := range f.Channels {
		revs := make([]string, 0, len(c.Revisions))
		for _, r := range c.Revisions {
			revs = append(revs, source.ShortRevision(r.Revision))
		}
		writeRow(tw, []string{c.Namespace + "/" + c.Name, dash(c.Type), c.Ready, dash(strings.Join(revs, ","))}, wrap(c.Message, opts.MessageWidth))
	}
	return tw.Flush()
}

func (f *Fleet) writeSubscriptions(w io.Writer, opts OverviewOptions) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSUBSCRIPTIONS")
	if len(f.Subscriptions) == 0 {
		fmt.Fprintln(tw, "  (none)")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "NAME\tREVISION\tREADY\tAPPLIED\tHEALTHY\tPROGRESSING\tPENDING\tDEGRADED\tDRIFTED\tFAILED\tOFFLINE\tSTALE\tHELD\tMESSAGE")
	for _, s := range f.Subscriptions {
		ready := "True"
		switch {
		case !s.Ready && s.Reason == "":
			ready = "Unknown" // not reconciled yet
		case !s.Ready:
			ready = "False"
		}
		m := s.Message
		if !s.Ready && s.Reason != "" {
			m = s.Reason + ": " + m
		}
		sum := s.Summary
		cells := []string{s.Namespace + "/" + s.Name, s.RevisionCell(), ready, fmt.Sprintf("%d/%d", sum.Applied, sum.Selected), fmt.Sprintf("%d/%d", sum.Healthy, sum.Selected)}
		for _, n := range []int32{sum.Progressing, sum.Pending, sum.Degraded, sum.Drifted, sum.Failed, sum.Offline, sum.Stale, sum.Held} {
			cells = append(cells, strconv.Itoa(int(n)))
		}
		writeRow(tw, cells, wrap(m, opts.MessageWidth))
	}
	return tw.Flush()
}

func (f *Fleet) writeClusters(w io.Writer, opts OverviewOptions) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCLUSTERS")
	listed := f.Clusters
	if !opts.AllClusters && len(f.Clusters) > opts.MaxClusters {
		listed = slices.DeleteFunc(slices.Clone(f.Clusters), func(c Cluster) bool { return !c.needsAttention() })
	}
	if len(f.Clusters) == 0 {
		fmt.Fprintln(tw, "  (none)")
		return tw.Flush()
	}
	if len(listed) > 0 {
		fmt.Fprintln(tw, "NAME\tACCEPTED\tAVAILABLE\tAPPLIED\tPROGRESSING\tPENDING\tDEGRADED\tDRIFTED\tFAILED\tOFFLINE\tSTALE\tHELD")
		for _, c := range listed {
			fmt.Fprintf(tw, "%s\t%t\t%s", c.Name, c.Accepted, c.Available)
			for _, st := range clusterColumns {
				fmt.Fprintf(tw, "\t%d", c.Deployments[st])
			}
			fmt.Fprintln(tw)
		}
	}
	if hidden := len(f.Clusters) - len(listed); hidden > 0 {
		fmt.Fprintf(tw, "  %d clusters without problems not listed (--all-clusters lists them)\n", hidden)
	}
	return tw.Flush()
}

// clusterColumns are the states the clusters table counts, in order.
var clusterColumns = []appsv1.ClusterState{appsv1.ClusterApplied, appsv1.ClusterProgressing, appsv1.ClusterPending,
	appsv1.ClusterDegraded, appsv1.ClusterDrifted, appsv1.ClusterFailed, appsv1.ClusterOffline, appsv1.ClusterStale, appsv1.ClusterHeld}

// needsAttention: not available, not accepted, or reported failed,
// degraded, drifted, offline, stale or held by some Subscription.
func (c Cluster) needsAttention() bool {
	d := c.Deployments
	return c.Available != string(metav1.ConditionTrue) || !c.Accepted ||
		d[appsv1.ClusterFailed]+d[appsv1.ClusterDegraded]+d[appsv1.ClusterDrifted]+d[appsv1.ClusterOffline]+d[appsv1.ClusterStale]+d[appsv1.ClusterHeld] > 0
}

// writeRow writes a table row whose last cell, a message, may take several
// lines: the others continue under it.
func writeRow(tw io.Writer, cells, message []string) {
	fmt.Fprintf(tw, "%s\t%s\n", strings.Join(cells, "\t"), strings.Join(message[:min(1, len(message))], ""))
	for _, line := range message[min(1, len(message)):] {
		fmt.Fprintf(tw, "%s%s\n", strings.Repeat("\t", len(cells)), line)
	}
}

// WriteJSON prints the snapshot as indented JSON.
func (f *Fleet) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// wrap folds a message's whitespace and breaks it into lines of at most width
// runes between words (a longer word gets a line of its own), so that no
// message is cut. width <= 0 keeps one line.
func wrap(s string, width int) []string {
	words := strings.Fields(s)
	if width <= 0 {
		return []string{strings.Join(words, " ")}
	}
	var lines []string
	line := ""
	for _, w := range words {
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}
