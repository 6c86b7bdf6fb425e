package work

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	workv1 "open-cluster-management.io/api/work/v1"
)

// remover removes what a work applied, as OCM's agent does: only the very
// object (UID), and only while it names the work's AppliedManifestWork as an
// owner. While another AppliedManifestWork owns it too, another work on the
// hub applies it, or the delete option orphans it, the work only lets go of
// it: the object stays. An object no other work applies is held for the
// hand-off window before it is deleted (see handOff).
type remover struct {
	dyn          dynamic.Interface
	fieldManager string
	log          logr.Logger
	handOff      *handOff
}

// removal is one pass over objects a work no longer applies.
type removal struct {
	owner types.UID
	work  string
	// opt is the work's delete option; nil when the work is gone.
	opt *workv1.DeleteOption
	// claimedBy names another work on the hub that applies an object, or "".
	claimedBy func(workv1.ResourceIdentifier) string
	// hold says deletions wait for the hand-off window.
	hold bool

	// retry is when to look again (0: every object is done).
	retry time.Duration
	// held lists the objects whose hold began in this pass.
	held []string
}

// again notes that an object needs another look after d.
func (rm *removal) again(d time.Duration) {
	if rm.retry == 0 || d < rm.retry {
		rm.retry = d
	}
}

// removing is the delay before looking again at an object being deleted
// (finalizers) or that could not be read.
const removing = time.Second

// remove removes one object the work applied. It reports whether the object
// is gone or no longer the work's; when not, rm says when to look again.
func (r *remover) remove(ctx context.Context, res workv1.AppliedManifestResourceMeta, rm *removal) (bool, error) {
	id := res.ResourceIdentifier
	claimed := rm.claimedBy(id)
	if claimed == "" && rm.hold && ownedByWork(rm.opt, id) {
		wait, began := r.handOff.wait(rm.owner, rm.work, id)
		if began {
			rm.held = append(rm.held, describeID(id))
		}
		if wait > 0 {
			rm.again(wait)
			return false, nil
		}
	}
	done, err := r.removeNow(ctx, res, rm, claimed)
	if done {
		r.handOff.done(rm.owner, id)
	} else {
		rm.again(removing)
	}
	return done, err
}

// removeNow removes or releases the object at once.
func (r *remover) removeNow(ctx context.Context, res workv1.AppliedManifestResourceMeta, rm *removal, claimed string) (bool, error) {
	gvr := schema.GroupVersionResource{Group: res.Group, Version: res.Version, Resource: res.Resource}
	ri := r.dyn.Resource(gvr).Namespace(res.Namespace)
	obj, err := ri.Get(ctx, res.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get %s %s/%s for removal: %w", res.Resource, res.Namespace, res.Name, err)
	case res.UID != "" && string(obj.GetUID()) != res.UID:
		return true, nil
	case obj.GetDeletionTimestamp() != nil:
		return false, nil
	}
	ours, others := owners(obj, rm.owner)
	switch {
	case !ours:
		return true, nil
	case others || !ownedByWork(rm.opt, res.ResourceIdentifier):
		return r.release(ctx, ri, obj, rm.owner)
	case claimed != "":
		r.log.Info("kept an object another ManifestWork applies", "resource", res.Resource, "namespace", res.Namespace, "name", res.Name, "work", claimed)
		return r.release(ctx, ri, obj, rm.owner)
	}
	return r.delete(ctx, ri, res, obj)
}

// describeID names an object in messages.
func describeID(id workv1.ResourceIdentifier) string {
	if id.Namespace == "" {
		return id.Resource + " " + id.Name
	}
	return id.Resource + " " + id.Namespace + "/" + id.Name
}

// owners says whether the object names the AppliedManifestWork as owner, and
// whether other AppliedManifestWorks own it too.
func owners(obj *unstructured.Unstructured, ownerUID types.UID) (ours, others bool) {
	for _, o := range obj.GetOwnerReferences() {
		switch {
		case o.UID == ownerUID:
			ours = true
		case o.Kind == "AppliedManifestWork":
			others = true
		}
	}
	return ours, others
}

// release drops the AppliedManifestWork from the object's owners.
func (r *remover) release(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured, ownerUID types.UID) (bool, error) {
	var kept []metav1.OwnerReference
	for _, o := range obj.GetOwnerReferences() {
		if o.UID != ownerUID {
			kept = append(kept, o)
		}
	}
	if kept == nil {
		kept = []metav1.OwnerReference{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": kept, "resourceVersion": obj.GetResourceVersion()}})
	if err != nil {
		return false, err
	}
	if _, err := ri.Patch(ctx, obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: r.fieldManager}); err != nil {
		return false, fmt.Errorf("release %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return true, nil
}

// delete deletes the very object the work applied (UID precondition).
func (r *remover) delete(ctx context.Context, ri dynamic.ResourceInterface, res workv1.AppliedManifestResourceMeta, obj *unstructured.Unstructured) (bool, error) {
	uid := obj.GetUID()
	// Background propagation: the object goes at once; a garbage collector,
	// where there is one, removes what it owns.
	policy := metav1.DeletePropagationBackground
	err := ri.Delete(ctx, res.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("delete %s %s/%s: %w", res.Resource, res.Namespace, res.Name, err)
	}
	r.log.Info("deleted an object the work applied", "resource", res.Resource, "namespace", res.Namespace, "name", res.Name)
	after, err := ri.Get(ctx, res.Name, metav1.GetOptions{})
	return apierrors.IsNotFound(err) || err == nil && after.GetUID() != uid, nil
}
