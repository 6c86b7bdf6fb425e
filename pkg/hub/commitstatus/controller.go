// Package commitstatus reports each Subscription's rollout and drift back to
// its Git forge, as commit statuses on the commit it deployed.
//
// It is a controller of its own, with its own queue, watching Subscription
// status (written by the subscription controller) and Channels: a slow or
// failing forge delays only statuses, never reconciliation. Statuses are
// posted only when they change, remembered in memory and, as a digest, in an
// annotation on the Subscription so a restarted hub does not post them again.
// Failed posts are retried with exponential backoff (and after the wait a
// rate-limited forge asks for).
package commitstatus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
)

// AnnotationPosted on a Subscription is a digest of the statuses last posted
// for it in full.
const AnnotationPosted = "apps.open-cluster-management.io/commit-status-posted"

// ControllerName is the controller's name in logs and metrics.
const ControllerName = "commitstatus"

// Event reasons.
const (
	ReasonPostFailed    = "CommitStatusFailed"
	ReasonMisconfigured = "CommitStatusMisconfigured"
)

// Defaults for Options.
const (
	DefaultBackoffBase      = 5 * time.Second
	DefaultBackoffMax       = 10 * time.Minute
	DefaultProgressInterval = 30 * time.Second
	DefaultMaxPerCluster    = 100
	// maxRateLimitWait caps how long a forge's rate-limit reset is honoured.
	maxRateLimitWait = time.Hour
	// postTimeout bounds one reconcile's posting.
	postTimeout = 2 * time.Minute
)

// Options configure the controller. Zero values mean the defaults.
type Options struct {
	// HTTPClient talks to the forges; one with gitprovider.DefaultTimeout when nil.
	HTTPClient *http.Client
	// Clock drives backoff and throttling.
	Clock clock.PassiveClock
	// HubID is added to every context after the Channel's prefix, so hubs
	// sharing a prefix and a repository do not overwrite each other.
	HubID string
	// BackoffBase and BackoffMax bound the exponential retry delay; requests
	// the forge refused for good (bad token, no such repository) are retried
	// after BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ProgressInterval is the least time between two posts of the same state
	// under one context that differ only in their description ("12/40" then
	// "13/40"); state changes are posted at once.
	ProgressInterval time.Duration
	// MaxPerCluster bounds per-cluster statuses per commit.
	MaxPerCluster int
	// TargetURL, when set, gives the link of a Subscription's statuses.
	TargetURL func(sub *appsv1.Subscription) string
	// MaxConcurrentReconciles is 2 when unset.
	MaxConcurrentReconciles int
	// Tenancy says which Subscriptions a Channel serves, and so posts for.
	Tenancy tenancy.Options
}

func (o *Options) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: gitprovider.DefaultTimeout}
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.MaxPerCluster <= 0 {
		o.MaxPerCluster = DefaultMaxPerCluster
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 2
	}
}

// Reconciler posts one Subscription's commit statuses.
type Reconciler struct {
	client   client.Client
	secrets  client.Reader
	recorder recorder.EventRecorder
	opts     Options

	mu      sync.Mutex
	records map[types.NamespacedName]*record
}

// SetupWithManager registers the controller; the manager must have the
// index.SubscriptionChannel index (hub.Run registers it). Secrets are read
// straight from the API server when a status is to be posted, so the hub
// never caches every Secret.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	opts.defaults()
	r := &Reconciler{
		client:   mgr.GetClient(),
		secrets:  mgr.GetAPIReader(),
		recorder: mgr.GetEventRecorder("ocm-gitops-commitstatus"),
		opts:     opts,
		records:  map[types.NamespacedName]*record{},
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&appsv1.Subscription{}, builder.WithPredicates(statusChanged())).
		Watches(&appsv1.Channel{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var subs appsv1.SubscriptionList
			if err := c.List(ctx, &subs, client.MatchingFields{index.SubscriptionChannel: o.GetNamespace() + "/" + o.GetName()}); err != nil {
				return nil
			}
			out := make([]reconcile.Request, 0, len(subs.Items))
			for _, s := range subs.Items {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
			}
			return out
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}

// statusChanged passes Subscription updates that can change a status: the
// status itself (bar its timestamp), the spec, the deployed-commit
// annotation, the pause label, deletion.
func statusChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			a, okA := e.ObjectOld.(*appsv1.Subscription)
			b, okB := e.ObjectNew.(*appsv1.Subscription)
			if !okA || !okB {
				return true
			}
			x, y := &a.Status, &b.Status
			return a.Generation != b.Generation || !b.DeletionTimestamp.IsZero() ||
				a.Annotations[appsv1.AnnotationGitCurrentCommit] != b.Annotations[appsv1.AnnotationGitCurrentCommit] ||
				a.Labels[appsv1.LabelSubscriptionPause] != b.Labels[appsv1.LabelSubscriptionPause] ||
				x.ObservedGeneration != y.ObservedGeneration ||
				x.LastAppliedRevision != y.LastAppliedRevision || x.LastAttemptedRevision != y.LastAttemptedRevision ||
				x.Summary != y.Summary || x.ClustersTruncated != y.ClustersTruncated ||
				!reflect.DeepEqual(x.Clusters, y.Clusters) || !reflect.DeepEqual(x.Rollout, y.Rollout) ||
				!conditionsEqual(x.Conditions, y.Conditions)
		},
	}
}

// conditionsEqual ignores transition times.
func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason || a[i].Message != b[i].Message {
			return false
		}
	}
	return true
}

// Reconcile posts what changed in one Subscription's statuses.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	sub := &appsv1.Subscription{}
	if err := r.client.Get(ctx, req.NamespacedName, sub); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !sub.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if sub.Status.ObservedGeneration < sub.Generation {
		return ctrl.Result{}, nil // the subscription controller has not caught up; its status update brings us back
	}
	ch, err := r.channel(ctx, sub)
	if err != nil {
		return ctrl.Result{}, err
	}
	if ch == nil {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	spec := ch.Spec.CommitStatus
	settings := Settings{
		Prefix: spec.ContextPrefix, HubID: r.opts.HubID, PerCluster: spec.PerCluster, MaxPerCluster: r.opts.MaxPerCluster,
	}
	if r.opts.TargetURL != nil {
		settings.TargetURL = r.opts.TargetURL(sub)
	}
	config := strings.Join([]string{string(spec.Provider), spec.APIURL, spec.Repository, ch.Spec.Pathname, Context(settings, "", "")}, "\x00")
	rec := r.record(req.NamespacedName, config)

	_, deployed, _ := DeployedCommit(sub)
	desired := Desired(sub, settings, rec.postedClusters(deployed))
	if len(desired) == 0 {
		return ctrl.Result{}, nil
	}
	digest := setDigest(config, desired)
	if !rec.seeded {
		rec.seeded = true
		if sub.Annotations[AnnotationPosted] == digest {
			rec.seed(desired)
		}
	}
	now := r.opts.Clock.Now()
	if now.Before(rec.retryAt) {
		return ctrl.Result{RequeueAfter: rec.retryAt.Sub(now)}, nil
	}
	post, wait := rec.plan(desired, now, r.opts.ProgressInterval)
	if len(post) > 0 {
		if delay, done := r.post(ctx, sub, ch, rec, post); !done {
			rec.failures++
			rec.retryAt = now.Add(delay)
			return ctrl.Result{RequeueAfter: delay}, nil
		}
		// Only a post that went through ends an outage: a status that
		// flaps back to what was posted before must not restart the
		// backoff at its base while the forge still fails.
		rec.failures, rec.retryAt = 0, time.Time{}
	}
	if wait == 0 && sub.Annotations[AnnotationPosted] != digest {
		if err := r.markPosted(ctx, sub, digest); err != nil {
			log.Error(err, "record posted digest")
		}
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// post sends the statuses in order and stops at the first failure, which is
// reported in an event; done says all went out, else delay is the backoff
// before the next attempt.
func (r *Reconciler) post(ctx context.Context, sub *appsv1.Subscription, ch *appsv1.Channel, rec *record, targets []Target) (delay time.Duration, done bool) {
	log := logr.FromContextOrDiscard(ctx)
	fc, repo, err := r.forgeClient(ctx, ch)
	if err != nil {
		r.recorder.Eventf(sub, ch, corev1.EventTypeWarning, ReasonMisconfigured, "PostCommitStatus",
			"Channel %s/%s: %s", ch.Namespace, ch.Name, err)
		return r.opts.BackoffMax, false
	}
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	for _, t := range targets {
		if err := fc.SetCommitStatus(ctx, repo, t.SHA, t.Status); err != nil {
			delay := r.backoff(rec.failures+1, err)
			r.recorder.Eventf(sub, ch, corev1.EventTypeWarning, ReasonPostFailed, "PostCommitStatus",
				"%s status %q on %s@%s: %s; retrying in %s", t.Status.State, t.Status.Context, repo, shortSHA(t.SHA), err, delay.Round(time.Second))
			log.Error(err, "commit status not posted", "repository", repo.String(), "commit", t.SHA, "context", t.Status.Context,
				"retryIn", delay.String())
			return delay, false
		}
		rec.done(t, r.opts.Clock.Now())
		log.V(1).Info("commit status posted", "repository", repo.String(), "commit", t.SHA, "context", t.Status.Context,
			"state", string(t.Status.State), "description", t.Status.Description)
	}
	return 0, true
}

// backoff is the delay before retry n: BackoffBase doubling up to BackoffMax,
// BackoffMax for refusals that need a change first, at least what a
// rate-limited forge asked for; with up to 10% jitter so a forge outage does
// not make every Subscription retry at once.
func (r *Reconciler) backoff(n int, err error) time.Duration {
	d := r.opts.BackoffMax
	if gitprovider.Retryable(err) {
		d = r.opts.BackoffBase
		for i := 1; i < n && d < r.opts.BackoffMax; i++ {
			d *= 2
		}
		d = min(d, r.opts.BackoffMax)
	}
	if hint := min(gitprovider.RetryAfter(err), maxRateLimitWait); hint > d {
		d = hint
	}
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// forgeClient reads the token Secret (uncached) and builds a client.
func (r *Reconciler) forgeClient(ctx context.Context, ch *appsv1.Channel) (gitprovider.Client, gitprovider.Repo, error) {
	spec := ch.Spec.CommitStatus
	name := strings.TrimSpace(spec.SecretRef.Name)
	if name == "" {
		return nil, gitprovider.Repo{}, errors.New("spec.commitStatus.secretRef.name is empty; name a Secret holding the forge token under \"token\"")
	}
	secret := &corev1.Secret{}
	if err := r.secrets.Get(ctx, client.ObjectKey{Namespace: ch.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, gitprovider.Repo{}, fmt.Errorf("spec.commitStatus.secretRef: Secret %s/%s not found; create it with the forge token under \"token\"", ch.Namespace, name)
		}
		return nil, gitprovider.Repo{}, fmt.Errorf("read Secret %s/%s: %w", ch.Namespace, name, err)
	}
	c, repo, err := gitprovider.New(*spec, ch.Spec.Pathname, secret.Data, r.opts.HTTPClient)
	if err != nil {
		return nil, gitprovider.Repo{}, err
	}
	return c, repo, nil
}

// channel returns the Subscription's Channel when it asks for commit
// statuses and the Subscription may use it; nil otherwise.
func (r *Reconciler) channel(ctx context.Context, sub *appsv1.Subscription) (*appsv1.Channel, error) {
	key, err := sub.ChannelKey()
	if err != nil {
		return nil, nil
	}
	ch := &appsv1.Channel{}
	if err := r.client.Get(ctx, key, ch); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	// A Channel's token reports only for Subscriptions the Channel serves.
	if ch.Spec.CommitStatus == nil || ch.Spec.Type.Normalized() != appsv1.ChannelTypeGit || !tenancy.ChannelServes(ch, sub.Namespace, r.opts.Tenancy) {
		return nil, nil
	}
	return ch, nil
}

// markPosted records the digest of a fully posted set on the Subscription.
func (r *Reconciler) markPosted(ctx context.Context, sub *appsv1.Subscription, digest string) error {
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, AnnotationPosted, digest)
	return r.client.Patch(ctx, sub, client.RawPatch(types.MergePatchType, patch))
}

func (r *Reconciler) record(key types.NamespacedName, config string) *record {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.records[key]
	if rec == nil || rec.config != config {
		rec = newRecord(config)
		r.records[key] = rec
	}
	return rec
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.records, key)
}
