package hub

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
)

// syncWorks writes the desired works of the clusters in send, deleting their
// stale split parts, and deletes every work of the clusters in remove. Works
// already carrying the desired content are not written; clusters in neither
// are not touched.
func (r *SubscriptionReconciler) syncWorks(ctx context.Context, sub *appsv1.Subscription, revision string, send map[string]*bundle, existing map[string][]*workv1.ManifestWork, remove []string) error {
	var writes []*workv1.ManifestWork
	var deletes []*workv1.ManifestWork
	for cluster, b := range send {
		have := map[string]*workv1.ManifestWork{}
		for _, w := range existing[cluster] {
			have[w.Name] = w
		}
		for _, w := range desiredWorks(sub, cluster, revision, b) {
			old, ok := have[w.Name]
			delete(have, w.Name)
			if ok && upToDate(old, w) {
				continue
			}
			if ok {
				w.ResourceVersion = old.ResourceVersion
			}
			writes = append(writes, w)
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
			if err := r.writeWork(gctx, w); err != nil {
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

// writeWork creates a work, or replaces its spec when it exists. Conflicts are
// retried by the caller's next reconcile.
func (r *SubscriptionReconciler) writeWork(ctx context.Context, w *workv1.ManifestWork) error {
	if w.ResourceVersion == "" {
		err := r.Client.Create(ctx, w)
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return fmt.Errorf("create ManifestWork %s/%s: %w", w.Namespace, w.Name, err)
			}
			return nil
		}
		// Created by an earlier reconcile the cache has not shown yet.
		current := &workv1.ManifestWork{}
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(w), current); err != nil {
			return fmt.Errorf("get ManifestWork %s/%s: %w", w.Namespace, w.Name, err)
		}
		w.ResourceVersion = current.ResourceVersion
	}
	if err := r.Client.Update(ctx, w); err != nil {
		return fmt.Errorf("update ManifestWork %s/%s: %w", w.Namespace, w.Name, err)
	}
	return nil
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
			}
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
