package apply

import (
	"context"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

// update creates the object or replaces it with the manifest, keeping the
// live labels, annotations, owners and finalizers it does not set, as OCM's
// Update strategy does.
type update struct{ cfg Config }

// maxAttempts bounds the retries of a write that raced another writer.
const maxAttempts = 4

func (u *update) Apply(ctx context.Context, req *Request) (Result, error) {
	// Unknown counts as absent: a create that finds the object reads it.
	live := req.Live
	for attempt := 1; ; attempt++ {
		obj, err := u.write(ctx, req, live)
		if retryable(err) && attempt < maxAttempts {
			if live, err = get(ctx, u.cfg.Read, req); err != nil {
				return Result{}, err
			}
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("update: %w", err)
		}
		obj.SetManagedFields(nil)
		base, err := drift.FromShape(req.Object, obj, nil)
		return Result{Object: obj, Baseline: base}, err
	}
}

// retryable says a write failed because the object changed meanwhile.
func retryable(err error) bool {
	return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) || apierrors.IsNotFound(err)
}

func (u *update) write(ctx context.Context, req *Request, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	required := req.Object.DeepCopy()
	setLabel(required, LabelManaged, "true")
	if live == nil {
		if req.Owned {
			required.SetOwnerReferences(append(required.GetOwnerReferences(), req.Owner))
		}
		return create(ctx, req, u.cfg.FieldManager, required)
	}
	required.SetLabels(merged(live.GetLabels(), required.GetLabels()))
	required.SetAnnotations(merged(live.GetAnnotations(), required.GetAnnotations()))
	required.SetOwnerReferences(mergeOwners(live.GetOwnerReferences(), required.GetOwnerReferences(), req.Owner, req.Owned))
	required.SetFinalizers(live.GetFinalizers())
	required.SetResourceVersion(live.GetResourceVersion())
	return req.resource().Update(ctx, required, metav1.UpdateOptions{FieldManager: u.cfg.FieldManager})
}

func (u *update) Preview(ctx context.Context, req *Request) (drift.Drift, error) {
	return dryRun(ctx, u.cfg, req)
}

// create creates obj in the request's namespace.
func create(ctx context.Context, req *Request, fieldManager string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return inNamespace(req, func() (*unstructured.Unstructured, error) {
		return req.resource().Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
	})
}

// merged returns base overlaid with over.
func merged(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

// mergeOwners keeps the live owners, adds the manifest's, and adds or drops
// the AppliedManifestWork as the delete option says.
func mergeOwners(live, manifest []metav1.OwnerReference, owner metav1.OwnerReference, owned bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	seen := map[string]bool{}
	add := func(r metav1.OwnerReference) {
		if r.UID == owner.UID && !owned || seen[string(r.UID)] {
			return
		}
		seen[string(r.UID)] = true
		out = append(out, r)
	}
	for _, r := range live {
		add(r)
	}
	for _, r := range manifest {
		add(r)
	}
	if owned {
		add(owner)
	}
	return out
}
