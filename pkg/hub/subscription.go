package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Finalizer keeps a Subscription until its ManifestWorks are gone.
const Finalizer = "apps.open-cluster-management.io/ocm-gitops-cleanup"

// retryAfterSourceError is how soon a failed fetch is retried when the source
// layer gives no better hint.
const retryAfterSourceError = 30 * time.Second

// SubscriptionReconciler renders a Subscription's package once per distinct
// input, writes one ManifestWork per selected cluster, and sums up what the
// clusters report.
type SubscriptionReconciler struct {
	Client   client.Client
	Store    *source.Store
	Renderer *render.Renderer
	Recorder record.EventRecorder
	// WriteConcurrency bounds parallel ManifestWork writes.
	WriteConcurrency int

	bundles  *bundleCache
	resource resourceMapper
}

// Reconcile brings one Subscription's ManifestWorks and status up to date.
func (r *SubscriptionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	sub := &appsv1.Subscription{}
	if err := r.Client.Get(ctx, req.NamespacedName, sub); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sub.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, sub)
	}
	if !controllerutil.ContainsFinalizer(sub, Finalizer) {
		patch := client.MergeFrom(sub.DeepCopy())
		controllerutil.AddFinalizer(sub, Finalizer)
		if err := r.Client.Patch(ctx, sub, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	before := sub.DeepCopy()
	result, err := r.reconcile(ctx, sub)
	sub.Status.ObservedGeneration = sub.Generation
	setReady(sub)
	if statusChanged(&before.Status, &sub.Status) {
		now := metav1.Now()
		sub.Status.LastUpdateTime = &now
		if perr := r.patchStatus(ctx, sub); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("update status: %w", perr))
		}
	}
	if err := r.recordCommit(ctx, sub); err != nil {
		log.Error(err, "record deployed commit")
	}
	return result, err
}

// reconcile does the work and records the outcome in sub.Status; the error is
// for failures worth a retry with backoff.
func (r *SubscriptionReconciler) reconcile(ctx context.Context, sub *appsv1.Subscription) (ctrl.Result, error) {
	existing, err := r.existingWorks(ctx, sub)
	if err != nil {
		return ctrl.Result{}, err
	}
	targets, err := placement.TargetsFor(ctx, r.Client, sub)
	if err != nil {
		condition(sub, appsv1.ConditionPlaced, false, appsv1.ReasonPlacementNotFound, err.Error())
		return ctrl.Result{}, nil
	}
	if len(targets) == 0 {
		condition(sub, appsv1.ConditionPlaced, false, appsv1.ReasonNoClusters, "the placement selects no clusters")
	} else {
		condition(sub, appsv1.ConditionPlaced, true, appsv1.ReasonSucceeded, fmt.Sprintf("%d clusters selected", len(targets)))
	}
	offline := r.offlineClusters(ctx, targets)

	if sub.Labels[appsv1.LabelSubscriptionPause] == "true" {
		condition(sub, appsv1.ConditionReady, false, appsv1.ReasonPaused, "the subscription-pause label is set; nothing new is sent")
		r.summarize(sub, targets, existing, nil, offline, sub.Status.LastAppliedRevision)
		return ctrl.Result{}, nil
	}

	art, requeue, err := r.fetch(ctx, sub)
	if art == nil {
		// Nothing was ever fetched: leave whatever runs untouched.
		r.summarize(sub, targets, existing, nil, offline, sub.Status.LastAppliedRevision)
		return ctrl.Result{RequeueAfter: requeue}, err
	}
	sub.Status.LastAttemptedRevision = art.Revision

	desired, err := r.renderAll(ctx, sub, art, targets)
	if err != nil {
		// A broken commit must not wipe a fleet: keep the last good works.
		condition(sub, appsv1.ConditionRendered, false, appsv1.ReasonRenderFailed, err.Error())
		r.Recorder.Eventf(sub, corev1.EventTypeWarning, appsv1.ReasonRenderFailed, "revision %s: %s", art.Revision, err)
		r.summarize(sub, targets, existing, nil, offline, sub.Status.LastAppliedRevision)
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	condition(sub, appsv1.ConditionRendered, true, appsv1.ReasonSucceeded, "rendered revision "+art.Revision)

	if err := r.syncWorks(ctx, sub, art.Revision, desired, existing); err != nil {
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonWorkWriteFailed, err.Error())
		sub.Status.Phase, sub.Status.Reason, sub.Status.Message = appsv1.SubscriptionPropagationFailed, appsv1.ReasonWorkWriteFailed, err.Error()
		return ctrl.Result{}, err
	}
	sub.Status.LastAppliedRevision = art.Revision
	sub.Status.Phase, sub.Status.Reason, sub.Status.Message = appsv1.SubscriptionPropagated, "", ""
	hashes := map[string]string{}
	for cluster, b := range desired {
		hashes[cluster] = b.hash
	}
	r.summarize(sub, targets, existing, hashes, offline, art.Revision)
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// fetch returns the artifact to deploy: a fresh one, or the last good one when
// the source fails. Conditions say which.
func (r *SubscriptionReconciler) fetch(ctx context.Context, sub *appsv1.Subscription) (*source.Artifact, time.Duration, error) {
	channel, err := r.channelFor(ctx, sub)
	if err != nil {
		reason := appsv1.ReasonChannelNotFound
		var denied accessDeniedError
		if errors.As(err, &denied) {
			reason = appsv1.ReasonAccessDenied
		}
		condition(sub, appsv1.ConditionSourceReady, false, reason, err.Error())
		return nil, retryAfterSourceError, nil
	}
	interval := source.PollInterval(channel, sub)
	creds, err := source.CredentialsFor(ctx, r.Client, channel)
	if err != nil {
		condition(sub, appsv1.ConditionSourceReady, false, appsv1.ReasonAuthFailed, err.Error())
		return nil, retryAfterSourceError, nil
	}
	req := source.Request{Channel: channel, Ref: source.RefFor(sub), Credentials: creds, NotBefore: notBefore(channel, sub, interval)}
	art, err := r.Store.Fetch(ctx, req)
	if err != nil {
		reason := appsv1.ReasonFetchFailed
		if source.IsAuthError(err) {
			reason = appsv1.ReasonAuthFailed
		}
		last := r.Store.Cached(req)
		msg := err.Error()
		if last != nil {
			msg += "; still deploying the last good revision " + last.Revision
		}
		condition(sub, appsv1.ConditionSourceReady, false, reason, msg)
		retry := r.Store.Backoff(req)
		if retry <= 0 {
			retry = retryAfterSourceError
		}
		return last, retry, nil
	}
	condition(sub, appsv1.ConditionSourceReady, true, appsv1.ReasonSucceeded, "fetched revision "+art.Revision)
	return art, interval, nil
}

// notBefore is the oldest check of the source this reconcile accepts: a
// webhook or "reconcile now" request forces a fetch, otherwise the poll
// interval decides.
func notBefore(channel *appsv1.Channel, sub *appsv1.Subscription, interval time.Duration) time.Time {
	t := time.Time{}
	if interval > 0 {
		t = time.Now().Add(-interval)
	}
	for _, requested := range []time.Time{source.RequestedAt(channel), source.RequestedAt(sub)} {
		if requested.After(t) {
			t = requested
		}
	}
	return t
}

type accessDeniedError struct{ error }

// channelFor finds the Subscription's Channel and checks the Subscription may use it.
func (r *SubscriptionReconciler) channelFor(ctx context.Context, sub *appsv1.Subscription) (*appsv1.Channel, error) {
	key, err := channelKey(sub)
	if err != nil {
		return nil, err
	}
	ch := &appsv1.Channel{}
	if err := r.Client.Get(ctx, key, ch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("spec.channel: Channel %s not found; create it or fix the reference", key)
		}
		return nil, fmt.Errorf("get Channel %s: %w", key, err)
	}
	if !channelAllows(ch, sub.Namespace) {
		return nil, accessDeniedError{fmt.Errorf("spec.channel: Channel %s does not allow Subscriptions from namespace %q; add it to the Channel's spec.allowedNamespaces", key, sub.Namespace)}
	}
	return ch, nil
}

// channelKey parses spec.channel ("namespace/name"; a bare name means the
// Subscription's namespace).
func channelKey(sub *appsv1.Subscription) (types.NamespacedName, error) {
	ns, name, found := strings.Cut(sub.Spec.Channel, "/")
	if !found {
		ns, name = sub.Namespace, sub.Spec.Channel
	}
	if name == "" || ns == "" {
		return types.NamespacedName{}, fmt.Errorf("spec.channel %q is not \"namespace/name\"", sub.Spec.Channel)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// channelAllows: a Channel serves its own namespace and those it lists.
func channelAllows(ch *appsv1.Channel, namespace string) bool {
	if ch.Namespace == namespace {
		return true
	}
	for _, ns := range ch.Spec.AllowedNamespaces {
		if ns == "*" || ns == namespace {
			return true
		}
	}
	return false
}

// renderAll renders for every target and encodes each distinct output once.
func (r *SubscriptionReconciler) renderAll(ctx context.Context, sub *appsv1.Subscription, art *source.Artifact, targets []placement.Target) (map[string]*bundle, error) {
	settings := settingsOf(sub)
	out := make(map[string]*bundle, len(targets))
	for _, t := range targets {
		o, err := r.Renderer.Render(ctx, art, sub, render.Cluster{Name: t.Cluster, Labels: t.Labels, Claims: t.Claims})
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", t.Cluster, err)
		}
		if len(o.Objects) == 0 {
			// Most often a wrong path or a botched commit; removing an app is
			// done through the placement or by deleting the Subscription.
			return nil, fmt.Errorf("cluster %s: the package at %q renders no objects; nothing was changed on the clusters (to remove the app, change the placement or delete the Subscription)", t.Cluster, source.SubscriptionPath(sub))
		}
		b, err := r.bundles.get(o, settings, r.resource)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", t.Cluster, err)
		}
		out[t.Cluster] = b
	}
	return out, nil
}

// existingWorks returns the Subscription's ManifestWorks by cluster.
func (r *SubscriptionReconciler) existingWorks(ctx context.Context, sub *appsv1.Subscription) (map[string][]*workv1.ManifestWork, error) {
	var list workv1.ManifestWorkList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{appsv1.LabelSubscription: SubscriptionLabel(sub.Namespace, sub.Name)}); err != nil {
		return nil, fmt.Errorf("list ManifestWorks: %w", err)
	}
	owner := sub.Namespace + "/" + sub.Name
	out := map[string][]*workv1.ManifestWork{}
	for i := range list.Items {
		w := &list.Items[i]
		if w.Annotations[appsv1.AnnotationHostingSubscription] != owner {
			continue // a hashed label value shared by another Subscription
		}
		out[w.Namespace] = append(out[w.Namespace], w)
	}
	return out, nil
}

// offlineClusters names the targets whose agents stopped reporting.
func (r *SubscriptionReconciler) offlineClusters(ctx context.Context, targets []placement.Target) map[string]bool {
	out := map[string]bool{}
	for _, t := range targets {
		mc := &clusterv1.ManagedCluster{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: t.Cluster}, mc); err != nil {
			continue
		}
		if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c != nil && c.Status != metav1.ConditionTrue {
			out[t.Cluster] = true
		}
	}
	return out
}

// summarize fills the status summary, cluster list and Applied/Drifted conditions.
// hashes is nil when nothing new is being sent: each cluster is then judged by
// the content it already holds.
func (r *SubscriptionReconciler) summarize(sub *appsv1.Subscription, targets []placement.Target, existing map[string][]*workv1.ManifestWork, hashes map[string]string, offline map[string]bool, revision string) {
	views := make([]clusterView, 0, len(targets))
	for _, t := range targets {
		v := clusterView{name: t.Cluster, works: existing[t.Cluster], offline: offline[t.Cluster]}
		if hashes != nil {
			v.desiredHash = hashes[t.Cluster]
		} else if len(v.works) > 0 {
			v.desiredHash = v.works[0].Annotations[appsv1.AnnotationContentHash]
		}
		views = append(views, v)
	}
	sum, clusters, truncated := aggregate(views, revision)
	sub.Status.Summary, sub.Status.Clusters, sub.Status.ClustersTruncated = sum, clusters, truncated

	switch {
	case sum.Selected == 0:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonNoClusters, "no clusters selected")
	case sum.Failed > 0:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonApplyFailed, fmt.Sprintf("apply failed on %d/%d clusters: %s", sum.Failed, sum.Selected, firstMessage(clusters, appsv1.ClusterFailed)))
	case sum.Applied+sum.Drifted == sum.Selected:
		condition(sub, appsv1.ConditionApplied, true, appsv1.ReasonSucceeded, fmt.Sprintf("applied on %d/%d clusters", sum.Applied+sum.Drifted, sum.Selected))
	default:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonProgressing, fmt.Sprintf("rolling out: %d/%d applied", sum.Applied+sum.Drifted, sum.Selected))
	}
	if sum.Drifted > 0 {
		condition(sub, appsv1.ConditionDrifted, true, appsv1.ReasonDriftDetected, fmt.Sprintf("drift on %d/%d clusters: %s", sum.Drifted, sum.Selected, firstMessage(clusters, appsv1.ClusterDrifted)))
	} else {
		condition(sub, appsv1.ConditionDrifted, false, appsv1.ReasonNoDrift, "no drift reported")
	}
}

func firstMessage(clusters []appsv1.ClusterStatus, state appsv1.ClusterState) string {
	for _, c := range clusters {
		if c.State == state {
			return c.Name + ": " + c.Message
		}
	}
	return ""
}

// recordCommit keeps OCM's git-current-commit annotation on the deployed commit.
func (r *SubscriptionReconciler) recordCommit(ctx context.Context, sub *appsv1.Subscription) error {
	_, commit, ok := strings.Cut(sub.Status.LastAppliedRevision, "@sha1:")
	if !ok || sub.Annotations[appsv1.AnnotationGitCurrentCommit] == commit {
		return nil
	}
	patch := client.MergeFrom(sub.DeepCopy())
	if sub.Annotations == nil {
		sub.Annotations = map[string]string{}
	}
	sub.Annotations[appsv1.AnnotationGitCurrentCommit] = commit
	return r.Client.Patch(ctx, sub, patch)
}

// finalize deletes every ManifestWork of a deleted Subscription; the agents then
// remove what the works applied (or orphan it, per spec.deleteOption).
func (r *SubscriptionReconciler) finalize(ctx context.Context, sub *appsv1.Subscription) error {
	if !controllerutil.ContainsFinalizer(sub, Finalizer) {
		return nil
	}
	existing, err := r.existingWorks(ctx, sub)
	if err != nil {
		return err
	}
	var works []*workv1.ManifestWork
	for _, ws := range existing {
		works = append(works, ws...)
	}
	if err := r.deleteWorks(ctx, works); err != nil {
		return err
	}
	patch := client.MergeFrom(sub.DeepCopy())
	controllerutil.RemoveFinalizer(sub, Finalizer)
	return r.Client.Patch(ctx, sub, patch)
}

// condition sets one status condition.
func condition(sub *appsv1.Subscription, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&sub.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: truncate(msg, 1024), ObservedGeneration: sub.Generation,
	})
}

// setReady sums the other conditions up into Ready.
func setReady(sub *appsv1.Subscription) {
	conds := sub.Status.Conditions
	if c := meta.FindStatusCondition(conds, appsv1.ConditionReady); c != nil && c.Reason == appsv1.ReasonPaused && sub.Labels[appsv1.LabelSubscriptionPause] == "true" {
		return
	}
	for _, typ := range []string{appsv1.ConditionSourceReady, appsv1.ConditionPlaced, appsv1.ConditionRendered, appsv1.ConditionApplied} {
		c := meta.FindStatusCondition(conds, typ)
		if c != nil && c.Status != metav1.ConditionTrue {
			condition(sub, appsv1.ConditionReady, false, c.Reason, c.Message)
			return
		}
	}
	if c := meta.FindStatusCondition(conds, appsv1.ConditionDrifted); c != nil && c.Status == metav1.ConditionTrue {
		condition(sub, appsv1.ConditionReady, false, c.Reason, c.Message)
		return
	}
	msg := "deployed"
	if c := meta.FindStatusCondition(conds, appsv1.ConditionApplied); c != nil {
		msg = c.Message
	}
	if sub.Status.LastAppliedRevision != "" {
		msg = fmt.Sprintf("revision %s %s", sub.Status.LastAppliedRevision, msg)
	}
	condition(sub, appsv1.ConditionReady, true, appsv1.ReasonSucceeded, msg)
}

// patchStatus replaces the whole status in one merge patch, so zero counts and
// emptied lists are written too.
func (r *SubscriptionReconciler) patchStatus(ctx context.Context, sub *appsv1.Subscription) error {
	data, err := json.Marshal(map[string]any{"status": sub.Status})
	if err != nil {
		return err
	}
	return r.Client.Status().Patch(ctx, sub, client.RawPatch(types.MergePatchType, data))
}

// statusChanged ignores the timestamps that change on every reconcile.
func statusChanged(a, b *appsv1.SubscriptionStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	x.LastUpdateTime, y.LastUpdateTime = nil, nil
	return !equalJSON(x, y)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// restMapperResource maps kinds to resources with the hub's discovery, which
// knows every built-in kind a managed cluster serves too.
func restMapperResource(m meta.RESTMapper) resourceMapper {
	return func(gvk schema.GroupVersionKind) (string, bool) {
		mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return "", false
		}
		return mapping.Resource.Resource, true
	}
}
