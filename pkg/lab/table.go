package lab

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
)

// cellOf is how the lab's table shows a Subscription's state on a cluster:
// short words that line up, capitals for what needs a look.
var cellOf = map[appsv1.ClusterState]string{
	appsv1.ClusterApplied:     "ok",
	appsv1.ClusterProgressing: "progressing",
	appsv1.ClusterPending:     "pending",
	appsv1.ClusterDrifted:     "DRIFT",
	appsv1.ClusterFailed:      "FAILED",
	appsv1.ClusterDegraded:    "DEGRADED",
	appsv1.ClusterOffline:     "OFFLINE",
	appsv1.ClusterStale:       "STALE",
	appsv1.ClusterHeld:        "HELD",
}

// WriteFleetTable prints the lab's fleet: one row per Subscription (its
// deployed revision, clusters applied and healthy out of selected, clusters drifted, one
// column per cluster with the Subscription's state there, "-" where it is not
// placed, and its status: "ready", or why not, in full), then a line of
// totals. Every ManagedCluster gets a column, local-cluster first.
func WriteFleetTable(w io.Writer, f *fleetstatus.Fleet) error {
	var clusters []string
	for _, c := range f.Clusters {
		if c.Name == LocalClusterName {
			clusters = append([]string{c.Name}, clusters...)
		} else {
			clusters = append(clusters, c.Name)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprint(tw, "SUBSCRIPTION\tREVISION\tAPPLIED\tHEALTHY\tDRIFT")
	for _, c := range clusters {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(c))
	}
	fmt.Fprintln(tw, "\tSTATUS")
	for _, s := range f.Subscriptions {
		sum := s.Summary
		fmt.Fprintf(tw, "%s/%s\t%s\t%d/%d\t%d/%d\t%d", s.Namespace, s.Name, s.RevisionCell(), sum.Applied, sum.Selected, sum.Healthy, sum.Selected, sum.Drifted)
		for _, c := range clusters {
			cell := "-"
			if st, ok := s.Clusters[c]; ok {
				cell = cellOf[st]
				if cell == "" {
					cell = string(st)
				}
				// "ok" must not hide that another Subscription's content
				// for the same object is not applied here.
				if others := s.Overrides[c]; len(others) > 0 {
					cell += ", overrides " + strings.Join(others, ",")
				}
			}
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintf(tw, "\t%s\n", rowStatus(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := f.Totals
	d := t.Deployments
	_, err := fmt.Fprintf(w, "%d/%d subscriptions ready, %d/%d clusters available; deployments healthy on %d/%d, %d progressing, %d degraded, %d drifted, %d failed, %d stale, %d held\n",
		t.SubscriptionsReady, t.Subscriptions, t.ClustersAvailable, t.Clusters, d.Healthy, d.Selected, d.Progressing, d.Degraded, d.Drifted, d.Failed, d.Stale, d.Held)
	return err
}

// rowStatus is "ready" (noting the clusters where it overrides other
// Subscriptions), or the reason and the whole message of why not.
func rowStatus(s fleetstatus.Subscription) string {
	switch {
	case s.Ready && len(s.Overrides) > 0:
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(s.Overrides)) {
			parts = append(parts, strings.Join(s.Overrides[c], ",")+" on "+c)
		}
		return "ready; overrides " + strings.Join(parts, ", ")
	case s.Ready:
		return "ready"
	case s.Reason == "":
		return "not reconciled yet"
	}
	return s.Reason + ": " + strings.Join(strings.Fields(s.Message), " ")
}
