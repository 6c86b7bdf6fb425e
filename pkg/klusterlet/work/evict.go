package work

import (
	"context"
	"slices"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	workv1 "open-cluster-management.io/api/work/v1"
)

// evictor looks after the AppliedManifestWorks of this agent whose
// ManifestWork is gone from the hub (or that belong to a hub the agent no
// longer serves): after the grace period their objects are removed. It also
// completes the deletion of AppliedManifestWorks deleted on the spoke.
type evictor struct {
	applied     *appliedWorks
	works       cache.SharedIndexInformer
	cluster     string
	gracePeriod time.Duration
	log         logr.Logger
}

// run checks every AppliedManifestWork until ctx ends.
func (e *evictor) run(ctx context.Context) {
	interval := max(min(e.gracePeriod/4, time.Minute), 100*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		e.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *evictor) once(ctx context.Context) {
	for _, item := range e.applied.informer.GetIndexer().List() {
		amw := item.(*workv1.AppliedManifestWork)
		if amw.Spec.AgentID != e.applied.agentID {
			continue
		}
		if amw.DeletionTimestamp != nil {
			if slices.Contains(amw.Finalizers, workv1.AppliedManifestWorkFinalizer) {
				e.evict(ctx, amw.DeepCopy(), "it was deleted on the managed cluster")
			}
			continue
		}
		e.check(ctx, amw)
	}
}

// check starts, stops or completes the eviction of one AppliedManifestWork.
func (e *evictor) check(ctx context.Context, amw *workv1.AppliedManifestWork) {
	_, exists, _ := e.works.GetIndexer().GetByKey(e.cluster + "/" + amw.Spec.ManifestWorkName)
	switch {
	case exists && amw.Spec.HubHash == e.applied.hubHash:
		if amw.Status.EvictionStartTime != nil {
			if err := e.applied.setEvictionStart(ctx, amw, nil); err != nil {
				e.log.Error(err, "could not clear eviction time", "appliedManifestWork", amw.Name)
			}
		}
	case amw.Status.EvictionStartTime == nil:
		now := metav1.Now()
		if err := e.applied.setEvictionStart(ctx, amw, &now); err != nil {
			e.log.Error(err, "could not start eviction", "appliedManifestWork", amw.Name)
			return
		}
		e.log.Info("ManifestWork is gone from the hub; its objects are removed after the grace period unless it comes back",
			"appliedManifestWork", amw.Name, "gracePeriod", e.gracePeriod.String())
	case time.Since(amw.Status.EvictionStartTime.Time) >= e.gracePeriod:
		e.evict(ctx, amw.DeepCopy(), "its ManifestWork is gone from the hub")
	}
}

func (e *evictor) evict(ctx context.Context, amw *workv1.AppliedManifestWork, why string) {
	// The grace period was the hand-off window: no further hold.
	rm, err := e.applied.removeAll(ctx, amw, nil, false)
	if err == nil && rm.retry == 0 {
		err = e.applied.delete(ctx, amw)
		if err == nil {
			e.log.Info("removed the objects of an AppliedManifestWork because "+why, "appliedManifestWork", amw.Name)
			return
		}
	}
	if err != nil {
		e.log.Error(err, "evict AppliedManifestWork", "appliedManifestWork", amw.Name)
	}
}
