package hub

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

// Reasons of a ManagedClusterSetBinding's Bound condition, as OCM's
// registration sets them.
const (
	ReasonClusterSetBound    = "ClusterSetBound"
	ReasonClusterSetNotFound = "ClusterSetNotFound"
)

// bindingReconciler keeps each ManagedClusterSetBinding's Bound condition:
// true while its set exists. Whether the binding's author could bind the set
// is checked when it is created (admission); Placements and direct
// Subscription placement ignore bindings that are not bound.
type bindingReconciler struct {
	client client.Client
}

func setupBindings(mgr ctrl.Manager) error {
	r := &bindingReconciler{client: mgr.GetClient()}
	return ctrl.NewControllerManagedBy(mgr).
		Named("registration-clustersetbinding").
		For(&clusterv1beta2.ManagedClusterSetBinding{}).
		Watches(&clusterv1beta2.ManagedClusterSet{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOf)).
		WithOptions(controllerOptions()).
		Complete(r)
}

func (r *bindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &clusterv1beta2.ManagedClusterSetBinding{}
	if err := r.client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	set := &clusterv1beta2.ManagedClusterSet{}
	err := r.client.Get(ctx, types.NamespacedName{Name: b.Spec.ClusterSet}, set)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	orig := b.DeepCopy()
	meta.SetStatusCondition(&b.Status.Conditions, boundCondition(b, err == nil && set.DeletionTimestamp == nil))
	if equalConditions(orig.Status.Conditions, b.Status.Conditions) {
		return ctrl.Result{}, nil
	}
	if err := r.client.Status().Patch(ctx, b, client.MergeFrom(orig)); err != nil {
		return ctrl.Result{}, fmt.Errorf("update status of ManagedClusterSetBinding %s/%s: %w", b.Namespace, b.Name, err)
	}
	return ctrl.Result{}, nil
}

// boundCondition is a binding's Bound condition given whether its set exists.
func boundCondition(b *clusterv1beta2.ManagedClusterSetBinding, setExists bool) metav1.Condition {
	if setExists {
		return metav1.Condition{Type: clusterv1beta2.ClusterSetBindingBoundType, Status: metav1.ConditionTrue, Reason: ReasonClusterSetBound,
			Message: fmt.Sprintf("ManagedClusterSet %s is bound to namespace %s", b.Spec.ClusterSet, b.Namespace)}
	}
	return metav1.Condition{Type: clusterv1beta2.ClusterSetBindingBoundType, Status: metav1.ConditionFalse, Reason: ReasonClusterSetNotFound,
		Message: fmt.Sprintf("ManagedClusterSet %s does not exist", b.Spec.ClusterSet)}
}

// bindingsOf maps a ManagedClusterSet to the bindings of it (named like it).
func (r *bindingReconciler) bindingsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list clusterv1beta2.ManagedClusterSetBindingList
	if err := r.client.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, b := range list.Items {
		if b.Spec.ClusterSet == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&b)})
		}
	}
	return out
}
