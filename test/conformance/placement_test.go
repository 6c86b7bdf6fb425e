package conformance_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ocm-gitops/ocm-gitops/deploy/crds"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// Deliberate differences between our placement controller and OCM's
// (open-cluster-management.io/ocm v1.2.0), which ocmView applies to what
// we expect of ours to get what OCM writes. The generator never produces
// the cases in excludedFromGeneration.
//
//  1. A Placement edited into misconfiguration keeps its decisions with us
//     (numberOfSelectedClusters and decisionGroups describe them, the
//     PlacementSatisfied message says they were kept); OCM empties them.
//  2. The PlacementMisconfigured message: ours names the field and the fix.
//  3. decisions[].score and status.lastScoreUpdateTime (API v1.3.0): OCM's
//     controller does not write them yet.
//
// excludedFromGeneration, each documented in pkg/placement and the README:
// Balance with any weight in a Placement scheduled with others (Additive
// mode weighs it 1, and the CRD turns a weight of 0 into 1, so only Exact
// mode is generated), spread with numberOfClusters or DoNotSchedule (OCM ignores spreadPolicy),
// sortBy Score (OCM ignores it), the builtIn prioritizer Spread (OCM refuses
// it), clusters with hubAcceptsClient false (we never select them), Balance
// with a weight when other Placements change at the same time (its outcome
// depends on the order Placements are scheduled in, in OCM too; checked
// alone in the probe step), misconfigured Placements without available
// clusters (OCM checks predicates and tolerations only against available
// clusters), versionIsGreaterThan and the other string helpers (ours only).
// An unknown builtIn prioritizer of weight 0 cannot be written through the
// API (the weight defaults to 1): pkg/placement's unit tests cover it.

// placementSeed is the seed of the generated fleet: OCM_GITOPS_CONFORMANCE_SEED
// explores others.
func placementSeed(t *testing.T) uint64 {
	if v := os.Getenv("OCM_GITOPS_CONFORMANCE_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("OCM_GITOPS_CONFORMANCE_SEED=%q: %v", v, err)
		}
		return n
	}
	return 17
}

// TestPlacementDecisionsAsOCM runs OCM's placement controller on one hub and
// ours on another, applies the same seeded random clusters, sets, bindings,
// scores and Placements to both, then mutations one at a time, and after
// each step waits until both hubs hold what our scheduler (pkg/placement,
// pure) computes from the hub's objects: the same PlacementDecisions
// (names, labels, clusters) and Placement status (count, decision groups,
// conditions), less the deliberate differences listed above.
func TestPlacementDecisionsAsOCM(t *testing.T) {
	bin := needOCM(t, "placement")
	seed := placementSeed(t)
	t.Logf("seed %d (set OCM_GITOPS_CONFORMANCE_SEED to change it)", seed)
	ocmCP := harness.StartControlPlane(t, "ocm-placement", lab.RoleHub)
	// Ours runs on a hub with only the cluster API's CRDs (no ManifestWork,
	// Channel or Subscription), as `hub --controllers placement` beside
	// another hub's work API must (issue 17 item 4).
	ourCP := clusterAPIOnlyHub(t)
	d := &diffRun{t: t, ctx: context.Background(), rnd: rand.New(rand.NewPCG(seed, 0x5eed))}
	for _, cp := range []*lab.ControlPlane{ocmCP, ourCP} {
		c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		d.hubs = append(d.hubs, c)
	}
	d.apply(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "open-cluster-management-hub"}})
	proc := startOCM(t, bin, "controller", "--listen", freeAddr(t), "--disable-leader-election",
		"--namespace", "open-cluster-management-hub", "--kubeconfig", writeFile(t, "ocm-hub.kubeconfig", ocmCP.KubeConfig))
	harness.RunHub(t, ourCP.Config, func(o *hub.Options) { o.Controllers = []string{placement.ControllerName} })
	var err error
	if d.sched, err = placement.NewScheduler(d.lookupScore); err != nil {
		t.Fatal(err)
	}

	d.generateFleet()
	d.step("initial fleet and Placements")
	for _, m := range d.mutations() {
		proc.alive(t)
		m.apply()
		d.step(m.name)
	}
	// Nothing moves afterwards on either hub.
	last := d.lastWant
	poll.Consistently(t, 2*time.Second, "both hubs keep the last expected decisions", func() error {
		if diff := compareStates("OCM's", ocmView(last, d.misEdited), d.observe(d.hubs[0])) + compareStates("ours", last, d.observe(d.hubs[1])); diff != "" {
			return fmt.Errorf("%s", diff)
		}
		return nil
	})
	t.Logf("%d Placements compared after each of %d steps: %d comparisons", len(d.lastWant), d.steps, d.comparisons)
}

// clusterAPIOnlyHub starts a control plane with the CRDs of
// cluster.open-cluster-management.io only.
func clusterAPIOnlyHub(t *testing.T) *lab.ControlPlane {
	t.Helper()
	cp := harness.StartControlPlane(t, "our-placement", lab.RoleManaged)
	all, err := crds.Hub()
	if err != nil {
		t.Fatal(err)
	}
	var cluster []*apiextensionsv1.CustomResourceDefinition
	for _, crd := range all {
		if crd.Spec.Group == clusterv1.GroupName {
			cluster = append(cluster, crd)
		}
	}
	if _, err := envtest.InstallCRDs(cp.Config, envtest.CRDInstallOptions{CRDs: cluster}); err != nil {
		t.Fatal(err)
	}
	return cp
}

// diffRun is one differential run: the same objects on both hubs (OCM's
// first), and what our scheduler expects of them.
type diffRun struct {
	t     *testing.T
	ctx   context.Context
	rnd   *rand.Rand
	hubs  []client.Client // OCM's, ours
	sched *placement.Scheduler

	clusters    []string
	scores      map[string]*clusterv1alpha1.AddOnPlacementScore // cluster/name, as on our hub
	misEdited   map[string]bool                                 // Placements edited into misconfiguration (difference 1)
	lastWant    map[string]placementState
	steps       int
	comparisons int
}

// placementState is what both controllers write for one Placement.
type placementState struct {
	Selected   int32
	Groups     []string // "index/name:decision,...=count"
	Conditions []string // "Type=Status/Reason: message"
	Decisions  []string // "name [placement/index/name]: c1 c2"
}

func (s placementState) String() string {
	return fmt.Sprintf("selected %d; groups %v; conditions %v; decisions %v", s.Selected, s.Groups, s.Conditions, s.Decisions)
}

// apply creates (or updates) obj on both hubs, status included.
func (d *diffRun) apply(objs ...client.Object) {
	d.t.Helper()
	for _, obj := range objs {
		for _, c := range d.hubs {
			o := obj.DeepCopyObject().(client.Object)
			status := statusOf(o)
			existing := o.DeepCopyObject().(client.Object)
			err := c.Get(d.ctx, client.ObjectKeyFromObject(o), existing)
			switch {
			case err == nil:
				o.SetResourceVersion(existing.GetResourceVersion())
				err = c.Update(d.ctx, o)
			default:
				err = c.Create(d.ctx, o)
			}
			if err != nil {
				d.t.Fatalf("apply %T %s: %v", obj, obj.GetName(), err)
			}
			if status != nil {
				status(o)
				if err := c.Status().Update(d.ctx, o); err != nil {
					d.t.Fatalf("status of %T %s: %v", obj, obj.GetName(), err)
				}
			}
		}
	}
}

// statusOf returns a function restoring obj's status (lost on create) when
// it has one worth writing.
func statusOf(obj client.Object) func(client.Object) {
	switch o := obj.(type) {
	case *clusterv1.ManagedCluster:
		st := *o.Status.DeepCopy()
		return func(n client.Object) { n.(*clusterv1.ManagedCluster).Status = st }
	case *clusterv1alpha1.AddOnPlacementScore:
		st := *o.Status.DeepCopy()
		return func(n client.Object) { n.(*clusterv1alpha1.AddOnPlacementScore).Status = st }
	}
	return nil
}

// change reads obj from each hub, mutates it and writes it back (status too).
func (d *diffRun) change(obj client.Object, mutate func(client.Object)) {
	d.t.Helper()
	for _, c := range d.hubs {
		o := obj.DeepCopyObject().(client.Object)
		if err := c.Get(d.ctx, client.ObjectKeyFromObject(obj), o); err != nil {
			d.t.Fatal(err)
		}
		mutate(o)
		status := statusOf(o)
		if err := c.Update(d.ctx, o); err != nil {
			d.t.Fatalf("update %T %s: %v", o, o.GetName(), err)
		}
		if status != nil {
			status(o)
			if err := c.Status().Update(d.ctx, o); err != nil {
				d.t.Fatalf("status of %T %s: %v", o, o.GetName(), err)
			}
		}
	}
}

func (d *diffRun) remove(obj client.Object) {
	d.t.Helper()
	for _, c := range d.hubs {
		if err := c.Delete(d.ctx, obj.DeepCopyObject().(client.Object)); err != nil {
			d.t.Fatalf("delete %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

func (d *diffRun) pick(options ...string) string { return options[d.rnd.IntN(len(options))] }
func (d *diffRun) chance(p float64) bool         { return d.rnd.Float64() < p }

// T0 is when the generated taints were added.
var taintTime = metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))

// generateFleet applies the seeded clusters, sets, bindings, scores and
// Placements.
func (d *diffRun) generateFleet() {
	d.scores = map[string]*clusterv1alpha1.AddOnPlacementScore{}
	for i := range 20 {
		name := fmt.Sprintf("c%02d", i)
		d.clusters = append(d.clusters, name)
		d.apply(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
		d.apply(d.cluster(name))
		if d.chance(0.6) {
			s := &clusterv1alpha1.AddOnPlacementScore{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "perf"},
				Status: clusterv1alpha1.AddOnPlacementScoreStatus{Scores: []clusterv1alpha1.AddOnPlacementScoreItem{
					{Name: "cpu", Value: int32(d.rnd.IntN(101))}, {Name: "mem", Value: int32(d.rnd.IntN(101))}}}}
			d.apply(s)
		}
	}
	d.apply(
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "set-a"}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "set-b"}},
		labelSet("prod", map[string]string{"env": "prod"}),
		labelSet("global", nil),
	)
	for _, ns := range []string{"ns-1", "ns-2", "ns-3", "ns-4"} {
		d.apply(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	d.apply(bind("ns-1", "set-a"), bind("ns-1", "global"), bind("ns-2", "set-b"), bind("ns-2", "prod"), bind("ns-4", "missing"))
	for i := range 14 {
		d.apply(d.placement(d.pick("ns-1", "ns-1", "ns-2", "ns-2", "ns-3", "ns-4"), fmt.Sprintf("gen-%02d", i)))
	}
	for _, p := range fixedPlacements() {
		d.apply(p)
	}
}

func labelSet(name string, labels map[string]string) *clusterv1beta2.ManagedClusterSet {
	return &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: clusterv1beta2.ManagedClusterSetSpec{ClusterSelector: clusterv1beta2.ManagedClusterSelector{
			SelectorType: clusterv1beta2.LabelSelector, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}}}
}

func bind(ns, set string) *clusterv1beta2.ManagedClusterSetBinding {
	return &clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: set},
		Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: set}}
}

func (d *diffRun) cluster(name string) *clusterv1.ManagedCluster {
	mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"env": d.pick("prod", "dev", "qa"), "region": d.pick("eu", "us", "ap"),
	}}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
	if set := d.pick("set-a", "set-b", ""); set != "" {
		mc.Labels[clusterv1beta2.ClusterSetLabel] = set
	}
	if d.chance(0.5) {
		mc.Labels["tier"] = d.pick("gold", "silver")
	}
	mc.Annotations = map[string]string{"inventory": fmt.Sprintf(`{"gpus": %d}`, d.rnd.IntN(5))}
	if d.chance(0.6) {
		mc.Annotations["team"] = d.pick("a", "b")
	}
	if d.chance(0.7) {
		mc.Status.ClusterClaims = append(mc.Status.ClusterClaims, clusterv1.ManagedClusterClaim{Name: "platform.open-cluster-management.io", Value: d.pick("AWS", "GCP")})
	}
	if d.chance(0.8) {
		cpu := resource.MustParse(strconv.Itoa(2 + d.rnd.IntN(15)))
		mem := resource.MustParse(fmt.Sprintf("%dGi", 4+d.rnd.IntN(61)))
		mc.Status.Allocatable = clusterv1.ResourceList{clusterv1.ResourceCPU: cpu, clusterv1.ResourceMemory: mem}
		mc.Status.Capacity = clusterv1.ResourceList{clusterv1.ResourceCPU: resource.MustParse("32"), clusterv1.ResourceMemory: resource.MustParse("128Gi")}
	}
	mc.Status.Version.Kubernetes = d.pick("v1.29.4", "v1.30.2", "v1.31.0")
	mc.Status.Conditions = []metav1.Condition{{Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionStatus(d.pick("True", "True", "False")),
		Reason: "Test", LastTransitionTime: taintTime}}
	switch d.rnd.IntN(7) {
	case 0:
		mc.Spec.Taints = []clusterv1.Taint{{Key: "gpu", Value: "true", Effect: clusterv1.TaintEffectNoSelect, TimeAdded: taintTime}}
	case 1:
		mc.Spec.Taints = []clusterv1.Taint{{Key: "busy", Effect: clusterv1.TaintEffectPreferNoSelect, TimeAdded: taintTime}}
	case 2:
		mc.Spec.Taints = []clusterv1.Taint{{Key: "draining", Effect: clusterv1.TaintEffectNoSelectIfNew, TimeAdded: taintTime}}
	}
	return mc
}

// celMenu are CEL expressions OCM's environment knows too.
var celMenu = []string{
	`managedCluster.metadata.labels["region"] == "eu"`,
	`managedCluster.metadata.annotations["team"] == "a"`,
	`managedCluster.metadata.annotations["inventory"].parseJSON().gpus >= 2.0`,
	`managedCluster.scores("perf").exists(s, s.name == "cpu" && s.value > 40)`,
	`managedCluster.status.version.kubernetes.matches("^v1\\.3[01]")`,
	`managedCluster.status.clusterClaims.exists(c, c.value == "AWS")`,
	`managedCluster.status.conditions.exists(c, c.type == "ManagedClusterConditionAvailable" && c.status == "True")`,
	`1 + 1`,
}

func (d *diffRun) placement(ns, name string) *clusterv1beta1.Placement {
	p := &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	switch d.rnd.IntN(4) {
	case 0:
		p.Spec.ClusterSets = []string{d.pick("set-a", "set-b", "global", "prod")}
	case 1:
		p.Spec.ClusterSets = []string{"global", d.pick("set-b", "nowhere")}
	}
	for range d.rnd.IntN(3) {
		var sel clusterv1beta1.ClusterSelector
		if d.chance(0.6) {
			sel.LabelSelector.MatchExpressions = append(sel.LabelSelector.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: d.pick("env", "region", "tier"), Operator: metav1.LabelSelectorOperator(d.pick("In", "NotIn", "Exists")),
			})
			r := &sel.LabelSelector.MatchExpressions[0]
			if r.Operator != metav1.LabelSelectorOpExists {
				r.Values = []string{d.pick("prod", "eu", "gold"), d.pick("dev", "us", "silver")}
			}
		}
		if d.chance(0.3) {
			sel.ClaimSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "platform.open-cluster-management.io",
				Operator: metav1.LabelSelectorOpIn, Values: []string{d.pick("AWS", "GCP")}}}
		}
		if d.chance(0.5) {
			sel.CelSelector.CelExpressions = []string{celMenu[d.rnd.IntN(len(celMenu))]}
		}
		p.Spec.Predicates = append(p.Spec.Predicates, clusterv1beta1.ClusterPredicate{RequiredClusterSelector: sel})
	}
	if d.chance(0.5) {
		n := int32(1 + d.rnd.IntN(6))
		p.Spec.NumberOfClusters = &n
		p.Spec.PrioritizerPolicy = d.prioritizers()
	}
	if d.chance(0.4) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, clusterv1beta1.Toleration{Key: "gpu", Operator: clusterv1beta1.TolerationOpEqual, Value: "true"})
	}
	if d.chance(0.3) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, clusterv1beta1.Toleration{Key: "draining", Operator: clusterv1beta1.TolerationOpExists})
	}
	if d.chance(0.4) {
		p.Spec.DecisionStrategy.GroupStrategy.DecisionGroups = []clusterv1beta1.DecisionGroup{{GroupName: "canary",
			ClusterSelector: clusterv1beta1.GroupClusterSelector{LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}}}}
		p.Spec.DecisionStrategy.GroupStrategy.ClustersPerDecisionGroup = d.pick2(intstr.FromInt32(2), intstr.FromString("50%"), intstr.FromString("100%"))
	}
	if p.Spec.NumberOfClusters == nil && d.chance(0.2) {
		// Without numberOfClusters, ScheduleAnyway changes nothing: both select all.
		p.Spec.SpreadPolicy.SpreadConstraints = []clusterv1beta1.SpreadConstraintsTerm{{TopologyKey: "region",
			TopologyKeyType: clusterv1beta1.TopologyKeyTypeLabel, MaxSkew: 1, WhenUnsatisfiable: clusterv1beta1.ScheduleAnyway}}
	}
	return p
}

func (d *diffRun) pick32(options ...int32) int32 { return options[d.rnd.IntN(len(options))] }

func (d *diffRun) pick2(options ...intstr.IntOrString) intstr.IntOrString {
	return options[d.rnd.IntN(len(options))]
}

// prioritizers never weigh Balance (see the exclusions).
func (d *diffRun) prioritizers() clusterv1beta1.PrioritizerPolicy {
	builtIn := func(name string, w int32) clusterv1beta1.PrioritizerConfig {
		return clusterv1beta1.PrioritizerConfig{Weight: w, ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{
			Type: clusterv1beta1.ScoreCoordinateTypeBuiltIn, BuiltIn: name}}
	}
	addOn := clusterv1beta1.PrioritizerConfig{Weight: int32(1 + d.rnd.IntN(3)), ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{
		Type: clusterv1beta1.ScoreCoordinateTypeAddOn, AddOn: &clusterv1beta1.AddOnScore{ResourceName: "perf", ScoreName: d.pick("cpu", "mem")}}}
	// Exact only: Additive weighs Balance 1, and the CRD defaults a weight of
	// 0 to 1, so Balance cannot be switched off there.
	var cfgs []clusterv1beta1.PrioritizerConfig
	if d.chance(0.6) {
		cfgs = append(cfgs, builtIn(placement.PrioritizerSteady, int32(1+d.rnd.IntN(2))))
	}
	if d.chance(0.5) {
		cfgs = append(cfgs, builtIn(d.pick(placement.PrioritizerResourceAllocatableCPU, placement.PrioritizerResourceAllocatableMemory), d.pick32(-1, 1, 2)))
	}
	if d.chance(0.4) {
		cfgs = append(cfgs, addOn)
	}
	return clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: cfgs}
}

// fixedPlacements cover issue 17's items 8 and 9 on every seed.
func fixedPlacements() []*clusterv1beta1.Placement {
	p := func(ns, name string, spec clusterv1beta1.PlacementSpec) *clusterv1beta1.Placement {
		return &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	}
	label := func(k, v string) clusterv1beta1.ClusterPredicate {
		return clusterv1beta1.ClusterPredicate{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
			LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{k: v}}}}
	}
	cel := func(expr string) clusterv1beta1.ClusterPredicate {
		return clusterv1beta1.ClusterPredicate{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
			CelSelector: clusterv1beta1.ClusterCelSelector{CelExpressions: []string{expr}}}}
	}
	return []*clusterv1beta1.Placement{
		p("ns-1", "toleration-without-key", clusterv1beta1.PlacementSpec{Tolerations: []clusterv1beta1.Toleration{{Operator: clusterv1beta1.TolerationOpEqual, Value: "x"}}}),
		p("ns-1", "in-nothing", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
			LabelSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn}}}}}}}),
		p("ns-1", "int-or-label", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{cel("1 + 1"), label("env", "prod")}}),
		p("ns-1", "missing-score", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{cel(`managedCluster.scores("nope").size() == 0`)}}),
		p("ns-1", "parse-json", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{cel(`managedCluster.metadata.annotations["inventory"].parseJSON().gpus > 1.0`)}}),
		p("ns-1", "team-a", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{cel(`managedCluster.metadata.annotations["team"] == "a"`)}}),
		p("ns-1", "tolerate-unreachable", clusterv1beta1.PlacementSpec{Tolerations: []clusterv1beta1.Toleration{{
			Key: clusterv1.ManagedClusterTaintUnreachable, Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: ptr64(toleration)}}}),
		p("ns-3", "unbound", clusterv1beta1.PlacementSpec{}),
		p("ns-2", "to-break", clusterv1beta1.PlacementSpec{NumberOfClusters: ptr32(3), PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{
			Mode: clusterv1beta1.PrioritizerPolicyModeExact, Configurations: []clusterv1beta1.PrioritizerConfig{{Weight: 1,
				ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{Type: clusterv1beta1.ScoreCoordinateTypeBuiltIn, BuiltIn: placement.PrioritizerSteady}}}}}),
	}
}

// toleration is the tolerationSeconds of tolerate-unreachable.
const toleration = 3600

func ptr32(v int32) *int32 { return &v }
func ptr64(v int64) *int64 { return &v }

// mutation is one change applied to both hubs.
type mutation struct {
	name  string
	apply func()
}

func (d *diffRun) mutations() []mutation {
	c := func(i int) *clusterv1.ManagedCluster {
		return &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: d.clusters[i]}}
	}
	onCluster := func(i int, f func(*clusterv1.ManagedCluster)) func() {
		return func() { d.change(c(i), func(o client.Object) { f(o.(*clusterv1.ManagedCluster)) }) }
	}
	placementRef := func(ns, name string) *clusterv1beta1.Placement {
		return &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	// Random choices are made here, once, never in a function applied to
	// each hub.
	i := func() int { return d.rnd.IntN(len(d.clusters)) }
	env, team, set := d.pick("prod", "dev", "qa"), d.pick("a", "b"), d.pick("set-a", "set-b")
	return []mutation{
		{"relabel a cluster's env", onCluster(i(), func(mc *clusterv1.ManagedCluster) { mc.Labels["env"] = env })},
		{"change a cluster's team annotation", onCluster(i(), func(mc *clusterv1.ManagedCluster) { mc.Annotations["team"] = team })},
		{"move a cluster to another exclusive set", onCluster(i(), func(mc *clusterv1.ManagedCluster) {
			mc.Labels[clusterv1beta2.ClusterSetLabel] = set
		})},
		{"taint a cluster NoSelect", onCluster(i(), func(mc *clusterv1.ManagedCluster) {
			mc.Spec.Taints = append(mc.Spec.Taints, clusterv1.Taint{Key: "gpu", Value: "true", Effect: clusterv1.TaintEffectNoSelect, TimeAdded: taintTime})
		})},
		{"taint a cluster unreachable, tolerated for a few seconds more", onCluster(i(), func(mc *clusterv1.ManagedCluster) {
			mc.Spec.Taints = append(mc.Spec.Taints, clusterv1.Taint{Key: clusterv1.ManagedClusterTaintUnreachable, Effect: clusterv1.TaintEffectNoSelect,
				TimeAdded: metav1.NewTime(time.Now().Add(-toleration*time.Second + 5*time.Second).Truncate(time.Second))})
		})},
		{"change AddOnPlacementScores", func() {
			for _, key := range slices.Sorted(maps.Keys(d.scores)) {
				if d.chance(0.5) {
					v := int32(d.rnd.IntN(101))
					d.change(d.scores[key], func(o client.Object) {
						o.(*clusterv1alpha1.AddOnPlacementScore).Status.Scores[0].Value = v
					})
				}
			}
		}},
		{"delete a binding", func() { d.remove(bind("ns-1", "set-a")) }},
		{"change a Placement's numberOfClusters", func() {
			d.change(placementRef("ns-2", "to-break"), func(o client.Object) { *o.(*clusterv1beta1.Placement).Spec.NumberOfClusters = 5 })
		}},
		{"Balance, alone: a new Placement weighs other Placements' decisions", func() {
			d.apply(&clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: "ns-1", Name: "balance-probe"}, Spec: clusterv1beta1.PlacementSpec{
				NumberOfClusters: ptr32(3), PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact,
					Configurations: []clusterv1beta1.PrioritizerConfig{{Weight: 1, ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{
						Type: clusterv1beta1.ScoreCoordinateTypeBuiltIn, BuiltIn: placement.PrioritizerBalance}}}}}})
		}},
		{"the Balance probe goes", func() { d.remove(placementRef("ns-1", "balance-probe")) }},
		{"edit a scheduled Placement into misconfiguration", func() {
			d.misEdited["ns-2/to-break"] = true
			d.change(placementRef("ns-2", "to-break"), func(o client.Object) {
				o.(*clusterv1beta1.Placement).Spec.Tolerations = []clusterv1beta1.Toleration{{Value: "x"}}
			})
		}},
		{"a binding comes back", func() { d.apply(bind("ns-1", "set-a")) }},
	}
}

// step waits until both hubs hold what our scheduler expects, less the
// deliberate differences on OCM's side.
func (d *diffRun) step(name string) {
	d.t.Helper()
	d.steps++
	if d.misEdited == nil {
		d.misEdited = map[string]bool{}
	}
	// Decisions before the step: the "existing" clusters of Steady and
	// NoSelectIfNew. Both hubs held the same after the previous step.
	before := d.observe(d.hubs[1])
	deadline := time.Now().Add(45 * time.Second)
	var last string
	for {
		want := d.expect(before)
		ocm, ours := d.observe(d.hubs[0]), d.observe(d.hubs[1])
		diff := compareStates("OCM's", ocmView(want, d.misEdited), ocm) + compareStates("ours", want, ours)
		if diff == "" {
			d.comparisons += 2 * len(want)
			d.lastWant = want
			return
		}
		last = diff
		if time.Now().After(deadline) {
			d.t.Fatalf("step %d %q: the hubs did not reach the expected decisions within 45s:\n%s", d.steps, name, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func compareStates(who string, want, got map[string]placementState) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		w, g := want[k].String(), got[k].String()
		if w != g {
			fmt.Fprintf(&b, "  %s Placement %s:\n    want %s\n    got  %s\n", who, k, w, g)
		}
	}
	return b.String()
}

// observe reads every Placement's status and PlacementDecisions on a hub.
func (d *diffRun) observe(c client.Client) map[string]placementState {
	d.t.Helper()
	var ps clusterv1beta1.PlacementList
	var ds clusterv1beta1.PlacementDecisionList
	if err := c.List(d.ctx, &ps); err != nil {
		d.t.Fatal(err)
	}
	if err := c.List(d.ctx, &ds); err != nil {
		d.t.Fatal(err)
	}
	out := map[string]placementState{}
	for i := range ps.Items {
		p := &ps.Items[i]
		out[p.Namespace+"/"+p.Name] = stateOf(p.Status, nil)
	}
	for i := range ds.Items {
		pd := &ds.Items[i]
		key := pd.Namespace + "/" + pd.Labels[clusterv1beta1.PlacementLabel]
		st, ok := out[key]
		if !ok {
			continue // a deleted Placement's (no garbage collector here)
		}
		st.Decisions = append(st.Decisions, decisionString(pd))
		sort.Strings(st.Decisions)
		out[key] = st
	}
	return out
}

func decisionString(pd *clusterv1beta1.PlacementDecision) string {
	names := make([]string, len(pd.Status.Decisions))
	for i, cd := range pd.Status.Decisions {
		names[i] = cd.ClusterName
	}
	return fmt.Sprintf("%s [%s/%s/%s]: %s", pd.Name, pd.Labels[clusterv1beta1.PlacementLabel],
		pd.Labels[clusterv1beta1.DecisionGroupIndexLabel], pd.Labels[clusterv1beta1.DecisionGroupNameLabel], strings.Join(names, " "))
}

// stateOf normalizes a status: no times, no scores (difference 3), and no
// PlacementMisconfigured message when True (difference 2).
func stateOf(st clusterv1beta1.PlacementStatus, decisions []*clusterv1beta1.PlacementDecision) placementState {
	s := placementState{Selected: st.NumberOfSelectedClusters}
	for _, g := range st.DecisionGroups {
		s.Groups = append(s.Groups, fmt.Sprintf("%d/%s:%s=%d", g.DecisionGroupIndex, g.DecisionGroupName, strings.Join(g.Decisions, ","), g.ClustersCount))
	}
	for _, typ := range []string{clusterv1beta1.PlacementConditionSatisfied, clusterv1beta1.PlacementConditionMisconfigured} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
			msg := c.Message
			if typ == clusterv1beta1.PlacementConditionMisconfigured && c.Status == metav1.ConditionTrue {
				msg = "(ours names the field)"
			}
			s.Conditions = append(s.Conditions, fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, msg))
		}
	}
	for _, pd := range decisions {
		s.Decisions = append(s.Decisions, decisionString(pd))
	}
	sort.Strings(s.Decisions)
	return s
}

// expect computes, with our pure scheduler, what every Placement on our hub
// should hold, given the decisions before the step.
func (d *diffRun) expect(before map[string]placementState) map[string]placementState {
	d.t.Helper()
	c := d.hubs[1]
	var (
		ps       clusterv1beta1.PlacementList
		clusters clusterv1.ManagedClusterList
		sets     clusterv1beta2.ManagedClusterSetList
		bindings clusterv1beta2.ManagedClusterSetBindingList
		scores   clusterv1alpha1.AddOnPlacementScoreList
		pds      clusterv1beta1.PlacementDecisionList
	)
	for _, l := range []client.ObjectList{&ps, &clusters, &sets, &bindings, &scores, &pds} {
		if err := c.List(d.ctx, l); err != nil {
			d.t.Fatal(err)
		}
	}
	d.scores = map[string]*clusterv1alpha1.AddOnPlacementScore{}
	for i := range scores.Items {
		d.scores[scores.Items[i].Namespace+"/"+scores.Items[i].Name] = &scores.Items[i]
	}
	in := placement.Input{Now: time.Now()}
	for i := range clusters.Items {
		in.Clusters = append(in.Clusters, &clusters.Items[i])
	}
	for i := range sets.Items {
		in.ClusterSets = append(in.ClusterSets, &sets.Items[i])
	}
	out := map[string]placementState{}
	for i := range ps.Items {
		p := &ps.Items[i]
		key := p.Namespace + "/" + p.Name
		in.Bindings = nil
		for j := range bindings.Items {
			if bindings.Items[j].Namespace == p.Namespace {
				in.Bindings = append(in.Bindings, &bindings.Items[j])
			}
		}
		in.Existing = clustersIn(before[key])
		in.OtherDecisions = func() map[string]int { return otherDecisions(pds.Items, p) }
		out[key] = d.expectOne(p, in, before[key])
	}
	return out
}

// expectOne is what our controller writes for one Placement.
func (d *diffRun) expectOne(p *clusterv1beta1.Placement, in placement.Input, before placementState) placementState {
	c, mis := d.sched.Compile(p)
	if mis != nil {
		res := d.sched.Misconfigured(p, mis, in)
		if len(before.Decisions) > 0 && d.misEdited[p.Namespace+"/"+p.Name] {
			kept := before
			res.Selected = int(before.Selected)
			st := placement.Status(clusterv1beta1.PlacementStatus{}, res, nil, in.Now)
			kept.Conditions = stateOf(st, nil).Conditions
			return kept
		}
		objs, groups := placement.Layout(p, []placement.Group{{}})
		return stateOf(placement.Status(clusterv1beta1.PlacementStatus{}, res, groups, in.Now), objs)
	}
	res := d.sched.Schedule(c, in)
	objs, groups := placement.Layout(p, res.Groups)
	return stateOf(placement.Status(clusterv1beta1.PlacementStatus{}, res, groups, in.Now), objs)
}

func clustersIn(s placementState) map[string]bool {
	out := map[string]bool{}
	for _, d := range s.Decisions {
		_, names, _ := strings.Cut(d, "]: ")
		for _, n := range strings.Fields(names) {
			out[n] = true
		}
	}
	return out
}

func otherDecisions(all []clusterv1beta1.PlacementDecision, p *clusterv1beta1.Placement) map[string]int {
	out := map[string]int{}
	for _, pd := range all {
		if pd.Namespace == p.Namespace && pd.Labels[clusterv1beta1.PlacementLabel] == p.Name {
			continue
		}
		for _, cd := range pd.Status.Decisions {
			out[cd.ClusterName]++
		}
	}
	return out
}

// ocmView is want as OCM's controller writes it: difference 1 applied.
func ocmView(want map[string]placementState, misEdited map[string]bool) map[string]placementState {
	out := make(map[string]placementState, len(want))
	for key, s := range want {
		if misEdited[key] {
			_, name, _ := strings.Cut(key, "/")
			first := placement.DecisionName(name, 1)
			s.Selected = 0
			s.Groups = []string{fmt.Sprintf("0/:%s=0", first)}
			s.Decisions = []string{fmt.Sprintf("%s [%s/0/]: ", first, name)}
			s.Conditions = slices.Clone(s.Conditions) // want's own stays
			for i, c := range s.Conditions {
				if head, _, ok := strings.Cut(c, "; the placement is misconfigured"); ok {
					s.Conditions[i] = head
				}
			}
		}
		out[key] = s
	}
	return out
}

func (d *diffRun) lookupScore(cluster, name string) *clusterv1alpha1.AddOnPlacementScore {
	return d.scores[cluster+"/"+name]
}
