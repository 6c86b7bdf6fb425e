package work_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

func namespaceExists(t *testing.T, name string) *corev1.Namespace {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := spokeC.Get(context.Background(), client.ObjectKey{Name: name}, ns); err != nil {
		return nil
	}
	return ns
}

// The agent never creates a namespace the work does not carry: the manifest
// fails naming the namespace and the fix; once the work carries the
// Namespace, it applies.
func TestMissingNamespaceIsNotCreated(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "nsmissing")
	ns := "nsmissing-apps"
	startAgent(t, cluster, nil)
	createWork(t, manifestWork(cluster, "nsm", configMap(ns, "cfg", nil)))
	w := waitWorkCondition(t, cluster, "nsm", workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	c := manifestCondition(w, 0, workv1.ManifestApplied)
	if c == nil || !contains(c.Message, "namespace "+ns+" does not exist") || !contains(c.Message, "add a Namespace manifest for "+ns) {
		t.Errorf("Applied = %+v, want a message naming the namespace and the fix", c)
	}
	poll.Consistently(t, time.Second, "no namespace created", func() error {
		return holds(namespaceExists(t, ns) == nil, "the agent created namespace "+ns)
	})

	w = getWork(t, cluster, "nsm")
	w.Spec.Workload.Manifests = append(w.Spec.Workload.Manifests, manifestWork(cluster, "", namespaceManifest(ns)).Spec.Workload.Manifests...)
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	waitWorkCondition(t, cluster, "nsm", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	if getCM(t, ns, "cfg") == nil {
		t.Error("the ConfigMap was not applied once the work carried its namespace")
	}
}

// As the hub writes it for a namespace a package uses but does not define:
// the Namespace manifest with deleteOption SelectivelyOrphan naming it, so
// the work never deletes the namespace, as OCM's agent does (no owner
// reference; kept when the work goes).
func TestNamespaceSelectivelyOrphaned(t *testing.T) {
	cluster := newCluster(t, "nsorphan")
	ns := "nsorphan-apps"
	startAgent(t, cluster, nil)
	w := manifestWork(cluster, "nso", namespaceManifest(ns), configMap(ns, "cfg", nil))
	w.Spec.DeleteOption = &workv1.DeleteOption{
		PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
		SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{
			{Group: "", Resource: "namespaces", Name: ns},
		}},
	}
	createWork(t, w)
	waitWorkCondition(t, cluster, "nso", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	amw := getAMW(t, "nso").UID
	if got := namespaceExists(t, ns); got == nil || ownedBy(got.OwnerReferences, string(amw)) {
		t.Fatalf("the orphaned Namespace carries the work's owner reference: %+v", got)
	}
	if cm := getCM(t, ns, "cfg"); cm == nil || !ownedBy(cm.OwnerReferences, string(amw)) {
		t.Fatalf("the ConfigMap is not owned by the work: %+v", cm)
	}
	deleteWork(t, cluster, "nso")
	waitWorkGone(t, cluster, "nso")
	if getCM(t, ns, "cfg") != nil {
		t.Error("the ConfigMap survived its work")
	}
	if got := namespaceExists(t, ns); got == nil || got.DeletionTimestamp != nil {
		t.Errorf("the orphaned Namespace was deleted: %+v", got)
	}
}
