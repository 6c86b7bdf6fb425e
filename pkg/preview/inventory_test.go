package preview

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
)

// TestExportRoundTrip loads testdata/clusters.yaml into a real hub, exports
// it, writes and reads the export back, and checks that a preview from the
// live hub, from the file and from the original are identical. It also
// checks ResolveTargets (what previews use) against TargetsFor (what the hub
// uses) on that hub.
func TestExportRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := lab.StartControlPlane(ctx, "preview-hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	want := readInventory(t, "testdata/clusters.yaml")
	load(ctx, t, c, want)

	got, warnings, err := Export(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none from a hub serving every kind", warnings)
	}
	if len(got.Clusters) != 7 || len(got.Scores) != 1 || len(got.Decisions) != 1 || len(got.Subscriptions) != 1 || len(got.Bindings) != 1 {
		t.Fatalf("exported %d clusters, %d scores, %d decisions, %d subscriptions, %d bindings; want 7, 1, 1, 1, 1",
			len(got.Clusters), len(got.Scores), len(got.Decisions), len(got.Subscriptions), len(got.Bindings))
	}
	if old := got.Clusters[3]; old.Name != "prod-old" || old.DeletionTimestamp == nil {
		t.Errorf("cluster 3 = %s (deleting %v), want prod-old being deleted", old.Name, old.DeletionTimestamp)
	}
	if us := got.Clusters[4]; us.Name != "prod-us-1" || len(us.Status.ClusterClaims) != 1 || us.Status.ClusterClaims[0].Value != "us-1" {
		t.Errorf("cluster 4 = %s with claims %v, want prod-us-1 with its exported claim", us.Name, us.Status.ClusterClaims)
	}
	for _, asJSON := range []bool{false, true} {
		data, err := got.Marshal(asJSON)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseInventory("export", data)
		if err != nil {
			t.Fatalf("read the export back: %v\n%s", err, data)
		}
		again, err := back.Marshal(asJSON)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Errorf("the export (json %v) does not survive a round trip:\n%s", asJSON, lineDiff(string(data), string(again)))
		}
		if asJSON && !bytes.HasPrefix(data, []byte("{\n  \"apiVersion\": \"v1\",\n  \"items\": [")) {
			t.Errorf("the JSON export is not a List:\n%.200s", data)
		}
	}

	// A preview against the live hub's export equals the golden one.
	g := buildFleet(t)
	rep := run(t, Options{Repo: g.dir, Base: "initial", Head: "placement", Inventory: got, MaxRemovalPercent: DefaultMaxRemovalPercent})
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "placement.json", js)

	// ResolveTargets agrees with TargetsFor (which needs the Placement on the hub).
	pl, err := os.ReadFile("testdata/fleet/hub/placement-web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plObjs, err := render.DecodeYAML(pl)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, plObjs[0]); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/fleet/hub/subscriptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.DecodeYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	local := true
	subs := []*appsv1.Subscription{{ObjectMeta: metav1.ObjectMeta{Name: "local", Namespace: "fleet"}, Spec: appsv1.SubscriptionSpec{Placement: &appsv1.Placement{Local: &local}}}}
	for _, u := range objs {
		s := &appsv1.Subscription{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	p := &previewer{inv: got}
	if err := p.index(); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		live, err := placement.TargetsFor(ctx, c, s)
		if err != nil {
			t.Fatalf("TargetsFor(%s): %v", s.Name, err)
		}
		pure, err := placement.ResolveTargets(s, got.Clusters, func(ns, name string) ([]placement.Group, bool, error) {
			gs, ok := p.groups[key(ns, name)]
			return gs, ok, nil
		})
		if err != nil {
			t.Fatalf("ResolveTargets(%s): %v", s.Name, err)
		}
		if len(live) == 0 && s.Name != "local" {
			t.Errorf("%s selects no cluster on the hub; the comparison proves nothing", s.Name)
		}
		if !reflect.DeepEqual(live, pure) {
			t.Errorf("%s: TargetsFor = %+v, ResolveTargets = %+v", s.Name, live, pure)
		}
	}
}

// load creates the inventory's objects, with their status, on a hub; a
// cluster marked as being deleted is deleted (its finalizer keeps it).
func load(ctx context.Context, t *testing.T, c client.Client, inv *Inventory) {
	t.Helper()
	for _, ns := range []string{"fleet", "prod-eu-1"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range inv.objects() {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvkOf(o))
		status, hasStatus := m["status"]
		deleting := u.GetDeletionTimestamp() != nil
		u.SetDeletionTimestamp(nil)
		if err := c.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if st, ok := status.(map[string]any); hasStatus && ok && len(st) > 0 {
			u.Object["status"] = status
			if err := c.Status().Update(ctx, u); err != nil {
				t.Fatalf("status of %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
		if deleting {
			if err := c.Delete(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mc clusterv1.ManagedCluster
	if err := c.Get(ctx, client.ObjectKey{Name: "prod-old"}, &mc); err != nil || mc.DeletionTimestamp == nil {
		t.Fatalf("prod-old: %v, deleting %v; want it held by its finalizer", err, mc.DeletionTimestamp)
	}
}
