package placement

import (
	"time"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
)

// maxScore bounds every prioritizer's score to [-maxScore, maxScore].
const maxScore = 100

// score sums weight × score of every enabled prioritizer into each
// candidate's score and returns the sums by cluster name. It lowers *requeue
// to the earliest future validUntil of an AddOnPlacementScore it used.
func (s *Scheduler) score(c *Compiled, cands []*candidate, in Input, requeue *time.Time) map[string]int64 {
	for _, cand := range cands {
		cand.score = 0
	}
	for _, p := range c.prioritizers {
		var part []int64
		switch p.kind {
		case prioBalance:
			var counts map[string]int
			if in.OtherDecisions != nil {
				counts = in.OtherDecisions()
			}
			part = balanceScores(cands, counts)
		case prioSteady:
			part = make([]int64, len(cands))
			for i, cand := range cands {
				if in.Existing[cand.mc.Name] {
					part[i] = maxScore
				}
			}
		case prioResourceCPU:
			part = allocatableScores(cands, clusterv1.ResourceCPU)
		case prioResourceMemory:
			part = allocatableScores(cands, clusterv1.ResourceMemory)
		case prioAddOn:
			part = s.addOnScores(cands, p.resource, p.score, in.Now, requeue)
		}
		for i, v := range part {
			cands[i].score += v * p.weight
		}
	}
	out := make(map[string]int64, len(cands))
	for _, cand := range cands {
		out[cand.mc.Name] = cand.score
	}
	return out
}

// balanceScores favours clusters that other Placements chose least: 100 for
// none, falling linearly to -100 for the most chosen, truncated as OCM does.
func balanceScores(cands []*candidate, counts map[string]int) []int64 {
	out := make([]int64, len(cands))
	most := 0
	for _, n := range counts {
		if n > most {
			most = n
		}
	}
	for i, cand := range cands {
		n, ok := counts[cand.mc.Name]
		if !ok || n == 0 || most == 0 {
			out[i] = maxScore
			continue
		}
		usage := float64(n) / float64(most)
		out[i] = 2 * int64(float64(maxScore)*(0.5-usage))
	}
	return out
}

// allocatableScores maps the allocatable resource linearly from the least
// (-100) to the most (100) among clusters reporting both allocatable and
// capacity; others score 0. Equal values all score 100.
func allocatableScores(cands []*candidate, name clusterv1.ResourceName) []int64 {
	out := make([]int64, len(cands))
	vals := make([]float64, len(cands))
	has := make([]bool, len(cands))
	var lo, hi float64
	found := false
	for i, cand := range cands {
		a, okA := cand.mc.Status.Allocatable[name]
		_, okC := cand.mc.Status.Capacity[name]
		if !okA || !okC {
			continue
		}
		v := a.AsApproximateFloat64()
		vals[i], has[i] = v, true
		if !found || v < lo {
			lo = v
		}
		if !found || v > hi {
			hi = v
		}
		found = true
	}
	for i := range cands {
		if !has[i] {
			continue
		}
		if hi == lo {
			out[i] = maxScore
			continue
		}
		ratio := (vals[i] - lo) / (hi - lo)
		out[i] = int64((ratio - 0.5) * 2.0 * maxScore)
	}
	return out
}

// addOnScores reads scoreName from each cluster's AddOnPlacementScore
// resourceName; missing or expired scores count 0.
func (s *Scheduler) addOnScores(cands []*candidate, resourceName, scoreName string, now time.Time, requeue *time.Time) []int64 {
	out := make([]int64, len(cands))
	if s.scores == nil {
		return out
	}
	for i, cand := range cands {
		sc := s.scores(cand.mc.Name, resourceName)
		if sc == nil {
			continue
		}
		if vu := sc.Status.ValidUntil; vu != nil {
			if now.After(vu.Time) {
				continue
			}
			*requeue = earliest(*requeue, vu.Time)
		}
		for _, it := range sc.Status.Scores {
			if it.Name == scoreName {
				out[i] = int64(it.Value)
			}
		}
	}
	return out
}
