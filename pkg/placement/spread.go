package placement

import "strings"

// spreadSelect picks up to want clusters from cands (sorted best first) so
// the selection spreads over the topology domains of each constraint. The
// skew of a constraint is the count of selected clusters in a domain minus
// the smallest count among its domains (the domains are the values of the
// topology key among the candidates). A DoNotSchedule constraint never lets
// the skew exceed maxSkew: clusters without the key are left out, and
// selection stops early when every remaining cluster would break it. A
// ScheduleAnyway constraint only prefers clusters that keep within maxSkew.
// Among equally acceptable clusters the higher score, then the name, wins.
//
// OCM v1.0.0 accepts spec.spreadPolicy but does not act on it; this follows
// the API's documented meaning.
func spreadSelect(terms []spreadTerm, cands []*candidate, want int) []*candidate {
	type domainCounts struct {
		index  map[string]int
		counts []int
	}
	doms := make([]domainCounts, len(terms))
	for t := range doms {
		doms[t].index = map[string]int{}
	}
	// bucket groups candidates that share every domain: they are
	// interchangeable for the constraints, so only each bucket's best
	// remaining candidate needs to be looked at.
	type bucket struct {
		dom   []int // domain index per term, -1 without the key
		cands []*candidate
		next  int
	}
	var buckets []*bucket
	byKey := map[string]*bucket{}
	var key strings.Builder
candidates:
	for _, cand := range cands {
		dom := make([]int, len(terms))
		key.Reset()
		for t, term := range terms {
			var v string
			var ok bool
			if term.claim {
				v, ok = cand.claimMap()[term.key]
			} else {
				v, ok = cand.mc.Labels[term.key]
			}
			if !ok {
				if term.hard {
					continue candidates
				}
				dom[t] = -1
				key.WriteString("\x01\x00")
				continue
			}
			i, seen := doms[t].index[v]
			if !seen {
				i = len(doms[t].counts)
				doms[t].index[v] = i
				doms[t].counts = append(doms[t].counts, 0)
			}
			dom[t] = i
			key.WriteString(v)
			key.WriteByte(0)
		}
		b := byKey[key.String()]
		if b == nil {
			b = &bucket{dom: dom}
			byKey[key.String()] = b
			buckets = append(buckets, b)
		}
		b.cands = append(b.cands, cand)
	}

	// skewAfter is the skew of term t's domain d if one more cluster joins it.
	skewAfter := func(t, d int) int {
		counts := doms[t].counts
		after := counts[d] + 1
		lowest := after
		for i, n := range counts {
			if i != d && n < lowest {
				lowest = n
			}
		}
		return after - lowest
	}

	var selected []*candidate
	for len(selected) < want {
		var best *bucket
		bestSoft := false
		for _, b := range buckets {
			if b.next >= len(b.cands) {
				continue
			}
			hardOK, soft := true, false
			for t, term := range terms {
				d := b.dom[t]
				if d < 0 {
					continue
				}
				if skewAfter(t, d) > term.maxSkew {
					if term.hard {
						hardOK = false
						break
					}
					soft = true
				}
			}
			if !hardOK {
				continue
			}
			if best == nil || better(b.cands[b.next], soft, best.cands[best.next], bestSoft) {
				best, bestSoft = b, soft
			}
		}
		if best == nil {
			break
		}
		selected = append(selected, best.cands[best.next])
		best.next++
		for t, d := range best.dom {
			if d >= 0 {
				doms[t].counts[d]++
			}
		}
	}
	return selected
}

// better reports whether candidate a (breaking a soft constraint when aSoft)
// is preferable to b.
func better(a *candidate, aSoft bool, b *candidate, bSoft bool) bool {
	if aSoft != bSoft {
		return !aSoft
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.mc.Name < b.mc.Name
}
