package apply

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/ignorefields"
)

// serverSideApply applies with a field manager, forced or not; ignored
// fields carry the live values, and OCM's config-spec-hash annotation tells
// whether the manifest changed since the last apply.
type serverSideApply struct{ cfg Config }

// manager returns the field manager and force flag of a request.
func manager(cfg Config, req *Request) (string, bool) {
	fm, force := cfg.FieldManager, false
	if c := req.Strategy.ServerSideApply; c != nil {
		force = c.Force
		if c.FieldManager != "" {
			fm = c.FieldManager
		}
	}
	return fm, force
}

func (s *serverSideApply) Apply(ctx context.Context, req *Request) (Result, error) {
	fm, force := manager(s.cfg, req)
	required, err := s.required(ctx, req)
	if err != nil {
		return Result{}, err
	}
	obj, err := s.apply(ctx, req, required, fm, force)
	if apierrors.IsConflict(err) {
		return Result{}, &ConflictError{Err: fmt.Errorf("field manager %s conflicts with other managers (set serverSideApply.force to take the fields over): %w", fm, err)}
	}
	if err != nil {
		return Result{}, fmt.Errorf("server-side apply: %w", err)
	}
	base, err := drift.FromApplied(obj, fm, strip(req.ignored()))
	if err != nil {
		return Result{}, err
	}
	obj.SetManagedFields(nil)
	// Only a reference another writer added apart (an older agent, OCM's)
	// outlives its omission from the apply: then a second write drops it.
	obj, err = setOwner(ctx, s.cfg, req, obj)
	return Result{Object: obj, Baseline: base}, err
}

// apply writes the manifest and the owner references in one request (see
// appliedOwners), retrying when the object changed since it was read.
func (s *serverSideApply) apply(ctx context.Context, req *Request, required *unstructured.Unstructured, fm string, force bool) (*unstructured.Unstructured, error) {
	live, known := req.Live, req.LiveKnown
	for attempt := 1; ; attempt++ {
		if !known {
			var err error
			if live, err = get(ctx, s.cfg.Read, req); err != nil {
				return nil, err
			}
			known = true
		}
		body := required.DeepCopy()
		guarded := setAppliedOwners(body, req, live)
		obj, err := inNamespace(req, func() (*unstructured.Unstructured, error) {
			return req.resource().Apply(ctx, body.GetName(), body, metav1.ApplyOptions{FieldManager: fm, Force: force})
		})
		if guarded && staleVersion(err) && attempt < maxAttempts {
			known = false
			continue
		}
		return obj, err
	}
}

// required is the apply request: the manifest, labelled, with the ignored
// fields set to what the cluster has.
func (s *serverSideApply) required(ctx context.Context, req *Request) (*unstructured.Unstructured, error) {
	required := req.Object.DeepCopy()
	setLabel(required, LabelManaged, "true")
	if req.ignored().Empty() {
		return required, nil
	}
	// The hash is of the manifest as written, without the agent's label.
	stripped, err := req.OnPresent.Without(ctx, req.Object.Object)
	if err != nil {
		return nil, err
	}
	hash := ignorefields.SpecHash(stripped)
	setAnnotation(required, workv1.ManifestConfigSpecHashAnnotationKey, hash)
	// Ignored fields must reflect the spoke exactly: read it from the server.
	fresh, err := get(ctx, s.cfg.Read, req)
	if err != nil || fresh == nil {
		return required, err
	}
	adopt := req.OnPresent
	if fresh.GetAnnotations()[workv1.ManifestConfigSpecHashAnnotationKey] == hash {
		adopt = req.ignored()
	}
	return required, adopt.Adopt(ctx, required.Object, fresh.Object)
}

func (s *serverSideApply) Preview(ctx context.Context, req *Request) (drift.Drift, error) {
	return dryRun(ctx, s.cfg, req)
}

// dryRun asks the server what applying the manifest would change, with
// Flux's server-side dry-run diff.
func dryRun(ctx context.Context, cfg Config, req *Request) (drift.Drift, error) {
	if req.Live == nil {
		return drift.Drift{Deleted: true}, nil
	}
	fm, _ := manager(cfg, req)
	desired := req.Object.DeepCopy()
	setLabel(desired, LabelManaged, "true")
	if err := req.ignored().Adopt(ctx, desired.Object, req.Live.Object); err != nil {
		return drift.Drift{}, err
	}
	rm := ssa.NewResourceManager(cfg.Diff, nil, ssa.Owner{Field: fm, Group: "work.ocm-gitops.io"})
	_, existing, dryRun, err := rm.Diff(ctx, desired, ssa.DefaultDiffOptions())
	if err != nil {
		return drift.Drift{}, fmt.Errorf("dry-run %s: %w", req.describe(), err)
	}
	if existing == nil || dryRun == nil {
		return drift.Drift{}, nil
	}
	return drift.Diff(req.Object.Object, dryRun.Object, existing.Object, strip(req.ignored()))
}
