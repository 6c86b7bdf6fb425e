package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	workv1 "open-cluster-management.io/api/work/v1"
)

// amwName names the AppliedManifestWork of a work, as OCM does.
func (a *Agent) amwName(work string) string { return a.hubHash + "-" + work }

// ensureAMW returns the work's AppliedManifestWork, creating it. Its UID is
// the owner of everything the work applies.
func (a *Agent) ensureAMW(ctx context.Context, work *workv1.ManifestWork, st *workState) (*workv1.AppliedManifestWork, error) {
	name := a.amwName(work.Name)
	amw := st.amw
	if item, ok, _ := a.amwInformer.GetIndexer().GetByKey(name); ok {
		cached := item.(*workv1.AppliedManifestWork)
		if amw == nil || amw.UID != cached.UID || newerRV(cached.ResourceVersion, amw.ResourceVersion) {
			amw = cached.DeepCopy()
		}
	} else if amw != nil && time.Since(amw.CreationTimestamp.Time) > 30*time.Second {
		// Not in the cache long after it was made: check it still exists.
		if _, err := a.amws.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			amw = nil
		}
	}
	if amw != nil && amw.DeletionTimestamp != nil {
		return nil, fmt.Errorf("AppliedManifestWork %s is being deleted; the work is applied again once its objects are removed", name)
	}
	spec := workv1.AppliedManifestWorkSpec{HubHash: a.hubHash, AgentID: a.opts.AgentID, ManifestWorkName: work.Name}
	if amw == nil {
		created, err := a.amws.Create(ctx, &workv1.AppliedManifestWork{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: work.Labels, Finalizers: []string{workv1.AppliedManifestWorkFinalizer}},
			Spec:       spec,
		}, metav1.CreateOptions{})
		switch {
		case apierrors.IsAlreadyExists(err):
			if created, err = a.amws.Get(ctx, name, metav1.GetOptions{}); err != nil {
				return nil, fmt.Errorf("get AppliedManifestWork %s: %w", name, err)
			}
		case err != nil:
			return nil, fmt.Errorf("create AppliedManifestWork %s: %w", name, err)
		}
		amw = created
	}
	if amw.Spec != spec {
		amw.Spec = spec
		updated, err := a.amws.Update(ctx, amw, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("update AppliedManifestWork %s: %w", name, err)
		}
		amw = updated
	}
	st.amw = amw
	return amw, nil
}

// addWorkFinalizer makes the hub keep a deleted work until the agent removed
// what it applied.
func (a *Agent) addWorkFinalizer(ctx context.Context, work *workv1.ManifestWork) error {
	fins := append(append([]string(nil), work.Finalizers...), workv1.ManifestWorkFinalizer)
	updated, err := a.patchFinalizers(ctx, work, fins)
	if err != nil {
		return fmt.Errorf("add finalizer to ManifestWork %s/%s: %w", work.Namespace, work.Name, err)
	}
	work.Finalizers, work.ResourceVersion = updated.Finalizers, updated.ResourceVersion
	return nil
}

func (a *Agent) patchFinalizers(ctx context.Context, work *workv1.ManifestWork, fins []string) (*workv1.ManifestWork, error) {
	if fins == nil {
		fins = []string{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": fins, "resourceVersion": work.ResourceVersion}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	return a.works.Patch(ctx, work.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// identity is an applied resource without version and UID.
func identity(r workv1.AppliedManifestResourceMeta) workv1.ResourceIdentifier {
	return r.ResourceIdentifier
}

// syncAppliedResources records what the work applied in its
// AppliedManifestWork and removes the objects the work no longer has. It
// reports whether removals are still in progress.
func (a *Agent) syncAppliedResources(ctx context.Context, work *workv1.ManifestWork, st *workState, ms []*manifest, outcomes []*outcome) (bool, error) {
	amw := st.amw
	old := map[workv1.ResourceIdentifier]workv1.AppliedManifestResourceMeta{}
	for _, r := range amw.Status.AppliedResources {
		old[identity(r)] = r
	}
	allResolved := true
	current := map[workv1.ResourceIdentifier]workv1.AppliedManifestResourceMeta{}
	for i, m := range ms {
		if m.obj == nil {
			allResolved = false
			continue
		}
		if m.strategy.Type == workv1.UpdateStrategyTypeReadOnly {
			continue
		}
		id := workv1.ResourceIdentifier{Group: m.meta.Group, Resource: m.meta.Resource, Namespace: m.meta.Namespace, Name: m.meta.Name}
		if o := outcomes[i]; o.err == nil && o.live != nil {
			current[id] = workv1.AppliedManifestResourceMeta{ResourceIdentifier: id, Version: m.meta.Version, UID: string(o.live.GetUID())}
		} else if prev, ok := old[id]; ok {
			current[id] = prev
		}
	}
	var errs []error
	pending := false
	for id, r := range old {
		if _, ok := current[id]; ok {
			continue
		}
		if !allResolved {
			// A manifest that cannot be read may still name this object:
			// never remove anything on bad input.
			current[id] = r
			continue
		}
		done, err := a.removeApplied(ctx, r, amw.UID, work.Spec.DeleteOption)
		if err != nil {
			errs = append(errs, err)
		}
		if !done {
			current[id] = r
			pending = true
		}
	}
	list := make([]workv1.AppliedManifestResourceMeta, 0, len(current))
	for _, r := range current {
		list = append(list, r)
	}
	sortApplied(list)
	if !equality.Semantic.DeepEqual(list, amw.Status.AppliedResources) && !(len(list) == 0 && len(amw.Status.AppliedResources) == 0) {
		cp := amw.DeepCopy()
		cp.Status.AppliedResources = list
		updated, err := a.amws.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		if err != nil {
			st.amw = nil // re-read on the next sync
			errs = append(errs, fmt.Errorf("record applied resources in AppliedManifestWork %s: %w", amw.Name, err))
		} else {
			st.amw = updated
		}
	}
	return pending, errors.Join(errs...)
}

func sortApplied(list []workv1.AppliedManifestResourceMeta) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

// removeApplied removes one object the work applied: only the very object
// (UID) and only while it still names the AppliedManifestWork as owner, so
// objects the agent did not create, or that were orphaned, stay. It reports
// whether the object is gone (or no longer the work's).
func (a *Agent) removeApplied(ctx context.Context, r workv1.AppliedManifestResourceMeta, ownerUID types.UID, opt *workv1.DeleteOption) (bool, error) {
	gvr := schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
	ri := a.dyn.Resource(gvr).Namespace(r.Namespace)
	obj, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get %s %s/%s for removal: %w", r.Resource, r.Namespace, r.Name, err)
	}
	if r.UID != "" && string(obj.GetUID()) != r.UID {
		return true, nil
	}
	if obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	owners := obj.GetOwnerReferences()
	ours, others := false, false
	for _, o := range owners {
		switch {
		case o.UID == ownerUID:
			ours = true
		case o.Kind == "AppliedManifestWork":
			others = true
		}
	}
	if !ours {
		return true, nil
	}
	if others || !ownedByWork(opt, r.ResourceIdentifier) {
		// Another work still applies it, or it is to be orphaned: only let go.
		kept := make([]metav1.OwnerReference, 0, len(owners))
		for _, o := range owners {
			if o.UID != ownerUID {
				kept = append(kept, o)
			}
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": kept, "resourceVersion": obj.GetResourceVersion()}})
		if _, err := ri.Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: a.opts.FieldManager}); err != nil {
			return false, fmt.Errorf("release %s %s/%s: %w", r.Resource, r.Namespace, r.Name, err)
		}
		return true, nil
	}
	uid := obj.GetUID()
	// Background propagation: the object goes at once; a garbage collector,
	// where there is one, removes what it owns.
	policy := metav1.DeletePropagationBackground
	err = ri.Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("delete %s %s/%s: %w", r.Resource, r.Namespace, r.Name, err)
	}
	a.log.Info("deleted an object the work applied", "resource", r.Resource, "namespace", r.Namespace, "name", r.Name)
	after, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || err == nil && after.GetUID() != uid {
		return true, nil
	}
	return false, nil
}

// finalize removes what a deleted work applied, then lets the hub delete it.
func (a *Agent) finalize(ctx context.Context, work *workv1.ManifestWork) (time.Duration, error) {
	if !hasString(work.Finalizers, workv1.ManifestWorkFinalizer) {
		a.forget(work.Name)
		return 0, nil
	}
	name := a.amwName(work.Name)
	amw, err := a.amws.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		amw = nil
	case err != nil:
		return 0, fmt.Errorf("get AppliedManifestWork %s: %w", name, err)
	}
	if amw != nil {
		pending, err := a.removeAll(ctx, amw, work.Spec.DeleteOption)
		if err != nil || pending {
			return time.Second, err
		}
		if err := a.deleteAMW(ctx, amw); err != nil {
			return 0, err
		}
	}
	var fins []string
	for _, f := range work.Finalizers {
		if f != workv1.ManifestWorkFinalizer {
			fins = append(fins, f)
		}
	}
	if _, err := a.patchFinalizers(ctx, work, fins); err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("remove finalizer from ManifestWork %s/%s: %w", work.Namespace, work.Name, err)
	}
	a.forget(work.Name)
	a.log.Info("ManifestWork deleted; removed what it applied", "work", work.Name)
	return 0, nil
}

// removeAll removes every object an AppliedManifestWork records. opt is the
// work's delete option, or nil when the work is gone (then every object still
// owned is removed).
func (a *Agent) removeAll(ctx context.Context, amw *workv1.AppliedManifestWork, opt *workv1.DeleteOption) (bool, error) {
	var errs []error
	pending := false
	var remaining []workv1.AppliedManifestResourceMeta
	for _, r := range amw.Status.AppliedResources {
		done, err := a.removeApplied(ctx, r, amw.UID, opt)
		if err != nil {
			errs = append(errs, err)
		}
		if !done {
			pending = true
			remaining = append(remaining, r)
		}
	}
	if len(remaining) != len(amw.Status.AppliedResources) {
		cp := amw.DeepCopy()
		cp.Status.AppliedResources = remaining
		if _, err := a.amws.UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update AppliedManifestWork %s: %w", amw.Name, err))
		}
	}
	return pending, errors.Join(errs...)
}

// deleteAMW removes an AppliedManifestWork whose objects are gone.
func (a *Agent) deleteAMW(ctx context.Context, amw *workv1.AppliedManifestWork) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": []string{}}})
	if _, err := a.amws.Patch(ctx, amw.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release AppliedManifestWork %s: %w", amw.Name, err)
	}
	if err := a.amws.Delete(ctx, amw.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete AppliedManifestWork %s: %w", amw.Name, err)
	}
	return nil
}

// evictionLoop looks after AppliedManifestWorks of this agent whose
// ManifestWork is gone from the hub (or that belong to a hub the agent no
// longer serves): after the grace period their objects are removed. It also
// completes the deletion of AppliedManifestWorks deleted on the spoke.
func (a *Agent) evictionLoop(ctx context.Context) {
	interval := min(a.opts.EvictionGracePeriod/4, time.Minute)
	interval = max(interval, 100*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a.evictOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) evictOnce(ctx context.Context) {
	for _, item := range a.amwInformer.GetIndexer().List() {
		amw := item.(*workv1.AppliedManifestWork)
		if amw.Spec.AgentID != a.opts.AgentID {
			continue
		}
		if amw.DeletionTimestamp != nil {
			if hasString(amw.Finalizers, workv1.AppliedManifestWorkFinalizer) {
				a.evict(ctx, amw.DeepCopy(), "it was deleted on the managed cluster")
			}
			continue
		}
		_, exists, _ := a.workInformer.GetIndexer().GetByKey(a.opts.ClusterName + "/" + amw.Spec.ManifestWorkName)
		if exists && amw.Spec.HubHash == a.hubHash {
			if amw.Status.EvictionStartTime != nil {
				cp := amw.DeepCopy()
				cp.Status.EvictionStartTime = nil
				if _, err := a.amws.UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
					a.log.V(1).Info("could not clear eviction time", "appliedManifestWork", amw.Name, "error", err.Error())
				}
			}
			continue
		}
		if amw.Status.EvictionStartTime == nil {
			cp := amw.DeepCopy()
			now := metav1.Now()
			cp.Status.EvictionStartTime = &now
			if _, err := a.amws.UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
				a.log.V(1).Info("could not start eviction", "appliedManifestWork", amw.Name, "error", err.Error())
			} else {
				a.log.Info("ManifestWork is gone from the hub; its objects are removed after the grace period unless it comes back",
					"appliedManifestWork", amw.Name, "gracePeriod", a.opts.EvictionGracePeriod.String())
			}
			continue
		}
		if time.Since(amw.Status.EvictionStartTime.Time) >= a.opts.EvictionGracePeriod {
			a.evict(ctx, amw.DeepCopy(), "its ManifestWork is gone from the hub")
		}
	}
}

func (a *Agent) evict(ctx context.Context, amw *workv1.AppliedManifestWork, why string) {
	pending, err := a.removeAll(ctx, amw, nil)
	if err != nil || pending {
		if err != nil {
			a.log.Error(err, "evict AppliedManifestWork", "appliedManifestWork", amw.Name)
		}
		return
	}
	if err := a.deleteAMW(ctx, amw); err != nil {
		a.log.Error(err, "evict AppliedManifestWork", "appliedManifestWork", amw.Name)
		return
	}
	a.log.Info("removed the objects of an AppliedManifestWork because "+why, "appliedManifestWork", amw.Name)
}
