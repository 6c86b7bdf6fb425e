package apply

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

// createOnly creates the object when it is missing and never updates it;
// only its deletion is drift.
type createOnly struct{ cfg Config }

func (c *createOnly) Apply(ctx context.Context, req *Request) (Result, error) {
	if req.LiveKnown && req.Live != nil {
		return Result{Object: req.Live, Baseline: drift.Existence()}, nil
	}
	obj := req.Object.DeepCopy()
	setLabel(obj, LabelManaged, "true")
	if req.Owned {
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), req.Owner))
	}
	created, err := create(ctx, req, c.cfg.FieldManager, obj)
	if apierrors.IsAlreadyExists(err) {
		created, err = get(ctx, c.cfg.Read, req)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Object: created, Baseline: drift.Existence()}, nil
}

func (c *createOnly) Preview(_ context.Context, req *Request) (drift.Drift, error) {
	return drift.Drift{Deleted: req.Live == nil}, nil
}
