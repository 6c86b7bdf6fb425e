// Package reconcileopt maps OCM's per-Subscription and per-resource reconcile
// settings onto ManifestWork fields: the reconcile-option annotation (merge,
// mergeAndOwn, replace) onto each manifest's update strategy, and the
// do-not-delete annotation onto the work's delete option.
//
// # What OCM does
//
// OCM's subscription agent applies each resource itself. With merge (the
// default) it patches the resource with a JSON merge patch: the fields the
// resource sets are written, whoever set them before, and no other field is
// touched (a field removed from Git stays on the cluster). With replace it
// updates the resource whole, so fields missing from Git are dropped. A
// resource that exists already and belongs to something else is refused, except
// for a subscription-admin's Subscription with an explicit option: then merge
// patches it without taking ownership (deleting the Subscription leaves it),
// while mergeAndOwn and replace take ownership (deleting the Subscription
// deletes it). Services, ServiceAccounts and Namespaces are always merged,
// since an update would drop what the cluster filled in; nested Subscriptions
// are always replaced. A resource's own annotation wins over the
// Subscription's.
//
// # What ownership means here
//
// On our side a manifest has two kinds of owner. Field ownership is server-side
// apply's: the agent's field manager owns the fields it applies, so its values
// win over other writers' (with force), and a field dropped from Git is removed
// unless another manager also set it. Lifecycle ownership is the ManifestWork's:
// when the work is deleted, or the manifest leaves it, the agent deletes the
// object unless the work's delete option orphans it.
//
// So merge and mergeAndOwn both map to a forced server-side apply: like OCM's
// merge patch it writes exactly the fields given and wins over other writers of
// those fields (without force, a field someone edited with kubectl would stop
// the apply with a conflict, and drift could no longer be corrected), and
// unlike it a field removed from Git goes away. replace maps to an update of
// the whole object. The one OCM distinction the ManifestWork API cannot carry
// is merge's "do not take lifecycle ownership of an object that existed
// before": here every applied object is the work's; mark such an object
// do-not-delete to keep it when the Subscription goes.
package reconcileopt

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Resolve returns the reconcile option that applies to a resource: its own
// annotation when set, else the Subscription's, else merge. Options are read
// without regard to case, as OCM reads them.
func Resolve(subOption, resourceOption string) (string, error) {
	if resourceOption != "" {
		opt, err := canonical(resourceOption)
		if err != nil {
			return "", fmt.Errorf("annotation %s on the resource: %w", appsv1.AnnotationReconcileOption, err)
		}
		return opt, nil
	}
	if subOption != "" {
		opt, err := canonical(subOption)
		if err != nil {
			return "", fmt.Errorf("annotation %s on the Subscription: %w", appsv1.AnnotationReconcileOption, err)
		}
		return opt, nil
	}
	return appsv1.ReconcileMerge, nil
}

func canonical(opt string) (string, error) {
	for _, o := range []string{appsv1.ReconcileMerge, appsv1.ReconcileMergeAndOwn, appsv1.ReconcileReplace} {
		if strings.EqualFold(opt, o) {
			return o, nil
		}
	}
	return "", fmt.Errorf("%q is not a reconcile option; use merge, mergeAndOwn or replace", opt)
}

// UpdateStrategy is the ManifestWork update strategy for a resource of kind gvk
// under a resolved option; fieldManager is the hub's server-side apply field
// manager (it must start with "work-agent").
func UpdateStrategy(option string, gvk schema.GroupVersionKind, fieldManager string) *workv1.UpdateStrategy {
	ssa := &workv1.UpdateStrategy{
		Type:            workv1.UpdateStrategyTypeServerSideApply,
		ServerSideApply: &workv1.ServerSideApplyConfig{Force: true, FieldManager: fieldManager},
	}
	update := &workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeUpdate}
	switch {
	case gvk.Group == "apps.open-cluster-management.io" && gvk.Kind == "Subscription":
		return update
	case gvk.Group == "" && (gvk.Kind == "Service" || gvk.Kind == "ServiceAccount" || gvk.Kind == "Namespace"):
		return ssa
	case option == appsv1.ReconcileReplace:
		return update
	}
	return ssa
}

// ForObject resolves obj's option against the Subscription's and returns its
// update strategy. Errors name the object.
func ForObject(obj *unstructured.Unstructured, subOption, fieldManager string) (*workv1.UpdateStrategy, error) {
	opt, err := Resolve(subOption, obj.GetAnnotations()[appsv1.AnnotationReconcileOption])
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", obj.GetKind(), objectName(obj), err)
	}
	return UpdateStrategy(opt, obj.GroupVersionKind(), fieldManager), nil
}

func objectName(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
