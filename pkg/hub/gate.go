package hub

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
	"github.com/ocm-gitops/ocm-gitops/pkg/timewindow"
)

// Words that name a removal in its confirmation token (rollout.Token). A
// placement edit is named by the clusters it removes, not by the Git revision:
// a commit pushed while a removal waits does not change which clusters lose
// the objects, so it must not void a confirmation already given.
const (
	removalByPlacement = "placement"
	removalByDeletion  = "delete"
)

// DefaultDeletionBudgetPercent is the share of a Subscription's clusters a
// single change may remove its objects from without confirmation, when neither
// the hub nor the Subscription says otherwise.
const DefaultDeletionBudgetPercent int32 = 50

// Reasons of the conditions set here that appsv1 does not name.
const (
	// ReasonWithinBudget: no removal waits for confirmation.
	ReasonWithinBudget = "WithinDeletionBudget"
)

// paused reports the subscription-pause label.
func paused(sub *appsv1.Subscription) bool {
	return sub.Labels[appsv1.LabelSubscriptionPause] == "true"
}

// budgetPercent is the Subscription's deletion budget: its own, else the hub's.
func budgetPercent(sub *appsv1.Subscription, hubDefault int32) int32 {
	if p := sub.Spec.DeletionBudgetPercent; p != nil {
		return *p
	}
	return hubDefault
}

// live drops the works already being deleted.
func live(works []*workv1.ManifestWork) []*workv1.ManifestWork {
	var out []*workv1.ManifestWork
	for _, w := range works {
		if w.DeletionTimestamp == nil {
			out = append(out, w)
		}
	}
	return out
}

// deployedClusters lists, sorted, the clusters holding a live work of the
// Subscription, whether or not they are still selected.
func deployedClusters(existing map[string][]*workv1.ManifestWork) []string {
	var out []string
	for cluster, works := range existing {
		if len(live(works)) > 0 {
			out = append(out, cluster)
		}
	}
	slices.Sort(out)
	return out
}

// leaving lists, sorted, the deployed clusters the placement no longer selects.
func leaving(targets []placement.Target, existing map[string][]*workv1.ManifestWork) []string {
	selected := make(map[string]bool, len(targets))
	for _, t := range targets {
		selected[t.Cluster] = true
	}
	var out []string
	for _, c := range deployedClusters(existing) {
		if !selected[c] {
			out = append(out, c)
		}
	}
	return out
}

// destructive keeps the clusters where deleting the Subscription's works
// takes objects off the cluster: those with a live work that does not orphan
// everything. Removing works that orphan needs no budget.
func destructive(clusters []string, existing map[string][]*workv1.ManifestWork) []string {
	var out []string
	for _, c := range clusters {
		for _, w := range live(existing[c]) {
			if !orphans(w.Spec.DeleteOption) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// rolloutClusters reads each selected cluster's standing with the content it
// should hold. A cluster is current only when it holds exactly that many works
// with that content.
func rolloutClusters(targets []placement.Target, existing map[string][]*workv1.ManifestWork, desired map[string]*want, waitForHealth bool) []rollout.Cluster {
	out := make([]rollout.Cluster, 0, len(targets))
	for _, t := range targets {
		c := rollout.Cluster{Name: t.Cluster, GroupIndex: int32(t.GroupIndex), GroupName: t.GroupName}
		if d := desired[t.Cluster]; d != nil {
			works := existing[t.Cluster]
			c.Current, c.State, c.Since = rollout.FromWorks(works, d.hash, waitForHealth)
			if len(works) != len(d.b.parts) {
				c.Current, c.State, c.Since = false, rollout.ToApply, time.Time{}
			}
		}
		out = append(out, c)
	}
	return out
}

// gateInput is everything that decides which changes go out now.
type gateInput struct {
	Now time.Time
	// Paused is the subscription-pause label; Rollout was planned with it.
	Paused bool
	// Window is the time window at Now; WindowErr a mistake in its spec.
	Window    timewindow.Result
	WindowErr error
	// Rollout is the plan for the desired content; RolloutErr a mistake in
	// spec.rolloutStrategy.
	Rollout    rollout.Decision
	RolloutErr error
	// Selected is the number of selected clusters.
	Selected int
	// Leaving are the deployed clusters no longer selected; Budget is the
	// deletion budget's verdict on removing them (clusters whose works orphan
	// everything do not count: nothing is taken off them).
	Leaving []string
	Budget  rollout.BudgetDecision
}

// gateResult is what the reconciler writes.
type gateResult struct {
	// Send lists the clusters that get the desired content now.
	Send []string
	// Remove lists the clusters whose works are deleted now.
	Remove []string
	// Held says why the selected clusters that are neither current nor sent
	// wait, for their status entries.
	Held string
	// RemovalWait says why the leaving clusters not in Remove keep their
	// works.
	RemovalWait string
	// Rollout is status.rollout; nil leaves it as it was.
	Rollout *appsv1.RolloutStatus
	// NextWindow is status.nextWindow.
	NextWindow *metav1.Time
	// RequeueAfter is when a timer (soak, deadline, window) runs out; zero
	// when none runs.
	RequeueAfter time.Duration
	// Conditions are WindowOpen, RolloutProgressing and DeletionHeld.
	Conditions []metav1.Condition
	// Failing names, when the rollout failed (rollout.Decision.Failed), the
	// clusters that failed or timed out, for spec.onRolloutFailure.
	Failing []string
}

// gate composes pause, time windows, the rollout and the deletion budget:
//
//   - new content goes to the clusters the rollout picks, unless paused or
//     outside the window (or either is misconfigured);
//   - removals from clusters leaving the placement go ahead unless paused,
//     outside the window (a removal changes the clusters as much as an
//     update does), or held by the deletion budget;
//   - status aggregation is not gated: the caller always reports.
func gate(in gateInput) gateResult {
	var out gateResult
	if in.windowOK() && in.RolloutErr == nil {
		out.Send = in.Rollout.Update
	}
	if !in.Paused && in.windowOK() && !in.Budget.Hold {
		out.Remove = in.Leaving
	}
	window, next := windowCondition(in)
	out.NextWindow = next
	rolloutCond, st := rolloutCondition(in)
	out.Rollout = st
	out.Conditions = []metav1.Condition{window, rolloutCond, deletionCondition(in, len(out.Remove) > 0)}
	out.Held = heldReason(in)
	if in.RolloutErr == nil && in.Rollout.Failed {
		out.Failing = append(slices.Clone(in.Rollout.Failing), in.Rollout.TimedOut...)
	}
	out.RemovalWait = removalWait(in)
	out.RequeueAfter = timers(in)
	return out
}

// windowOK: the time window is valid and open.
func (in gateInput) windowOK() bool { return in.WindowErr == nil && in.Window.Open }

// windowCondition is WindowOpen, and when the window opens next while it is
// closed.
func windowCondition(in gateInput) (metav1.Condition, *metav1.Time) {
	warn := ""
	if len(in.Window.Warnings) > 0 {
		warn = " (note: " + strings.Join(in.Window.Warnings, "; ") + ")"
	}
	switch {
	case in.WindowErr != nil:
		return newCondition(appsv1.ConditionWindowOpen, false, appsv1.ReasonInvalidSpec,
			in.WindowErr.Error()+"; nothing new is sent and nothing is removed until it is fixed"), nil
	case in.Window.Open:
		return newCondition(appsv1.ConditionWindowOpen, true, appsv1.ReasonWindowOpen, in.Window.Reason+warn), nil
	}
	var next *metav1.Time
	if !in.Window.NextOpen.IsZero() {
		next = &metav1.Time{Time: in.Window.NextOpen}
	}
	return newCondition(appsv1.ConditionWindowOpen, false, appsv1.ReasonWindowClosed,
		in.Window.Reason+"; until then nothing new is sent and nothing is removed"+warn), next
}

// rolloutCondition is RolloutProgressing and status.rollout (nil: keep what
// it was, when the strategy is invalid). A closed window turns a rollout
// that would send into one waiting for it.
func rolloutCondition(in gateInput) (metav1.Condition, *appsv1.RolloutStatus) {
	if in.RolloutErr != nil {
		return newCondition(appsv1.ConditionRolloutProgressing, false, appsv1.ReasonInvalidSpec,
			in.RolloutErr.Error()+"; nothing new is sent until it is fixed"), nil
	}
	st := in.Rollout.Status
	if !in.windowOK() && len(in.Rollout.Update) > 0 && st.Phase == appsv1.RolloutProgressing {
		st.Updated -= int32(len(in.Rollout.Update))
		st.Phase = appsv1.RolloutWaiting
		st.Message = fmt.Sprintf("waiting for the deployment window to send %s to %d more cluster(s); %d of %d clusters hold it",
			st.Revision, len(in.Rollout.Update), st.Updated, in.Selected)
	}
	var c metav1.Condition
	switch st.Phase {
	case appsv1.RolloutSucceeded:
		c = newCondition(appsv1.ConditionRolloutProgressing, false, appsv1.ReasonRolloutSucceeded, st.Message)
	case appsv1.RolloutFailed:
		c = newCondition(appsv1.ConditionRolloutProgressing, false, appsv1.ReasonRolloutFailed, st.Message)
	case appsv1.RolloutPaused:
		c = newCondition(appsv1.ConditionRolloutProgressing, false, appsv1.ReasonPaused, st.Message)
	default:
		c = newCondition(appsv1.ConditionRolloutProgressing, true, appsv1.ReasonProgressing, st.Message)
	}
	return c, &st
}

// deletionCondition is DeletionHeld; removing says the leaving clusters'
// works are deleted now.
func deletionCondition(in gateInput, removing bool) metav1.Condition {
	switch {
	case in.Budget.Hold:
		return newCondition(appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld, in.Budget.Message)
	case len(in.Leaving) == 0:
		return newCondition(appsv1.ConditionDeletionHeld, false, ReasonWithinBudget, "no removal is waiting")
	case removing:
		return newCondition(appsv1.ConditionDeletionHeld, false, ReasonWithinBudget,
			fmt.Sprintf("removing the objects from %d cluster(s) is within the deletion budget", len(in.Leaving)))
	}
	return newCondition(appsv1.ConditionDeletionHeld, false, ReasonWithinBudget,
		fmt.Sprintf("removing the objects from %d cluster(s) is within the deletion budget and waits because %s", len(in.Leaving), removalWait(in)))
}

// removalWait says why removals that are due wait.
func removalWait(in gateInput) string {
	switch {
	case in.Budget.Hold:
		return "the deletion budget holds it (see the DeletionHeld condition)"
	case in.Paused:
		return "the subscription is paused"
	case in.WindowErr != nil:
		return "the time window is invalid"
	}
	return "the deployment window is closed"
}

// heldReason says why the selected clusters that are neither current nor
// sent wait.
func heldReason(in gateInput) string {
	switch {
	case in.Paused:
		return "paused by the " + appsv1.LabelSubscriptionPause + " label"
	case in.WindowErr != nil:
		return "the time window is invalid; see the WindowOpen condition"
	case !in.Window.Open && !in.Window.NextOpen.IsZero():
		return "outside the deployment window, which opens at " + in.Window.NextOpen.UTC().Format(time.RFC3339)
	case !in.Window.Open:
		return "outside the deployment window"
	case in.RolloutErr != nil:
		return "the rollout strategy is invalid; see the RolloutProgressing condition"
	case in.Rollout.MaxFailureBreach:
		return "the rollout stopped: more clusters failed than maxFailures allows"
	}
	return "waiting for its turn in the rollout"
}

// timers is when the first running timer (soak, deadline, window) runs out;
// zero when none runs.
func timers(in gateInput) time.Duration {
	var ds []time.Duration
	if !in.Paused && in.RolloutErr == nil {
		ds = append(ds, in.Rollout.RequeueAfter)
	}
	if in.WindowErr == nil {
		if in.Window.Open && !in.Window.ClosesAt.IsZero() {
			ds = append(ds, in.Window.ClosesAt.Sub(in.Now))
		}
		if !in.Window.Open && !in.Window.NextOpen.IsZero() {
			ds = append(ds, in.Window.NextOpen.Sub(in.Now))
		}
	}
	return soonest(ds...)
}

// soonest is the smallest positive duration, or zero.
func soonest(ds ...time.Duration) time.Duration {
	var out time.Duration
	for _, d := range ds {
		if d > 0 && (out == 0 || d < out) {
			out = d
		}
	}
	return out
}

// newCondition builds a condition; the caller stamps the generation.
func newCondition(typ string, ok bool, reason, msg string) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}
