package reconcileopt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// ResourceFunc names the API resource (plural) of a kind, and says whether it
// knows it; nil guesses from the kind, as kubectl does without discovery.
type ResourceFunc func(schema.GroupVersionKind) (string, bool)

// DoNotDelete reports whether obj carries the do-not-delete annotation. OCM
// keeps an object whose annotation is exactly "true"; any case of "true" keeps
// it here, "false" or no annotation does not, and anything else is an error.
func DoNotDelete(obj *unstructured.Unstructured) (bool, error) {
	v, ok := obj.GetAnnotations()[appsv1.AnnotationDoNotDelete]
	switch {
	case !ok || v == "" || strings.EqualFold(v, "false"):
		return false, nil
	case strings.EqualFold(v, "true"):
		return true, nil
	}
	return false, fmt.Errorf("%s %s: annotation %s is %q; use \"true\" to keep the object when the Subscription drops it, or remove the annotation",
		obj.GetKind(), objectName(obj), appsv1.AnnotationDoNotDelete, v)
}

// DeleteOption is the delete option of a Subscription's ManifestWork holding
// objs. It starts from the Subscription's spec.deleteOption (Foreground when
// nil) and orphans every object marked do-not-delete, so the agent leaves it
// on the cluster when the work is deleted or the object leaves the work:
//
//   - Orphan stays Orphan: nothing is deleted anyway;
//   - Foreground becomes SelectivelyOrphan when some object is marked;
//   - SelectivelyOrphan keeps its rules and gains the marked objects.
//
// previous is the delete option of the work as it stands, or nil. Its
// orphaning rules for objects that are no longer in objs are kept: an object
// marked do-not-delete and then dropped from Git must still be orphaned when
// the agent sees it leave the work. The result is nil when nothing needs
// saying, and its rules are sorted, so equal inputs give equal works.
func DeleteOption(spec *workv1.DeleteOption, objs []*unstructured.Unstructured, resourceOf ResourceFunc, previous *workv1.DeleteOption) (*workv1.DeleteOption, error) {
	policy := workv1.DeletePropagationPolicyTypeForeground
	if spec != nil && spec.PropagationPolicy != "" {
		policy = spec.PropagationPolicy
	}
	switch policy {
	case workv1.DeletePropagationPolicyTypeOrphan:
		return spec.DeepCopy(), nil
	case workv1.DeletePropagationPolicyTypeForeground, workv1.DeletePropagationPolicyTypeSelectivelyOrphan:
	default:
		return nil, fmt.Errorf("spec.deleteOption.propagationPolicy: %q is not a policy; use Foreground, Orphan or SelectivelyOrphan", policy)
	}

	rules := map[workv1.OrphaningRule]bool{}
	if spec != nil && spec.SelectivelyOrphan != nil {
		for _, r := range spec.SelectivelyOrphan.OrphaningRules {
			rules[r] = true
		}
	}
	present := map[workv1.OrphaningRule]bool{}
	for _, obj := range objs {
		id := identify(obj, resourceOf)
		present[id] = true
		keep, err := DoNotDelete(obj)
		if err != nil {
			return nil, err
		}
		if keep {
			rules[id] = true
		}
	}
	if previous != nil && previous.SelectivelyOrphan != nil {
		for _, r := range previous.SelectivelyOrphan.OrphaningRules {
			if !present[r] {
				rules[r] = true
			}
		}
	}

	if len(rules) == 0 && policy == workv1.DeletePropagationPolicyTypeForeground {
		return spec.DeepCopy(), nil
	}
	out := &workv1.DeleteOption{
		PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
		SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: make([]workv1.OrphaningRule, 0, len(rules))},
	}
	if spec != nil {
		out.TTLSecondsAfterFinished = spec.TTLSecondsAfterFinished
	}
	for r := range rules {
		out.SelectivelyOrphan.OrphaningRules = append(out.SelectivelyOrphan.OrphaningRules, r)
	}
	slices.SortFunc(out.SelectivelyOrphan.OrphaningRules, func(a, b workv1.OrphaningRule) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// identify names obj the way orphaning rules and the agent do.
func identify(obj *unstructured.Unstructured, resourceOf ResourceFunc) workv1.OrphaningRule {
	gvk := obj.GroupVersionKind()
	resource, ok := "", false
	if resourceOf != nil {
		resource, ok = resourceOf(gvk)
	}
	if !ok {
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		resource = plural.Resource
	}
	return workv1.OrphaningRule{Group: gvk.Group, Resource: resource, Name: obj.GetName(), Namespace: obj.GetNamespace()}
}
