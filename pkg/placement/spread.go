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
	s := newSpreader(terms, cands)
	var selected []*candidate
	for len(selected) < want {
		b := s.best()
		if b == nil {
			break
		}
		selected = append(selected, b.cands[b.next])
		s.take(b)
	}
	return selected
}

// spreader holds the state of one spreadSelect.
type spreader struct {
	terms []spreadTerm
	doms  []spreadDomains // per term
	// buckets group candidates that share every domain: they are
	// interchangeable for the constraints, so only each bucket's best
	// remaining candidate needs to be looked at.
	buckets []*spreadBucket
}

// spreadDomains are the values of one term's topology key, with the count
// of selected clusters in each.
type spreadDomains struct {
	index  map[string]int
	counts []int
}

type spreadBucket struct {
	dom   []int // domain index per term, -1 without the key
	cands []*candidate
	next  int
}

func newSpreader(terms []spreadTerm, cands []*candidate) *spreader {
	s := &spreader{terms: terms, doms: make([]spreadDomains, len(terms))}
	for t := range s.doms {
		s.doms[t].index = map[string]int{}
	}
	byKey := map[string]*spreadBucket{}
	var key strings.Builder
	for _, cand := range cands {
		dom, ok := s.domainsOf(cand, &key)
		if !ok {
			continue
		}
		b := byKey[key.String()]
		if b == nil {
			b = &spreadBucket{dom: dom}
			byKey[key.String()] = b
			s.buckets = append(s.buckets, b)
		}
		b.cands = append(b.cands, cand)
	}
	return s
}

// domainsOf returns cand's domain per term and writes its bucket key; false
// when cand lacks the key of a DoNotSchedule term (it is left out).
func (s *spreader) domainsOf(cand *candidate, key *strings.Builder) ([]int, bool) {
	dom := make([]int, len(s.terms))
	key.Reset()
	for t, term := range s.terms {
		v, ok := topologyValue(term, cand)
		if !ok {
			if term.hard {
				return nil, false
			}
			dom[t] = -1
			key.WriteString("\x01\x00")
			continue
		}
		dom[t] = s.doms[t].indexOf(v)
		key.WriteString(v)
		key.WriteByte(0)
	}
	return dom, true
}

func topologyValue(term spreadTerm, cand *candidate) (string, bool) {
	if term.claim {
		v, ok := cand.claimMap()[term.key]
		return v, ok
	}
	v, ok := cand.mc.Labels[term.key]
	return v, ok
}

func (d *spreadDomains) indexOf(v string) int {
	i, seen := d.index[v]
	if !seen {
		i = len(d.counts)
		d.index[v] = i
		d.counts = append(d.counts, 0)
	}
	return i
}

// best is the bucket whose next candidate is selected next; nil when every
// remaining candidate would break a DoNotSchedule constraint.
func (s *spreader) best() *spreadBucket {
	var best *spreadBucket
	bestSoft := false
	for _, b := range s.buckets {
		if b.next >= len(b.cands) {
			continue
		}
		ok, soft := s.fits(b)
		if ok && (best == nil || better(b.cands[b.next], soft, best.cands[best.next], bestSoft)) {
			best, bestSoft = b, soft
		}
	}
	return best
}

// fits reports whether one more cluster of b keeps every DoNotSchedule
// constraint within maxSkew, and whether it breaks a ScheduleAnyway one.
func (s *spreader) fits(b *spreadBucket) (ok, soft bool) {
	for t, term := range s.terms {
		d := b.dom[t]
		if d < 0 || s.skewAfter(t, d) <= term.maxSkew {
			continue
		}
		if term.hard {
			return false, false
		}
		soft = true
	}
	return true, soft
}

// skewAfter is the skew of term t's domain d if one more cluster joins it.
func (s *spreader) skewAfter(t, d int) int {
	counts := s.doms[t].counts
	after := counts[d] + 1
	lowest := after
	for i, n := range counts {
		if i != d && n < lowest {
			lowest = n
		}
	}
	return after - lowest
}

// take selects b's next candidate.
func (s *spreader) take(b *spreadBucket) {
	b.next++
	for t, d := range b.dom {
		if d >= 0 {
			s.doms[t].counts[d]++
		}
	}
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
