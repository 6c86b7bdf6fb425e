package hub

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

// NewSubscriptionReconcilerForTest is a SubscriptionReconciler as
// setupSubscription makes it, on client c, with no source or renderer.
func NewSubscriptionReconcilerForTest(c client.Client) *SubscriptionReconciler {
	return &SubscriptionReconciler{Client: c, written: &writes.Records{TTL: writeRecordTTL}, statusWrites: &writes.Records{}}
}
