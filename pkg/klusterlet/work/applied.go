package work

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	workv1client "open-cluster-management.io/api/client/work/clientset/versioned/typed/work/v1"

	workv1 "open-cluster-management.io/api/work/v1"
)

// appliedWorks keeps the AppliedManifestWorks on the managed cluster: one per
// work, named as OCM names it, whose UID owns what the work applies and whose
// status lists it, so a restarted agent removes exactly what it applied.
type appliedWorks struct {
	client   workv1client.AppliedManifestWorkInterface
	informer cache.SharedIndexInformer
	hubHash  string
	agentID  string
	remover  *remover
	claims   *claims
}

// name names the AppliedManifestWork of a work, as OCM does.
func (a *appliedWorks) name(work string) string { return a.hubHash + "-" + work }

// ensure returns the work's AppliedManifestWork, creating it.
func (a *appliedWorks) ensure(ctx context.Context, work *workv1.ManifestWork, st *workState) (*workv1.AppliedManifestWork, error) {
	name := a.name(work.Name)
	amw := a.known(ctx, name, st.amw)
	if amw != nil && amw.DeletionTimestamp != nil {
		return nil, fmt.Errorf("AppliedManifestWork %s is being deleted; the work is applied again once its objects are removed", name)
	}
	spec := workv1.AppliedManifestWorkSpec{HubHash: a.hubHash, AgentID: a.agentID, ManifestWorkName: work.Name}
	var err error
	if amw == nil {
		if amw, err = a.create(ctx, name, work, spec); err != nil {
			return nil, err
		}
	}
	if amw.Spec != spec {
		amw.Spec = spec
		if amw, err = a.client.Update(ctx, amw, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("update AppliedManifestWork %s: %w", name, err)
		}
	}
	st.amw = amw
	return amw, nil
}

// known returns the newest AppliedManifestWork the agent knows of: the
// cache's, or the one it made itself before the cache saw it.
func (a *appliedWorks) known(ctx context.Context, name string, mine *workv1.AppliedManifestWork) *workv1.AppliedManifestWork {
	if item, ok, _ := a.informer.GetIndexer().GetByKey(name); ok {
		cached := item.(*workv1.AppliedManifestWork)
		if mine == nil || mine.UID != cached.UID || newerRV(cached.ResourceVersion, mine.ResourceVersion) {
			return cached.DeepCopy()
		}
		return mine
	}
	if mine != nil && time.Since(mine.CreationTimestamp.Time) > 30*time.Second {
		// Not in the cache long after it was made: check it still exists.
		if _, err := a.client.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
	}
	return mine
}

func (a *appliedWorks) create(ctx context.Context, name string, work *workv1.ManifestWork, spec workv1.AppliedManifestWorkSpec) (*workv1.AppliedManifestWork, error) {
	created, err := a.client.Create(ctx, &workv1.AppliedManifestWork{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: work.Labels, Finalizers: []string{workv1.AppliedManifestWorkFinalizer}},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = a.client.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create AppliedManifestWork %s: %w", name, err)
	}
	return created, nil
}

// record lists what the work applied in its AppliedManifestWork and removes
// the objects the work no longer has (held for the hand-off window when no
// other work applies them). The removal says when to look again.
func (a *appliedWorks) record(ctx context.Context, work *workv1.ManifestWork, st *workState, ms []*manifest, outcomes []*outcome) (*removal, error) {
	amw := st.amw
	current, allResolved := appliedNow(amw.Status.AppliedResources, ms, outcomes)
	var errs []error
	rm := &removal{owner: amw.UID, work: work.Name, opt: work.Spec.DeleteOption, claimedBy: a.claims.of(work.Name), hold: true}
	for _, r := range amw.Status.AppliedResources {
		if _, ok := current[r.ResourceIdentifier]; ok {
			continue
		}
		if !allResolved {
			// A manifest that cannot be read may still name this object:
			// never remove anything on bad input.
			current[r.ResourceIdentifier] = r
			continue
		}
		done, err := a.remover.remove(ctx, r, rm)
		if err != nil {
			errs = append(errs, err)
		}
		if !done {
			current[r.ResourceIdentifier] = r
		}
	}
	if err := a.setApplied(ctx, st, sortedApplied(current)); err != nil {
		errs = append(errs, err)
	}
	return rm, errors.Join(errs...)
}

// appliedNow is what the work applies after a sync: the objects applied now,
// and those it failed to apply this time but had applied before.
func appliedNow(old []workv1.AppliedManifestResourceMeta, ms []*manifest, outcomes []*outcome) (map[workv1.ResourceIdentifier]workv1.AppliedManifestResourceMeta, bool) {
	before := map[workv1.ResourceIdentifier]workv1.AppliedManifestResourceMeta{}
	for _, r := range old {
		before[r.ResourceIdentifier] = r
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
		} else if prev, ok := before[id]; ok {
			current[id] = prev
		}
	}
	return current, allResolved
}

func sortedApplied(m map[workv1.ResourceIdentifier]workv1.AppliedManifestResourceMeta) []workv1.AppliedManifestResourceMeta {
	list := make([]workv1.AppliedManifestResourceMeta, 0, len(m))
	for _, r := range m {
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b workv1.AppliedManifestResourceMeta) int {
		for _, c := range [][2]string{{a.Group, b.Group}, {a.Resource, b.Resource}, {a.Namespace, b.Namespace}, {a.Name, b.Name}} {
			if c[0] != c[1] {
				if c[0] < c[1] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	return list
}

// setApplied writes the list of applied resources when it changed.
func (a *appliedWorks) setApplied(ctx context.Context, st *workState, list []workv1.AppliedManifestResourceMeta) error {
	amw := st.amw
	if len(list) == 0 && len(amw.Status.AppliedResources) == 0 || equality.Semantic.DeepEqual(list, amw.Status.AppliedResources) {
		return nil
	}
	cp := amw.DeepCopy()
	cp.Status.AppliedResources = list
	updated, err := a.client.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		st.amw = nil // read again on the next sync
		return fmt.Errorf("record applied resources in AppliedManifestWork %s: %w", amw.Name, err)
	}
	st.amw = updated
	return nil
}

// removeAll removes every object an AppliedManifestWork records. opt is the
// work's delete option, or nil when the work is gone (then every object still
// owned is removed); hold says deletions wait for the hand-off window. The
// removal says when to look again.
func (a *appliedWorks) removeAll(ctx context.Context, amw *workv1.AppliedManifestWork, opt *workv1.DeleteOption, hold bool) (*removal, error) {
	var errs []error
	var remaining []workv1.AppliedManifestResourceMeta
	rm := &removal{owner: amw.UID, work: amw.Spec.ManifestWorkName, opt: opt, claimedBy: a.claims.of(amw.Spec.ManifestWorkName), hold: hold}
	for _, r := range amw.Status.AppliedResources {
		done, err := a.remover.remove(ctx, r, rm)
		if err != nil {
			errs = append(errs, err)
		}
		if !done {
			remaining = append(remaining, r)
		}
	}
	if len(remaining) != len(amw.Status.AppliedResources) {
		cp := amw.DeepCopy()
		cp.Status.AppliedResources = remaining
		if _, err := a.client.UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update AppliedManifestWork %s: %w", amw.Name, err))
		}
	}
	return rm, errors.Join(errs...)
}

// delete removes an AppliedManifestWork whose objects are gone.
func (a *appliedWorks) delete(ctx context.Context, amw *workv1.AppliedManifestWork) error {
	patch := []byte(`{"metadata":{"finalizers":[]}}`)
	if _, err := a.client.Patch(ctx, amw.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release AppliedManifestWork %s: %w", amw.Name, err)
	}
	if err := a.client.Delete(ctx, amw.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete AppliedManifestWork %s: %w", amw.Name, err)
	}
	return nil
}

// setEvictionStart records (or clears, with nil) when eviction began.
func (a *appliedWorks) setEvictionStart(ctx context.Context, amw *workv1.AppliedManifestWork, at *metav1.Time) error {
	cp := amw.DeepCopy()
	cp.Status.EvictionStartTime = at
	_, err := a.client.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	return err
}
