package work

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/apply"
)

// LabelManaged marks the objects the agent applies, so it can watch exactly
// those (and nothing else on the cluster) to notice drift within seconds.
const LabelManaged = apply.LabelManaged

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

func newTracker(dyn dynamic.Interface, log logr.Logger, onEvent func(objKey, *unstructured.Unstructured, bool)) *tracker {
	return &tracker{dyn: dyn, log: log, onEvent: onEvent, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// start sets the context the informers run in; they stop when it ends.
func (t *tracker) start(ctx context.Context) {
	t.mu.Lock()
	t.ctx = ctx
	t.mu.Unlock()
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
		t.log.V(1).Info("watch of applied objects failed; retrying", "resource", gvr.String(), "error", err)
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

// cacheSyncWait bounds the wait for a new informer's first list.
const cacheSyncWait = 5 * time.Second

// objectReader reads applied objects: from the watch cache where it can be
// trusted, else from the API server, with the agent's own identity.
type objectReader struct {
	tracker *tracker
	dyn     dynamic.Interface
}

// watch makes sure objects of gvr are watched.
func (r *objectReader) watch(gvr schema.GroupVersionResource) { r.tracker.informer(gvr) }

// get reads an object from the API server; nil when it does not exist.
func (r *objectReader) get(ctx context.Context, key objKey) (*unstructured.Unstructured, error) {
	obj, err := r.dyn.Resource(key.gvr).Namespace(key.namespace).Get(ctx, key.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	obj.SetManagedFields(nil)
	return obj, nil
}

// cached returns the object from the watch cache; known is false when the
// cache does not hold it (not listed yet, or absent).
func (r *objectReader) cached(ctx context.Context, key objKey) (obj *unstructured.Unstructured, known bool) {
	cached, synced := r.tracker.get(ctx, key, cacheSyncWait)
	if synced && cached != nil {
		return cached, true
	}
	return nil, false
}

// fromCache returns the object from the watch cache; known is false while
// the cache has not listed yet (absent from a listed cache: nil, true).
func (r *objectReader) fromCache(ctx context.Context, key objKey) (obj *unstructured.Unstructured, known bool) {
	return r.tracker.get(ctx, key, cacheSyncWait)
}

// current returns the object from the cache, else from the API server;
// known is false when neither could tell.
func (r *objectReader) current(ctx context.Context, key objKey) (obj *unstructured.Unstructured, known bool) {
	if obj, ok := r.cached(ctx, key); ok {
		return obj, true
	}
	obj, err := r.get(ctx, key)
	return obj, err == nil
}

// observe returns the live object: from the watch cache when it is at least
// as new as rv, the agent's last write, else from the API server.
func (r *objectReader) observe(ctx context.Context, key objKey, rv string) (*unstructured.Unstructured, error) {
	cached, synced := r.tracker.get(ctx, key, cacheSyncWait)
	if synced && cached != nil && (rv == "" || !newerRV(rv, cached.GetResourceVersion())) {
		return cached, nil
	}
	return r.get(ctx, key)
}
