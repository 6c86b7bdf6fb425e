package work

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/health"
)

// hubTimeout bounds a write to the hub, so an unreachable hub (packets
// dropped, not refused) cannot hold a worker that could be correcting drift.
const hubTimeout = 30 * time.Second

// errManifestsFailed makes the queue retry a work with backoff.
var errManifestsFailed = errors.New("some manifests failed to apply")

// sync brings one ManifestWork's objects and status up to date: the finalize
// reconciler for a deleted work; else the apply reconciler, then the status
// and the applied-resources reconcilers. It returns when to look again
// without events.
func (a *Agent) sync(ctx context.Context, name string) (time.Duration, error) {
	a.route()
	cached, exists := a.lookupWork(name)
	if !exists {
		// Gone from the hub: objects stay until the AppliedManifestWork is
		// evicted after the grace period (see evictor). Works that shared an
		// object with it may take it over.
		a.requeueSharing(name)
		a.forget(name)
		return 0, nil
	}
	work := cached.DeepCopy()
	if work.DeletionTimestamp != nil {
		return a.finalizer.finalize(ctx, work)
	}
	if health.WorkComplete(&work.Status) {
		// As OCM: a Complete work gets no more updates; OCM's hub deletes
		// it ttlSecondsAfterFinished later.
		return 0, nil
	}
	st := a.states.get(name)
	if err := a.prepare(ctx, work, st); err != nil {
		return 0, err
	}
	ms := st.manifests(work, st.amw.UID, a.mapper)
	a.applier.track(name, ms)
	outcomes := a.applier.reconcile(ctx, work, st, ms)
	a.health.Synced(name)
	removals, err := a.report(ctx, work, st, ms, outcomes)
	if err != nil {
		return 0, err
	}
	return a.next(st, ms, outcomes, removals)
}

// unrouted are the works whose objects the routes do not know yet: new
// ones, and those whose manifests changed.
type unrouted struct {
	mu    sync.Mutex
	names map[string]bool
	// routing is held while routing, so no sync goes on before it is done.
	routing sync.Mutex
}

func (u *unrouted) add(work string) {
	u.mu.Lock()
	u.names[work] = true
	u.mu.Unlock()
}

func (u *unrouted) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.names))
	for w := range u.names {
		out = append(out, w)
	}
	clear(u.names)
	return out
}

// route points the routes at the objects of every work not routed yet,
// before a sync decides anything: a work must know every other work that
// applies its objects before it writes one, or the loser of a conflict
// would write once when it happens to sync first (after a restart, or when
// both works arrive together).
func (a *Agent) route() {
	a.unrouted.routing.Lock()
	defer a.unrouted.routing.Unlock()
	for _, name := range a.unrouted.take() {
		if w, ok := a.lookupWork(name); ok {
			a.applier.track(name, resolveManifests(w, a.mapper, ""))
		}
	}
}

// prepare writes, in parallel, what must exist before applying: the
// finalizer on the hub and the AppliedManifestWork on the managed cluster.
func (a *Agent) prepare(ctx context.Context, work *workv1.ManifestWork, st *workState) error {
	var (
		wg     sync.WaitGroup
		finErr error
	)
	if !slices.Contains(work.Finalizers, workv1.ManifestWorkFinalizer) {
		wg.Go(func() { finErr = a.hubWorks.addFinalizer(ctx, work) })
	}
	_, err := a.applied.ensure(ctx, work, st)
	wg.Wait()
	return errors.Join(finErr, err)
}

// report writes, in parallel, the work's status to the hub and what it
// applied to its AppliedManifestWork (removing what it no longer has). The
// removal says when to look again at objects still being removed.
func (a *Agent) report(ctx context.Context, work *workv1.ManifestWork, st *workState, ms []*manifest, outcomes []*outcome) (*removal, error) {
	var (
		wg        sync.WaitGroup
		statusErr error
	)
	wg.Go(func() { statusErr = a.status.write(ctx, work, outcomes) })
	rm, err := a.applied.record(ctx, work, st, ms, outcomes)
	wg.Wait()
	a.applier.events.heldForHandOff(ctx, work, rm)
	return rm, errors.Join(statusErr, err)
}

// next says when to look at a work again: when removals in progress or
// held need another look, when a delayed drift correction is due, after the
// jittered resync otherwise; failed manifests that may succeed are retried
// with backoff.
func (a *Agent) next(st *workState, ms []*manifest, outcomes []*outcome, removals *removal) (time.Duration, error) {
	after := a.resync()
	retry := false
	for i, o := range outcomes {
		if o.err != nil && ms[i].retryable() && !isConflict(o.err) {
			retry = true
		}
		if !o.backingOff {
			continue
		}
		if d := time.Until(st.object(ms[i].key()).corrections.Next()); d > 0 && d < after {
			after = d
		}
	}
	if removals.retry > 0 {
		after = min(after, removals.retry)
	}
	if retry {
		return 0, errManifestsFailed
	}
	return after, nil
}

// retryable says whether a failed manifest may succeed without a spec change.
func (m *manifest) retryable() bool { return m.obj != nil || m.mappingErr }

// forget drops what the agent remembers of a work that is gone.
func (a *Agent) forget(work string) {
	a.states.forget(work)
	a.health.Forget(work)
	a.writes.forget(a.routes.forget(work))
}
