package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// MaxDecisionsPerObject is how many clusters one PlacementDecision holds.
const MaxDecisionsPerObject = 100

// DecisionName is the name OCM gives the index-th (from 1) PlacementDecision
// of a Placement; the index runs on across decision groups.
func DecisionName(placement string, index int) string {
	return fmt.Sprintf("%s-decision-%d", placement, index)
}

// Layout turns decision groups into PlacementDecisions as OCM writes them:
// each group split into objects of at most 100 decisions (an empty group
// still gets one empty object), named <placement>-decision-<n> with n from 1,
// labelled with the placement and the group's index and name, owned by the
// Placement, each decision with its score when the group has scores. It
// also returns the status.decisionGroups entries.
func Layout(p *clusterv1beta1.Placement, groups []Group) ([]*clusterv1beta1.PlacementDecision, []clusterv1beta1.DecisionGroupStatus) {
	var (
		objs   []*clusterv1beta1.PlacementDecision
		status = make([]clusterv1beta1.DecisionGroupStatus, 0, len(groups))
		next   = 1
	)
	owner := metav1.NewControllerRef(p, schema.GroupVersion(clusterv1beta1.GroupVersion).WithKind("Placement"))
	for _, g := range groups {
		gs := clusterv1beta1.DecisionGroupStatus{
			DecisionGroupIndex: int32(g.Index),
			DecisionGroupName:  g.Name,
			ClustersCount:      int32(len(g.Clusters)),
			Decisions:          []string{},
		}
		rest := g.Clusters
		for first := true; first || len(rest) > 0; first = false {
			n := min(len(rest), MaxDecisionsPerObject)
			decisions := make([]clusterv1beta1.ClusterDecision, n)
			for i, c := range rest[:n] {
				decisions[i] = clusterv1beta1.ClusterDecision{ClusterName: c}
				if g.Scores != nil {
					decisions[i].Score = g.Scores[len(g.Clusters)-len(rest)+i]
				}
			}
			rest = rest[n:]
			name := DecisionName(p.Name, next)
			next++
			objs = append(objs, &clusterv1beta1.PlacementDecision{
				ObjectMeta: metav1.ObjectMeta{
					Name:      name,
					Namespace: p.Namespace,
					Labels: map[string]string{
						clusterv1beta1.PlacementLabel:          p.Name,
						clusterv1beta1.DecisionGroupIndexLabel: strconv.Itoa(g.Index),
						clusterv1beta1.DecisionGroupNameLabel:  g.Name,
					},
					OwnerReferences: []metav1.OwnerReference{*owner},
				},
				Status: clusterv1beta1.PlacementDecisionStatus{Decisions: decisions},
			})
			gs.Decisions = append(gs.Decisions, name)
		}
		status = append(status, gs)
	}
	return objs, status
}

// Status returns the Placement status for a result: selected count, decision
// groups and the PlacementSatisfied and PlacementMisconfigured conditions.
// Conditions keep their transition time while their status holds.
//
// A misconfigured Placement keeps the decisions it had (bad input never
// removes a cluster that was chosen): res.Selected and groups then describe
// the kept decisions, and PlacementSatisfied is False with the reason OCM
// gives (OCM empties the decisions instead) and a message that says how
// many clusters were kept.
func Status(old clusterv1beta1.PlacementStatus, res Result, groups []clusterv1beta1.DecisionGroupStatus, now time.Time) clusterv1beta1.PlacementStatus {
	st := *old.DeepCopy()
	t := metav1.NewTime(now.Truncate(time.Second))
	st.NumberOfSelectedClusters = int32(res.Selected)
	st.DecisionGroups = groups
	if st.DecisionGroups == nil {
		st.DecisionGroups = []clusterv1beta1.DecisionGroupStatus{}
	}
	mis := metav1.Condition{
		Type:    clusterv1beta1.PlacementConditionMisconfigured,
		Status:  metav1.ConditionFalse,
		Reason:  ReasonSucceedConfigured,
		Message: "Placement configurations check pass",
	}
	sat := res.Satisfied
	if res.Misconfigured != nil {
		mis.Status, mis.Reason, mis.Message = metav1.ConditionTrue, ReasonMisconfigured, res.Misconfigured.Error()
		sat.Status = metav1.ConditionFalse
		if res.Selected > 0 {
			sat.Message = fmt.Sprintf("%s; the placement is misconfigured, so the %d clusters decided before were kept: fix the spec to schedule again", sat.Message, res.Selected)
		}
	}
	mis.LastTransitionTime, sat.LastTransitionTime = t, t
	meta.SetStatusCondition(&st.Conditions, mis)
	meta.SetStatusCondition(&st.Conditions, sat)
	return st
}

// GroupStatus describes existing PlacementDecisions as status.decisionGroups
// (for decisions kept as they are) and counts their clusters.
func GroupStatus(current []*clusterv1beta1.PlacementDecision) ([]clusterv1beta1.DecisionGroupStatus, int) {
	sorted := slices.Clone(current)
	slices.SortFunc(sorted, func(a, b *clusterv1beta1.PlacementDecision) int {
		return cmp.Compare(decisionIndex(a.Name), decisionIndex(b.Name))
	})
	var out []clusterv1beta1.DecisionGroupStatus
	byIndex := map[int]int{}
	total := 0
	for _, d := range sorted {
		idx, _ := strconv.Atoi(d.Labels[clusterv1beta1.DecisionGroupIndexLabel])
		i, ok := byIndex[idx]
		if !ok {
			i = len(out)
			byIndex[idx] = i
			out = append(out, clusterv1beta1.DecisionGroupStatus{
				DecisionGroupIndex: int32(idx),
				DecisionGroupName:  d.Labels[clusterv1beta1.DecisionGroupNameLabel],
				Decisions:          []string{},
			})
		}
		out[i].Decisions = append(out[i].Decisions, d.Name)
		out[i].ClustersCount += int32(len(d.Status.Decisions))
		total += len(d.Status.Decisions)
	}
	slices.SortStableFunc(out, func(a, b clusterv1beta1.DecisionGroupStatus) int {
		return cmp.Compare(a.DecisionGroupIndex, b.DecisionGroupIndex)
	})
	return out, total
}

// decisionIndex is n in <placement>-decision-<n>, or 0.
func decisionIndex(name string) int {
	n, _ := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
	return n
}

// decisionsEqual reports whether a PlacementDecision already holds what
// want asks for (labels and decisions).
func decisionsEqual(have, want *clusterv1beta1.PlacementDecision) bool {
	return labelsEqual(have.Labels, want.Labels) && equality.Semantic.DeepEqual(have.Status.Decisions, want.Status.Decisions)
}

func labelsEqual(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}
