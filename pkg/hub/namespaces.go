package hub

import (
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	workv1 "open-cluster-management.io/api/work/v1"
)

// A work whose namespaced objects target a namespace that the render does not
// declare (a Helm release namespace, a plain manifest's metadata.namespace)
// carries that Namespace itself, so that an agent that creates no namespace
// (OCM's) can apply it. The work does not own such a namespace: its delete
// option orphans it, so removing the work never deletes a namespace it did
// not declare, with whatever else lives there.

// undeclaredNamespaces lists, sorted, the namespaces objs put objects in but
// do not declare as a v1 Namespace.
func undeclaredNamespaces(objs []*unstructured.Unstructured) []string {
	declared := map[string]bool{}
	for _, o := range objs {
		if isNamespace(o) {
			declared[o.GetName()] = true
		}
	}
	var out []string
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !declared[ns] && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

func isNamespace(o *unstructured.Unstructured) bool {
	return o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1"
}

// withNamespaces puts a bare v1 Namespace for each of names before objs.
func withNamespaces(objs []*unstructured.Unstructured, names []string) []*unstructured.Unstructured {
	if len(names) == 0 {
		return objs
	}
	out := make([]*unstructured.Unstructured, 0, len(names)+len(objs))
	for _, n := range names {
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(n)
		out = append(out, ns)
	}
	return append(out, objs...)
}

// orphanNamespaces makes the Subscription's delete option opt leave the
// namespaces names behind when the work goes: an Orphan policy already does;
// Foreground (also when opt is nil) becomes SelectivelyOrphan;
// SelectivelyOrphan gains the rules it lacks. reconcileopt.DeleteOption then
// adds the objects marked do-not-delete and sorts the rules.
func orphanNamespaces(opt *workv1.DeleteOption, names []string) *workv1.DeleteOption {
	if len(names) == 0 || (opt != nil && opt.PropagationPolicy == workv1.DeletePropagationPolicyTypeOrphan) {
		return opt
	}
	out := &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan, SelectivelyOrphan: &workv1.SelectivelyOrphan{}}
	if opt != nil {
		out.TTLSecondsAfterFinished = opt.TTLSecondsAfterFinished
		if opt.SelectivelyOrphan != nil {
			out.SelectivelyOrphan.OrphaningRules = slices.Clone(opt.SelectivelyOrphan.OrphaningRules)
		}
	}
	for _, n := range names {
		rule := workv1.OrphaningRule{Group: "", Resource: "namespaces", Name: n}
		if !slices.Contains(out.SelectivelyOrphan.OrphaningRules, rule) {
			out.SelectivelyOrphan.OrphaningRules = append(out.SelectivelyOrphan.OrphaningRules, rule)
		}
	}
	return out
}

// WithUndeclaredNamespaces is objs as a work carries them: a bare v1
// Namespace first for each namespace objs use but do not declare. What
// compares a render with deployed works (ocm-gitops diff) starts here.
func WithUndeclaredNamespaces(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	return withNamespaces(objs, undeclaredNamespaces(objs))
}
