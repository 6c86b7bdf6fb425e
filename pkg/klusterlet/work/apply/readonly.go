package apply

import (
	"context"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

// readOnly never writes: it reads the object for status feedback.
type readOnly struct{ cfg Config }

func (r *readOnly) Apply(ctx context.Context, req *Request) (Result, error) {
	obj, err := get(ctx, r.cfg.Read, req)
	return Result{Object: obj}, err
}

func (r *readOnly) Preview(context.Context, *Request) (drift.Drift, error) { return drift.Drift{}, nil }
