// Package apply writes one manifest of a ManifestWork to the managed cluster
// with the update strategy its manifest config asks for: one Applier per
// strategy (ServerSideApply, Update, CreateOnly, ReadOnly), as OCM's work
// agent has. An Applier also says, without writing, how the live object
// differs from what it would write (Preview), for drift found when the agent
// has no baseline of its own.
package apply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/ignorefields"
)

// LabelManaged marks the objects the agent applies, so it can watch exactly
// those (and nothing else on the cluster) to notice drift within seconds.
const LabelManaged = "work.ocm-gitops.io/managed"

// Request is one manifest to write.
type Request struct {
	// Client writes: the agent's own identity or the work's executor.
	Client dynamic.Interface
	GVR    schema.GroupVersionResource
	// Object is the manifest; appliers never modify it.
	Object *unstructured.Unstructured
	// Live is the object on the cluster (nil: absent) when LiveKnown.
	Live      *unstructured.Unstructured
	LiveKnown bool
	// Owner is the work's AppliedManifestWork; Owned says the object is to
	// carry it (false when the delete option orphans the object).
	Owner metav1.OwnerReference
	Owned bool
	// Shared says other works of the agent apply the object too: Live was
	// read from the API server, and owner references written with the
	// content are guarded by its resourceVersion.
	Shared bool
	// Strategy is the manifest's update strategy.
	Strategy workv1.UpdateStrategy
	// OnPresent and OnChange are the server-side apply ignoreFields.
	OnPresent, OnChange ignorefields.Set
}

func (r *Request) resource() dynamic.ResourceInterface {
	return r.Client.Resource(r.GVR).Namespace(r.Object.GetNamespace())
}

func (r *Request) describe() string {
	if ns := r.Object.GetNamespace(); ns != "" {
		return r.Object.GetKind() + " " + ns + "/" + r.Object.GetName()
	}
	return r.Object.GetKind() + " " + r.Object.GetName()
}

// ignored is every ignored field.
func (r *Request) ignored() ignorefields.Set { return r.OnPresent.Union(r.OnChange) }

// Result is the object after a write, with the baseline drift is judged
// against (nil: the object is never drift-checked).
type Result struct {
	Object   *unstructured.Unstructured
	Baseline *drift.Baseline
}

// Applier writes manifests with one update strategy.
type Applier interface {
	// Apply makes the object on the cluster what the manifest asks for.
	Apply(ctx context.Context, req *Request) (Result, error)
	// Preview says how req.Live differs from what Apply would make of it,
	// without writing (a server-side dry run where needed).
	Preview(ctx context.Context, req *Request) (drift.Drift, error)
}

// Config is what the appliers share.
type Config struct {
	// Read reads objects with the agent's own identity.
	Read dynamic.Interface
	// Diff runs server-side dry runs with the agent's own identity.
	Diff client.Client
	// FieldManager is the field manager of writes that do not name one.
	FieldManager string
}

// Appliers holds one Applier per update strategy.
type Appliers struct {
	byType map[workv1.UpdateStrategyType]Applier
}

// New returns the appliers of every strategy OCM defines.
func New(cfg Config) *Appliers {
	return &Appliers{byType: map[workv1.UpdateStrategyType]Applier{
		workv1.UpdateStrategyTypeServerSideApply: &serverSideApply{cfg: cfg},
		workv1.UpdateStrategyTypeUpdate:          &update{cfg: cfg},
		workv1.UpdateStrategyTypeCreateOnly:      &createOnly{cfg: cfg},
		workv1.UpdateStrategyTypeReadOnly:        &readOnly{cfg: cfg},
	}}
}

// For returns the applier of a strategy; nil for one OCM does not define.
func (a *Appliers) For(t workv1.UpdateStrategyType) Applier { return a.byType[t] }

// get reads an object with the agent's identity; nil when it does not exist.
func get(ctx context.Context, read dynamic.Interface, req *Request) (*unstructured.Unstructured, error) {
	obj, err := read.Resource(req.GVR).Namespace(req.Object.GetNamespace()).Get(ctx, req.Object.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", req.describe(), err)
	}
	obj.SetManagedFields(nil)
	return obj, nil
}

// ConflictError is a server-side apply refused because another field
// manager owns a field (OCM's ApplyConflict).
type ConflictError struct{ Err error }

func (e *ConflictError) Error() string { return e.Err.Error() }
func (e *ConflictError) Unwrap() error { return e.Err }

// IsConflict says whether err is a field-ownership conflict.
func IsConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}

func setLabel(obj *unstructured.Unstructured, k, v string) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[k] = v
	obj.SetLabels(l)
}

func setAnnotation(obj *unstructured.Unstructured, k, v string) {
	an := obj.GetAnnotations()
	if an == nil {
		an = map[string]string{}
	}
	an[k] = v
	obj.SetAnnotations(an)
}

// strip turns ignored fields into the function drift compares with.
func strip(s ignorefields.Set) drift.Strip {
	if s.Empty() {
		return nil
	}
	return func(obj map[string]any) (map[string]any, error) {
		return s.Without(context.Background(), obj)
	}
}
