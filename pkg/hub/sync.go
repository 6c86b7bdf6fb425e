package hub

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

// syncWorks writes the desired works of the clusters in send, deleting their
// stale split parts, and deletes every work of the clusters in remove. Works
// already carrying the desired content are not written; clusters in neither
// are not touched.
func (r *SubscriptionReconciler) syncWorks(ctx context.Context, sub *appsv1.Subscription, revision string, send map[string]*want, existing map[string][]*workv1.ManifestWork, remove []string) error {
	var writes []workWrite
	var deletes []*workv1.ManifestWork
	for cluster, d := range send {
		have := make(map[string]*workv1.ManifestWork, len(existing[cluster]))
		for _, w := range existing[cluster] {
			have[w.Name] = w
		}
		for i := range d.b.parts {
			name := WorkName(sub, i)
			old, ok := have[name]
			delete(have, name)
			if ok && upToDate(old, d.hash) {
				continue
			}
			if r.pendingWrite(cluster, name, d.b.hash, old) {
				continue // written by us; the cache has not shown it yet
			}
			if d.rollbackRevision == "" {
				// What to restore should this content fail: recorded now,
				// while the hub still sees how the content it replaces did.
				d.rollbackRevision = rollout.RollbackRevision(existing[cluster], sub.Spec.WaitsForHealth())
			}
			writes = append(writes, workWrite{work: desiredWork(sub, cluster, revision, d, i), exists: ok})
		}
		for _, stale := range have {
			deletes = append(deletes, stale)
		}
	}
	for _, cluster := range remove {
		deletes = append(deletes, live(existing[cluster])...)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.writeConcurrency())
	var mu sync.Mutex
	var errs []error
	for _, w := range writes {
		g.Go(func() error {
			if err := r.writeWork(gctx, w.work, w.exists); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := r.deleteWorks(ctx, deletes); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d ManifestWork writes failed, first: %w", len(errs), len(writes)+len(deletes), errs[0])
	}
	return nil
}

// workWrite is one ManifestWork to create or to rewrite.
type workWrite struct {
	work   *workv1.ManifestWork
	exists bool
}

// writeWork creates a work, or replaces its labels, annotations and spec when
// it exists. The replacement is a JSON patch without a resourceVersion: the
// agents' status reports, which bump the resourceVersion all the time, cause
// no conflicts, and what others keep in the work's metadata (the agent's
// finalizer) stays.
func (r *SubscriptionReconciler) writeWork(ctx context.Context, w *workv1.ManifestWork, exists bool) error {
	hash := w.Annotations[appsv1.AnnotationContentHash]
	if !exists {
		// The answer is decoded into the object sent: a copy, since w shares
		// its manifests with every other cluster's work.
		created := w.DeepCopy()
		err := r.Client.Create(ctx, created)
		if err == nil {
			r.wrote(created, hash)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ManifestWork %s/%s: %w", w.Namespace, w.Name, err)
		}
		// Created by an earlier reconcile the cache has not shown yet.
	}
	patch, err := replacePatch(w)
	if err != nil {
		return err
	}
	patched := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name}}
	if err := r.Client.Patch(ctx, patched, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("update ManifestWork %s/%s: %w", w.Namespace, w.Name, err)
	}
	r.wrote(patched, hash)
	return nil
}

// replacePatch is a JSON patch setting a work's labels, annotations and spec
// to those of w.
func replacePatch(w *workv1.ManifestWork) ([]byte, error) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	return json.Marshal([]op{
		{Op: "add", Path: "/metadata/labels", Value: w.Labels},
		{Op: "add", Path: "/metadata/annotations", Value: w.Annotations},
		{Op: "add", Path: "/spec", Value: w.Spec},
	})
}

// deleteWorks deletes works concurrently; already-gone works are fine.
func (r *SubscriptionReconciler) deleteWorks(ctx context.Context, works []*workv1.ManifestWork) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.writeConcurrency())
	var mu sync.Mutex
	var errs []error
	for _, w := range works {
		g.Go(func() error {
			if err := r.Client.Delete(gctx, w); err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete ManifestWork %s/%s: %w", w.Namespace, w.Name, err))
				mu.Unlock()
				return nil
			}
			r.written.Forget(writes.Key(w))
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

func (r *SubscriptionReconciler) writeConcurrency() int {
	if r.WriteConcurrency > 0 {
		return r.WriteConcurrency
	}
	return 32
}

// bundleCache keeps the encoded bundles of recent render outputs, so works for
// thousands of clusters that share an output are encoded once. It is bounded.
type bundleCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *bundleEntry, most recent first
	entries map[bundleKey]*list.Element
}

type bundleKey struct {
	output   *render.Output
	settings string
}

type bundleEntry struct {
	key    bundleKey
	bundle *bundle
}

func newBundleCache(max int) *bundleCache {
	return &bundleCache{max: max, order: list.New(), entries: map[bundleKey]*list.Element{}}
}

// get returns the bundle for an output, encoding it on first use. Outputs are
// compared by identity: the renderer returns the same *Output for equal inputs.
func (c *bundleCache) get(out *render.Output, settings workSettings, mapResource resourceMapper) (*bundle, error) {
	s, _ := json.Marshal(settings)
	key := bundleKey{output: out, settings: string(s)}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.order.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*bundleEntry).bundle, nil
	}
	c.mu.Unlock()

	b, err := encodeBundle(out, settings, mapResource)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.Value.(*bundleEntry).bundle, nil
	}
	c.entries[key] = c.order.PushFront(&bundleEntry{key: key, bundle: b})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*bundleEntry).key)
	}
	return b, nil
}

// equalJSON compares two values by their JSON encoding.
func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// writeRecordTTL bounds how long a write of ours is trusted over an informer
// cache that has not shown it yet: normally milliseconds, but minutes when an
// overloaded API server cuts the hub's watch and it streams every work again.
const writeRecordTTL = 10 * time.Minute

// wrote remembers a work we wrote until the cache shows it: a stub with its
// content hash, since the works' manifests are large and shared.
func (r *SubscriptionReconciler) wrote(w *workv1.ManifestWork, hash string) {
	r.written.Wrote(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: w.Namespace, Name: w.Name, ResourceVersion: w.ResourceVersion,
		Annotations: map[string]string{appsv1.AnnotationContentHash: hash},
	}}, time.Now())
}

// pendingWrite reports whether we wrote the work with this content hash and
// the cache (cached is nil when it has none) does not show that write yet:
// a reconcile running before the cache catches up neither writes it again
// nor trips over AlreadyExists.
func (r *SubscriptionReconciler) pendingWrite(cluster, name, hash string, cached *workv1.ManifestWork) bool {
	var c client.Object
	if cached != nil {
		c = cached
	}
	n := r.written.Newest(cluster+"/"+name, c, time.Now())
	return n != nil && n != c && n.GetAnnotations()[appsv1.AnnotationContentHash] == hash
}
