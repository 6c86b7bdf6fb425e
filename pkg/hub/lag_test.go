package hub_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// laggingCache is a reconciler's client whose cache shows a Subscription as
// it was when frozen, the way an informer lags its own writes under load.
// Works are listed as none (a real cache indexes them).
type laggingCache struct {
	client.Client
	frozen *appsv1.Subscription
}

func (c *laggingCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if sub, ok := obj.(*appsv1.Subscription); ok && c.frozen != nil {
		c.frozen.DeepCopyInto(sub)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *laggingCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*workv1.ManifestWorkList); ok {
		return nil
	}
	return c.Client.List(ctx, list, opts...)
}

// TestStatusFollowsOwnWritesWhenTheCacheLags: a reconcile whose cache does
// not show the reconciler's last status write yet still corrects it. Before,
// the status was diffed against the stale cache: a reconcile computing what
// the cache showed wrote nothing, and the intermediate status (the issue's
// "ManifestWork is being updated" for minutes after a relabel) stayed.
func TestStatusFollowsOwnWritesWhenTheCacheLags(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	h := harness.NewHub(t, "east")
	ctx := context.Background()
	cache := &laggingCache{Client: h.C}
	r := hub.NewSubscriptionReconcilerForTest(cache)
	sub := harness.GitSubscription("web", "repo", "east") // the Channel is missing: no source needed
	h.Create(t, sub)
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sub)}
	reconcile := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	placed := func() metav1.ConditionStatus {
		return harness.ConditionOf(h.Subscription(t, "web"), appsv1.ConditionPlaced).Status
	}
	reconcile() // finalizer
	reconcile()
	if p := placed(); p != metav1.ConditionTrue {
		t.Fatalf("Placed = %s with east there", p)
	}
	cache.frozen = h.Subscription(t, "web") // the cache stops here

	// east goes: the reconciler writes Placed=False.
	if err := h.C.Delete(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}}); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if p := placed(); p != metav1.ConditionFalse {
		t.Fatalf("Placed = %s with east gone", p)
	}
	// east is back: the status is what the stale cache shows, and must be
	// written all the same.
	h.Create(t, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})
	reconcile()
	if p := placed(); p != metav1.ConditionTrue {
		t.Error(fmt.Errorf("Placed = %s on the API server: the reconciler's own last write was left in place", p))
	}
}
