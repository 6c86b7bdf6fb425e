package hub

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// maxOverrides bounds the other Subscriptions listed per cluster, and the
// objects named in a cluster's message.
const maxOverrides = 10

// overridden reads the manifests a work wins against other works (the
// agent's Overrides=True) and names what they lose to it: the other
// Subscriptions as namespace/name, or "ManifestWork ns/name" for a work no
// Subscription wrote; and the objects, as "Kind namespace/name". Both are
// sorted, without repeats, and bounded.
func overridden(w *workv1.ManifestWork) (others, objects []string) {
	for _, m := range w.Status.ResourceStatus.Manifests {
		c := meta.FindStatusCondition(m.Conditions, appsv1.WorkConditionOverrides)
		if c == nil || c.Status != metav1.ConditionTrue {
			continue
		}
		objects = append(objects, m.ResourceMeta.Kind+" "+objectName(m.ResourceMeta.Namespace, m.ResourceMeta.Name))
		others = append(others, appsv1.WorkRefOwners(c.Message, maxOverrides)...)
	}
	return bounded(others), bounded(objects)
}

// bounded sorts, drops repeats and keeps the first maxOverrides.
func bounded(list []string) []string {
	slices.Sort(list)
	list = slices.Compact(list)
	if len(list) > maxOverrides {
		list = list[:maxOverrides]
	}
	return list
}

// overridesMessage is the mark on a winning cluster's message: "overrides
// fleet/other on ConfigMap web/cfg (same object, other content: this
// Subscription's is applied)".
func overridesMessage(others, objects []string) string {
	return fmt.Sprintf("overrides %s on %s (same object, other content: this Subscription's is applied)",
		strings.Join(others, ", "), strings.Join(objects, ", "))
}

// withOverrides adds the mark of objects won against other Subscriptions
// to a cluster's message, after whatever its state says.
func withOverrides(st appsv1.ClusterStatus, objects []string) appsv1.ClusterStatus {
	if len(st.Overrides) == 0 {
		return st
	}
	note := overridesMessage(st.Overrides, objects)
	if st.Message == "" {
		st.Message = note
	} else {
		st.Message += "; " + note
	}
	return st
}

// overridesCondition sets the Subscription's Overrides warning while some
// cluster holds its content for objects other Subscriptions apply with
// other content, and removes it otherwise. The clusters stay Applied and
// Ready stays True: the app runs as written; the others' does not.
func overridesCondition(sub *appsv1.Subscription, t tally) {
	if t.overriding == 0 {
		meta.RemoveStatusCondition(&sub.Status.Conditions, appsv1.ConditionOverrides)
		return
	}
	condition(sub, appsv1.ConditionOverrides, true, appsv1.ReasonTakesPrecedence,
		fmt.Sprintf("overrides other Subscriptions on %d/%d clusters: %s",
			t.overriding, t.sum.Selected, t.overridingExample))
}
