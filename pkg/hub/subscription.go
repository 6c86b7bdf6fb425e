package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/patch"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/reconcileopt"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/pkg/timewindow"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
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
	Recorder recorder.EventRecorder
	// WriteConcurrency bounds parallel ManifestWork writes.
	WriteConcurrency int
	// Clock tells the time for windows and rollout timers; the real clock
	// when nil.
	Clock clock.PassiveClock
	// DeletionBudgetPercent applies to Subscriptions that set no
	// spec.deletionBudgetPercent; DefaultDeletionBudgetPercent when nil.
	DeletionBudgetPercent *int32
	// Tenancy bounds what a namespace's Subscriptions reach.
	Tenancy tenancy.Options

	bundles  *bundleCache
	resource resourceMapper
	// written remembers the hub's ManifestWork writes until the cache
	// shows them.
	written *writes.Records
	// statusWrites remembers the Subscriptions this reconciler wrote, until
	// the cache shows them (patch.Latest).
	statusWrites *writes.Records
	// renderVersion names the renderer in input digests (rendererVersion).
	renderVersion string
	// statusBatch spaces the reconciles caused by works' status reports.
	statusBatch *statusBatcher
}

func (r *SubscriptionReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

func (r *SubscriptionReconciler) deletionBudget() int32 {
	if r.DeletionBudgetPercent == nil {
		return DefaultDeletionBudgetPercent
	}
	return *r.DeletionBudgetPercent
}

// Reconcile brings one Subscription's ManifestWorks and status up to date.
// Whatever way it ends, the deferred finish sums the conditions up and one
// patch writes the status and the hub's own annotations.
func (r *SubscriptionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	sub := &appsv1.Subscription{}
	if err := r.Client.Get(ctx, req.NamespacedName, sub); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sub = patch.Latest(r.statusWrites, sub, time.Now())
	patcher := patch.NewHelper(sub, r.Client, patch.Recording(r.statusWrites))
	before := sub.DeepCopy()
	// Read before the work starts: a request made while it runs is handled by
	// the next reconcile, which the request's own event queues.
	handled := r.requestedAt(ctx, sub)
	defer func() {
		if !handled.IsZero() {
			sub.Status.LastHandledReconcileAt = handled.UTC().Format(time.RFC3339Nano)
		}
		r.finish(before, sub)
		if err := patcher.Patch(ctx, sub); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	if !sub.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, sub)
	}
	if !controllerutil.ContainsFinalizer(sub, Finalizer) {
		// Written before any work exists, so that no work outlives its
		// Subscription.
		controllerutil.AddFinalizer(sub, Finalizer)
		if err := patcher.Patch(ctx, sub); err != nil {
			return ctrl.Result{}, err
		}
	}
	return r.reconcile(ctx, sub)
}

// finish completes the status a reconcile leaves in sub: the observed
// generation, Ready, the events of transitions since before, the update
// time when something changed, and the deployed-commit annotation.
func (r *SubscriptionReconciler) finish(before, sub *appsv1.Subscription) {
	sub.Status.ObservedGeneration = sub.Generation
	setReady(sub)
	r.recordTransitions(before, sub)
	if statusChanged(&before.Status, &sub.Status) {
		now := metav1.Now()
		sub.Status.LastUpdateTime = &now
	}
	recordCommit(sub)
}

// requestedAt is the newest "reconcile now" request on the Subscription or
// its Channel, recorded as handled when the reconcile ends (as Flux's
// lastHandledReconcileAt) so that 'ocm-gitops reconcile' knows when to stop
// waiting: the reconcile fetches with it (source.NotBefore) or says why not.
func (r *SubscriptionReconciler) requestedAt(ctx context.Context, sub *appsv1.Subscription) time.Time {
	latest := source.RequestedAt(sub)
	if key, err := sub.ChannelKey(); err == nil {
		ch := &appsv1.Channel{}
		if r.Client.Get(ctx, key, ch) == nil {
			if t := source.RequestedAt(ch); t.After(latest) {
				latest = t
			}
		}
	}
	return latest
}

// reconcile does the work and records the outcome in sub.Status; the error is
// for failures worth a retry with backoff.
func (r *SubscriptionReconciler) reconcile(ctx context.Context, sub *appsv1.Subscription) (ctrl.Result, error) {
	existing, err := r.existingWorks(ctx, sub)
	if err != nil {
		return ctrl.Result{}, err
	}
	o := outcome{existing: existing, revision: sub.Status.LastAppliedRevision}
	targets, err := tenancy.TargetsFor(ctx, r.Client, sub, r.Tenancy)
	if err != nil {
		reason := appsv1.ReasonPlacementNotFound
		if tenancy.IsDenied(err) {
			reason = appsv1.ReasonAccessDenied
		}
		condition(sub, appsv1.ConditionPlaced, false, reason, err.Error())
		o.holding = holdAll(deployedClusters(existing), "the placement cannot be read (see the Placed condition)")
		summarize(sub, o)
		return ctrl.Result{}, nil
	}
	if len(targets) == 0 {
		condition(sub, appsv1.ConditionPlaced, false, appsv1.ReasonNoClusters, "the placement selects no clusters")
	} else {
		condition(sub, appsv1.ConditionPlaced, true, appsv1.ReasonSucceeded, fmt.Sprintf("%d clusters selected", len(targets)))
	}
	o.targets, o.offline = targets, r.offlineClusters(ctx, targets)
	if r.statusBatch != nil {
		r.statusBatch.observe(client.ObjectKeyFromObject(sub), len(targets))
	}

	art, access, requeue, err := r.fetch(ctx, sub)
	if art == nil {
		// Nothing was ever fetched: leave whatever runs untouched.
		o.stale = "nothing could be fetched (see the SourceReady condition)"
		o.holding = holdAll(leaving(targets, existing), "nothing changes until the source can be read")
		summarize(sub, o)
		return ctrl.Result{RequeueAfter: requeue}, err
	}
	sub.Status.LastAttemptedRevision = art.Revision

	desired, err := r.renderAll(ctx, sub, art, access, targets, existing)
	if err != nil {
		// A broken commit must not wipe a fleet: keep the last good works.
		condition(sub, appsv1.ConditionRendered, false, appsv1.ReasonRenderFailed, err.Error())
		o.stale = source.ShortRevision(art.Revision) + " fails to render (see the Rendered condition)"
		o.holding = holdAll(leaving(targets, existing), "nothing changes until the Subscription renders again")
		summarize(sub, o)
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	condition(sub, appsv1.ConditionRendered, true, appsv1.ReasonSucceeded, "rendered revision "+art.Revision)
	return r.deploy(ctx, sub, art, desired, o, requeue)
}

// deploy gates and writes the rendered content and reports the outcome.
func (r *SubscriptionReconciler) deploy(ctx context.Context, sub *appsv1.Subscription, art *source.Artifact, desired map[string]*want, o outcome, requeue time.Duration) (ctrl.Result, error) {
	if held, retry, err := r.holdForRollback(ctx, sub, art.Revision, o.targets, o.existing, desired); held {
		return r.held(sub, o, soonest(requeue, retry), err)
	}
	clusters := rolloutClusters(o.targets, o.existing, desired, sub.Spec.WaitsForHealth())
	g := r.gate(sub, clusters, o.targets, o.existing, art.Revision)
	for _, c := range g.Conditions {
		condition(sub, c.Type, c.Status == metav1.ConditionTrue, c.Reason, c.Message)
	}
	sub.Status.NextWindow = g.NextWindow
	if g.Rollout != nil {
		sub.Status.Rollout = g.Rollout
	}
	if r.rollsBack(sub, g.Failing, o.existing) {
		// Nothing of this plan is sent: the failed content is undone first.
		_, retry, err := r.holdForRollback(ctx, sub, art.Revision, o.targets, o.existing, desired)
		return r.held(sub, o, soonest(requeue, retry), err)
	}

	send := make(map[string]*want, len(g.Send))
	for _, c := range g.Send {
		send[c] = desired[c]
	}
	if err := r.syncWorks(ctx, sub, art.Revision, send, o.existing, g.Remove); err != nil {
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonWorkWriteFailed, err.Error())
		sub.Status.Phase, sub.Status.Reason, sub.Status.Message = appsv1.SubscriptionPropagationFailed, appsv1.ReasonWorkWriteFailed, err.Error()
		return ctrl.Result{}, err
	}

	// Clusters that hold the desired content or were just sent it are judged
	// against it; the others are Pending, for the reason gate gave.
	o.hashes = map[string]string{}
	for _, c := range clusters {
		if c.Current || send[c.Name] != nil {
			o.hashes[c.Name] = desired[c.Name].hash
		}
	}
	if len(o.hashes) > 0 || len(o.targets) == 0 {
		sub.Status.LastAppliedRevision = art.Revision
	}
	sub.Status.Phase, sub.Status.Reason, sub.Status.Message = appsv1.SubscriptionPropagated, "", ""
	o.revision, o.waiting = sub.Status.LastAppliedRevision, g.Held
	o.holding = holdAll(slices.DeleteFunc(leaving(o.targets, o.existing), func(c string) bool { return slices.Contains(g.Remove, c) }), g.RemovalWait)
	summarize(sub, o)
	return ctrl.Result{RequeueAfter: soonest(requeue, g.RequeueAfter)}, r.markHeld(ctx, o.existing, o.holding)
}

// held reports on a Subscription a rollback holds: each cluster is judged
// by the content it holds, and removals wait too.
func (r *SubscriptionReconciler) held(sub *appsv1.Subscription, o outcome, requeue time.Duration, err error) (ctrl.Result, error) {
	o.revision = sub.Status.LastAppliedRevision
	o.holding = holdAll(leaving(o.targets, o.existing), "the rollback of "+source.ShortRevision(sub.Status.Rollback.Revision)+" holds the Subscription")
	summarize(sub, o)
	return ctrl.Result{RequeueAfter: requeue}, err
}

// holdAll maps each cluster to why the removal of its objects waits.
func holdAll(clusters []string, why string) map[string]string {
	out := make(map[string]string, len(clusters))
	for _, c := range clusters {
		out[c] = why
	}
	return out
}

// gate gathers the pause label, the time windows, the rollout plan and the
// deletion budget, and composes them (see the gate function).
func (r *SubscriptionReconciler) gate(sub *appsv1.Subscription, clusters []rollout.Cluster, targets []placement.Target, existing map[string][]*workv1.ManifestWork, revision string) gateResult {
	now := r.now()
	in := gateInput{Now: now, Paused: paused(sub), Selected: len(targets)}
	in.Window, in.WindowErr = timewindow.Evaluate(sub.Spec.TimeWindow, sub.Spec.MaintenanceWindows, now)
	in.Rollout, in.RolloutErr = rollout.Plan(rollout.Input{
		Strategy: sub.Spec.RolloutStrategy, Clusters: clusters, Revision: revision, Now: now,
		Paused: in.Paused, Previous: sub.Status.Rollout,
	})
	in.Leaving = leaving(targets, existing)
	in.Budget = rollout.CheckBudget(rollout.Removal{
		Deployed: len(deployedClusters(existing)), Clusters: destructive(in.Leaving, existing), Revision: removalByPlacement,
		BudgetPercent: budgetPercent(sub, r.deletionBudget()), Confirmation: sub.Annotations[appsv1.AnnotationConfirmDeletion],
	})
	return gate(in)
}

// fetch returns the artifact to deploy: a fresh one, or the last good one when
// the source fails. Conditions say which.
// The Access lets the render reach chart dependencies with the Channel's
// credentials.
func (r *SubscriptionReconciler) fetch(ctx context.Context, sub *appsv1.Subscription) (*source.Artifact, render.Access, time.Duration, error) {
	channel, err := r.channelFor(ctx, sub)
	if err != nil {
		reason := appsv1.ReasonChannelNotFound
		var denied accessDeniedError
		if errors.As(err, &denied) {
			reason = appsv1.ReasonAccessDenied
		}
		condition(sub, appsv1.ConditionSourceReady, false, reason, err.Error())
		return nil, render.Access{}, retryAfterSourceError, nil
	}
	interval := source.PollInterval(channel, sub)
	creds, err := source.CredentialsFor(ctx, r.Client, channel)
	if err != nil {
		condition(sub, appsv1.ConditionSourceReady, false, appsv1.ReasonAuthFailed, err.Error())
		return nil, render.Access{}, retryAfterSourceError, nil
	}
	// A webhook or "reconcile now" request forces a fetch; otherwise the poll
	// interval decides how old a check may be.
	req := source.Request{Channel: channel, Ref: source.RefFor(sub), Credentials: creds, NotBefore: source.NotBefore(channel, sub, time.Now())}
	art, err := r.Store.Fetch(ctx, req)
	if err != nil {
		last := r.Store.Cached(req)
		msg := err.Error()
		if last != nil {
			msg += "; still deploying the last good revision " + last.Revision
		}
		condition(sub, appsv1.ConditionSourceReady, false, source.Reason(err), msg)
		retry := source.RetryAfter(err)
		if retry <= 0 {
			retry = retryAfterSourceError
		}
		return last, render.AccessFor(channel, creds), retry, nil
	}
	condition(sub, appsv1.ConditionSourceReady, true, appsv1.ReasonSucceeded, "fetched revision "+art.Revision)
	return art, render.AccessFor(channel, creds), interval, nil
}

type accessDeniedError struct{ error }

// channelFor finds the Subscription's Channel and checks the Subscription may use it.
func (r *SubscriptionReconciler) channelFor(ctx context.Context, sub *appsv1.Subscription) (*appsv1.Channel, error) {
	key, err := sub.ChannelKey()
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
	if err := tenancy.ChannelAllowed(ch, sub.Namespace, r.Tenancy); err != nil {
		return nil, accessDeniedError{err}
	}
	return ch, nil
}

// renderAll renders for every target and encodes each distinct output once.
// Clusters whose render cannot differ (render.ClusterIndependent) share one
// Render call and one input digest, so a reconcile costs a map lookup per
// cluster, not a render key. A cluster's delete option also depends on the
// one its works carry now (see reconcileopt.DeleteOption), so it is worked
// out once per output and previous option.
func (r *SubscriptionReconciler) renderAll(ctx context.Context, sub *appsv1.Subscription, art *source.Artifact, access render.Access, targets []placement.Target, existing map[string][]*workv1.ManifestWork) (map[string]*want, error) {
	bundles := map[optionKey]*bundle{}
	var shared *render.Output
	var sharedInputs string
	out := make(map[string]*want, len(targets))
	for _, t := range targets {
		c := render.Cluster{Name: t.Cluster, Labels: t.Labels, Claims: t.Claims}
		o, inputs := shared, sharedInputs
		if independent := render.ClusterIndependent(sub, c); o == nil || !independent {
			var err error
			if o, err = r.render(ctx, sub, art, access, c, independent); err != nil {
				return nil, err
			}
			if independent {
				shared, sharedInputs = o, inputDigest(r.renderVersion, sub, art, nil)
				inputs = sharedInputs
			} else {
				inputs = inputDigest(r.renderVersion, sub, art, &c)
			}
		}
		b, err := r.bundleFor(sub, o, existing[t.Cluster], bundles)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", t.Cluster, err)
		}
		out[t.Cluster] = newWant(b, inputs, live(existing[t.Cluster]))
	}
	return out, nil
}

// render renders sub for one cluster; the error names the cluster only when
// the render depends on it.
func (r *SubscriptionReconciler) render(ctx context.Context, sub *appsv1.Subscription, art *source.Artifact, access render.Access, c render.Cluster, independent bool) (*render.Output, error) {
	where := ""
	if !independent {
		where = "cluster " + c.Name + ": "
	}
	o, err := r.Renderer.RenderWith(ctx, art, sub, c, access)
	if err != nil {
		return nil, err // a render error names the cluster when it depends on it
	}
	if len(o.Objects) == 0 {
		// Most often a wrong path or a botched commit; removing an app is
		// done through the placement or by deleting the Subscription.
		return nil, fmt.Errorf("%sthe package at %q renders no objects; nothing was changed on the clusters (to remove the app, change the placement or delete the Subscription)", where, source.SubscriptionPath(sub))
	}
	return o, nil
}

// optionKey is an output with the delete option the works carry now.
type optionKey struct {
	output   *render.Output
	previous string
}

// bundleFor encodes an output with the delete option a cluster holding works
// gets, once per output and previous option (memo).
func (r *SubscriptionReconciler) bundleFor(sub *appsv1.Subscription, o *render.Output, works []*workv1.ManifestWork, memo map[optionKey]*bundle) (*bundle, error) {
	previous := currentDeleteOption(works)
	key := optionKey{output: o}
	if previous != nil {
		prevKey, _ := json.Marshal(previous)
		key.previous = string(prevKey)
	}
	if b, ok := memo[key]; ok {
		return b, nil
	}
	namespaces := undeclaredNamespaces(o.Objects)
	spec := orphanNamespaces(sub.Spec.DeleteOption, namespaces)
	opt, err := reconcileopt.DeleteOption(spec, withNamespaces(o.Objects, namespaces), reconcileopt.ResourceFunc(r.resource), previous)
	if err != nil {
		return nil, err
	}
	settings := settingsOf(sub)
	settings.DeleteOption = opt
	b, err := r.bundles.get(o, settings, r.resource)
	if err != nil {
		return nil, err
	}
	memo[key] = b
	return b, nil
}

// currentDeleteOption is the delete option a cluster's works carry now.
func currentDeleteOption(works []*workv1.ManifestWork) *workv1.DeleteOption {
	for _, w := range works {
		if w.DeletionTimestamp == nil {
			return w.Spec.DeleteOption
		}
	}
	return nil
}

// existingWorks returns the Subscription's ManifestWorks by cluster, as the
// cache holds them: shared, not copies, so read-only.
func (r *SubscriptionReconciler) existingWorks(ctx context.Context, sub *appsv1.Subscription) (map[string][]*workv1.ManifestWork, error) {
	owner := sub.Namespace + "/" + sub.Name
	var list workv1.ManifestWorkList
	if err := r.Client.List(ctx, &list, client.MatchingFields{indexHostingSubscription: owner}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list ManifestWorks: %w", err)
	}
	out := map[string][]*workv1.ManifestWork{}
	for i := range list.Items {
		w := &list.Items[i]
		out[w.Namespace] = append(out[w.Namespace], w)
	}
	return out, nil
}

// offlineClusters names the targets whose agents stopped reporting.
func (r *SubscriptionReconciler) offlineClusters(ctx context.Context, targets []placement.Target) map[string]bool {
	out := map[string]bool{}
	for _, t := range targets {
		mc := &clusterv1.ManagedCluster{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: t.Cluster}, mc, client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c != nil && c.Status != metav1.ConditionTrue {
			out[t.Cluster] = true
		}
	}
	return out
}

// outcome is what a reconcile found, for the status.
type outcome struct {
	targets  []placement.Target
	existing map[string][]*workv1.ManifestWork
	offline  map[string]bool
	// hashes is the content each selected cluster should hold now; a
	// cluster missing from it waits, for the reason waiting gives. It is nil
	// when the latest cannot be deployed (nothing fetched, or the render
	// failed): stale then says why, and each cluster is judged by the content
	// it holds.
	hashes  map[string]string
	waiting string
	stale   string
	// holding names the clusters leaving the placement whose removal waits,
	// with why.
	holding map[string]string
	// revision is the revision deployed.
	revision string
}

// summarize fills the status summary, cluster list and Applied/Drifted
// conditions.
func summarize(sub *appsv1.Subscription, o outcome) {
	views := make([]clusterView, 0, len(o.targets)+len(o.holding))
	for _, t := range o.targets {
		v := clusterView{name: t.Cluster, works: o.existing[t.Cluster], offline: o.offline[t.Cluster], waiting: o.waiting, stale: o.stale}
		if o.hashes != nil {
			v.desiredHash = o.hashes[t.Cluster]
		} else if len(v.works) > 0 {
			v.desiredHash = v.works[0].Annotations[appsv1.AnnotationContentHash]
		}
		views = append(views, v)
	}
	for _, c := range slices.Sorted(maps.Keys(o.holding)) {
		views = append(views, clusterView{name: c, works: o.existing[c], leaving: true, waiting: o.holding[c]})
	}
	t := aggregate(views, o.revision)
	sum, clusters := t.sum, t.clusters
	sub.Status.Summary, sub.Status.Clusters, sub.Status.ClustersTruncated = sum, clusters, t.truncated
	appliedCondition(sub, t)
	healthyCondition(sub, sum, clusters)
	overridesCondition(sub, t)
	if sum.Drifted > 0 {
		condition(sub, appsv1.ConditionDrifted, true, appsv1.ReasonDriftDetected, fmt.Sprintf("drift on %d/%d clusters: %s", sum.Drifted, sum.Selected, firstMessage(clusters, appsv1.ClusterDrifted)))
	} else {
		condition(sub, appsv1.ConditionDrifted, false, appsv1.ReasonNoDrift, "no drift reported")
	}
}

// appliedCondition sets Applied: every selected cluster applied the content
// it should hold, healthy or not (Healthy says how it does).
func appliedCondition(sub *appsv1.Subscription, t tally) {
	sum, clusters := t.sum, t.clusters
	switch {
	case sum.Selected == 0:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonNoClusters, "no clusters selected")
	case sum.Failed > 0:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonApplyFailed, fmt.Sprintf("apply failed on %d/%d clusters: %s", sum.Failed, sum.Selected, firstMessage(clusters, appsv1.ClusterFailed)))
	case sum.Stale > 0:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonStale, fmt.Sprintf("stale on %d/%d clusters: %s", sum.Stale, sum.Selected, firstMessage(clusters, appsv1.ClusterStale)))
	case t.applied == sum.Selected:
		condition(sub, appsv1.ConditionApplied, true, appsv1.ReasonSucceeded, fmt.Sprintf("applied on %d/%d clusters", t.applied, sum.Selected))
	default:
		condition(sub, appsv1.ConditionApplied, false, appsv1.ReasonProgressing, fmt.Sprintf("rolling out: %d/%d applied", t.applied, sum.Selected))
	}
}

// healthyCondition sets Healthy: "healthy on 38/40 clusters, 2
// progressing", naming the first degraded or progressing cluster and why.
func healthyCondition(sub *appsv1.Subscription, sum appsv1.ClusterSummary, clusters []appsv1.ClusterStatus) {
	msg := fmt.Sprintf("healthy on %d/%d clusters", sum.Healthy, sum.Selected)
	switch {
	case sum.Selected == 0:
		condition(sub, appsv1.ConditionHealthy, false, appsv1.ReasonNoClusters, "no clusters selected")
	case sum.Degraded > 0:
		condition(sub, appsv1.ConditionHealthy, false, appsv1.ReasonDegraded, fmt.Sprintf("degraded on %d/%d clusters: %s; %s", sum.Degraded, sum.Selected, firstMessage(clusters, appsv1.ClusterDegraded), msg))
	case sum.Healthy == sum.Selected:
		condition(sub, appsv1.ConditionHealthy, true, appsv1.ReasonSucceeded, msg)
	default:
		for _, n := range []struct {
			count int32
			what  string
		}{{sum.Progressing, "progressing"}, {sum.Pending, "pending"}, {sum.Failed, "failed"}, {sum.Stale, "stale"}, {sum.Offline, "offline"}} {
			if n.count > 0 {
				msg += fmt.Sprintf(", %d %s", n.count, n.what)
			}
		}
		if i := slices.IndexFunc(clusters, func(c appsv1.ClusterStatus) bool { return c.Health != appsv1.HealthHealthy }); i >= 0 {
			msg += "; " + clusters[i].Name + ": " + clusters[i].Message
		}
		condition(sub, appsv1.ConditionHealthy, false, appsv1.ReasonProgressing, msg)
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
func recordCommit(sub *appsv1.Subscription) {
	commit, ok := source.CommitOf(sub.Status.LastAppliedRevision)
	if !ok || sub.Annotations[appsv1.AnnotationGitCurrentCommit] == commit {
		return
	}
	if sub.Annotations == nil {
		sub.Annotations = map[string]string{}
	}
	sub.Annotations[appsv1.AnnotationGitCurrentCommit] = commit
}

// finalize deletes every ManifestWork of a deleted Subscription; the agents then
// remove what the works applied (or orphan it, per spec.deleteOption). Taking
// the objects off more clusters than the deletion budget allows waits for
// confirmation; orphaning removes nothing and does not wait. Neither the pause
// label nor a time window holds a deletion: deleting is explicit.
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
		works = append(works, live(ws)...)
	}
	if orphans(sub.Spec.DeleteOption) {
		// Works written before spec.deleteOption changed still say otherwise.
		if err := r.orphanWorks(ctx, works); err != nil {
			return err
		}
	} else {
		deployed := deployedClusters(existing)
		d := rollout.CheckBudget(rollout.Removal{
			Deployed: len(deployed), Clusters: destructive(deployed, existing), Revision: removalByDeletion,
			BudgetPercent: budgetPercent(sub, r.deletionBudget()), Confirmation: sub.Annotations[appsv1.AnnotationConfirmDeletion],
		})
		if d.Hold {
			condition(sub, appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld, "the Subscription is being deleted: "+d.Message)
			holding := holdAll(deployed, "the Subscription is being deleted and the deletion budget holds it (see the DeletionHeld condition)")
			summarize(sub, outcome{existing: existing, revision: sub.Status.LastAppliedRevision, holding: holding})
			return r.markHeld(ctx, existing, holding)
		}
	}
	if err := r.deleteWorks(ctx, works); err != nil {
		return err
	}
	controllerutil.RemoveFinalizer(sub, Finalizer)
	return nil
}

// orphans reports a delete option that leaves every object in place.
func orphans(opt *workv1.DeleteOption) bool {
	return opt != nil && opt.PropagationPolicy == workv1.DeletePropagationPolicyTypeOrphan
}

// orphanWorks switches works to orphan their objects before they are deleted,
// touching only spec.deleteOption.
func (r *SubscriptionReconciler) orphanWorks(ctx context.Context, works []*workv1.ManifestWork) error {
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"deleteOption":{"propagationPolicy":"Orphan","selectivelyOrphans":null}}}`))
	var errs []error
	for _, w := range works {
		if orphans(w.Spec.DeleteOption) {
			continue
		}
		// Patch into a stub: w is the cache's own copy.
		stub := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name}}
		if err := r.Client.Patch(ctx, stub, patch); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("set ManifestWork %s/%s to orphan its objects: %w", w.Namespace, w.Name, err))
		}
	}
	return errors.Join(errs...)
}

// recordTransitions sends an event when the source cannot be read (a missing
// or forbidden Channel, a failed fetch) or recovers, a revision fails to
// render, drift appears or is corrected, a removal starts waiting for
// confirmation, a rollout stops on failures, a workload becomes degraded or
// recovers, an automatic rollback starts or ends, or this Subscription starts
// or stops overriding others' objects: once per transition,
// not once per reconcile.
func (r *SubscriptionReconciler) recordTransitions(before, after *appsv1.Subscription) {
	for _, ev := range transitions(&before.Status, &after.Status) {
		r.event(after, ev.typ, ev.reason, ev.action, ev.msg)
	}
}

// transitionEvent is an event recordTransitions sends.
type transitionEvent struct{ typ, reason, action, msg string }

// transitions lists the events of the changes from before to after.
func transitions(before, after *appsv1.SubscriptionStatus) []transitionEvent {
	var out []transitionEvent
	for _, f := range []func(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool){
		sourceEvent, renderEvent, driftEvent, heldEvent, rolloutEvent, healthEvent, rollbackEvent, overridesEvent,
	} {
		if ev, ok := f(before, after); ok {
			out = append(out, ev)
		}
	}
	return out
}

func sourceEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	c := meta.FindStatusCondition(after.Conditions, appsv1.ConditionSourceReady)
	old := meta.FindStatusCondition(before.Conditions, appsv1.ConditionSourceReady)
	switch {
	case c == nil:
	case c.Status == metav1.ConditionFalse && (old == nil || old.Status != c.Status || old.Reason != c.Reason):
		return transitionEvent{corev1.EventTypeWarning, c.Reason, actionFetch, c.Message}, true
	case c.Status == metav1.ConditionTrue && old != nil && old.Status == metav1.ConditionFalse:
		return transitionEvent{corev1.EventTypeNormal, "SourceRecovered", actionFetch, c.Message}, true
	}
	return transitionEvent{}, false
}

func renderEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	c := meta.FindStatusCondition(after.Conditions, appsv1.ConditionRendered)
	if c == nil || c.Status != metav1.ConditionFalse {
		return transitionEvent{}, false
	}
	if old := meta.FindStatusCondition(before.Conditions, appsv1.ConditionRendered); old != nil && old.Status == c.Status && old.Message == c.Message {
		return transitionEvent{}, false
	}
	return transitionEvent{corev1.EventTypeWarning, c.Reason, actionRender, "revision " + after.LastAttemptedRevision + ": " + c.Message}, true
}

func driftEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	wasDrifted := meta.IsStatusConditionTrue(before.Conditions, appsv1.ConditionDrifted)
	c := meta.FindStatusCondition(after.Conditions, appsv1.ConditionDrifted)
	switch {
	case c == nil:
	case c.Status == metav1.ConditionTrue && !wasDrifted:
		return transitionEvent{corev1.EventTypeWarning, appsv1.ReasonDriftDetected, actionApply, c.Message}, true
	case c.Status == metav1.ConditionFalse && wasDrifted:
		return transitionEvent{corev1.EventTypeNormal, "DriftCorrected", actionApply, "no cluster reports drift any more"}, true
	}
	return transitionEvent{}, false
}

// overridesEvent: the Overrides warning appears, or clears. Its message
// changes as a rollout reaches more clusters; that is no new event.
func overridesEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	c := meta.FindStatusCondition(after.Conditions, appsv1.ConditionOverrides)
	old := meta.FindStatusCondition(before.Conditions, appsv1.ConditionOverrides)
	switch {
	case c != nil && c.Status == metav1.ConditionTrue && (old == nil || old.Status != c.Status):
		return transitionEvent{corev1.EventTypeWarning, c.Reason, actionApply, c.Message}, true
	case (c == nil || c.Status != metav1.ConditionTrue) && old != nil && old.Status == metav1.ConditionTrue:
		return transitionEvent{corev1.EventTypeNormal, "OverridesCleared", actionApply, "no other Subscription applies an object of this one with other content any more"}, true
	}
	return transitionEvent{}, false
}

func heldEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	c := meta.FindStatusCondition(after.Conditions, appsv1.ConditionDeletionHeld)
	if c == nil || c.Status != metav1.ConditionTrue || meta.IsStatusConditionTrue(before.Conditions, appsv1.ConditionDeletionHeld) {
		return transitionEvent{}, false
	}
	return transitionEvent{corev1.EventTypeWarning, appsv1.ReasonDeletionHeld, actionRemove, c.Message}, true
}

func rolloutEvent(before, after *appsv1.SubscriptionStatus) (transitionEvent, bool) {
	ro, old := after.Rollout, before.Rollout
	if ro == nil || ro.Phase != appsv1.RolloutFailed || (old != nil && old.Phase == appsv1.RolloutFailed && old.Revision == ro.Revision) {
		return transitionEvent{}, false
	}
	return transitionEvent{corev1.EventTypeWarning, appsv1.ReasonRolloutFailed, actionRollout, ro.Message}, true
}

// Actions of the hub's events (events.k8s.io asks what the controller was doing).
const (
	actionFetch   = "Fetch"
	actionRender  = "Render"
	actionApply   = "Apply"
	actionRemove  = "Remove"
	actionRollout = "Rollout"
)

// maxEventNote is the events.k8s.io limit on an event's note.
const maxEventNote = 1024

// event records an event about sub; the note is msg, cut to what the API takes.
func (r *SubscriptionReconciler) event(sub *appsv1.Subscription, typ, reason, action, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(sub, nil, typ, reason, action, "%s", truncate(msg, maxEventNote))
	}
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

// setReady sums the other conditions up into Ready. What stops the
// Subscription is named first: the pause label, the source, a held removal,
// the placement, the render, a failed rollout; then why clusters are not
// applied yet (a failure, or a closed window), then drift.
func setReady(sub *appsv1.Subscription) {
	if reason, msg, stopped := stopped(sub); stopped {
		condition(sub, appsv1.ConditionReady, false, reason, msg)
		return
	}
	if reason, msg, waiting := notApplied(sub.Status.Conditions, sub.Spec.WaitsForHealth()); waiting {
		condition(sub, appsv1.ConditionReady, false, reason, msg)
		return
	}
	msg := "deployed"
	if c := meta.FindStatusCondition(sub.Status.Conditions, appsv1.ConditionApplied); c != nil {
		msg = c.Message
	}
	if c := meta.FindStatusCondition(sub.Status.Conditions, appsv1.ConditionHealthy); c != nil && sub.Spec.WaitsForHealth() {
		msg = c.Message
	}
	if sub.Status.LastAppliedRevision != "" {
		msg = fmt.Sprintf("revision %s %s", sub.Status.LastAppliedRevision, msg)
	}
	// Still Ready (the app runs as written), but not silently so.
	if c := meta.FindStatusCondition(sub.Status.Conditions, appsv1.ConditionOverrides); c != nil && c.Status == metav1.ConditionTrue {
		msg += "; " + c.Message
	}
	condition(sub, appsv1.ConditionReady, true, appsv1.ReasonSucceeded, msg)
}

// stopped names what keeps the Subscription from deploying at all.
func stopped(sub *appsv1.Subscription) (reason, msg string, ok bool) {
	conds := sub.Status.Conditions
	if paused(sub) {
		return appsv1.ReasonPaused, "the " + appsv1.LabelSubscriptionPause + " label is set; nothing new is sent and nothing is removed", true
	}
	if rb := sub.Status.Rollback; rb != nil {
		return rollbackReason(rb), rollbackMessage(rb), true
	}
	if c := meta.FindStatusCondition(conds, appsv1.ConditionSourceReady); c != nil && c.Status != metav1.ConditionTrue {
		return c.Reason, c.Message, true
	}
	// A held removal before the placement: a placement selecting no cluster
	// is what a held removal of every cluster looks like.
	if c := meta.FindStatusCondition(conds, appsv1.ConditionDeletionHeld); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason, c.Message, true
	}
	for _, typ := range []string{appsv1.ConditionPlaced, appsv1.ConditionRendered} {
		if c := meta.FindStatusCondition(conds, typ); c != nil && c.Status != metav1.ConditionTrue {
			return c.Reason, c.Message, true
		}
	}
	for _, typ := range []string{appsv1.ConditionWindowOpen, appsv1.ConditionRolloutProgressing} {
		if c := meta.FindStatusCondition(conds, typ); c != nil && c.Reason == appsv1.ReasonInvalidSpec {
			return c.Reason, c.Message, true
		}
	}
	if ro := sub.Status.Rollout; ro != nil && ro.Phase == appsv1.RolloutFailed {
		return appsv1.ReasonRolloutFailed, ro.Message, true
	}
	return "", "", false
}

// notApplied says why the clusters do not all hold the deployed revision as
// applied (and, with waitForHealth, healthy): a failure, a closed window,
// progress; or drift.
func notApplied(conds []metav1.Condition, waitForHealth bool) (reason, msg string, ok bool) {
	if c := meta.FindStatusCondition(conds, appsv1.ConditionApplied); c != nil && c.Status != metav1.ConditionTrue {
		if w := meta.FindStatusCondition(conds, appsv1.ConditionWindowOpen); w != nil && w.Status != metav1.ConditionTrue && c.Reason != appsv1.ReasonApplyFailed {
			return w.Reason, w.Message, true
		}
		return c.Reason, c.Message, true
	}
	if c := meta.FindStatusCondition(conds, appsv1.ConditionHealthy); waitForHealth && c != nil && c.Status != metav1.ConditionTrue {
		return c.Reason, c.Message, true
	}
	if c := meta.FindStatusCondition(conds, appsv1.ConditionDrifted); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason, c.Message, true
	}
	return "", "", false
}

// statusChanged ignores the timestamps that change on every reconcile.
func statusChanged(a, b *appsv1.SubscriptionStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	x.LastUpdateTime, y.LastUpdateTime = nil, nil
	return !equalJSON(x, y)
}

// truncate bounds a message to n bytes, ending at a word with "…" when it
// must shorten it: never in the middle of a word or of a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[:n-len("…")]
	if i := strings.LastIndexAny(cut, " \n\t"); i > 0 {
		cut = cut[:i]
	}
	return strings.ToValidUTF8(cut, "") + "…"
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
