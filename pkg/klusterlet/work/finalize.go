package work

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	workv1client "open-cluster-management.io/api/client/work/clientset/versioned/typed/work/v1"

	workv1 "open-cluster-management.io/api/work/v1"
)

// hubWorks writes the metadata of ManifestWorks on the hub: the finalizer
// that keeps a deleted work until the agent removed what it applied.
type hubWorks struct {
	client workv1client.ManifestWorkInterface
}

// addFinalizer makes the hub keep a deleted work until the agent removed
// what it applied.
func (h *hubWorks) addFinalizer(ctx context.Context, work *workv1.ManifestWork) error {
	fins := append(slices.Clone(work.Finalizers), workv1.ManifestWorkFinalizer)
	updated, err := h.setFinalizers(ctx, work, fins)
	if err != nil {
		return fmt.Errorf("add finalizer to ManifestWork %s/%s: %w", work.Namespace, work.Name, err)
	}
	work.Finalizers, work.ResourceVersion = updated.Finalizers, updated.ResourceVersion
	return nil
}

// removeFinalizer lets the hub delete the work.
func (h *hubWorks) removeFinalizer(ctx context.Context, work *workv1.ManifestWork) error {
	fins := slices.DeleteFunc(slices.Clone(work.Finalizers), func(f string) bool { return f == workv1.ManifestWorkFinalizer })
	if _, err := h.setFinalizers(ctx, work, fins); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer from ManifestWork %s/%s: %w", work.Namespace, work.Name, err)
	}
	return nil
}

// setFinalizers writes the finalizers of the version of the work the agent
// read (resourceVersion precondition), so no other writer's change is lost.
func (h *hubWorks) setFinalizers(ctx context.Context, work *workv1.ManifestWork, fins []string) (*workv1.ManifestWork, error) {
	if fins == nil {
		fins = []string{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": fins, "resourceVersion": work.ResourceVersion}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	return h.client.Patch(ctx, work.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// finalizer removes what a deleted work applied, then lets the hub delete it.
type finalizer struct {
	hub     *hubWorks
	applied *appliedWorks
	events  *eventRecorder
	forget  func(work string)
	log     logr.Logger
}

// finalize returns when to look again while removals are in progress.
func (f *finalizer) finalize(ctx context.Context, work *workv1.ManifestWork) (time.Duration, error) {
	if !slices.Contains(work.Finalizers, workv1.ManifestWorkFinalizer) {
		f.forget(work.Name)
		return 0, nil
	}
	name := f.applied.name(work.Name)
	amw, err := f.applied.client.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		amw = nil
	case err != nil:
		return 0, fmt.Errorf("get AppliedManifestWork %s: %w", name, err)
	}
	if amw != nil {
		rm, err := f.applied.removeAll(ctx, amw, work.Spec.DeleteOption, true)
		f.events.heldForHandOff(ctx, work, rm)
		if err != nil {
			return 0, err
		}
		if rm.retry > 0 {
			return rm.retry, nil
		}
		if err := f.applied.delete(ctx, amw); err != nil {
			return 0, err
		}
	}
	if err := f.hub.removeFinalizer(ctx, work); err != nil {
		return 0, err
	}
	f.forget(work.Name)
	f.log.Info("ManifestWork deleted; removed what it applied", "work", work.Name)
	return 0, nil
}
