package lab

import (
	"context"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestControlPlaneServesCRDs(t *testing.T) {
	assets, err := FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cp, err := StartControlPlane(context.Background(), "hub", RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	t.Logf("control plane up in %s", time.Since(start))

	s := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(s)
	c, err := client.New(cp.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "subscriptions.apps.open-cluster-management.io"}, crd); err != nil {
		t.Fatalf("Subscription CRD not served: %v", err)
	}
}
