// Package patch writes what a reconcile changed in an object, the way Flux's
// controllers do with fluxcd/pkg/runtime/patch: a Helper takes a snapshot of
// the object when the reconcile starts, the reconcile changes the object in
// memory, and one deferred call writes the difference. Every exit path of the
// reconcile, errors included, so reports its outcome, and a reconcile that
// changed nothing writes nothing.
package patch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

// Helper writes the changes made to one object since the snapshot it holds.
type Helper struct {
	client  client.Client
	before  client.Object
	records *writes.Records
}

// Option tunes a Helper.
type Option func(*Helper)

// Recording remembers every object the Helper writes in records, for Latest.
func Recording(records *writes.Records) Option { return func(h *Helper) { h.records = records } }

// NewHelper takes a snapshot of obj.
func NewHelper(obj client.Object, c client.Client, opts ...Option) *Helper {
	h := &Helper{client: c, before: obj.DeepCopyObject().(client.Object)}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Latest is cached or, when this process wrote the object later than the
// cache shows (records, fed by a Helper made with Recording), a copy of what
// it wrote. A reconcile must start from its own last write: an informer cache
// lags the process's own writes, most of all under load, and a diff against
// the cached status would leave what the process wrote last in place
// whenever the new status equals the stale one.
func Latest[T client.Object](records *writes.Records, cached T, now time.Time) T {
	if records == nil {
		return cached
	}
	if n := records.Newest(writes.Key(cached), cached, now); n != nil && n != client.Object(cached) {
		if ours, ok := n.DeepCopyObject().(T); ok {
			return ours
		}
	}
	return cached
}

// Patch writes what changed in obj since the snapshot: the status through the
// status subresource first, then metadata (finalizers, labels, annotations),
// each as a JSON merge patch. Metadata patches carry the changed fields only,
// so what other writers keep there is left alone. A status patch carries the
// whole status the reconcile computed, plus a null for every field it
// cleared: the status has one writer, and the API server's copy may lack
// fields the snapshot shows with zero values (an object never given a status
// has none), which a patch of changes alone would leave incomplete. The
// status goes first so that removing the last finalizer, which lets the
// object go, comes last. A change to anything else (the spec) is refused: a
// reconciler does not edit what the user wrote. An object already gone is not
// an error. After a write, the snapshot is obj as the API server returned it.
func (h *Helper) Patch(ctx context.Context, obj client.Object) error {
	data, err := client.MergeFrom(h.before).Data(obj)
	if err != nil {
		return fmt.Errorf("compute the patch of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	var diff map[string]json.RawMessage
	if err := json.Unmarshal(data, &diff); err != nil {
		return fmt.Errorf("read the patch of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	status, hasStatus := diff["status"]
	metadata, hasMetadata := diff["metadata"]
	delete(diff, "status")
	delete(diff, "metadata")
	if len(diff) > 0 {
		return fmt.Errorf("patch %s: the reconcile changed %s, which only users write", client.ObjectKeyFromObject(obj), fieldNames(diff))
	}
	var errs []error
	if hasStatus {
		full, err := wholeStatus(obj, status)
		if err != nil {
			return fmt.Errorf("compute the status patch of %s: %w", client.ObjectKeyFromObject(obj), err)
		}
		p := client.RawPatch(types.MergePatchType, wrap("status", full))
		if err := h.client.Status().Patch(ctx, obj, p); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update the status of %s: %w", client.ObjectKeyFromObject(obj), err))
		}
	}
	if hasMetadata {
		p := client.RawPatch(types.MergePatchType, wrap("metadata", metadata))
		if err := h.client.Patch(ctx, obj, p); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update the metadata of %s: %w", client.ObjectKeyFromObject(obj), err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	h.before = obj.DeepCopyObject().(client.Object)
	if h.records != nil && (hasStatus || hasMetadata) {
		h.records.Wrote(h.before.DeepCopyObject().(client.Object), time.Now())
	}
	return nil
}

// wholeStatus is obj's status with the nulls of diff (the fields cleared)
// added at every level.
func wholeStatus(obj client.Object, diff json.RawMessage) (json.RawMessage, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var whole struct {
		Status any `json:"status"`
	}
	if err := json.Unmarshal(data, &whole); err != nil {
		return nil, err
	}
	var cleared any
	if err := json.Unmarshal(diff, &cleared); err != nil {
		return nil, err
	}
	return json.Marshal(overlay(whole.Status, cleared))
}

// overlay puts patch's values over base, recursing into objects both hold.
func overlay(base, patch any) any {
	b, okB := base.(map[string]any)
	p, okP := patch.(map[string]any)
	if !okB || !okP {
		return patch
	}
	for k, v := range p {
		b[k] = overlay(b[k], v)
	}
	return b
}

func wrap(field string, value json.RawMessage) []byte {
	out, _ := json.Marshal(map[string]json.RawMessage{field: value})
	return out
}

func fieldNames(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}
