package hub

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/patch"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

// ChannelReconciler validates Channels and reports, in their status, what the
// source layer fetched for the Subscriptions using them. It is the only writer
// of Channel status.
type ChannelReconciler struct {
	Client client.Client
	Store  *source.Store

	// statusWrites remembers the Channels written until the cache shows
	// them (patch.Latest).
	statusWrites writes.Records
}

// Reconcile updates one Channel's status; one deferred patch writes it.
func (r *ChannelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ch := &appsv1.Channel{}
	if err := r.Client.Get(ctx, req.NamespacedName, ch); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ch = patch.Latest(&r.statusWrites, ch, time.Now())
	patcher := patch.NewHelper(ch, r.Client, patch.Recording(&r.statusWrites))
	defer func() {
		if err := patcher.Patch(ctx, ch); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	ch.Status.ObservedGeneration = ch.Generation
	ready := metav1.Condition{Type: appsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: appsv1.ReasonSucceeded, ObservedGeneration: ch.Generation}
	if err := validateChannel(ch); err != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, appsv1.ReasonInvalidSpec, err.Error()
	} else if _, err := source.CredentialsFor(ctx, r.Client, ch); err != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, appsv1.ReasonAuthFailed, err.Error()
	} else {
		ready.Message = "source configuration is valid"
	}
	inUse, err := r.refsInUse(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	var failing []source.ArtifactState
	ch.Status.Artifacts = nil
	for _, st := range r.Store.Artifacts(req.NamespacedName) {
		if !inUse[st.Ref] {
			continue // a ref no Subscription asks for any more
		}
		if st.Revision != "" {
			ch.Status.Artifacts = append(ch.Status.Artifacts, appsv1.ArtifactStatus{Ref: st.Ref, Revision: st.Revision, FetchedAt: metav1.NewTime(st.CheckedAt.Truncate(time.Second))})
		}
		if st.Error != "" {
			failing = append(failing, st)
		}
	}
	if ready.Status == metav1.ConditionTrue {
		ready.Reason, ready.Message = fetchSummary(failing, len(ch.Status.Artifacts))
		if len(failing) > 0 {
			ready.Status = metav1.ConditionFalse
		}
	}
	meta.SetStatusCondition(&ch.Status.Conditions, ready)
	return ctrl.Result{}, nil
}

// refsInUse are the refs (as source.Ref.String spells them) the
// Subscriptions of a Channel ask for now: the Channel reports on those only,
// so a fixed or deleted Subscription's bad branch stops being reported.
func (r *ChannelReconciler) refsInUse(ctx context.Context, channel types.NamespacedName) (map[string]bool, error) {
	var subs appsv1.SubscriptionList
	if err := r.Client.List(ctx, &subs, client.MatchingFields{index.SubscriptionChannel: channel.String()}); err != nil {
		return nil, fmt.Errorf("list the Subscriptions of Channel %s: %w", channel, err)
	}
	out := make(map[string]bool, len(subs.Items))
	for i := range subs.Items {
		out[source.RefFor(&subs.Items[i]).String()] = true
	}
	return out, nil
}

// fetchSummary is the Ready reason and message of a valid Channel from what
// the refs in use fetched.
func fetchSummary(failing []source.ArtifactState, fetched int) (reason, msg string) {
	if len(failing) == 0 {
		if fetched == 0 {
			return appsv1.ReasonSucceeded, "source configuration is valid"
		}
		return appsv1.ReasonSucceeded, fmt.Sprintf("%d refs fetched", fetched)
	}
	parts := make([]string, 0, len(failing))
	for _, st := range failing {
		parts = append(parts, st.Ref+": "+st.Error)
	}
	return failing[0].Reason, "fetch failed for " + strings.Join(parts, "; ")
}

// validateChannel checks what can be checked without reaching the source.
func validateChannel(ch *appsv1.Channel) error {
	p := strings.TrimSpace(ch.Spec.Pathname)
	if p == "" {
		return fmt.Errorf("spec.pathname is empty; set the repository or bucket URL")
	}
	switch ch.Spec.Type.Normalized() {
	case appsv1.ChannelTypeGit:
		if strings.HasPrefix(p, "git@") || strings.Contains(p, "://") {
			return nil
		}
		return fmt.Errorf("spec.pathname %q is not a Git URL; use https://, ssh://, git@host:path or file://", p)
	case appsv1.ChannelTypeHelmRepo, appsv1.ChannelTypeObjectBucket:
		u, err := url.Parse(p)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("spec.pathname %q is not a URL with a scheme and host", p)
		}
		return nil
	case appsv1.ChannelTypeNamespace:
		return fmt.Errorf("spec.type Namespace channels are not supported by ocm-gitops; use Git, HelmRepo or ObjectBucket")
	}
	return fmt.Errorf("spec.type %q is unknown; use Git, HelmRepo or ObjectBucket", ch.Spec.Type)
}

func setupChannel(mgr ctrl.Manager, deps *Deps) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("channel").
		For(&appsv1.Channel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(ctrlsource.Channel(deps.Store.Subscribe(), &handler.EnqueueRequestForObject{})).
		Watches(&appsv1.Subscription{}, subscriptionChannels(), builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Complete(&ChannelReconciler{Client: mgr.GetClient(), Store: deps.Store})
}

// subscriptionChannels enqueues the Channel a Subscription uses, and the one
// it used before an update, when a Subscription comes, goes or changes what
// it asks for.
func subscriptionChannels() handler.Funcs {
	add := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if key, err := o.(*appsv1.Subscription).ChannelKey(); err == nil {
			q.Add(reconcile.Request{NamespacedName: key})
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.ObjectOld, q)
			add(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
	}
}
