package placement_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestControllerReschedulesAsOCM: what re-schedules a Placement is what
// re-schedules it in OCM (issue 17, item 7).
func TestControllerReschedulesAsOCM(t *testing.T) {
	needHub(t)
	createNS(t, "trig")
	createSetAndBinding(t, ExclusiveSet("trig"), "trig")
	for _, n := range []string{"trig-1", "trig-2", "trig-3"} {
		createCluster(t, Cluster(n, InSet("trig"), WithLabels("role", "app")))
	}
	updateCluster(t, "trig-3", func(mc *clusterv1.ManagedCluster) { mc.Labels["role"] = "infra" })

	// CEL reading annotations is evaluated again when an annotation changes.
	createPlacement(t, "trig", "team-a", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{
		CelPredicate(`has(managedCluster.metadata.annotations) && managedCluster.metadata.annotations["team"] == "a"`)}})
	expectDecisions(t, "trig", "team-a")
	updateCluster(t, "trig-3", func(mc *clusterv1.ManagedCluster) { mc.Annotations = map[string]string{"team": "a"} })
	expectDecisions(t, "trig", "team-a", "trig-3")

	// Balance: "one" chose trig-1; then "pinned" also takes trig-1, which
	// does not re-schedule "one" (in OCM neither). A label change on
	// trig-3, a cluster "one" cannot select, re-schedules every Placement
	// bound to its set, and Balance (-100 for trig-1) now outweighs Steady
	// (+100): "one" moves to trig-2.
	createPlacement(t, "trig", "one", clusterv1beta1.PlacementSpec{NumberOfClusters: N32(1),
		Predicates: []clusterv1beta1.ClusterPredicate{LabelPredicate("role", "app")}})
	expectDecisions(t, "trig", "one", "trig-1")
	createPlacement(t, "trig", "pinned", clusterv1beta1.PlacementSpec{Predicates: []clusterv1beta1.ClusterPredicate{
		CelPredicate(`managedCluster.metadata.name == "trig-1"`)}})
	expectDecisions(t, "trig", "pinned", "trig-1")
	updateCluster(t, "trig-3", func(mc *clusterv1.ManagedCluster) { mc.Labels["touched"] = "yes" })
	expectDecisions(t, "trig", "one", "trig-2")
}

// TestControllerMisconfiguredStatusShape: a misconfigured Placement keeps its
// decisions, with OCM's status shape (issue 17, item 9).
func TestControllerMisconfiguredStatusShape(t *testing.T) {
	needHub(t)
	createNS(t, "shape")
	createSetAndBinding(t, ExclusiveSet("shape"), "shape")
	createCluster(t, Cluster("shape-1", InSet("shape")))
	createCluster(t, Cluster("shape-2", InSet("shape")))

	// A new misconfigured Placement: one empty decision, as OCM writes it.
	createPlacement(t, "shape", "fresh", clusterv1beta1.PlacementSpec{Tolerations: []clusterv1beta1.Toleration{{Operator: clusterv1beta1.TolerationOpEqual, Value: "x"}}})
	p := expectCondition(t, "shape", "fresh", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonNoClusterMatched)
	expectDecisions(t, "shape", "fresh")
	if !meta.IsStatusConditionTrue(p.Status.Conditions, clusterv1beta1.PlacementConditionMisconfigured) ||
		len(p.Status.DecisionGroups) != 1 || p.Status.DecisionGroups[0].Decisions[0] != "fresh-decision-1" || p.Status.NumberOfSelectedClusters != 0 {
		t.Errorf("status of a new misconfigured placement = %+v", p.Status)
	}

	// A scheduled Placement edited into misconfiguration keeps its clusters
	// and says so.
	createPlacement(t, "shape", "p", clusterv1beta1.PlacementSpec{})
	expectDecisions(t, "shape", "p", "shape-1", "shape-2")
	updatePlacement(t, "shape", "p", func(p *clusterv1beta1.Placement) {
		p.Spec.Predicates = []clusterv1beta1.ClusterPredicate{{RequiredClusterSelector: clusterv1beta1.ClusterSelector{
			LabelSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn}}}}}}
	})
	p = expectCondition(t, "shape", "p", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonNoClusterMatched)
	expectDecisions(t, "shape", "p", "shape-1", "shape-2")
	sat := meta.FindStatusCondition(p.Status.Conditions, clusterv1beta1.PlacementConditionSatisfied)
	if !strings.Contains(sat.Message, "the 2 clusters decided before were kept") || p.Status.NumberOfSelectedClusters != 2 ||
		len(p.Status.DecisionGroups) != 1 || p.Status.DecisionGroups[0].ClustersCount != 2 {
		t.Errorf("status of a misconfigured placement = %+v", p.Status)
	}

	// A namespace without bindings: NoManagedClusterSetBindings, as OCM,
	// even when the spec is misconfigured too.
	createNS(t, "shape-unbound")
	createPlacement(t, "shape-unbound", "p", clusterv1beta1.PlacementSpec{Tolerations: []clusterv1beta1.Toleration{{Value: "x"}}})
	expectCondition(t, "shape-unbound", "p", clusterv1beta1.PlacementConditionSatisfied, metav1.ConditionFalse, ReasonNoBindings)
}

// TestControllerScoresSortAndRateLimit: decisions[].score, sortBy Score and
// scoreRateLimit (OCM API v1.3.0, as the placement-score-visibility design
// describes them).
func TestControllerScoresSortAndRateLimit(t *testing.T) {
	needHub(t)
	ctx := context.Background()
	createNS(t, "scores")
	createSetAndBinding(t, ExclusiveSet("scores"), "scores")
	score := func(cluster string, v int32) { setScore(t, cluster, "gpu", "free", v) }
	for i, n := range []string{"scores-1", "scores-2", "scores-3"} {
		createNS(t, n)
		createCluster(t, Cluster(n, InSet("scores")))
		score(n, int32(10*(i+1)))
	}
	spec := func(limit string) clusterv1beta1.PlacementSpec {
		return clusterv1beta1.PlacementSpec{SortBy: clusterv1beta1.PlacementSortByScore, ScoreRateLimit: limit,
			PrioritizerPolicy: clusterv1beta1.PrioritizerPolicy{Mode: clusterv1beta1.PrioritizerPolicyModeExact,
				Configurations: []clusterv1beta1.PrioritizerConfig{{Weight: 1, ScoreCoordinate: &clusterv1beta1.ScoreCoordinate{
					Type: clusterv1beta1.ScoreCoordinateTypeAddOn, AddOn: &clusterv1beta1.AddOnScore{ResourceName: "gpu", ScoreName: "free"}}}}}}
	}
	createPlacement(t, "scores", "held", spec("1h"))
	createPlacement(t, "scores", "live", spec("0s"))
	ordered := func(name, want string) {
		t.Helper()
		poll.Eventually(t, 20*time.Second, name+" ordered by score", func() error {
			ds, err := listDecisions(ctx, "scores", name)
			if err != nil || len(ds) == 0 {
				return fmt.Errorf("decisions of %s: %v", name, err)
			}
			var got []string
			for _, d := range ds[0].Status.Decisions {
				got = append(got, fmt.Sprintf("%s=%d", d.ClusterName, d.Score))
			}
			if strings.Join(got, " ") != want {
				return fmt.Errorf("decisions of %s = %v, want %s", name, got, want)
			}
			return nil
		})
	}
	ordered("held", "scores-3=30 scores-2=20 scores-1=10")
	ordered("live", "scores-3=30 scores-2=20 scores-1=10")
	var p clusterv1beta1.Placement
	must(t, testHub.c.Get(ctx, client.ObjectKey{Namespace: "scores", Name: "held"}, &p))
	if p.Status.LastScoreUpdateTime == nil {
		t.Errorf("lastScoreUpdateTime not set: %+v", p.Status)
	}

	// Scores change but the selection does not: "live" shows it at once,
	// "held" not within its hour.
	score("scores-1", 50)
	ordered("live", "scores-1=50 scores-3=30 scores-2=20")
	ordered("held", "scores-3=30 scores-2=20 scores-1=10")

	// A change of the selection is written at once, with the fresh scores
	// (scores-1's 50 is known: "live" showed it).
	updateCluster(t, "scores-2", func(mc *clusterv1.ManagedCluster) {
		mc.Labels[clusterv1beta2.ClusterSetLabel] = "elsewhere"
	})
	ordered("held", "scores-1=50 scores-3=30")
}
