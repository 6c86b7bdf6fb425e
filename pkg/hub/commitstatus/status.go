package commitstatus

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// DefaultContextPrefix starts contexts when the Channel names no prefix.
const DefaultContextPrefix = "ocm-gitops"

// Settings shape one Subscription's statuses.
type Settings struct {
	// Prefix is the Channel's contextPrefix (DefaultContextPrefix when empty).
	Prefix string
	// HubID, when set, follows the prefix, so hubs sharing a prefix and a
	// repository keep apart.
	HubID string
	// PerCluster adds one status per cluster listed in the Subscription's
	// status, for at most MaxPerCluster clusters per commit.
	PerCluster    bool
	MaxPerCluster int
	// TargetURL is linked from every status.
	TargetURL string
}

// Target is one status to hold on one commit.
type Target struct {
	SHA    string
	Status gitprovider.Status
	// Cluster is set on per-cluster statuses.
	Cluster string
	// Final marks a status posted once and then forgotten: a cluster that left
	// the placement, or one inferred as applied beyond the listed clusters.
	Final bool
}

// gitCommit reads the ref and commit of a Git revision; ok is false for
// anything else (chart and bucket revisions carry sha256 digests, which are
// not commits).
func gitCommit(revision string) (ref, sha string, ok bool) {
	r, err := source.ParseRevision(revision)
	if err != nil {
		return "", "", false
	}
	if sha, ok = r.Commit(); !ok {
		return "", "", false
	}
	return r.Ref, sha, true
}

// DeployedCommit is the commit a Subscription deployed: from
// status.lastAppliedRevision, else (no revision recorded) from OCM's
// git-current-commit annotation.
func DeployedCommit(sub *appsv1.Subscription) (ref, sha string, ok bool) {
	if rev := sub.Status.LastAppliedRevision; rev != "" {
		return gitCommit(rev)
	}
	if c, ok := source.CommitOf(source.SHA1 + ":" + sub.Annotations[appsv1.AnnotationGitCurrentCommit]); ok {
		return "", c, true
	}
	return "", "", false
}

// Context is the status context of a Subscription: prefix[/hub]/namespace/name.
func Context(s Settings, namespace, name string) string {
	prefix := strings.Trim(strings.TrimSpace(s.Prefix), "/")
	if prefix == "" {
		prefix = DefaultContextPrefix
	}
	if hub := strings.Trim(strings.TrimSpace(s.HubID), "/"); hub != "" {
		prefix += "/" + hub
	}
	return prefix + "/" + namespace + "/" + name
}

// Desired lists the statuses a Subscription should show:
//   - on the deployed commit (status.lastAppliedRevision, else the
//     git-current-commit annotation): the aggregated status, and with
//     PerCluster one per listed cluster; posted names the clusters that
//     already have a status on that commit, so they are kept current even
//     past MaxPerCluster, and settled when they leave the list;
//   - on a newer commit that could not be rendered or sent
//     (status.lastAttemptedRevision): why, under the same context;
//   - on a commit whose rollout failed and was rolled back
//     (status.rollback): failure, saying why and what was restored.
func Desired(sub *appsv1.Subscription, s Settings, posted map[string]bool) []Target {
	st := &sub.Status
	base := Context(s, sub.Namespace, sub.Name)
	ref, sha, ok := DeployedCommit(sub)
	attemptRef, attemptSHA, attempted := gitCommit(st.LastAttemptedRevision)
	problem, hasProblem := attemptProblem(st)
	rbRef, rbSHA, rolledBack := rollbackProblem(st)

	var out []Target
	if rolledBack && rbSHA != sha {
		out = append(out, Target{SHA: rbSHA, Status: gitprovider.Status{State: gitprovider.StateFailure,
			Description: rollbackDescription(st.Rollback), Context: base, TargetURL: s.TargetURL, Ref: rbRef}})
	}
	if attempted && hasProblem && attemptSHA != sha && (!rolledBack || attemptSHA != rbSHA) {
		problem.Context, problem.TargetURL, problem.Ref = base, s.TargetURL, attemptRef
		out = append(out, Target{SHA: attemptSHA, Status: problem})
	}
	if !ok {
		return out
	}
	agg := gitprovider.Status{Context: base, TargetURL: s.TargetURL, Ref: ref}
	switch {
	case rolledBack && rbSHA == sha:
		agg.State, agg.Description = gitprovider.StateFailure, rollbackDescription(st.Rollback)
	case hasProblem && attempted && attemptSHA == sha:
		agg.State, agg.Description = problem.State, problem.Description
	default:
		agg.State, agg.Description = Aggregate(sub)
	}
	out = append(out, Target{SHA: sha, Status: agg})
	if s.PerCluster {
		out = append(out, perCluster(sub, s, sha, ref, base, posted)...)
	}
	return out
}

// attemptProblem reports a revision that never reached the clusters: it did
// not render (the commit's fault: failure) or its ManifestWorks could not be
// written (the hub's fault: error).
func attemptProblem(st *appsv1.SubscriptionStatus) (gitprovider.Status, bool) {
	if c := meta.FindStatusCondition(st.Conditions, appsv1.ConditionRendered); c != nil && c.Status == metav1.ConditionFalse {
		return gitprovider.Status{State: gitprovider.StateFailure, Description: "render failed: " + oneLine(c.Message)}, true
	}
	if c := meta.FindStatusCondition(st.Conditions, appsv1.ConditionApplied); c != nil && c.Status == metav1.ConditionFalse && c.Reason == appsv1.ReasonWorkWriteFailed {
		return gitprovider.Status{State: gitprovider.StateError, Description: "hub could not write ManifestWorks: " + oneLine(c.Message)}, true
	}
	return gitprovider.Status{}, false
}

// rollbackProblem reads the commit an automatic rollback undid.
func rollbackProblem(st *appsv1.SubscriptionStatus) (ref, sha string, ok bool) {
	if st.Rollback == nil {
		return "", "", false
	}
	return gitCommit(st.Rollback.Revision)
}

// rollbackDescription says that a commit's rollout failed and was (or is
// being) rolled back, why, and where to.
func rollbackDescription(rb *appsv1.RollbackStatus) string {
	what := "rolled back"
	if rb.Phase != appsv1.RollbackDone {
		what = "rolling back"
	}
	if len(rb.RestoredRevisions) > 0 {
		short := make([]string, len(rb.RestoredRevisions))
		for i, r := range rb.RestoredRevisions {
			short[i] = source.ShortRevision(r)
		}
		what += " to " + strings.Join(short, ", ")
	}
	return what + ": " + oneLine(rb.Cause)
}

// Aggregate sums a Subscription's clusters up into one state and description:
//
//	error    no cluster selected (missing Placement, or it selects none)
//	failure  apply failed on some cluster, a workload is degraded, the
//	         rollout failed, or drift
//	success  applied (and healthy, where agents judge health) on every
//	         selected cluster
//	pending  otherwise: rolling out or not healthy yet, paused, held,
//	         waiting for a window, or some clusters offline
func Aggregate(sub *appsv1.Subscription) (gitprovider.State, string) {
	st := &sub.Status
	sum := st.Summary
	switch {
	case sum.Selected == 0 && sum.Held > 0:
		return gitprovider.StatePending, fmt.Sprintf("no clusters selected; removal from %d held: %s", sum.Held, heldReason(st))
	case sum.Selected == 0:
		if c := meta.FindStatusCondition(st.Conditions, appsv1.ConditionPlaced); c != nil && c.Status == metav1.ConditionFalse && c.Message != "" {
			return gitprovider.StateError, "no clusters: " + oneLine(c.Message)
		}
		return gitprovider.StateError, "no clusters selected"
	}
	if d, failed := failure(st); failed {
		return gitprovider.StateFailure, d
	}
	if sum.Applied+sum.Stale >= sum.Selected {
		// Stale clusters hold this commit; a newer one cannot be deployed
		// and has its own failure status.
		d := fmt.Sprintf("applied on %d/%d", sum.Applied+sum.Stale, sum.Selected)
		if sum.Healthy == sum.Selected {
			d = fmt.Sprintf("healthy on %d/%d", sum.Healthy, sum.Selected)
		}
		if c := firstCluster(st.Clusters, appsv1.ClusterStale); c != nil {
			d += "; stale: " + oneLine(c.Message)
		}
		if i := slices.IndexFunc(st.Clusters, func(c appsv1.ClusterStatus) bool { return len(c.Overrides) > 0 }); i >= 0 {
			d += "; " + st.Clusters[i].Name + " overrides " + strings.Join(st.Clusters[i].Overrides, ", ")
		}
		return gitprovider.StateSuccess, d
	}
	return gitprovider.StatePending, pending(sub)
}

// heldReason is why removals wait: the DeletionHeld condition when it holds
// them, else the first held cluster's message.
func heldReason(st *appsv1.SubscriptionStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, appsv1.ConditionDeletionHeld); c != nil && c.Status == metav1.ConditionTrue {
		return oneLine(c.Message)
	}
	if c := firstCluster(st.Clusters, appsv1.ClusterHeld); c != nil {
		return oneLine(c.Message)
	}
	return "see the Subscription's status"
}

// failure describes what fails the deployed commit: an apply failure, a
// degraded workload, a failed rollout of it, drift.
func failure(st *appsv1.SubscriptionStatus) (string, bool) {
	sum := st.Summary
	if sum.Failed > 0 {
		d := fmt.Sprintf("apply failed on %d/%d", sum.Failed, sum.Selected)
		if c := firstCluster(st.Clusters, appsv1.ClusterFailed); c != nil {
			d += ": " + c.Name + " " + strings.TrimPrefix(oneLine(c.Message), "apply failed: ")
		}
		return d, true
	}
	if sum.Degraded > 0 {
		d := fmt.Sprintf("degraded on %d/%d", sum.Degraded, sum.Selected)
		if c := firstCluster(st.Clusters, appsv1.ClusterDegraded); c != nil {
			d += ": " + c.Name + " " + oneLine(c.Message)
		}
		return d, true
	}
	if r := st.Rollout; r != nil && r.Phase == appsv1.RolloutFailed && (r.Revision == "" || r.Revision == st.LastAppliedRevision) {
		d := "rollout failed"
		if r.Message != "" {
			d += ": " + oneLine(r.Message)
		}
		return d, true
	}
	if sum.Drifted > 0 {
		d := fmt.Sprintf("drift on %d/%d", sum.Drifted, sum.Selected)
		if c := firstCluster(st.Clusters, appsv1.ClusterDrifted); c != nil {
			d += ": " + c.Name + " " + driftSummary(*c)
		}
		return d, true
	}
	return "", false
}

// pending describes a deployment under way: how far, and what holds it.
func pending(sub *appsv1.Subscription) string {
	st := &sub.Status
	sum := st.Summary
	progress := fmt.Sprintf("%d/%d applied", sum.Applied, sum.Selected)
	if sum.Healthy > 0 {
		// The agents judge health: Applied counts healthy clusters.
		progress = fmt.Sprintf("healthy on %d/%d, %d progressing", sum.Healthy, sum.Selected, sum.Progressing)
	}
	if sum.Applied+sum.Offline == sum.Selected {
		return fmt.Sprintf("applied on %d/%d, %d offline", sum.Applied, sum.Selected, sum.Offline)
	}
	d := "rolling out: " + progress
	switch {
	case sub.Labels[appsv1.LabelSubscriptionPause] == "true":
		d = "paused: " + progress
	case isTrue(st.Conditions, appsv1.ConditionDeletionHeld):
		d = "held by the deletion budget: " + progress
	case isFalse(st.Conditions, appsv1.ConditionWindowOpen):
		d = "waiting for a deployment window: " + progress
	case st.Rollout != nil && st.Rollout.Phase == appsv1.RolloutPaused:
		d = "rollout paused: " + progress
	}
	if sum.Offline > 0 {
		d += fmt.Sprintf(", %d offline", sum.Offline)
	}
	return d
}

// ClusterStatus is one cluster's state and description.
func ClusterStatus(c appsv1.ClusterStatus) (gitprovider.State, string) {
	msg := oneLine(c.Message)
	switch c.State {
	case appsv1.ClusterApplied:
		d := "applied"
		if c.Health == appsv1.HealthHealthy {
			d = "healthy"
		}
		if len(c.Overrides) > 0 {
			d += "; overrides " + strings.Join(c.Overrides, ", ")
		}
		return gitprovider.StateSuccess, d
	case appsv1.ClusterDrifted:
		return gitprovider.StateFailure, "drift: " + driftSummary(c)
	case appsv1.ClusterFailed:
		return gitprovider.StateFailure, cmp.Or(msg, "apply failed")
	case appsv1.ClusterDegraded:
		return gitprovider.StateFailure, "degraded: " + cmp.Or(msg, "a workload is failing")
	case appsv1.ClusterOffline:
		return gitprovider.StatePending, "offline: " + cmp.Or(msg, "the agent has not reported recently")
	case appsv1.ClusterPending:
		return gitprovider.StatePending, "pending: " + cmp.Or(msg, "not sent yet")
	case appsv1.ClusterStale:
		return gitprovider.StateSuccess, "stale: " + cmp.Or(msg, "holds this commit; a newer one cannot be deployed")
	case appsv1.ClusterHeld:
		return gitprovider.StatePending, "held: " + cmp.Or(msg, "no longer selected; removing the objects waits")
	default:
		return gitprovider.StatePending, "progressing: " + cmp.Or(msg, "being applied")
	}
}

// perCluster lists per-cluster statuses. Clusters already posted stay
// current; new ones are added while the commit has fewer than MaxPerCluster. A posted cluster missing
// from the list left the placement when the list is complete; when the list
// is truncated and ends with an Applied cluster, every unlisted cluster is
// Applied too (the list is worst first).
func perCluster(sub *appsv1.Subscription, s Settings, sha, ref, base string, posted map[string]bool) []Target {
	st := &sub.Status
	listed := make(map[string]bool, len(st.Clusters))
	var out []Target
	budget := s.MaxPerCluster - len(posted)
	for _, c := range st.Clusters {
		listed[c.Name] = true
		if !posted[c.Name] {
			if budget <= 0 {
				continue
			}
			budget--
		}
		state, desc := ClusterStatus(c)
		out = append(out, Target{SHA: sha, Cluster: c.Name, Status: gitprovider.Status{
			State: state, Description: desc, Context: base + "/" + c.Name, TargetURL: s.TargetURL, Ref: ref,
		}})
	}
	allRestApplied := st.ClustersTruncated && len(st.Clusters) > 0 && st.Clusters[len(st.Clusters)-1].State == appsv1.ClusterApplied
	for _, name := range slices.Sorted(maps.Keys(posted)) {
		if listed[name] {
			continue
		}
		desc := ""
		switch {
		case !st.ClustersTruncated:
			desc = "no longer selected"
		case allRestApplied:
			desc = "applied"
		default:
			continue // unknown: keep what was posted
		}
		out = append(out, Target{SHA: sha, Cluster: name, Final: true, Status: gitprovider.Status{
			State: gitprovider.StateSuccess, Description: desc, Context: base + "/" + name, TargetURL: s.TargetURL, Ref: ref,
		}})
	}
	return out
}

// driftSummary names the first drifted object, e.g.
// "Deployment/web .spec.replicas (+2 more)".
func driftSummary(c appsv1.ClusterStatus) string {
	if len(c.Drift) == 0 {
		return cmp.Or(strings.TrimPrefix(oneLine(c.Message), "drift: "), "live objects differ from what was applied")
	}
	d := c.Drift[0]
	what := strings.Join(d.Fields, ",")
	if d.Deleted {
		what = "deleted"
	}
	out := strings.TrimSpace(d.Kind + "/" + d.Name + " " + what)
	if n := len(c.Drift) - 1; n > 0 {
		out += fmt.Sprintf(" (+%d more)", n)
	}
	return out
}

func firstCluster(clusters []appsv1.ClusterStatus, state appsv1.ClusterState) *appsv1.ClusterStatus {
	for i := range clusters {
		if clusters[i].State == state {
			return &clusters[i]
		}
	}
	return nil
}

func isTrue(conds []metav1.Condition, typ string) bool {
	c := meta.FindStatusCondition(conds, typ)
	return c != nil && c.Status == metav1.ConditionTrue
}

func isFalse(conds []metav1.Condition, typ string) bool {
	c := meta.FindStatusCondition(conds, typ)
	return c != nil && c.Status == metav1.ConditionFalse
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
