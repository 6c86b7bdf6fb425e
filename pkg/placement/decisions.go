package placement

import (
	"fmt"
	"strconv"
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
// Placement. It also returns the status.decisionGroups entries.
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
// Conditions keep their transition time while their status holds. On a
// misconfiguration only PlacementMisconfigured changes: the decisions stay.
func Status(old clusterv1beta1.PlacementStatus, res Result, groups []clusterv1beta1.DecisionGroupStatus, now time.Time) clusterv1beta1.PlacementStatus {
	st := *old.DeepCopy()
	t := metav1.NewTime(now.Truncate(time.Second))
	if res.Misconfigured != nil {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type:               clusterv1beta1.PlacementConditionMisconfigured,
			Status:             metav1.ConditionTrue,
			Reason:             ReasonMisconfigured,
			Message:            res.Misconfigured.Error(),
			LastTransitionTime: t,
		})
		return st
	}
	st.NumberOfSelectedClusters = int32(res.Selected)
	st.DecisionGroups = groups
	sat := res.Satisfied
	sat.LastTransitionTime = t
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               clusterv1beta1.PlacementConditionMisconfigured,
		Status:             metav1.ConditionFalse,
		Reason:             ReasonSucceedConfigured,
		Message:            "Placement configurations check pass",
		LastTransitionTime: t,
	})
	meta.SetStatusCondition(&st.Conditions, sat)
	return st
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
