package placement

import (
	"context"
	"slices"

	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
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

// decisionHandler keeps the Balance counts and re-schedules a Placement when
// one of its PlacementDecisions is changed or deleted by someone else;
// echoes of our writes are ignored.
func (r *reconciler) decisionHandler() handler.Funcs {
	count := func(obj client.Object, deleted bool) {
		d, ok := obj.(*clusterv1beta1.PlacementDecision)
		if !ok {
			return
		}
		if deleted {
			d = nil
		}
		r.counts.observe(writes.Key(obj), d)
	}
	enqueue := func(obj client.Object, q queue) {
		if name, ok := obj.GetLabels()[clusterv1beta1.PlacementLabel]; ok {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}})
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q queue) {
			count(e.Object, false)
			if !e.IsInInitialList && !r.decisions.Echo(e.Object) {
				enqueue(e.Object, q)
			}
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q queue) {
			count(e.ObjectNew, false)
			if !r.decisions.Echo(e.ObjectNew) {
				enqueue(e.ObjectNew, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q queue) {
			count(e.Object, true)
			if !r.decisions.SeenDeleted(e.Object) {
				enqueue(e.Object, q)
			}
		},
	}
}

// clusterHandler re-schedules, as OCM does, every Placement that can see the
// cluster before or after the change: its namespace binds one of the
// cluster's sets and spec.clusterSets allows it. Any change counts (CEL may
// read any field, and Balance, Steady and the resource prioritizers score
// clusters against each other); only resyncs are skipped.
func (r *reconciler) clusterHandler() handler.Funcs {
	return funcs(func(ctx context.Context, oldObj, newObj client.Object, q queue) {
		old, _ := oldObj.(*clusterv1.ManagedCluster)
		cur, _ := newObj.(*clusterv1.ManagedCluster)
		if old != nil && cur != nil && old.ResourceVersion == cur.ResourceVersion {
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
		r.enqueueBound(ctx, q, func(set string) bool { return member[set] })
	})
}

// setHandler re-schedules the Placements in namespaces the set is bound to.
func (r *reconciler) setHandler() handler.Funcs {
	return funcs(func(ctx context.Context, old, new client.Object, q queue) {
		if old != nil && new != nil && old.GetResourceVersion() == new.GetResourceVersion() {
			return
		}
		obj := new
		if obj == nil {
			obj = old
		}
		r.enqueueBound(ctx, q, func(set string) bool { return set == obj.GetName() })
	})
}

// bindingHandler re-schedules the Placements in the binding's namespace that
// may use its set.
func (r *reconciler) bindingHandler() handler.Funcs {
	return funcs(func(ctx context.Context, old, new client.Object, q queue) {
		if old != nil && new != nil && old.GetResourceVersion() == new.GetResourceVersion() {
			return
		}
		sets := map[string]bool{}
		for _, obj := range []client.Object{old, new} {
			if b, ok := obj.(*clusterv1beta2.ManagedClusterSetBinding); ok {
				sets[b.Name], sets[b.Spec.ClusterSet] = true, true
			}
		}
		obj := new
		if obj == nil {
			obj = old
		}
		r.enqueuePlacements(ctx, q, obj.GetNamespace(), func(p *clusterv1beta1.Placement) bool {
			return len(p.Spec.ClusterSets) == 0 || slices.ContainsFunc(p.Spec.ClusterSets, func(s string) bool { return sets[s] })
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
// wanted accepts (by the binding's name or spec.clusterSet) and which
// spec.clusterSets allows.
func (r *reconciler) enqueueBound(ctx context.Context, q queue, wanted func(set string) bool) {
	var bindings clusterv1beta2.ManagedClusterSetBindingList
	if err := r.cache.List(ctx, &bindings, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	bound := map[string][]string{} // namespace → wanted sets bound there
	for i := range bindings.Items {
		b := &bindings.Items[i]
		for _, set := range []string{b.Name, b.Spec.ClusterSet} {
			if wanted(set) {
				bound[b.Namespace] = append(bound[b.Namespace], set)
			}
		}
	}
	for ns, sets := range bound {
		r.enqueuePlacements(ctx, q, ns, func(p *clusterv1beta1.Placement) bool {
			return len(p.Spec.ClusterSets) == 0 || slices.ContainsFunc(sets, func(s string) bool { return slices.Contains(p.Spec.ClusterSets, s) })
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
