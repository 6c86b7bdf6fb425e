package work_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// writers lists a ConfigMap's field managers as manager/operation.
func writers(t *testing.T, ns, name string) []string {
	t.Helper()
	var out []string
	for _, e := range getCM(t, ns, name).ManagedFields {
		out = append(out, e.Manager+"/"+string(e.Operation))
	}
	return out
}

// A server-side applied object gets its content and the work's owner
// reference in one write (the agent's only entry in managedFields is its
// apply); switching the work to Orphan drops the reference with the next
// apply, also one that an older agent wrote apart from the content.
func TestServerSideApplyOwnsInOneWrite(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "onewrite")
	ns := "onewrite-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	name := cluster + "-w"
	createWork(t, hubLikeWork(cluster, name, false, configMap(ns, "a", map[string]string{"k": "1"})))
	waitWorkCondition(t, cluster, name, workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	amw := getAMW(t, name)
	cm := getCM(t, ns, "a")
	if !ownedBy(cm.OwnerReferences, string(amw.UID)) {
		t.Fatalf("owners = %v, want the AppliedManifestWork %s", cm.OwnerReferences, amw.UID)
	}
	if w := writers(t, ns, "a"); fmt.Sprint(w) != "[work-agent-ocm-gitops/Apply]" {
		t.Fatalf("field managers = %v, want the agent's apply only: content and owner in one write", w)
	}

	setWork := func(edit func(w *workv1.ManifestWork)) {
		t.Helper()
		// The agent writes the work's status and finalizer meanwhile: a
		// conflict means read it again.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			w := getWork(t, cluster, name)
			edit(w)
			return hubC.Update(ctx, w)
		}); err != nil {
			t.Fatal(err)
		}
	}
	ownerless := func() error {
		refs := getCM(t, ns, "a").OwnerReferences
		return holds(len(refs) == 0, fmt.Sprint(refs))
	}
	setWork(func(w *workv1.ManifestWork) {
		w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}
	})
	poll.Eventually(t, 10*time.Second, "orphaned: owner reference dropped", ownerless)

	// A reference written apart, as the agent did before, is no part of the
	// apply: the next write drops it all the same.
	ref, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{
		{APIVersion: workv1.GroupVersion.String(), Kind: "AppliedManifestWork", Name: amw.Name, UID: amw.UID}}}})
	if err := spokeC.Patch(ctx, getCM(t, ns, "a"), client.RawPatch(types.MergePatchType, ref), client.FieldOwner("work-agent")); err != nil {
		t.Fatal(err)
	}
	setWork(func(w *workv1.ManifestWork) {
		w.Spec.Workload.Manifests[0].Raw = []byte(configMap(ns, "a", map[string]string{"k": "2"}))
	})
	poll.Eventually(t, 10*time.Second, "new content applied, owner reference of an older agent dropped", func() error {
		if v := getCM(t, ns, "a").Data["k"]; v != "2" {
			return fmt.Errorf("data k = %q", v)
		}
		return ownerless()
	})
}
