package tenancy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
)

// Watches adds to a Subscription controller the events that change what
// Subscriptions may reach: a ManagedClusterSet's selector, a binding made,
// removed, bound or unbound, a namespace's tenant label or executor list.
// Only Subscriptions those can concern are enqueued.
func Watches(b *builder.Builder, c client.Reader) *builder.Builder {
	subs := func(ctx context.Context, namespace string, concerned func(*appsv1.Subscription) bool) []reconcile.Request {
		var list appsv1.SubscriptionList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range list.Items {
			if concerned(&list.Items[i]) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
		return out
	}
	usesExecutor := func(s *appsv1.Subscription) bool { return s.Spec.Executor != nil }
	return b.
		Watches(&clusterv1beta2.ManagedClusterSet{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return subs(ctx, "", direct)
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&clusterv1beta2.ManagedClusterSetBinding{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return subs(ctx, o.GetNamespace(), direct)
		}), builder.WithPredicates(boundChanged())).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return subs(ctx, o.GetName(), func(s *appsv1.Subscription) bool { return direct(s) || usesExecutor(s) })
		}), builder.WithPredicates(namespaceChanged()))
}

// boundChanged passes bindings made or removed and those whose Bound
// condition flipped.
func boundChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*clusterv1beta2.ManagedClusterSetBinding)
		n, okNew := e.ObjectNew.(*clusterv1beta2.ManagedClusterSetBinding)
		return okOld && okNew && placement.Bound(o) != placement.Bound(n)
	}}
}

// namespaceChanged passes namespace updates of the tenant label or the
// executor list; namespaces appearing or going change nothing a Subscription
// in them did not see.
func namespaceChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld, e.ObjectNew
			return o.GetLabels()[LabelTenant] != n.GetLabels()[LabelTenant] ||
				o.GetAnnotations()[AnnotationAllowedExecutors] != n.GetAnnotations()[AnnotationAllowedExecutors]
		},
	}
}
