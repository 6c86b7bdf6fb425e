package patch_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/patch"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// countingClient counts the writes that reach the API server.
type countingClient struct {
	client.Client
	writes *int
}

func (c countingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	*c.writes++
	return c.Client.Patch(ctx, obj, p, opts...)
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{c.Client.Status(), c.writes}
}

type countingStatus struct {
	client.SubResourceWriter
	writes *int
}

func (c countingStatus) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	*c.writes++
	return c.SubResourceWriter.Patch(ctx, obj, p, opts...)
}

// TestHelperWritesWhatChanged drives the helper against a real API server:
// emptied status fields are removed, an unchanged object costs no write,
// metadata and status go in separate patches, a spec edit is refused, and
// removing the last finalizer of a deleted object lets it go after its
// status was written.
func TestHelperWritesWhatChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	hub := harness.NewHub(t)
	writes := 0
	c := countingClient{hub.C, &writes}
	ctx := hub.Ctx

	sub := &appsv1.Subscription{ObjectMeta: harness.Meta("fleet", "app"), Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo"}}
	hub.Create(t, sub)
	h := patch.NewHelper(sub, c)
	now := metav1.Now()
	sub.Status = appsv1.SubscriptionStatus{
		LastAppliedRevision: "main@sha1:0123456789012345678901234567890123456789",
		NextWindow:          &now,
		Rollout:             &appsv1.RolloutStatus{Revision: "r", Phase: appsv1.RolloutProgressing, Message: "1 of 2"},
		Clusters:            []appsv1.ClusterStatus{{Name: "east", State: appsv1.ClusterApplied}},
		Summary:             appsv1.ClusterSummary{Selected: 1, Applied: 1},
	}
	controllerutil.AddFinalizer(sub, "example.com/keep")
	if err := h.Patch(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if writes != 2 {
		t.Fatalf("%d writes for a status and a finalizer, want 2", writes)
	}
	got := read(t, hub, sub)
	if got.Status.Rollout == nil || len(got.Status.Clusters) != 1 || !controllerutil.ContainsFinalizer(got, "example.com/keep") {
		t.Fatalf("written %+v, finalizers %v", got.Status, got.Finalizers)
	}

	// Nothing changed: nothing written.
	writes = 0
	if err := h.Patch(ctx, sub); err != nil || writes != 0 {
		t.Fatalf("unchanged object: %d writes, err %v", writes, err)
	}

	// A field cleared inside an object is removed.
	sub.Status.Rollout.Message = ""
	if err := h.Patch(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if got := read(t, hub, sub); got.Status.Rollout == nil || got.Status.Rollout.Message != "" || got.Status.Rollout.Revision != "r" {
		t.Fatalf("rollout after clearing its message: %+v", got.Status.Rollout)
	}

	// Emptied fields are removed; the rest stays.
	sub.Status.NextWindow, sub.Status.Rollout, sub.Status.Clusters = nil, nil, nil
	sub.Status.Summary.Applied = 0
	if err := h.Patch(ctx, sub); err != nil {
		t.Fatal(err)
	}
	got = read(t, hub, sub)
	if got.Status.NextWindow != nil || got.Status.Rollout != nil || got.Status.Clusters != nil || got.Status.Summary.Applied != 0 ||
		got.Status.Summary.Selected != 1 || got.Status.LastAppliedRevision == "" {
		t.Fatalf("after clearing: %+v", got.Status)
	}

	// The spec is the user's.
	sub.Spec.Channel = "fleet/other"
	if err := h.Patch(ctx, sub); err == nil || !strings.Contains(err.Error(), "spec") {
		t.Fatalf("spec edit: err %v, want a refusal naming spec", err)
	}
	sub.Spec.Channel = "fleet/repo"

	// A deleted object: status first, then the finalizer goes and so does it.
	if err := hub.C.Delete(ctx, read(t, hub, sub)); err != nil {
		t.Fatal(err)
	}
	sub = read(t, hub, sub)
	h = patch.NewHelper(sub, c)
	sub.Status.Reason = "Deleting"
	controllerutil.RemoveFinalizer(sub, "example.com/keep")
	if err := h.Patch(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := hub.C.Get(ctx, client.ObjectKeyFromObject(sub), &appsv1.Subscription{}); err == nil {
		t.Fatal("the object is still there after its last finalizer went")
	}
	// Gone: a later write is not an error.
	sub.Status.Reason = "Gone"
	if err := h.Patch(ctx, sub); err != nil {
		t.Fatalf("patching a deleted object: %v", err)
	}
}

func read(t *testing.T, hub *harness.Hub, sub *appsv1.Subscription) *appsv1.Subscription {
	t.Helper()
	got := &appsv1.Subscription{}
	if err := hub.C.Get(hub.Ctx, client.ObjectKeyFromObject(sub), got); err != nil {
		t.Fatal(err)
	}
	return got
}
