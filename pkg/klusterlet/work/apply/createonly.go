package apply

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

// createOnly creates the object when it is missing and never updates it;
// only its deletion is drift.
type createOnly struct{ cfg Config }

func (c *createOnly) Apply(ctx context.Context, req *Request) (Result, error) {
	if req.LiveKnown && req.Live != nil {
		return c.existing(ctx, req, req.Live)
	}
	obj := req.Object.DeepCopy()
	setLabel(obj, LabelManaged, "true")
	if req.Owned {
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), req.Owner))
	}
	created, err := create(ctx, req, c.cfg.FieldManager, obj)
	if apierrors.IsAlreadyExists(err) {
		if created, err = get(ctx, c.cfg.Read, req); err == nil && created != nil {
			return c.existing(ctx, req, created)
		}
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Object: created, Baseline: drift.Existence()}, nil
}

// existing leaves an object that is already there as it is, but for its
// owners: one another work created is shared, so the work joins its owners
// and the object stays while any of them applies it; one that was on the
// cluster before any work is never owned (a work does not delete what it
// found).
func (c *createOnly) existing(ctx context.Context, req *Request, live *unstructured.Unstructured) (Result, error) {
	if req.Owned && !ownedBy(live, req.Owner.UID) && !OwnedByAppliedWork(live, req.Owner.UID) {
		return Result{Object: live, Baseline: drift.Existence()}, nil
	}
	obj, err := setOwner(ctx, c.cfg, req, live)
	return Result{Object: obj, Baseline: drift.Existence()}, err
}

func (c *createOnly) Preview(_ context.Context, req *Request) (drift.Drift, error) {
	return drift.Drift{Deleted: req.Live == nil}, nil
}
