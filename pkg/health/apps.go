package health

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// appKinds are our own kinds as an app of apps deploys them: their health
// on the parent is appVerdict's, not kstatus' reading of their Ready.
var appKinds = map[schema.GroupKind]bool{
	{Group: appsv1.GroupVersion.Group, Kind: "Subscription"}: true,
	{Group: appsv1.GroupVersion.Group, Kind: "Channel"}:      true,
}

// specFaults are Ready reasons by which the hub rejects a Subscription's or
// Channel's spec as written: a fault in the parent's content that waiting
// does not mend. A missing Channel or placement is not one, since the
// parent may deploy it in the same sync.
var specFaults = map[string]bool{
	appsv1.ReasonInvalidSpec:  true,
	appsv1.ReasonAccessDenied: true,
}

// appVerdict judges a Subscription or Channel deployed as content (ok is
// false for other kinds and for one being deleted, which kstatus judges).
// It is Current once the hub observed its generation, whatever its own
// Ready says: the child's progress, drift or failure is the child's own
// status, shown on its own row, not the parent's (as Argo CD stopped
// rolling child Applications' health into the parent). It is InProgress
// until then, and Failed when the hub rejects its spec (specFaults).
func appVerdict(obj *unstructured.Unstructured) (Verdict, bool) {
	if !appKinds[obj.GroupVersionKind().GroupKind()] || obj.GetDeletionTimestamp() != nil {
		return Verdict{}, false
	}
	var st struct {
		ObservedGeneration int64              `json:"observedGeneration"`
		Conditions         []metav1.Condition `json:"conditions"`
	}
	raw, _ := obj.Object["status"].(map[string]any)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
		return Verdict{Status: Unknown, Reason: "StatusUnreadable", Message: bound("Cannot read status: " + err.Error())}, true
	}
	var ready *metav1.Condition
	for i := range st.Conditions {
		if st.Conditions[i].Type == appsv1.ConditionReady {
			ready = &st.Conditions[i]
		}
	}
	observed := st.ObservedGeneration
	if observed == 0 && ready != nil {
		observed = ready.ObservedGeneration
	}
	if observed == 0 && len(raw) > 0 {
		// A status our hub does not write (OCM's own application manager
		// on a managed hub: phase and statuses, no generation): kstatus
		// judges it, as it did before, rather than waiting for ever.
		return Verdict{}, false
	}
	if gen := obj.GetGeneration(); observed < gen {
		return Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved",
			Message: fmt.Sprintf("%s generation %d not yet observed by the hub (observed: %d)", obj.GetKind(), gen, observed)}, true
	}
	if ready != nil && ready.Status == metav1.ConditionFalse && specFaults[ready.Reason] {
		msg := ready.Reason
		if ready.Message != "" {
			msg += ": " + ready.Message
		}
		return Verdict{Status: Failed, Reason: ready.Reason, Message: bound(msg)}, true
	}
	return Verdict{Status: Current}, true
}
