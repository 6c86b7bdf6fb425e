package hub

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
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
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

// indexPlacement indexes Subscriptions by "namespace/name" of their Placement.
const indexPlacement = "spec.placement.placementRef"

// indexHostingSubscription indexes ManifestWorks by the Subscription that
// owns them, so a reconcile reads its own works, not every work on the hub.
const indexHostingSubscription = "metadata.annotations.hosting-subscription"

func setupSubscription(mgr ctrl.Manager, deps *Deps) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &appsv1.Subscription{}, indexPlacement, func(o client.Object) []string {
		sub := o.(*appsv1.Subscription)
		if sub.Spec.Placement == nil || sub.Spec.Placement.PlacementRef == nil {
			return nil
		}
		return []string{sub.Namespace + "/" + sub.Spec.Placement.PlacementRef.Name}
	}); err != nil {
		return err
	}

	if err := idx.IndexField(ctx, &workv1.ManifestWork{}, indexHostingSubscription, func(o client.Object) []string {
		if owner := o.GetAnnotations()[appsv1.AnnotationHostingSubscription]; owner != "" {
			return []string{owner}
		}
		return nil
	}); err != nil {
		return err
	}
	r := &SubscriptionReconciler{
		Client:   mgr.GetClient(),
		Store:    deps.Store,
		Renderer: deps.Renderer,
		Recorder: mgr.GetEventRecorder("ocm-gitops-subscription"),
		bundles:  newBundleCache(512),
		resource: restMapperResource(mgr.GetRESTMapper()),
		written:  &writes.Records{TTL: writeRecordTTL},
		// Status diffs start from the reconciler's own last write.
		statusWrites: &writes.Records{},
		// Input digests name the renderer that made the works.
		renderVersion: rendererVersion(),
		// Status-driven reconciles are spaced by the batcher (workEvents).
		statusBatch: newStatusBatcher(statusBatchWindow),
	}
	// Time windows and rollout timers read this clock (tests move it).
	r.Clock = deps.Options.Clock
	r.DeletionBudgetPercent = deps.Options.DeletionBudgetPercent
	r.Tenancy = deps.Options.Tenancy
	c := mgr.GetClient()
	b := ctrl.NewControllerManagedBy(mgr)
	// placementRef may name a PlacementRule: watched when its CRD is installed.
	if _, err := mgr.GetRESTMapper().RESTMapping(appsv1.GroupVersion.WithKind("PlacementRule").GroupKind(), appsv1.GroupVersion.Version); err == nil {
		b = b.Watches(&appsv1.PlacementRule{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listRequests(ctx, c, client.MatchingFields{indexPlacement: o.GetNamespace() + "/" + o.GetName()})
		}))
	}
	b = b.
		Named("subscription").
		For(&appsv1.Subscription{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, userAnnotationsChanged()))).
		Watches(&workv1.ManifestWork{}, workEvents(r.statusBatch, r.written)).
		Watches(&appsv1.Channel{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listRequests(ctx, c, client.MatchingFields{index.SubscriptionChannel: o.GetNamespace() + "/" + o.GetName()})
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
		}), builder.WithPredicates(clusterChanged()))
	return tenancy.Watches(b, c).
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

// statusBatchWindow is the shortest time between two reconciles of a
// Subscription caused only by its works' status reports, per thousand
// clusters it targets (see statusBatcher).
const statusBatchWindow = time.Second

// workEvents enqueues the Subscription owning a work: at once when the work
// goes or someone else changes its spec or metadata, and through the batcher
// when it appears, when the change is the hub's own write coming back, or
// when only its status changed. A fan-out's own writes and a fleet's status
// reports are so summed up in a few reconciles instead of one per event. A
// deleted work's write record goes: the cache has seen past our write.
func workEvents(b *statusBatcher, written *writes.Records) handler.Funcs {
	add := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range workToSubscription(ctx, o) {
			q.Add(req)
		}
	}
	batched := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range workToSubscription(ctx, o) {
			if d := b.delay(req.NamespacedName); d > 0 {
				q.AddAfter(req, d)
			} else {
				q.Add(req)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			batched(ctx, e.Object, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			written.Forget(writes.Key(e.Object))
			add(ctx, e.Object, q)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if statusOnly(e.ObjectOld, e.ObjectNew) || written.Echo(e.ObjectNew) {
				batched(ctx, e.ObjectNew, q)
				return
			}
			add(ctx, e.ObjectNew, q)
		},
	}
}

// statusOnly reports an update that changed neither spec (generation),
// metadata the hub reads, nor deletion.
func statusOnly(old, cur client.Object) bool {
	return old.GetGeneration() == cur.GetGeneration() &&
		old.GetDeletionTimestamp().Equal(cur.GetDeletionTimestamp()) &&
		maps.Equal(old.GetAnnotations(), cur.GetAnnotations()) &&
		maps.Equal(old.GetLabels(), cur.GetLabels())
}

// statusBatcher spaces the status-driven reconciles of each Subscription at
// least a window apart: the first report after a quiet spell is handled at
// once, later ones wait for the next slot. The window grows with the
// Subscription's clusters (one base window per thousand, at most ten), since
// a reconcile's cost does: a 5,000-cluster Subscription sums up its reports
// every 5 s instead of spending a core on doing it every second.
type statusBatcher struct {
	mu     sync.Mutex
	window time.Duration
	next   map[types.NamespacedName]time.Time // earliest time of the next slot
	size   map[types.NamespacedName]int       // clusters at the last reconcile
	now    func() time.Time
}

func newStatusBatcher(window time.Duration) *statusBatcher {
	return &statusBatcher{window: window, next: map[types.NamespacedName]time.Time{}, size: map[types.NamespacedName]int{}, now: time.Now}
}

// observe records how many clusters a Subscription targets.
func (b *statusBatcher) observe(key types.NamespacedName, clusters int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.size[key] = clusters
}

// windowOf is the spacing for key; b.mu is held.
func (b *statusBatcher) windowOf(key types.NamespacedName) time.Duration {
	return b.window * time.Duration(min(max(1, (b.size[key]+999)/1000), 10))
}

// delay returns how long to wait before reconciling key for a status report.
func (b *statusBatcher) delay(key types.NamespacedName) time.Duration {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	slot, ok := b.next[key]
	if !ok || !now.Before(slot) {
		b.next[key] = now.Add(b.windowOf(key))
		if len(b.next) > 1024 {
			// Forget Subscriptions quiet for a while (deleted ones, mostly).
			for k, t := range b.next {
				if now.Sub(t) > 10*b.window {
					delete(b.next, k)
					delete(b.size, k)
				}
			}
		}
		return 0
	}
	// The reconcile already scheduled for slot covers this report.
	return slot.Sub(now)
}

// workToSubscription maps a ManifestWork to the Subscription that owns it.
func workToSubscription(_ context.Context, o client.Object) []reconcile.Request {
	ns, name, _ := strings.Cut(o.GetAnnotations()[appsv1.AnnotationHostingSubscription], "/")
	if ns == "" || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
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
				!slices.Equal(a.Finalizers, b.Finalizers) || !a.DeletionTimestamp.Equal(b.DeletionTimestamp)
		},
	}
}

func availability(mc *clusterv1.ManagedCluster) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); c != nil {
		return c.Status
	}
	return ""
}
