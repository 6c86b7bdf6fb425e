package patch_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/patch"
	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
)

func TestLatest(t *testing.T) {
	at := func(rv, reason string) *appsv1.Subscription {
		return &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "web", ResourceVersion: rv},
			Status: appsv1.SubscriptionStatus{Reason: reason}}
	}
	now := time.Unix(1_000_000, 0)
	if got := patch.Latest(nil, at("5", "cached"), now); got.Status.Reason != "cached" {
		t.Errorf("no records: %q", got.Status.Reason)
	}
	var records writes.Records
	written := at("12", "ours")
	records.Wrote(written, now)
	got := patch.Latest(&records, at("10", "cached"), now)
	if got.Status.Reason != "ours" {
		t.Fatalf("cache behind our write: got %q", got.Status.Reason)
	}
	got.Status.Reason = "changed by the reconcile"
	if written.Status.Reason != "ours" {
		t.Error("Latest hands out the record itself, not a copy")
	}
	if got := patch.Latest(&records, at("13", "cached"), now); got.Status.Reason != "cached" {
		t.Errorf("cache past our write: got %q", got.Status.Reason)
	}
}
