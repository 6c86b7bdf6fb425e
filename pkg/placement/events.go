package placement

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The handlers below map a change to the Placements it can affect, so one
// cluster's label change does not re-schedule every Placement on the hub.

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// funcs adapts onChange to an event handler. Objects from an informer's
// initial list are skipped: every Placement is scheduled on its own initial
// event anyway.
func funcs(onChange func(ctx context.Context, old, new client.Object, q queue)) handler.Funcs {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) {
			if !e.IsInInitialList {
				onChange(ctx, nil, e.Object, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) { onChange(ctx, e.ObjectOld, e.ObjectNew, q) },
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) { onChange(ctx, e.Object, nil, q) },
	}
}

// decisionHandler re-schedules a Placement when one of its PlacementDecisions
// is changed or deleted by someone else; echoes of our writes are ignored.
func (r *reconciler) decisionHandler() handler.Funcs {
	return funcs(func(_ context.Context, old, new client.Object, q queue) {
		obj := new
		if new == nil {
			obj = old
			if r.decisions.seenDeleted(old) {
				return
			}
		} else if r.decisions.echo(new) {
			return
		}
		if name, ok := obj.GetLabels()[clusterv1beta1.PlacementLabel]; ok {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}})
		}
	})
}

// clusterHandler re-schedules the Placements that can see the cluster (its
// sets are bound to their namespace and allowed by spec.clusterSets) and
// whose predicates matched it before or after the change.
func (r *reconciler) clusterHandler() handler.Funcs {
	return funcs(func(ctx context.Context, oldObj, newObj client.Object, q queue) {
		old, _ := oldObj.(*clusterv1.ManagedCluster)
		cur, _ := newObj.(*clusterv1.ManagedCluster)
		if old != nil && cur != nil && clusterUnchanged(old, cur) {
			return
		}
		if cur == nil && old != nil {
			r.sched.ForgetCluster(old.Name)
		}
		var sets clusterv1beta2.ManagedClusterSetList
		if err := r.cache.List(ctx, &sets, client.UnsafeDisableDeepCopy); err != nil {
			return
		}
		setPtrs := make([]*clusterv1beta2.ManagedClusterSet, len(sets.Items))
		for i := range sets.Items {
			setPtrs[i] = &sets.Items[i]
		}
		member := map[string]bool{}
		for _, mc := range []*clusterv1.ManagedCluster{old, cur} {
			if mc != nil {
				for _, s := range SetsOf(mc, setPtrs) {
					member[s] = true
				}
			}
		}
		if len(member) == 0 {
			return
		}
		r.enqueueBound(ctx, q, func(set string) bool { return member[set] }, func(p *clusterv1beta1.Placement) bool {
			c, mis := r.compile(p)
			if mis != nil || c.UsesCEL() {
				return true
			}
			return (old != nil && r.sched.matchesPredicates(c, &candidate{mc: old})) ||
				(cur != nil && r.sched.matchesPredicates(c, &candidate{mc: cur}))
		})
	})
}

// clusterUnchanged ignores updates that touch nothing scheduling reads.
func clusterUnchanged(old, cur *clusterv1.ManagedCluster) bool {
	return (old.DeletionTimestamp == nil) == (cur.DeletionTimestamp == nil) &&
		equality.Semantic.DeepEqual(old.Labels, cur.Labels) &&
		equality.Semantic.DeepEqual(old.Spec, cur.Spec) &&
		equality.Semantic.DeepEqual(old.Status, cur.Status)
}

// setHandler re-schedules the Placements in namespaces the set is bound to.
func (r *reconciler) setHandler() handler.Funcs {
	return funcs(func(ctx context.Context, old, new client.Object, q queue) {
		if old != nil && new != nil {
			o, n := old.(*clusterv1beta2.ManagedClusterSet), new.(*clusterv1beta2.ManagedClusterSet)
			if equality.Semantic.DeepEqual(o.Spec.ClusterSelector, n.Spec.ClusterSelector) {
				return
			}
		}
		obj := new
		if obj == nil {
			obj = old
		}
		r.enqueueBound(ctx, q, func(set string) bool { return set == obj.GetName() }, nil)
	})
}

// bindingHandler re-schedules the Placements in the binding's namespace.
func (r *reconciler) bindingHandler() handler.Funcs {
	return funcs(func(ctx context.Context, old, new client.Object, q queue) {
		if old != nil && new != nil {
			return // a binding's set is its name: updates change nothing
		}
		obj := new
		if obj == nil {
			obj = old
		}
		set := obj.GetName()
		r.enqueuePlacements(ctx, q, obj.GetNamespace(), func(p *clusterv1beta1.Placement) bool {
			return len(p.Spec.ClusterSets) == 0 || slices.Contains(p.Spec.ClusterSets, set)
		})
	})
}

// scoreHandler re-schedules the Placements that read the score.
func (r *reconciler) scoreHandler() handler.Funcs {
	return funcs(func(ctx context.Context, old, new client.Object, q queue) {
		if old != nil && new != nil {
			o, n := old.(*clusterv1alpha1.AddOnPlacementScore), new.(*clusterv1alpha1.AddOnPlacementScore)
			if equality.Semantic.DeepEqual(o.Status, n.Status) {
				return
			}
		}
		obj := new
		if obj == nil {
			obj = old
		}
		r.enqueuePlacements(ctx, q, "", func(p *clusterv1beta1.Placement) bool {
			c, mis := r.compile(p)
			return mis == nil && c.UsesScore(obj.GetName())
		})
	})
}

// enqueueBound enqueues the Placements whose namespace binds a set that
// wanted accepts, which spec.clusterSets allows, and that also pass keep.
func (r *reconciler) enqueueBound(ctx context.Context, q queue, wanted func(set string) bool, keep func(*clusterv1beta1.Placement) bool) {
	var bindings clusterv1beta2.ManagedClusterSetBindingList
	if err := r.cache.List(ctx, &bindings, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	bound := map[string][]string{} // namespace → wanted sets bound there
	for i := range bindings.Items {
		b := &bindings.Items[i]
		if wanted(b.Name) {
			bound[b.Namespace] = append(bound[b.Namespace], b.Name)
		}
	}
	for ns, sets := range bound {
		r.enqueuePlacements(ctx, q, ns, func(p *clusterv1beta1.Placement) bool {
			if len(p.Spec.ClusterSets) > 0 && !slices.ContainsFunc(sets, func(s string) bool { return slices.Contains(p.Spec.ClusterSets, s) }) {
				return false
			}
			return keep == nil || keep(p)
		})
	}
}

// enqueuePlacements enqueues the Placements in namespace ("" for all) that pass keep.
func (r *reconciler) enqueuePlacements(ctx context.Context, q queue, namespace string, keep func(*clusterv1beta1.Placement) bool) {
	var list clusterv1beta1.PlacementList
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.cache.List(ctx, &list, opts...); err != nil {
		return
	}
	for i := range list.Items {
		p := &list.Items[i]
		if keep(p) {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
		}
	}
}
