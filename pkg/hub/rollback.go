package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Automatic rollback (spec.onRolloutFailure: Rollback): the decisions are
// rollout's pure functions; this file fetches, renders and writes what they
// say. See docs/reference.md, "Health and automatic rollback".

// retryRestore is how soon a restore that could not be fetched or written
// is tried again.
const retryRestore = 15 * time.Second

// rollsBack reports whether the rollout just planned failed and the
// Subscription asks for a rollback that is not under way yet; it then
// records the rollback in status.rollback. failing names the clusters
// that failed the rollout.
func (r *SubscriptionReconciler) rollsBack(sub *appsv1.Subscription, failing []string, existing map[string][]*workv1.ManifestWork) bool {
	if sub.Spec.OnRolloutFailure != appsv1.RolloutFailureRollback || sub.Status.Rollback != nil || len(failing) == 0 {
		return false
	}
	isFailing := make(map[string]bool, len(failing))
	for _, c := range failing {
		isFailing[c] = true
	}
	var clusters []rollout.RollbackCluster
	for name, works := range existing {
		c, ok := rollout.ClusterFromWorks(name, works)
		if !ok {
			continue
		}
		if c.Failing = isFailing[name]; c.Failing {
			c.Message = problemOf(works, sub.Spec.WaitsForHealth())
		}
		clusters = append(clusters, c)
	}
	st, ok := rollout.StartRollback(clusters, r.now())
	if ok {
		sub.Status.Rollback = st
	}
	return ok
}

// problemOf says why a cluster's works failed: the first failing object and
// why, or that they are not healthy yet (a progressDeadline passed).
func problemOf(works []*workv1.ManifestWork, waitForHealth bool) string {
	for _, w := range live(works) {
		rep := rollout.ReadWork(w)
		switch s, _ := rep.State(waitForHealth); {
		case s == rollout.Failed && rep.ApplyFailed:
			return "apply failed: " + rep.Problem(w)
		case s == rollout.Failed:
			return rep.Problem(w)
		case s == rollout.Progressing:
			return "not healthy within progressDeadline: " + rep.Problem(w)
		}
	}
	return "not healthy within progressDeadline"
}

// holdForRollback lifts a recorded rollback once the source gives content
// that did not fail (and every restore is written), or when
// spec.onRolloutFailure no longer asks for it. While it holds, it restores
// the clusters still holding the failed content, and held is true: nothing
// else is sent. desired is what the source's latest revision gives each
// selected cluster.
func (r *SubscriptionReconciler) holdForRollback(ctx context.Context, sub *appsv1.Subscription, revision string, targets []placement.Target, existing map[string][]*workv1.ManifestWork, desired map[string]*want) (held bool, requeue time.Duration, err error) {
	st := sub.Status.Rollback
	if st == nil {
		return false, 0, nil
	}
	if sub.Spec.OnRolloutFailure != appsv1.RolloutFailureRollback {
		sub.Status.Rollback = nil
		r.event(sub, corev1.EventTypeNormal, "RollbackLifted", actionRollout,
			fmt.Sprintf("spec.onRolloutFailure is no longer %s: the hold on %s is lifted and the rollout starts again", appsv1.RolloutFailureRollback, st.Revision))
		return false, 0, nil
	}
	hashes := make([]string, 0, len(desired))
	for _, d := range desired {
		hashes = append(hashes, d.hash)
	}
	plan := rollout.PlanRollback(*st, rollbackClusters(targets, existing))
	if !rollout.Holds(st, revision, hashes) && len(plan.Restore) == 0 {
		sub.Status.Rollback = nil
		r.event(sub, corev1.EventTypeNormal, "RollbackLifted", actionRollout,
			fmt.Sprintf("revision %s gives content that did not fail: the hold on %s is lifted", revision, st.Revision))
		return false, 0, nil
	}
	if paused(sub) {
		// Nothing is written while paused, not even a restore.
		sub.Status.Rollback = &plan.Status
		return true, 0, nil
	}
	requeue, err = r.restore(ctx, sub, &plan, targets, existing)
	sub.Status.Rollback = &plan.Status
	if rs := plan.Status.RestoredRevisions; len(rs) == 1 && plan.Status.Restored+int32(len(plan.Restore[rs[0]])) > 0 {
		sub.Status.LastAppliedRevision = rs[0]
	}
	return true, requeue, err
}

// rollbackClusters reads what the selected clusters' works carry.
func rollbackClusters(targets []placement.Target, existing map[string][]*workv1.ManifestWork) []rollout.RollbackCluster {
	out := make([]rollout.RollbackCluster, 0, len(targets))
	for _, t := range targets {
		if c, ok := rollout.ClusterFromWorks(t.Cluster, existing[t.Cluster]); ok {
			out = append(out, c)
		}
	}
	return out
}

// restore writes the content of each revision plan.Restore names to its
// clusters, rendered again from the source at that revision. Clusters whose
// revision renders the very content that failed keep it (plan.Refuse); a
// revision that cannot be fetched or rendered is retried, and said in the
// status message.
func (r *SubscriptionReconciler) restore(ctx context.Context, sub *appsv1.Subscription, plan *rollout.RollbackPlan, targets []placement.Target, existing map[string][]*workv1.ManifestWork) (time.Duration, error) {
	var problems []string
	var writeErr error
	for revision, clusters := range plan.Restore {
		wants, err := r.restoreWants(ctx, sub, revision, clusters, targets, existing)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		var same []string
		for c, w := range wants {
			if w.hash == currentHash(existing[c]) || slices.Contains(plan.Status.FailedContent, w.hash) {
				same = append(same, c)
				delete(wants, c)
			}
		}
		plan.Refuse(same, revision+" renders the very content that failed (the failure comes from the Subscription's spec: change it back)")
		for _, w := range wants {
			w.rollbackRevision, w.rolledBackFrom = revision, plan.Status.Revision
		}
		if err := r.syncWorks(ctx, sub, revision, wants, existing, nil); err != nil {
			writeErr = err
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		return 0, nil
	}
	plan.Status.Message = truncate(plan.Status.Message+"; retrying: "+strings.Join(problems, "; "), 1024)
	return retryRestore, writeErr
}

// restoreWants renders revision again for clusters.
func (r *SubscriptionReconciler) restoreWants(ctx context.Context, sub *appsv1.Subscription, revision string, clusters []string, targets []placement.Target, existing map[string][]*workv1.ManifestWork) (map[string]*want, error) {
	art, access, err := r.fetchAt(ctx, sub, revision)
	if err != nil {
		return nil, fmt.Errorf("fetch %s to restore it: %w", revision, err)
	}
	var sel []placement.Target
	for _, t := range targets {
		if slices.Contains(clusters, t.Cluster) {
			sel = append(sel, t)
		}
	}
	wants, err := r.renderAll(ctx, sub, art, access, sel, existing)
	if err != nil {
		return nil, fmt.Errorf("render %s to restore it: %w", revision, err)
	}
	return wants, nil
}

// fetchAt fetches the Subscription's source as it was at revision. The
// artifact keeps the revision's name, so the input digests of the restored
// works are those the revision's works had.
func (r *SubscriptionReconciler) fetchAt(ctx context.Context, sub *appsv1.Subscription, revision string) (*source.Artifact, render.Access, error) {
	ch, err := r.channelFor(ctx, sub)
	if err != nil {
		return nil, render.Access{}, err
	}
	creds, err := source.CredentialsFor(ctx, r.Client, ch)
	if err != nil {
		return nil, render.Access{}, err
	}
	ref, err := pinnedRef(sub, ch, revision)
	if err != nil {
		return nil, render.Access{}, err
	}
	art, err := r.Store.Fetch(ctx, source.Request{Channel: ch, Ref: ref, Credentials: creds})
	if err != nil {
		return nil, render.Access{}, err
	}
	named := *art
	named.Revision = revision
	return &named, render.AccessFor(ch, creds), nil
}

// pinnedRef is the ref that fetches revision again: its commit from a Git
// channel, its chart version from a Helm repository. Buckets keep no
// history.
func pinnedRef(sub *appsv1.Subscription, ch *appsv1.Channel, revision string) (source.Ref, error) {
	rev, err := source.ParseRevision(revision)
	if err != nil {
		return source.Ref{}, err
	}
	ref := source.RefFor(sub)
	switch ch.Spec.Type.Normalized() {
	case appsv1.ChannelTypeGit:
		commit, ok := rev.Commit()
		if !ok {
			return source.Ref{}, fmt.Errorf("revision %s names no Git commit", revision)
		}
		ref.Branch, ref.Tag, ref.Commit = "", "", commit
	case appsv1.ChannelTypeHelmRepo:
		version, ok := strings.CutPrefix(rev.Ref, ref.Chart+"-")
		if !ok || version == "" {
			return source.Ref{}, fmt.Errorf("revision %s is not a version of chart %q", revision, ref.Chart)
		}
		ref.Version = version
	default:
		return source.Ref{}, fmt.Errorf("%s channels keep no history: revision %s cannot be fetched again", ch.Spec.Type, revision)
	}
	return ref, nil
}

// currentHash is the content hash of a cluster's live works.
func currentHash(works []*workv1.ManifestWork) string {
	for _, w := range live(works) {
		return w.Annotations[appsv1.AnnotationContentHash]
	}
	return ""
}

// rollbackReason is Ready's reason while a rollback holds the Subscription.
func rollbackReason(rb *appsv1.RollbackStatus) string {
	if rb.Phase == appsv1.RollbackDone {
		return appsv1.ReasonRolledBack
	}
	return appsv1.ReasonRollingBack
}

// rollbackMessage says what failed, what was done and what lifts the hold.
func rollbackMessage(rb *appsv1.RollbackStatus) string {
	return fmt.Sprintf("the rollout of %s failed (%s); %s; nothing new is sent until a commit or a change to the Subscription gives other content",
		source.ShortRevision(rb.Revision), rb.Cause, rb.Message)
}

// healthEvent: a workload became degraded on some cluster, or every
// cluster is healthy again after one was.
func healthEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	c := meta.FindStatusCondition(after.Conditions, appsv1.ConditionHealthy)
	old := meta.FindStatusCondition(before.Conditions, appsv1.ConditionHealthy)
	wasDegraded := old != nil && old.Reason == appsv1.ReasonDegraded
	switch {
	case c == nil:
	case c.Reason == appsv1.ReasonDegraded && !wasDegraded:
		return transitionEvent{corev1.EventTypeWarning, appsv1.ReasonDegraded, actionRollout, c.Message}, true
	case c.Status == metav1.ConditionTrue && wasDegraded:
		return transitionEvent{corev1.EventTypeNormal, "HealthRecovered", actionRollout, c.Message}, true
	}
	return transitionEvent{}, false
}

// rollbackEvent: an automatic rollback started, or every cluster it could
// restore holds its last healthy revision again.
func rollbackEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	rb, old := after.Rollback, before.Rollback
	switch {
	case rb == nil:
	case old == nil || old.Revision != rb.Revision:
		return transitionEvent{corev1.EventTypeWarning, appsv1.ReasonRollingBack, actionRollout, rollbackMessage(rb)}, true
	case rb.Phase == appsv1.RollbackDone && old.Phase != appsv1.RollbackDone:
		return transitionEvent{corev1.EventTypeNormal, appsv1.ReasonRolledBack, actionRollout, rb.Message}, true
	}
	return transitionEvent{}, false
}
