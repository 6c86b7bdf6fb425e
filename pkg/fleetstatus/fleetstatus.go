// Package fleetstatus collects the fleet at a glance from the hub: every
// Subscription with its revision and the state of each cluster it targets.
package fleetstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Fleet is a snapshot of every Subscription on a hub.
type Fleet struct {
	Subscriptions []Subscription `json:"subscriptions"`
}

// Subscription is one Subscription's standing.
type Subscription struct {
	Namespace string                `json:"namespace"`
	Name      string                `json:"name"`
	Revision  string                `json:"revision,omitempty"`
	Ready     bool                  `json:"ready"`
	Message   string                `json:"message,omitempty"`
	Summary   appsv1.ClusterSummary `json:"summary"`
	// Clusters maps cluster names to their state ("Applied", "Drifted", …).
	Clusters map[string]appsv1.ClusterState `json:"clusters"`
}

// Collect reads every Subscription from the hub.
func Collect(ctx context.Context, c client.Reader) (*Fleet, error) {
	var subs appsv1.SubscriptionList
	if err := c.List(ctx, &subs); err != nil {
		return nil, fmt.Errorf("list Subscriptions: %w", err)
	}
	f := &Fleet{}
	for _, s := range subs.Items {
		entry := Subscription{
			Namespace: s.Namespace, Name: s.Name, Revision: s.Status.LastAppliedRevision,
			Summary: s.Status.Summary, Clusters: map[string]appsv1.ClusterState{},
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady); c != nil {
			entry.Ready, entry.Message = c.Status == "True", c.Message
		}
		for _, cl := range s.Status.Clusters {
			entry.Clusters[cl.Name] = cl.State
		}
		f.Subscriptions = append(f.Subscriptions, entry)
	}
	sort.Slice(f.Subscriptions, func(i, j int) bool {
		a, b := f.Subscriptions[i], f.Subscriptions[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return f, nil
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

// WriteTable prints subscriptions × clusters with the revision and counts.
func (f *Fleet) WriteTable(w io.Writer) error {
	clusters := f.ClusterNames()
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "SUBSCRIPTION\tREVISION\tAPPLIED\tDRIFT")
	for _, c := range clusters {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(c))
	}
	fmt.Fprintln(tw)
	for _, s := range f.Subscriptions {
		fmt.Fprintf(tw, "%s/%s\t%s\t%d/%d\t%d", s.Namespace, s.Name, ShortRevision(s.Revision), s.Summary.Applied, s.Summary.Selected, s.Summary.Drifted)
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

// WriteJSON prints the snapshot as indented JSON.
func (f *Fleet) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// ShortRevision abbreviates "main@sha1:0123456789abcdef…" to "main@0123456".
func ShortRevision(rev string) string {
	if name, sum, ok := strings.Cut(rev, "@sha1:"); ok && len(sum) > 7 {
		return name + "@" + sum[:7]
	}
	if rev == "" {
		return "-"
	}
	return rev
}
