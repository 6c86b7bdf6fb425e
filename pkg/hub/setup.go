package hub

import (
	"context"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/commitstatus"
)

// Field indexes on Subscriptions.
const (
	indexChannel   = "spec.channel"
	indexPlacement = "spec.placement.placementRef"
)

func setupSubscription(mgr ctrl.Manager, deps *Deps) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &appsv1.Subscription{}, indexChannel, func(o client.Object) []string {
		key, err := channelKey(o.(*appsv1.Subscription))
		if err != nil {
			return nil
		}
		return []string{key.String()}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &appsv1.Subscription{}, indexPlacement, func(o client.Object) []string {
		sub := o.(*appsv1.Subscription)
		if sub.Spec.Placement == nil || sub.Spec.Placement.PlacementRef == nil {
			return nil
		}
		return []string{sub.Namespace + "/" + sub.Spec.Placement.PlacementRef.Name}
	}); err != nil {
		return err
	}

	r := &SubscriptionReconciler{
		Client:   mgr.GetClient(),
		Store:    deps.Store,
		Renderer: deps.Renderer,
		Recorder: mgr.GetEventRecorderFor("ocm-gitops-subscription"),
		bundles:  newBundleCache(512),
		resource: restMapperResource(mgr.GetRESTMapper()),
	}
	// Time windows and rollout timers read this clock (tests move it).
	r.Clock = deps.Options.Clock
	r.DeletionBudgetPercent = deps.Options.DeletionBudgetPercent
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("subscription").
		For(&appsv1.Subscription{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, userAnnotationsChanged()))).
		Watches(&workv1.ManifestWork{}, handler.EnqueueRequestsFromMapFunc(workToSubscription)).
		Watches(&appsv1.Channel{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listRequests(ctx, c, client.MatchingFields{indexChannel: o.GetNamespace() + "/" + o.GetName()})
		}), builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&clusterv1beta1.PlacementDecision{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			name := o.GetLabels()[clusterv1beta1.PlacementLabel]
			if name == "" {
				return nil
			}
			return listRequests(ctx, c, client.MatchingFields{indexPlacement: o.GetNamespace() + "/" + name})
		})).
		Watches(&clusterv1.ManagedCluster{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return listRequests(ctx, c)
		}), builder.WithPredicates(clusterChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// bookkeepingAnnotations are written by the hub itself; changing them must not
// trigger another full reconcile.
var bookkeepingAnnotations = []string{appsv1.AnnotationGitCurrentCommit, commitstatus.AnnotationPosted}

// userAnnotationsChanged passes annotation changes other than the hub's own.
func userAnnotationsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		a, b := maps.Clone(e.ObjectOld.GetAnnotations()), maps.Clone(e.ObjectNew.GetAnnotations())
		for _, k := range bookkeepingAnnotations {
			delete(a, k)
			delete(b, k)
		}
		return !maps.Equal(a, b)
	}}
}

// workToSubscription maps a ManifestWork to the Subscription that owns it.
func workToSubscription(_ context.Context, o client.Object) []reconcile.Request {
	owner := o.GetAnnotations()[appsv1.AnnotationHostingSubscription]
	ns, name, ok := cutOwner(owner)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

func cutOwner(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

func listRequests(ctx context.Context, c client.Client, opts ...client.ListOption) []reconcile.Request {
	var subs appsv1.SubscriptionList
	if err := c.List(ctx, &subs, opts...); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(subs.Items))
	for _, s := range subs.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
	}
	return out
}

// clusterChanged passes the ManagedCluster events that can change what a
// Subscription selects or reports: creation, deletion, labels, claims and
// availability. Heartbeat-only updates are dropped, which matters at
// thousands of clusters.
func clusterChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			a, okA := e.ObjectOld.(*clusterv1.ManagedCluster)
			b, okB := e.ObjectNew.(*clusterv1.ManagedCluster)
			if !okA || !okB {
				return true
			}
			return !maps.Equal(a.Labels, b.Labels) ||
				!equality.Semantic.DeepEqual(a.Status.ClusterClaims, b.Status.ClusterClaims) ||
				availability(a) != availability(b) ||
				!slices.Equal(a.Finalizers, b.Finalizers) || a.DeletionTimestamp != b.DeletionTimestamp
		},
	}
}

func availability(mc *clusterv1.ManagedCluster) string {
	for _, c := range mc.Status.Conditions {
		if c.Type == clusterv1.ManagedClusterConditionAvailable {
			return string(c.Status)
		}
	}
	return ""
}
