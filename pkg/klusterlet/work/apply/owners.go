package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Every AppliedManifestWork that applies an object is one of its owners, as
// with OCM's agent, and a work adds or drops only its own reference. A
// server-side apply carries them in its body, so a first apply is one write:
// the references the object has (works that share a field manager would
// otherwise drop each other's) plus or minus the work's own. Update and
// CreateOnly merge them into what they write; a reference that cannot be
// written with the content is set apart (setOwner).

// appliedWorkGroup is the API group of AppliedManifestWorks.
const appliedWorkGroup = "work.open-cluster-management.io"

// isAppliedWork says whether an owner reference names an AppliedManifestWork.
func isAppliedWork(r metav1.OwnerReference) bool {
	return r.Kind == "AppliedManifestWork" && strings.HasPrefix(r.APIVersion, appliedWorkGroup+"/")
}

// setAppliedOwners puts into an apply body the AppliedManifestWork references
// the object is to carry: those live has (the freshest copy the agent
// knows), with the request's own added or dropped as req.Owned says. Only
// apiVersion, kind, name and uid are set, so the field manager contends over
// no field another writer set. It reports whether the body is guarded by
// live's resourceVersion: when the object is shared, a stale copy would drop
// a reference just added or restore one just released.
func setAppliedOwners(body *unstructured.Unstructured, req *Request, live *unstructured.Unstructured) bool {
	refs := body.GetOwnerReferences()
	has := func(uid types.UID) bool {
		return slices.ContainsFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == uid })
	}
	others := false
	if live != nil {
		for _, r := range live.GetOwnerReferences() {
			if !isAppliedWork(r) || r.UID == req.Owner.UID || has(r.UID) {
				continue
			}
			refs = append(refs, metav1.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID})
			others = true
		}
	}
	if req.Owned && !has(req.Owner.UID) {
		refs = append(refs, req.Owner)
	}
	if len(refs) > 0 {
		body.SetOwnerReferences(refs)
	}
	guarded := live != nil && (others || req.Shared)
	if guarded {
		body.SetResourceVersion(live.GetResourceVersion())
	}
	return guarded
}

// staleVersion says a guarded write failed because the object changed since
// it was read (not because another field manager owns a field).
func staleVersion(err error) bool {
	if !apierrors.IsConflict(err) {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			if c.Type == metav1.CauseTypeFieldManagerConflict {
				return false
			}
		}
	}
	return true
}

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
		if isAppliedWork(r) && r.UID != except {
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
