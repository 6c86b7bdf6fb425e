package work

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	workv1 "open-cluster-management.io/api/work/v1"
)

var (
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// write applies a manifest with its update strategy (Update or
// ServerSideApply). live is the current object when known.
func (a *Agent) write(ctx context.Context, dyn dynamic.Interface, m *manifest, live *unstructured.Unstructured, liveKnown bool,
	owner metav1.OwnerReference) (*unstructured.Unstructured, *baseline, error) {
	if m.strategy.Type == workv1.UpdateStrategyTypeServerSideApply {
		return a.applySSA(ctx, dyn, m, live, liveKnown, owner)
	}
	return a.applyUpdate(ctx, dyn, m, live, owner)
}

// fieldManager returns the field manager and force flag of a manifest.
func (a *Agent) fieldManager(m *manifest) (string, bool) {
	fm, force := a.opts.FieldManager, false
	if c := m.strategy.ServerSideApply; c != nil {
		force = c.Force
		if c.FieldManager != "" {
			fm = c.FieldManager
		}
	}
	return fm, force
}

// applySSA server-side applies the manifest. Ignored fields carry the live
// values (see adoptPaths); OCM's config-spec-hash annotation tells whether
// the manifest changed since the last apply.
func (a *Agent) applySSA(ctx context.Context, dyn dynamic.Interface, m *manifest, live *unstructured.Unstructured, liveKnown bool,
	owner metav1.OwnerReference) (*unstructured.Unstructured, *baseline, error) {
	fm, force := a.fieldManager(m)
	required := m.obj.DeepCopy()
	onPresent, onChange := ignoredPaths(m.strategy.ServerSideApply)
	ignore := append(append([]string(nil), onPresent...), onChange...)
	if len(ignore) > 0 {
		hash := specHash(withoutPaths(required.Object, onPresent))
		setAnnotation(required, workv1.ManifestConfigSpecHashAnnotationKey, hash)
		// Ignored fields must reflect the spoke exactly: read it from the server.
		fresh, err := a.get(ctx, m.key())
		if err != nil {
			return nil, nil, err
		}
		if fresh != nil {
			if fresh.GetAnnotations()[workv1.ManifestConfigSpecHashAnnotationKey] == hash {
				adoptPaths(required.Object, fresh.Object, ignore)
			} else {
				adoptPaths(required.Object, fresh.Object, onPresent)
			}
		}
	}
	setLabel(required, LabelManaged, "true")
	if m.owned {
		required.SetOwnerReferences(append(required.GetOwnerReferences(), owner))
	}
	obj, err := a.retryInNamespace(ctx, dyn, m, func() (*unstructured.Unstructured, error) {
		return dyn.Resource(m.gvr).Namespace(m.meta.Namespace).Apply(ctx, m.meta.Name, required, metav1.ApplyOptions{FieldManager: fm, Force: force})
	})
	if apierrors.IsConflict(err) {
		return nil, nil, &applyConflictError{err: fmt.Errorf("field manager %s conflicts with other managers (set serverSideApply.force to take the fields over): %w", fm, err)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("server-side apply: %w", err)
	}
	base, err := appliedBaseline(obj, fm, ignore)
	if err != nil {
		return nil, nil, err
	}
	obj.SetManagedFields(nil)
	return obj, base, nil
}

// applyUpdate creates the object or replaces it with the manifest, keeping
// the live labels, annotations, owners and finalizers it does not set, as
// OCM's Update strategy does.
func (a *Agent) applyUpdate(ctx context.Context, dyn dynamic.Interface, m *manifest, live *unstructured.Unstructured,
	owner metav1.OwnerReference) (*unstructured.Unstructured, *baseline, error) {
	required := m.obj.DeepCopy()
	setLabel(required, LabelManaged, "true")
	for attempt := 0; ; attempt++ {
		var (
			obj *unstructured.Unstructured
			err error
		)
		if live == nil {
			c := required.DeepCopy()
			if m.owned {
				c.SetOwnerReferences(append(c.GetOwnerReferences(), owner))
			}
			obj, err = a.create(ctx, dyn, m, c)
			if apierrors.IsAlreadyExists(err) && attempt < 3 {
				if live, err = a.get(ctx, m.key()); err != nil {
					return nil, nil, err
				}
				continue
			}
		} else {
			u := required.DeepCopy()
			u.SetLabels(mergeMaps(live.GetLabels(), required.GetLabels()))
			u.SetAnnotations(mergeMaps(live.GetAnnotations(), required.GetAnnotations()))
			u.SetOwnerReferences(mergeOwners(live.GetOwnerReferences(), required.GetOwnerReferences(), owner, m.owned))
			u.SetFinalizers(live.GetFinalizers())
			u.SetResourceVersion(live.GetResourceVersion())
			obj, err = dyn.Resource(m.gvr).Namespace(m.meta.Namespace).Update(ctx, u, metav1.UpdateOptions{FieldManager: a.opts.FieldManager})
			if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < 3 {
				if live, err = a.get(ctx, m.key()); err != nil {
					return nil, nil, err
				}
				continue
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("update: %w", err)
		}
		obj.SetManagedFields(nil)
		return obj, shapeBaseline(m.obj, obj, nil), nil
	}
}

// create creates obj, making its namespace first when it is missing.
func (a *Agent) create(ctx context.Context, dyn dynamic.Interface, m *manifest, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return a.retryInNamespace(ctx, dyn, m, func() (*unstructured.Unstructured, error) {
		return dyn.Resource(m.gvr).Namespace(m.meta.Namespace).Create(ctx, obj, metav1.CreateOptions{FieldManager: a.opts.FieldManager})
	})
}

// retryInNamespace runs a write and, when it failed because the object's
// namespace does not exist, creates the namespace (with the same identity)
// and runs it again.
func (a *Agent) retryInNamespace(ctx context.Context, dyn dynamic.Interface, m *manifest, write func() (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	obj, err := write()
	if !missingNamespace(err, m.meta.Namespace) {
		return obj, err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": m.meta.Namespace},
	}}
	if _, cerr := dyn.Resource(namespacesGVR).Create(ctx, ns, metav1.CreateOptions{FieldManager: a.opts.FieldManager}); cerr != nil && !apierrors.IsAlreadyExists(cerr) {
		return nil, fmt.Errorf("create namespace %s for %s: %w", m.meta.Namespace, describe(m.meta), cerr)
	}
	return write()
}

func missingNamespace(err error, ns string) bool {
	if ns == "" || !apierrors.IsNotFound(err) {
		return false
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}

// waitEstablished waits (bounded) until the CRDs just applied are served, so
// the objects that need them can be applied in the same pass.
func (a *Agent) waitEstablished(ctx context.Context, crds []*manifest, outcomes []*outcome) {
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range crds {
		o := outcomes[m.ordinal]
		if o == nil || o.err != nil || o.live == nil {
			continue
		}
		obj := o.live
		for !crdEstablished(obj) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			fresh, err := a.dyn.Resource(crdGVR).Get(ctx, m.meta.Name, metav1.GetOptions{})
			if err != nil {
				break
			}
			obj = fresh
		}
	}
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if ok && cm["type"] == "Established" && cm["status"] == "True" {
			return true
		}
	}
	return false
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

// mergeMaps returns base overlaid with over.
func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// mergeOwners keeps the live owners, adds the manifest's, and adds or drops
// the AppliedManifestWork as the delete option says.
func mergeOwners(live, manifest []metav1.OwnerReference, owner metav1.OwnerReference, owned bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	seen := map[string]bool{}
	add := func(r metav1.OwnerReference) {
		if r.UID == owner.UID && !owned {
			return
		}
		if !seen[string(r.UID)] {
			seen[string(r.UID)] = true
			out = append(out, r)
		}
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
