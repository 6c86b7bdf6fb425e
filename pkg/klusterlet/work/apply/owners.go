package apply

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Owner references are written apart from the content, as OCM's agent does:
// every AppliedManifestWork that applies an object is one of its owners, and
// a work adds or drops only its own reference. (In a server-side apply body
// they would belong to the field manager, and works sharing a manager would
// drop each other's references.)

// withOwner returns refs with owner present (owned) or absent, and whether
// that changed anything.
func withOwner(refs []metav1.OwnerReference, owner metav1.OwnerReference, owned bool) ([]metav1.OwnerReference, bool) {
	out := make([]metav1.OwnerReference, 0, len(refs)+1)
	found := false
	for _, r := range refs {
		if r.UID == owner.UID {
			found = true
			if !owned {
				continue
			}
		}
		out = append(out, r)
	}
	if owned && !found {
		out = append(out, owner)
	}
	return out, found != owned
}

// OwnedByAppliedWork says whether an AppliedManifestWork owns obj, other
// than the one with UID except.
func OwnedByAppliedWork(obj *unstructured.Unstructured, except types.UID) bool {
	for _, r := range obj.GetOwnerReferences() {
		if r.Kind == "AppliedManifestWork" && r.UID != except {
			return true
		}
	}
	return false
}

// ownedBy says whether uid is among obj's owners.
func ownedBy(obj *unstructured.Unstructured, uid types.UID) bool {
	for _, r := range obj.GetOwnerReferences() {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// setOwner adds or drops the request's owner on obj with a merge patch of
// the owner references, guarded by the object's UID and resourceVersion so
// no other writer's reference is lost; it returns the object as it is after.
func setOwner(ctx context.Context, cfg Config, req *Request, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	for attempt := 1; ; attempt++ {
		refs, changed := withOwner(obj.GetOwnerReferences(), req.Owner, req.Owned)
		if !changed {
			return obj, nil
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"uid": obj.GetUID(), "resourceVersion": obj.GetResourceVersion(), "ownerReferences": refs}})
		if err != nil {
			return nil, err
		}
		out, err := req.resource().Patch(ctx, obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: cfg.FieldManager})
		if apierrors.IsConflict(err) && attempt < maxAttempts {
			if obj, err = get(ctx, cfg.Read, req); err == nil && obj != nil {
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("set the owner references of %s: %w", req.describe(), err)
		}
		if out == nil {
			return nil, fmt.Errorf("set the owner references of %s: the object is gone", req.describe())
		}
		out.SetManagedFields(nil)
		return out, nil
	}
}
