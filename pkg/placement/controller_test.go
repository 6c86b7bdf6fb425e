package placement_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	. "github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// hub is the control plane every controller test shares; tests use their own
// namespaces, cluster names and sets, and run one after another.
type hubEnv struct {
	cfg *rest.Config
	c   client.Client // direct, uncached
	mgr ctrl.Manager
}

// testHub is started by the first test that needs it (needHub), so the
// pure tests in this package run without a control plane.
var (
	testHub   *hubEnv
	hubOnce   sync.Once
	hubErr    error
	hubCancel context.CancelFunc
	hubPlane  *lab.ControlPlane
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	code := m.Run()
	if hubCancel != nil {
		hubCancel()
	}
	if hubPlane != nil {
		_ = hubPlane.Stop()
	}
	os.Exit(code)
}

func needHub(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane; skipped in -short")
	}
	hubOnce.Do(func() {
		var ctx context.Context
		ctx, hubCancel = context.WithCancel(context.Background())
		assets, err := lab.FindAssets("")
		if err != nil {
			hubErr = err
			return
		}
		hubPlane, err = lab.StartControlPlane(ctx, "placement-hub", lab.RoleHub, assets)
		if err != nil {
			hubErr = err
			return
		}
		testHub, hubErr = startHub(ctx, hubPlane.Config)
	})
	if hubErr != nil {
		t.Fatal(hubErr)
	}
}

func startHub(ctx context.Context, cfg *rest.Config) (*hubEnv, error) {
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, err
	}
	if err := (Options{SkipNameValidation: true}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (RuleOptions{SkipNameValidation: true}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("cache did not sync")
	}
	return &hubEnv{cfg: cfg, c: c, mgr: mgr}, nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func createNS(t testing.TB, name string) {
	t.Helper()
	must(t, testHub.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

func createCluster(t testing.TB, mc *clusterv1.ManagedCluster) {
	t.Helper()
	ctx := context.Background()
	status := mc.Status
	must(t, testHub.c.Create(ctx, mc))
	if len(status.ClusterClaims) > 0 || len(status.Allocatable) > 0 || status.Version.Kubernetes != "" {
		mc.Status = status
		must(t, testHub.c.Status().Update(ctx, mc))
	}
}

func createSetAndBinding(t testing.TB, set *clusterv1beta2.ManagedClusterSet, namespaces ...string) {
	t.Helper()
	must(t, testHub.c.Create(context.Background(), set))
	for _, ns := range namespaces {
		must(t, testHub.c.Create(context.Background(), Binding(ns, set.Name)))
	}
}

func createPlacement(t testing.TB, ns, name string, spec clusterv1beta1.PlacementSpec) *clusterv1beta1.Placement {
	t.Helper()
	p := &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	must(t, testHub.c.Create(context.Background(), p))
	return p
}

func listDecisions(ctx context.Context, ns, placement string) ([]clusterv1beta1.PlacementDecision, error) {
	var list clusterv1beta1.PlacementDecisionList
	if err := testHub.c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{clusterv1beta1.PlacementLabel: placement}); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

func decidedClusters(ds []clusterv1beta1.PlacementDecision) []string {
	var out []string
	for _, d := range ds {
		for _, c := range d.Status.Decisions {
			out = append(out, c.ClusterName)
		}
	}
	sort.Strings(out)
	return out
}

// expectDecisions waits until the placement's decisions hold exactly want.
func expectDecisions(t testing.TB, ns, placement string, want ...string) []clusterv1beta1.PlacementDecision {
	t.Helper()
	sort.Strings(want)
	var ds []clusterv1beta1.PlacementDecision
	poll.Eventually(t, 20*time.Second, "decisions of "+ns+"/"+placement, func() error {
		var err error
		ds, err = listDecisions(context.Background(), ns, placement)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return fmt.Errorf("no PlacementDecision for %s/%s", ns, placement)
		}
		if got := decidedClusters(ds); !slices.Equal(got, want) {
			return fmt.Errorf("decisions of %s/%s = %v, want %v", ns, placement, got, want)
		}
		return nil
	})
	return ds
}

// expectCondition waits until the placement has the condition with reason.
func expectCondition(t testing.TB, ns, name, typ string, status metav1.ConditionStatus, reason string) *clusterv1beta1.Placement {
	t.Helper()
	var p clusterv1beta1.Placement
	poll.Eventually(t, 20*time.Second, "condition "+typ+" of "+ns+"/"+name, func() error {
		if err := testHub.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s of %s/%s = %+v, want %s/%s", typ, ns, name, c, status, reason)
		}
		return nil
	})
	return &p
}

func updateCluster(t testing.TB, name string, mutate func(*clusterv1.ManagedCluster)) {
	t.Helper()
	poll.Eventually(t, 10*time.Second, "update of cluster "+name, func() error {
		var mc clusterv1.ManagedCluster
		if err := testHub.c.Get(context.Background(), client.ObjectKey{Name: name}, &mc); err != nil {
			return err
		}
		mutate(&mc)
		return testHub.c.Update(context.Background(), &mc)
	})
}

func updatePlacement(t testing.TB, ns, name string, mutate func(*clusterv1beta1.Placement)) {
	t.Helper()
	poll.Eventually(t, 10*time.Second, "update of placement "+ns+"/"+name, func() error {
		var p clusterv1beta1.Placement
		if err := testHub.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return err
		}
		mutate(&p)
		return testHub.c.Update(context.Background(), &p)
	})
}

// setScore creates or updates the AddOnPlacementScore name in the cluster's
// namespace to hold one item.
func setScore(t testing.TB, cluster, name, item string, v int32) {
	t.Helper()
	ctx := context.Background()
	s := &clusterv1alpha1.AddOnPlacementScore{ObjectMeta: metav1.ObjectMeta{Namespace: cluster, Name: name}}
	err := testHub.c.Get(ctx, client.ObjectKeyFromObject(s), s)
	if apierrors.IsNotFound(err) {
		must(t, testHub.c.Create(ctx, s))
	} else {
		must(t, err)
	}
	s.Status.Scores = []clusterv1alpha1.AddOnPlacementScoreItem{{Name: item, Value: v}}
	must(t, testHub.c.Status().Update(ctx, s))
}

// resourceVersions snapshots the placement's and its decisions' versions.
func resourceVersions(t testing.TB, ns, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ds, err := listDecisions(context.Background(), ns, name)
	must(t, err)
	for _, d := range ds {
		out[d.Name] = d.ResourceVersion
	}
	var p clusterv1beta1.Placement
	must(t, testHub.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p))
	out["placement"] = p.ResourceVersion
	return out
}

func TestControllerSetsAndBindings(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "sets")
	for _, n := range []string{"sets-a1", "sets-a2"} {
		createCluster(t, Cluster(n, InSet("sets-a")))
	}
	createCluster(t, Cluster("sets-b1", InSet("sets-b"), WithLabels("sets-env", "prod")))
	createSetAndBinding(t, ExclusiveSet("sets-a"), "sets")
	must(t, testHub.c.Create(ctx, ExclusiveSet("sets-b")))
	createPlacement(t, "sets", "all", clusterv1beta1.PlacementSpec{})
	createPlacement(t, "sets", "only-b", clusterv1beta1.PlacementSpec{ClusterSets: []string{"sets-b"}})

	expectDecisions(t, "sets", "all", "sets-a1", "sets-a2")
	expectCondition(t, "sets", "all", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionTrue, ReasonAllScheduled)
	expectDecisions(t, "sets", "only-b")
	expectCondition(t, "sets", "only-b", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonNoIntersection)

	// A new binding re-schedules both.
	must(t, testHub.c.Create(ctx, Binding("sets", "sets-b")))
	expectDecisions(t, "sets", "all", "sets-a1", "sets-a2", "sets-b1")
	expectDecisions(t, "sets", "only-b", "sets-b1")

	// A cluster moving between sets.
	updateCluster(t, "sets-a2", func(mc *clusterv1.ManagedCluster) { mc.Labels[clusterv1beta2.ClusterSetLabel] = "sets-b" })
	expectDecisions(t, "sets", "only-b", "sets-a2", "sets-b1")

	// A set changing its selector: sets-b now selects sets-env=prod only.
	var set clusterv1beta2.ManagedClusterSet
	must(t, testHub.c.Get(ctx, client.ObjectKey{Name: "sets-b"}, &set))
	set.Spec.ClusterSelector = clusterv1beta2.ManagedClusterSelector{SelectorType: clusterv1beta2.LabelSelector,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"sets-env": "prod"}}}
	must(t, testHub.c.Update(ctx, &set))
	expectDecisions(t, "sets", "only-b", "sets-b1")

	// Removing the binding: nothing from that set.
	must(t, testHub.c.Delete(ctx, Binding("sets", "sets-b")))
	expectDecisions(t, "sets", "only-b")
	expectDecisions(t, "sets", "all", "sets-a1")

	// Deleting a cluster (a finalizer keeps it in deletion) drops it.
	updateCluster(t, "sets-a1", func(mc *clusterv1.ManagedCluster) { mc.Finalizers = []string{"test.ocm-gitops.io/hold"} })
	must(t, testHub.c.Delete(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "sets-a1"}}))
	expectDecisions(t, "sets", "all")
	expectCondition(t, "sets", "all", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonAllSetsEmpty)
	updateCluster(t, "sets-a1", func(mc *clusterv1.ManagedCluster) { mc.Finalizers = nil })
}

func TestControllerPredicatesAndTaints(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "pred")
	createSetAndBinding(t, ExclusiveSet("pred"), "pred")
	createCluster(t, Cluster("pred-1", InSet("pred"), WithLabels("env", "prod")))
	createCluster(t, Cluster("pred-2", InSet("pred"), WithLabels("env", "dev"), WithClaims("region", "eu")))
	createCluster(t, Cluster("pred-3", InSet("pred"), WithLabels("env", "prod"), WithVersion("v1.31.1")))
	unaccepted := Cluster("pred-4", InSet("pred"), WithLabels("env", "prod"))
	unaccepted.Spec.HubAcceptsClient = false
	createCluster(t, unaccepted)

	createPlacement(t, "pred", "p", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{
		LabelPredicate("env", "prod"),
		{RequiredClusterSelector: clusterv1beta1.ClusterSelector{ClaimSelector: clusterv1beta1.ClusterClaimSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "region", Operator: metav1.LabelSelectorOpIn, Values: []string{"eu"}}}}}},
	}})
	createPlacement(t, "pred", "cel", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{
		CelPredicate(`managedCluster.status.version.kubernetes.versionIsGreaterThan("1.30.0")`)}})
	expectDecisions(t, "pred", "p", "pred-1", "pred-2", "pred-3")
	expectDecisions(t, "pred", "cel", "pred-3")

	// Label changes move clusters in and out; accepting a cluster adds it.
	updateCluster(t, "pred-1", func(mc *clusterv1.ManagedCluster) { mc.Labels["env"] = "dev" })
	updateCluster(t, "pred-4", func(mc *clusterv1.ManagedCluster) { mc.Spec.HubAcceptsClient = true })
	expectDecisions(t, "pred", "p", "pred-2", "pred-3", "pred-4")

	// Taints: NoSelect removes; NoSelectIfNew keeps a decided cluster but
	// keeps a new one out; PreferNoSelect changes nothing.
	now := time.Now()
	updateCluster(t, "pred-2", func(mc *clusterv1.ManagedCluster) {
		mc.Spec.Taints = []clusterv1.Taint{{Key: "maintenance", Effect: clusterv1.TaintEffectNoSelect, TimeAdded: metav1.NewTime(now)}}
	})
	updateCluster(t, "pred-3", func(mc *clusterv1.ManagedCluster) {
		mc.Spec.Taints = []clusterv1.Taint{{Key: "draining", Effect: clusterv1.TaintEffectNoSelectIfNew, TimeAdded: metav1.NewTime(now)}}
	})
	updateCluster(t, "pred-4", func(mc *clusterv1.ManagedCluster) {
		mc.Spec.Taints = []clusterv1.Taint{{Key: "busy", Effect: clusterv1.TaintEffectPreferNoSelect, TimeAdded: metav1.NewTime(now)}}
	})
	expectDecisions(t, "pred", "p", "pred-3", "pred-4")
	updateCluster(t, "pred-1", func(mc *clusterv1.ManagedCluster) {
		mc.Labels["env"] = "prod"
		mc.Spec.Taints = []clusterv1.Taint{{Key: "draining", Effect: clusterv1.TaintEffectNoSelectIfNew, TimeAdded: metav1.NewTime(now)}}
	})
	// pred-1 is new to the placement: NoSelectIfNew keeps it out. Give the
	// controller a moment to act on that event before checking.
	time.Sleep(500 * time.Millisecond)
	expectDecisions(t, "pred", "p", "pred-3", "pred-4")

	// A toleration with tolerationSeconds: selected now, dropped when the
	// time (counted from the taint's timeAdded) runs out, without any event.
	added := time.Now()
	updateCluster(t, "pred-2", func(mc *clusterv1.ManagedCluster) { mc.Spec.Taints[0].TimeAdded = metav1.NewTime(added) })
	updatePlacement(t, "pred", "p", func(p *clusterv1beta1.Placement) {
		p.Spec.Tolerations = []clusterv1beta1.Toleration{{Key: "maintenance", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: N64(5)}}
	})
	expectDecisions(t, "pred", "p", "pred-2", "pred-3", "pred-4")
	// metav1.Time keeps whole seconds.
	expired := added.Truncate(time.Second).Add(5 * time.Second)
	poll.Eventually(t, 15*time.Second, "the toleration expired", func() error {
		ds, err := listDecisions(ctx, "pred", "p")
		if err != nil {
			return err
		}
		if got := decidedClusters(ds); slices.Contains(got, "pred-2") {
			return fmt.Errorf("pred-2 still decided at %s (toleration ends %s)", time.Now().Format(time.StampMilli), expired.Format(time.StampMilli))
		}
		return nil
	})
	if time.Now().Before(expired) {
		t.Fatalf("pred-2 was dropped before its toleration ended")
	}
	expectDecisions(t, "pred", "p", "pred-3", "pred-4")
}

func TestControllerPrioritizersSteadyAndNoChurn(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "prio")
	createSetAndBinding(t, ExclusiveSet("prio"), "prio")
	for _, n := range []string{"prio-1", "prio-2", "prio-3", "prio-4"} {
		createCluster(t, Cluster(n, InSet("prio")))
	}
	createPlacement(t, "prio", "two", clusterv1beta1.PlacementSpec{NumberOfClusters: N32(2)})
	expectDecisions(t, "prio", "two", "prio-1", "prio-2")
	expectCondition(t, "prio", "two", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionTrue, ReasonAllScheduled)

	// Steady: a new cluster that sorts first does not displace the decided ones,
	// and nothing is rewritten.
	before := resourceVersions(t, "prio", "two")
	createCluster(t, Cluster("prio-0", InSet("prio")))
	updateCluster(t, "prio-3", func(mc *clusterv1.ManagedCluster) { mc.Labels["unrelated"] = "x" })
	time.Sleep(time.Second)
	expectDecisions(t, "prio", "two", "prio-1", "prio-2")
	if after := resourceVersions(t, "prio", "two"); !maps.Equal(before, after) {
		t.Errorf("objects rewritten without a change in outcome: %v -> %v", before, after)
	}

	// Someone drops prio-2 from the decision: the controller re-schedules
	// from what the decisions now say, as OCM does: Steady keeps prio-1 and
	// the free slot goes to the best of the rest, prio-0 (by name).
	ds, err := listDecisions(ctx, "prio", "two")
	must(t, err)
	d := ds[0]
	d.Status.Decisions = d.Status.Decisions[:1]
	must(t, testHub.c.Status().Update(ctx, &d))
	expectDecisions(t, "prio", "two", "prio-0", "prio-1")

	// Exact AddOn prioritizer: scores decide, and score changes re-schedule.
	score := func(cluster string, v int32) { setScore(t, cluster, "perf", "cpu", v) }
	for _, n := range []string{"prio-0", "prio-1", "prio-2", "prio-3", "prio-4"} {
		createNS(t, n)
	}
	score("prio-3", 80)
	score("prio-4", 60)
	createPlacement(t, "prio", "scored", clusterv1beta1.PlacementSpec{NumberOfClusters: N32(2),
		PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: []clusterv1beta1.PrioritizerConfig{{
			ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{Type: clusterv1beta1.ScoreCoordinateTypeAddOn, AddOn: &clusterv1beta1.AddOnScore{ResourceName: "perf", ScoreName: "cpu"}},
			Weight:          1,
		}}}})
	expectDecisions(t, "prio", "scored", "prio-3", "prio-4")
	score("prio-0", 90)
	expectDecisions(t, "prio", "scored", "prio-0", "prio-3")

	// Spread over zones, DoNotSchedule.
	for i, n := range []string{"prio-0", "prio-1", "prio-2", "prio-3", "prio-4"} {
		updateCluster(t, n, func(mc *clusterv1.ManagedCluster) { mc.Labels["zone"] = []string{"a", "a", "a", "b", "c"}[i] })
	}
	createPlacement(t, "prio", "spread", clusterv1beta1.PlacementSpec{NumberOfClusters: N32(4),
		PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact},
		SpreadPolicy: clusterv1beta1.SpreadPolicy{SpreadConstraints: []clusterv1beta1.SpreadConstraintsTerm{{
			TopologyKey: "zone", TopologyKeyType: clusterv1beta1.TopologyKeyTypeLabel, MaxSkew: 1, WhenUnsatisfiable: clusterv1beta1.DoNotSchedule}}}})
	expectDecisions(t, "prio", "spread", "prio-0", "prio-1", "prio-3", "prio-4")
}

func TestControllerLayoutGroupsAndEmpty(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "layout")
	createSetAndBinding(t, ExclusiveSet("layout"), "layout")
	var all []string
	for i := range 230 {
		name := fmt.Sprintf("layout-%03d", i)
		env := "prod"
		if i%50 == 0 {
			env = "canary"
		}
		createCluster(t, Cluster(name, InSet("layout"), WithLabels("env", env)))
		all = append(all, name)
	}
	createPlacement(t, "layout", "big", clusterv1beta1.PlacementSpec{DecisionStrategy: clusterv1beta1.DecisionStrategy{
		GroupStrategy: clusterv1beta1.GroupStrategy{
			DecisionGroups: []clusterv1beta1.DecisionGroup{{GroupName: "canary", ClusterSelector: clusterv1beta1.GroupClusterSelector{
				LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "canary"}}}}},
			ClustersPerDecisionGroup: intstr.FromInt32(150),
		}}})
	ds := expectDecisions(t, "layout", "big", all...)
	// canary: 5 clusters (group 0); the other 225: groups 1 (150) and 2 (75);
	// group 1 takes two objects (100 + 50).
	want := []struct {
		name, index, group string
		n                  int
	}{
		{"big-decision-1", "0", "canary", 5},
		{"big-decision-2", "1", "", 100},
		{"big-decision-3", "1", "", 50},
		{"big-decision-4", "2", "", 75},
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d PlacementDecisions, want %d", len(ds), len(want))
	}
	for i, w := range want {
		d := ds[i]
		if d.Name != w.name || d.Labels[clusterv1beta1.DecisionGroupIndexLabel] != w.index ||
			d.Labels[clusterv1beta1.DecisionGroupNameLabel] != w.group || len(d.Status.Decisions) != w.n {
			t.Errorf("decision %d = %s %v with %d clusters, want %+v", i, d.Name, d.Labels, len(d.Status.Decisions), w)
		}
	}
	p := expectCondition(t, "layout", "big", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionTrue, ReasonAllScheduled)
	if p.Status.NumberOfSelectedClusters != 230 || len(p.Status.DecisionGroups) != 3 ||
		strings.Join(p.Status.DecisionGroups[1].Decisions, ",") != "big-decision-2,big-decision-3" || p.Status.DecisionGroups[1].ClustersCount != 150 {
		t.Errorf("status = %+v", p.Status)
	}

	// TargetsFor reports the decision group.
	sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "layout", Name: "s"},
		Spec: appsv1.SubscriptionSpec{Placement: &appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "Placement", Name: "big"}}}}
	targets, err := TargetsFor(ctx, testHub.c, sub)
	must(t, err)
	if len(targets) != 230 || targets[0].Cluster != "layout-000" || targets[0].GroupName != "canary" || targets[0].GroupIndex != 0 ||
		targets[1].GroupIndex != 1 || targets[229].GroupIndex != 2 || targets[0].Labels["env"] != "canary" {
		t.Errorf("targets = %d, first %+v, second %+v, last %+v", len(targets), targets[0], targets[1], targets[229])
	}

	// Shrinking: the extra objects go away.
	updatePlacement(t, "layout", "big", func(p *clusterv1beta1.Placement) {
		p.Spec.Predicates = []clusterv1beta1.ClusterPredicate{LabelPredicate("env", "canary")}
	})
	ds = expectDecisions(t, "layout", "big", "layout-000", "layout-050", "layout-100", "layout-150", "layout-200")
	poll.Eventually(t, 10*time.Second, "decision groups of layout/big", func() error {
		ds, err := listDecisions(ctx, "layout", "big")
		if err != nil {
			return err
		}
		if len(ds) != 1 || ds[0].Name != "big-decision-1" {
			return fmt.Errorf("%d PlacementDecisions left, want only big-decision-1", len(ds))
		}
		return nil
	})

	// Nothing matches: one empty decision object.
	createPlacement(t, "layout", "none", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{LabelPredicate("env", "qa")}})
	ds = expectDecisions(t, "layout", "none")
	if len(ds) != 1 || ds[0].Name != "none-decision-1" || ds[0].Labels[clusterv1beta1.DecisionGroupIndexLabel] != "0" {
		t.Errorf("empty decision = %+v", ds)
	}
	expectCondition(t, "layout", "none", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonNoClusterMatched)

	// No binding in the namespace: an empty decision too.
	createNS(t, "layout-unbound")
	createPlacement(t, "layout-unbound", "p", clusterv1beta1.PlacementSpec{})
	expectDecisions(t, "layout-unbound", "p")
	expectCondition(t, "layout-unbound", "p", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonNoBindings)
}

func TestControllerMisconfiguredKeepsDecisions(t *testing.T) {
	needHub(t)
	createNS(t, "bad")
	createSetAndBinding(t, ExclusiveSet("bad"), "bad")
	createCluster(t, Cluster("bad-1", InSet("bad")))
	createPlacement(t, "bad", "p", clusterv1beta1.PlacementSpec{})
	expectDecisions(t, "bad", "p", "bad-1")
	expectCondition(t, "bad", "p", clusterv1beta1.PlacementConditionMisconfigured, metav1.ConditionFalse, ReasonSucceedConfigured)

	updatePlacement(t, "bad", "p", func(p *clusterv1beta1.Placement) {
		p.Spec.Predicates = []clusterv1beta1.ClusterPredicate{CelPredicate(`managedCluster.metadata.name ==`)}
	})
	p := expectCondition(t, "bad", "p", clusterv1beta1.PlacementConditionMisconfigured, metav1.ConditionTrue, ReasonMisconfigured)
	if msg := meta.FindStatusCondition(p.Status.Conditions, clusterv1beta1.PlacementConditionMisconfigured).Message; !strings.Contains(msg, "spec.predicates[0].requiredClusterSelector: celSelector.celExpressions[0]") {
		t.Errorf("message %q does not name the field", msg)
	}
	expectDecisions(t, "bad", "p", "bad-1")

	// A new misconfigured Placement gets the empty decision.
	createPlacement(t, "bad", "fresh", clusterv1beta1.PlacementSpec{Tolerations: []clusterv1beta1.Toleration{{Value: "x"}}})
	expectCondition(t, "bad", "fresh", clusterv1beta1.PlacementConditionMisconfigured, metav1.ConditionTrue, ReasonMisconfigured)
	expectDecisions(t, "bad", "fresh")
}

func TestTargetsForModes(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "subs")
	createCluster(t, Cluster("subs-1", WithLabels("app", "web"), WithClaims("region", "eu")))
	createCluster(t, Cluster("subs-2", WithLabels("app", "web")))
	createCluster(t, Cluster("subs-3", WithLabels("app", "db")))
	sub := func(p appsv1.Placement) *appsv1.Subscription {
		return &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "subs", Name: "s"}, Spec: appsv1.SubscriptionSpec{Placement: &p}}
	}
	names := func(ts []Target) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Cluster)
		}
		return out
	}
	yes := true
	cases := []struct {
		name string
		p    appsv1.Placement
		want []string
		err  string
	}{
		{name: "local", p: appsv1.Placement{Local: &yes}, want: []string{LocalCluster}},
		{name: "clusters list, missing ones left out", p: appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "subs-3"}, {Name: "subs-1"}, {Name: "nope"}}},
			want: []string{"subs-1", "subs-3"}},
		{name: "cluster selector", p: appsv1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			want: []string{"subs-1", "subs-2"}},
		{name: "missing placement", p: appsv1.Placement{PlacementRef: &corev1.ObjectReference{Name: "nope"}}, err: "Placement subs/nope not found"},
		{name: "a missing PlacementRule", p: appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "PlacementRule", Name: "x"}}, err: "PlacementRule subs/x not found"},
		{name: "another kind is not supported", p: appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "Deployable", Name: "x"}}, err: "not supported"},
		{name: "nothing set", p: appsv1.Placement{}, err: "selects nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TargetsFor(ctx, testHub.c, sub(tc.p))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			must(t, err)
			if !slices.Equal(names(got), tc.want) {
				t.Errorf("targets = %v, want %v", names(got), tc.want)
			}
		})
	}
	got, err := TargetsFor(ctx, testHub.c, sub(appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "subs-1"}}}))
	must(t, err)
	if got[0].Claims["region"] != "eu" || got[0].Labels["app"] != "web" {
		t.Errorf("target = %+v, want labels and claims", got[0])
	}

	// placementRef through the controller.
	createSetAndBinding(t, SelectorSet("subs", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}), "subs")
	createPlacement(t, "subs", "web", clusterv1beta1.PlacementSpec{})
	expectDecisions(t, "subs", "web", "subs-1", "subs-2")
	got, err = TargetsFor(ctx, testHub.c, sub(appsv1.Placement{PlacementRef: &corev1.ObjectReference{Kind: "Placement", Name: "web"}}))
	must(t, err)
	if !slices.Equal(names(got), []string{"subs-1", "subs-2"}) {
		t.Errorf("placementRef targets = %v", names(got))
	}
}
