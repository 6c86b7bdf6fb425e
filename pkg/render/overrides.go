package render

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// clusterOverride is one decoded entry of spec.overrides for a cluster.
type clusterOverride struct {
	field string
	path  []string
	value any
}

// overridesFor returns the spec.overrides entry for cluster, as OCM picks it:
// the first entry whose clusterName is the cluster's name.
func overridesFor(sub *appsv1.Subscription, cluster string) ([]clusterOverride, error) {
	for i, co := range sub.Spec.Overrides {
		if co.ClusterName != cluster {
			continue
		}
		var out []clusterOverride
		for k, raw := range co.ClusterOverrides {
			field := fmt.Sprintf("spec.overrides[%d].clusterOverrides[%d]", i, k)
			o, err := decodeOverride(raw.Raw, field)
			if err != nil {
				return nil, err
			}
			if o.Path == "" {
				return nil, &Error{Field: field + ".path", Err: errors.New("missing; give the field to set, such as spec.replicas")}
			}
			if !o.HasValue {
				return nil, &Error{Field: field + ".value", Err: errors.New("missing")}
			}
			path := strings.Split(o.Path, ".")
			for _, p := range path {
				if p == "" {
					return nil, &Error{Field: field + ".path", Err: fmt.Errorf("%q has an empty segment", o.Path)}
				}
			}
			out = append(out, clusterOverride{field: field, path: path, value: o.Value})
		}
		return out, nil
	}
	return nil, nil
}

// applyOverrides sets each override on every object that has its path, as
// OCM does for deployables. Objects are copied before they change: the input
// is shared and stays untouched. An override that no object has is an error,
// so a typo or a field the manifests leave to defaults is reported instead of
// silently doing nothing.
func applyOverrides(objs []*unstructured.Unstructured, ovs []clusterOverride) ([]*unstructured.Unstructured, error) {
	if len(ovs) == 0 {
		return objs, nil
	}
	out := make([]*unstructured.Unstructured, len(objs))
	copy(out, objs)
	copied := make([]bool, len(objs))
	for _, ov := range ovs {
		matched := false
		for i, o := range out {
			if _, found, err := unstructured.NestedFieldNoCopy(o.Object, ov.path...); err != nil || !found {
				continue
			}
			if !copied[i] {
				out[i] = o.DeepCopy()
				copied[i] = true
			}
			if err := unstructured.SetNestedField(out[i].Object, ov.value, ov.path...); err != nil {
				return nil, &Error{Field: ov.field, Err: fmt.Errorf("set %s on %s: %w", strings.Join(ov.path, "."), describe(o), err)}
			}
			matched = true
		}
		if !matched {
			return nil, &Error{Field: ov.field, Err: fmt.Errorf("no rendered object has the field %s; overrides only replace fields the manifests set", strings.Join(ov.path, "."))}
		}
	}
	return out, nil
}

// filterAllowDeny keeps what spec.allow lists (everything when it is empty)
// and drops what spec.deny lists. Items match an exact apiVersion and a kind,
// "*" matching every kind, as in OCM.
func filterAllowDeny(objs []*unstructured.Unstructured, allow, deny []*appsv1.AllowDenyItem) []*unstructured.Unstructured {
	if len(allow) == 0 && len(deny) == 0 {
		return objs
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if len(allow) > 0 && !listed(allow, o) {
			continue
		}
		if listed(deny, o) {
			continue
		}
		out = append(out, o)
	}
	return out
}

func listed(items []*appsv1.AllowDenyItem, o *unstructured.Unstructured) bool {
	for _, it := range items {
		if it == nil || it.APIVersion != o.GetAPIVersion() {
			continue
		}
		for _, k := range it.Kinds {
			if k == "*" || k == o.GetKind() {
				return true
			}
		}
	}
	return false
}

// defaultNamespace puts objects of namespaced kinds (see namespaced) that
// name no namespace in ns, as OCM (and helm install) do. Changed objects are
// copies.
func defaultNamespace(objs []*unstructured.Unstructured, ns string) []*unstructured.Unstructured {
	if ns == "" {
		return objs
	}
	crdScope := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		crdScope[schema.GroupKind{Group: group, Kind: kind}] = scope == "Namespaced"
	}
	var out []*unstructured.Unstructured
	for i, o := range objs {
		if o.GetNamespace() != "" || !namespaced(o, crdScope) {
			continue
		}
		if out == nil {
			out = make([]*unstructured.Unstructured, len(objs))
			copy(out, objs)
		}
		c := o.DeepCopy()
		c.SetNamespace(ns)
		out[i] = c
	}
	if out == nil {
		return objs
	}
	return out
}

func describe(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
}
