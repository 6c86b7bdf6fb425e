package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// heldMarks lists the works whose appsv1.AnnotationRemovalHeld is not what
// it should be: set on the live works of the clusters in held (the hub would
// remove them but holds the removal), absent on every other work. An agent
// gives a held work's objects to a work that is not held when both apply one
// object with different content. The value is the one to write; nil removes.
func heldMarks(existing map[string][]*workv1.ManifestWork, held map[string]string) map[*workv1.ManifestWork]*string {
	yes := "true"
	out := map[*workv1.ManifestWork]*string{}
	for cluster, works := range existing {
		_, hold := held[cluster]
		for _, w := range live(works) {
			v, has := w.Annotations[appsv1.AnnotationRemovalHeld]
			switch {
			case hold && (!has || v == "false"):
				out[w] = &yes
			case !hold && has:
				out[w] = nil
			}
		}
	}
	return out
}

// markHeld writes the marks heldMarks asks for, touching only that
// annotation. Works just rewritten from the desired content already lost it;
// removing it again is harmless.
func (r *SubscriptionReconciler) markHeld(ctx context.Context, existing map[string][]*workv1.ManifestWork, held map[string]string) error {
	var errs []error
	for w, v := range heldMarks(existing, held) {
		data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]*string{appsv1.AnnotationRemovalHeld: v}}})
		// Patch into a stub: w is the cache's own copy.
		stub := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name}}
		if err := r.Client.Patch(ctx, stub, client.RawPatch(types.MergePatchType, data)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("mark the removal of ManifestWork %s/%s as held or not: %w", w.Namespace, w.Name, err))
		}
	}
	return errors.Join(errs...)
}
