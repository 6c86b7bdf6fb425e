package work

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// LabelManaged marks the objects the agent applies, so it can watch exactly
// those (and nothing else on the cluster) to notice drift within seconds.
const LabelManaged = "work.ocm-gitops.io/managed"

// tracker runs one label-filtered informer per resource type the agent has
// applied, started on first use and stopped with the agent.
type tracker struct {
	ctx     context.Context
	dyn     dynamic.Interface
	log     logr.Logger
	onEvent func(key objKey, obj *unstructured.Unstructured, deleted bool)

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	wg        sync.WaitGroup
}

func newTracker(ctx context.Context, dyn dynamic.Interface, log logr.Logger, onEvent func(objKey, *unstructured.Unstructured, bool)) *tracker {
	return &tracker{ctx: ctx, dyn: dyn, log: log, onEvent: onEvent, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// informer returns the informer for gvr, starting it if needed.
func (t *tracker) informer(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if inf, ok := t.informers[gvr]; ok {
		return inf
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(t.dyn, gvr, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = LabelManaged + "=true" }).Informer()
	_ = inf.SetTransform(func(obj any) (any, error) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			u.SetManagedFields(nil)
		}
		return obj, nil
	})
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		t.log.V(1).Info("watch of applied objects failed; retrying", "resource", gvr.String(), "error", err.Error())
	})
	handler := func(obj any, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		t.onEvent(objKey{gvr: gvr, namespace: u.GetNamespace(), name: u.GetName()}, u, deleted)
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { handler(obj, false) },
		UpdateFunc: func(_, obj any) { handler(obj, false) },
		DeleteFunc: func(obj any) { handler(obj, true) },
	})
	t.informers[gvr] = inf
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		inf.RunWithContext(t.ctx)
	}()
	return inf
}

// get returns the cached object; synced is false while the informer has not
// listed yet (the cache cannot be trusted then).
func (t *tracker) get(ctx context.Context, key objKey, wait time.Duration) (obj *unstructured.Unstructured, synced bool) {
	inf := t.informer(key.gvr)
	if !inf.HasSynced() {
		if wait <= 0 {
			return nil, false
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		ok := cache.WaitForCacheSync(wctx.Done(), inf.HasSynced)
		cancel()
		if !ok {
			return nil, false
		}
	}
	k := key.name
	if key.namespace != "" {
		k = key.namespace + "/" + key.name
	}
	item, exists, err := inf.GetStore().GetByKey(k)
	if err != nil || !exists {
		return nil, true
	}
	u, _ := item.(*unstructured.Unstructured)
	return u, true
}

// wait blocks until every informer stopped.
func (t *tracker) wait() { t.wg.Wait() }
