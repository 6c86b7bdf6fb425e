package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestTenantPlacementPolicy applies deploy/policies to a real API server: in
// a tenant namespace (any not labelled ocm-gitops.io/tenant=false) a
// Subscription may choose clusters only through a placementRef (whose
// Placement selects from the ClusterSets bound to the namespace); OCM's
// direct forms are refused with a message saying what to use. Platform
// namespaces keep OCM's forms.
func TestTenantPlacementPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := lab.StartControlPlane(ctx, "policy", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, c, build(t, "policies")); err != nil {
		t.Fatal(err)
	}
	createAll(t, ctx, c,
		namespace("team-a"), platformNamespace("platform"))

	sub := func(ns, name string, p *appsv1.Placement) *appsv1.Subscription {
		return &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.SubscriptionSpec{Channel: ns + "/repo", Placement: p}}
	}
	ref := &corev1.ObjectReference{Kind: "Placement", Name: "dev"}
	clusters := []appsv1.GenericClusterReference{{Name: "prod-1"}}
	// The policy takes a moment to be enforced after it is created.
	poll.Eventually(t, 30*time.Second, "the policy refuses a cluster list in a tenant namespace", func() error {
		err := c.Create(ctx, sub("team-a", "probe", &appsv1.Placement{Clusters: clusters}))
		if err == nil {
			_ = c.Delete(ctx, sub("team-a", "probe", nil))
			return fmt.Errorf("created")
		}
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			return err
		}
		return nil
	})
	for _, tc := range []struct {
		name, namespace string
		placement       *appsv1.Placement
		allowed         bool
	}{
		{"placement ref", "team-a", &appsv1.Placement{PlacementRef: ref}, true},
		{"cluster list", "team-a", &appsv1.Placement{Clusters: clusters}, false},
		{"cluster selector", "team-a", &appsv1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}, false},
		{"local", "team-a", &appsv1.Placement{Local: ptr.To(true)}, false},
		{"placement rule ref", "team-a", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "PlacementRule", Name: "dev"}}, false},
		{"placement ref without kind", "team-a", &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Name: "dev"}}, true},
		{"placement ref and a cluster list", "team-a", &appsv1.Placement{PlacementRef: ref, Clusters: clusters}, false},
		{"no placement", "team-a", nil, false},
		{"cluster list in a platform namespace", "platform", &appsv1.Placement{Clusters: clusters}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			err := c.Create(ctx, sub(tc.namespace, name, tc.placement))
			switch {
			case tc.allowed && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.allowed && err == nil:
				t.Fatal("admitted")
			case !tc.allowed && !strings.Contains(err.Error(), "spec.placement must be a placementRef"):
				t.Fatalf("the refusal does not say what to use: %v", err)
			}
		})
	}
	// Changing an admitted Subscription is checked too.
	s := &appsv1.Subscription{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "placement-ref"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Placement = &appsv1.Placement{Clusters: clusters}
	if err := c.Update(ctx, s); err == nil || !strings.Contains(err.Error(), "placementRef") {
		t.Fatalf("an update to a cluster list was admitted (%v)", err)
	}
}
