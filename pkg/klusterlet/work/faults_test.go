package work_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/netcut"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// While the hub is unreachable the agent leaves what is deployed alone (and
// keeps correcting drift from what it last knew); when the hub returns it
// picks up changes and reports status again.
func TestHubOutage(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "outage")
	ns := "outage-apps"
	createNS(t, spokeC, ns)
	proxy := netcut.New(t, hostPort(hubCP.Config))
	startAgent(t, cluster, hubVia(proxy.Addr()), func(o *work.Options) { o.EvictionGracePeriod = time.Second })
	createWork(t, hubLikeWork(cluster, "app", false, configMap(ns, "a", map[string]string{"k": "v1"}), configMap(ns, "b", map[string]string{"k": "v1"})))
	waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)
	a := getCM(t, ns, "a")

	proxy.Down()
	// Even a short eviction grace period must not remove anything while the
	// hub cannot be asked.
	time.Sleep(3 * time.Second)
	if got := getCM(t, ns, "a"); got == nil || got.UID != a.UID || got.Data["k"] != "v1" {
		t.Fatalf("object changed during the hub outage: %+v", got)
	}
	b := getCM(t, ns, "b")
	b.Data["k"] = "edited"
	if err := spokeC.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 5*time.Second, "drift corrected while the hub is down", func() error {
		return holds(getCM(t, ns, "b").Data["k"] == "v1", getCM(t, ns, "b").Data["k"])
	})
	// The hub changes the work while the agent cannot see it.
	w := getWork(t, cluster, "app")
	w.Spec.Workload.Manifests[0].Raw = []byte(configMap(ns, "a", map[string]string{"k": "v2"}))
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if getCM(t, ns, "a").Data["k"] != "v1" {
		t.Fatal("a change reached the cluster without the hub")
	}

	proxy.Up(t)
	poll.Eventually(t, 45*time.Second, "change applied after the hub came back", func() error {
		return holds(getCM(t, ns, "a").Data["k"] == "v2", getCM(t, ns, "a").Data["k"])
	})
	w = waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 30*time.Second)
	if got := getCM(t, ns, "a"); got.UID != a.UID {
		t.Error("the object was recreated instead of updated")
	}
	if w.Status.Conditions[0].ObservedGeneration != w.Generation {
		t.Errorf("status not caught up: %+v", w.Status.Conditions)
	}
}

// A failing manifest does not block the others; the work's Namespace and
// CRDs go before the objects that need them, wherever they are listed; CRDs
// go before their objects, in one work or across works.
func TestFaultsAndOrdering(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "faults")
	startAgent(t, cluster, nil)

	crd := `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.com"},
	 "spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"widgets","singular":"widget","kind":"Widget","listKind":"WidgetList"},
	 "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"size":{"type":"integer"}}}}}}}]}}`
	widget := func(ns, name string) string {
		return fmt.Sprintf(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":%q,"namespace":%q},"spec":{"size":3}}`, name, ns)
	}
	// The CR comes first in the manifest list; the namespace does not exist
	// yet: the work carries it, last.
	w := manifestWork(cluster, "mixed",
		widget("faults-new-ns", "w1"),
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad","namespace":"faults-new-ns"},"data":{"k":42}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"faults-new-ns"}}`,
		configMap("faults-new-ns", "good", map[string]string{"k": "v"}),
		crd,
		namespaceManifest("faults-new-ns"))
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "mixed", workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	poll.Eventually(t, 20*time.Second, "good manifests applied", func() error {
		w = getWork(t, cluster, "mixed")
		var states []string
		ok := true
		for i, want := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionTrue, metav1.ConditionTrue} {
			c := manifestCondition(w, i, workv1.ManifestApplied)
			if c == nil || c.Status != want {
				ok = false
			}
			if c != nil {
				states = append(states, fmt.Sprintf("%d=%s(%s)", i, c.Status, c.Message))
			}
		}
		return holds(ok, fmt.Sprint(states))
	})
	if getCM(t, "faults-new-ns", "good") == nil {
		t.Error("good ConfigMap missing")
	}
	wd := &unstructured.Unstructured{}
	wd.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"})
	if err := spokeC.Get(ctx, client.ObjectKey{Namespace: "faults-new-ns", Name: "w1"}, wd); err != nil {
		t.Errorf("custom resource not applied after its CRD: %v", err)
	}
	if c := workCondition(w, workv1.WorkDegraded); c == nil || c.Status != metav1.ConditionTrue || !contains(c.Message, "2 of 6") {
		t.Errorf("Degraded = %+v", c)
	}
	if c := manifestCondition(w, 2, workv1.ManifestApplied); c == nil || !contains(c.Message, "no metadata.name") {
		t.Errorf("undecodable manifest condition = %+v", c)
	}

	// A custom resource whose CRD arrives later, in another work.
	crd2 := `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"gadgets.example.com"},
	 "spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"gadgets","singular":"gadget","kind":"Gadget","listKind":"GadgetList"},
	 "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}`
	createWork(t, manifestWork(cluster, "cr-first", `{"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g","namespace":"faults-new-ns"}}`))
	w = waitWorkCondition(t, cluster, "cr-first", workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	if c := manifestCondition(w, 0, workv1.ManifestApplied); c == nil || !contains(c.Message, "does not serve") {
		t.Errorf("missing CRD condition = %+v", c)
	}
	createWork(t, manifestWork(cluster, "crd-later", crd2))
	waitWorkCondition(t, cluster, "cr-first", workv1.WorkApplied, metav1.ConditionTrue, 30*time.Second)

	// Bad input never deletes: a broken manifest in place of a good one keeps
	// the object it used to describe.
	w = getWork(t, cluster, "mixed")
	w.Spec.Workload.Manifests[3].Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"good"}}`)
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatalf("update: %v", err)
	}
	poll.Eventually(t, 10*time.Second, "broken manifest reported", func() error {
		c := manifestCondition(getWork(t, cluster, "mixed"), 3, workv1.ManifestApplied)
		return holds(c != nil && contains(c.Message, "metadata.namespace is empty"), fmt.Sprintf("%+v", c))
	})
	poll.Consistently(t, 2*time.Second, "object kept despite a broken manifest", func() error {
		return holds(getCM(t, "faults-new-ns", "good") != nil, "deleted")
	})
}

// The executor's identity bounds what a work may do on the cluster.
func TestExecutor(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "executor")
	ns := "executor-apps"
	createNS(t, spokeC, ns)
	// The service account may manage ConfigMaps in ns only.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
	}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: ns}}}
	for _, o := range []client.Object{role, rb} {
		if err := spokeC.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	startAgent(t, cluster, nil)
	w := manifestWork(cluster, "ex", configMap(ns, "allowed", nil), configMap("executor-other", "denied", nil))
	w.Spec.Executor = &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{
		Type: workv1.ExecutorSubjectTypeServiceAccount, ServiceAccount: &workv1.ManifestWorkSubjectServiceAccount{Namespace: ns, Name: "deployer"}}}
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "ex", workv1.WorkApplied, metav1.ConditionFalse, 20*time.Second)
	poll.Eventually(t, 10*time.Second, "allowed applied, denied refused", func() error {
		w = getWork(t, cluster, "ex")
		a, d := manifestCondition(w, 0, workv1.ManifestApplied), manifestCondition(w, 1, workv1.ManifestApplied)
		return holds(a != nil && a.Status == metav1.ConditionTrue && d != nil && d.Status == metav1.ConditionFalse && contains(d.Message, "forbidden"),
			fmt.Sprintf("%+v / %+v", a, d))
	})
	if getCM(t, ns, "allowed") == nil {
		t.Error("allowed object missing")
	}
}
