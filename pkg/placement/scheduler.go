package placement

import (
	"fmt"
	"sort"
	"time"

	"github.com/google/cel-go/cel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

// ScoreLookup returns the AddOnPlacementScore named name in the cluster's
// namespace, or nil. Callers must not modify the result.
type ScoreLookup func(cluster, name string) *clusterv1alpha1.AddOnPlacementScore

// Scheduler chooses clusters for Placements the way OCM's placement
// controller does, without an API server. It is safe for concurrent use.
type Scheduler struct {
	env     *cel.Env
	scores  ScoreLookup
	objects clusterObjects
}

// NewScheduler returns a Scheduler reading AddOnPlacementScores through scores
// (nil: none exist).
func NewScheduler(scores ScoreLookup) (*Scheduler, error) {
	env, err := newCELEnv(scores)
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	return &Scheduler{env: env, scores: scores}, nil
}

// ForgetCluster drops what the scheduler remembers about a deleted cluster.
func (s *Scheduler) ForgetCluster(name string) { s.objects.forget(name) }

// Input is the hub state one Placement is scheduled against. Objects are
// read, never modified.
type Input struct {
	// Clusters are all ManagedClusters.
	Clusters []*clusterv1.ManagedCluster
	// ClusterSets are all ManagedClusterSets.
	ClusterSets []*clusterv1beta2.ManagedClusterSet
	// Bindings are the ManagedClusterSetBindings in the Placement's namespace.
	Bindings []*clusterv1beta2.ManagedClusterSetBinding
	// Existing are the clusters in the Placement's current decisions.
	Existing map[string]bool
	// OtherDecisions counts, per cluster, the decisions of all other
	// Placements (for the Balance prioritizer). Called only when scores
	// decide the outcome; nil means none.
	OtherDecisions func() map[string]int
	// Now is the time taints and scores are judged at.
	Now time.Time
}

// Group is one decision group: clusters sorted by name, or by score (highest
// first, then by name) when the Placement's spec.sortBy is Score.
type Group struct {
	Index    int
	Name     string
	Clusters []string
	// Scores are the clusters' prioritizer sums, by position; nil when the
	// scores were not computed.
	Scores []int64
}

// Result is the outcome of scheduling one Placement.
type Result struct {
	// Groups hold the selected clusters; there is always at least one group.
	Groups []Group
	// Selected is the number of selected clusters, Unscheduled the shortfall
	// from numberOfClusters.
	Selected, Unscheduled int
	// Satisfied is the PlacementSatisfied condition (without time).
	Satisfied metav1.Condition
	// Misconfigured is set when the spec is unusable; Groups are then empty.
	Misconfigured *Misconfiguration
	// Scores are the prioritizer sums of the feasible clusters, computed
	// when they decide the outcome (numberOfClusters, spread, sortBy Score)
	// or when Scheduler.Score asks for them; nil otherwise.
	Scores map[string]int64
	// RequeueAt is when the outcome may change by time alone (a toleration
	// or an AddOnPlacementScore expiring); zero for never.
	RequeueAt time.Time

	compiled *Compiled
	feasible []*candidate
	selected []*candidate
}

// SelectedClusters returns the names of the selected clusters.
func (r *Result) SelectedClusters() map[string]bool {
	out := make(map[string]bool, len(r.selected))
	for _, cand := range r.selected {
		out[cand.mc.Name] = true
	}
	return out
}

// Score computes the scores of the feasible clusters if Schedule did not,
// and puts them in the groups.
func (s *Scheduler) Score(res *Result, in Input) {
	if res.Scores != nil || res.compiled == nil {
		return
	}
	res.Scores = s.score(res.compiled, res.feasible, in, &res.RequeueAt)
	res.Groups = groupClusters(res.compiled, res.selected, true)
}

// UseScores records the given scores (e.g. those already written, while
// spec.scoreRateLimit holds fresh ones back) in the groups instead of the
// computed ones, and orders the groups by them under sortBy Score. Clusters
// missing from scores count 0. The selection itself does not change.
func (r *Result) UseScores(scores map[string]int64) {
	if r.compiled == nil {
		return
	}
	for _, cand := range r.selected {
		cand.score = scores[cand.mc.Name]
	}
	r.Groups = groupClusters(r.compiled, r.selected, true)
}

// Condition reasons, as OCM writes them.
const (
	ReasonNoBindings        = "NoManagedClusterSetBindings"
	ReasonNoIntersection    = "NoIntersection"
	ReasonAllSetsEmpty      = "AllManagedClusterSetsEmpty"
	ReasonNoClusterMatched  = "NoManagedClusterMatched"
	ReasonAllScheduled      = "AllDecisionsScheduled"
	ReasonNotAllScheduled   = "NotAllDecisionsScheduled"
	ReasonMisconfigured     = "Misconfigured"
	ReasonSucceedConfigured = "Succeedconfigured"
)

// candidate is a cluster that passed the filters, with what scoring needs.
type candidate struct {
	mc     *clusterv1.ManagedCluster
	claims map[string]string // nil until needed
	score  int64
	// expiry is when a toleration with tolerationSeconds stops covering one
	// of the cluster's taints; zero for never.
	expiry time.Time
}

func (c *candidate) claimMap() map[string]string {
	if c.claims == nil {
		c.claims = claimsOf(c.mc)
	}
	return c.claims
}

// Schedule runs the filters (cluster sets, predicates, taints), the
// prioritizers and the spread policy, and groups the result.
func (s *Scheduler) Schedule(c *Compiled, in Input) Result {
	res := Result{compiled: c}
	// 1. Cluster sets bound to the namespace and named by spec.clusterSets.
	sc := scopeOf(c.Namespace, c.ClusterSets, in)

	// 2. Predicates (ORed), 3. taints and tolerations.
	feasible := make([]*candidate, 0, len(sc.available))
	for _, mc := range sc.available {
		cand := &candidate{mc: mc}
		if !s.matchesPredicates(c, cand) {
			continue
		}
		ok, expiry := tolerated(mc, c.tolerations, in.Existing[mc.Name], in.Now)
		if !ok {
			continue
		}
		cand.expiry = expiry
		feasible = append(feasible, cand)
	}
	res.feasible = feasible

	// 4. Prioritize and select.
	want := len(feasible)
	if c.NumberOfClusters != nil {
		want = *c.NumberOfClusters
	}
	var selected []*candidate
	switch {
	case want >= len(feasible) && len(c.spread) == 0 && !c.sortByScore:
		// Everything is selected; scores cannot change the outcome.
		selected = feasible
	default:
		res.Scores = s.score(c, feasible, in, &res.RequeueAt)
		sortByScore(feasible)
		if len(c.spread) > 0 {
			selected = spreadSelect(c.spread, feasible, want)
		} else {
			selected = feasible[:min(want, len(feasible))]
		}
	}
	for _, cand := range selected {
		res.RequeueAt = earliest(res.RequeueAt, cand.expiry)
	}
	res.selected = selected
	res.Selected = len(selected)
	if c.NumberOfClusters != nil {
		res.Unscheduled = *c.NumberOfClusters - len(selected)
	}

	// 5. Decision groups.
	res.Groups = groupClusters(c, selected, res.Scores != nil)

	res.Satisfied = satisfied(c.ClusterSets, sc, res.Selected, res.Unscheduled)
	if left := min(want, len(feasible)) - len(selected); left > 0 {
		// Only DoNotSchedule spread constraints leave matching clusters out;
		// say so, as no numberOfClusters shortfall may show it.
		what := "1 matching cluster"
		if left > 1 {
			what = fmt.Sprintf("%d matching clusters", left)
		}
		res.Satisfied.Message += "; " + what + " left out by spec.spreadPolicy's DoNotSchedule constraints (without the topology key, or beyond maxSkew)"
	}
	return res
}

// Misconfigured is the Result of a Placement whose spec cannot be used: no
// groups, and the PlacementSatisfied condition OCM gives it (False, for the
// first of: no bindings, no eligible set, no cluster in them, no match).
func (s *Scheduler) Misconfigured(p *clusterv1beta1.Placement, mis *Misconfiguration, in Input) Result {
	sc := scopeOf(p.Namespace, p.Spec.ClusterSets, in)
	return Result{Misconfigured: mis, Satisfied: satisfied(p.Spec.ClusterSets, sc, 0, 0)}
}

// scope is what a Placement's namespace and spec.clusterSets give it.
type scope struct {
	bindings  int      // bindings to sets that exist
	eligible  []string // bound sets, intersected with spec.clusterSets
	available []*clusterv1.ManagedCluster
}

func scopeOf(namespace string, clusterSets []string, in Input) scope {
	setByName := make(map[string]*clusterv1beta2.ManagedClusterSet, len(in.ClusterSets))
	for _, cs := range in.ClusterSets {
		setByName[cs.Name] = cs
	}
	bound := BoundSetNames(namespace, setByName, in.Bindings)
	eligible := eligibleSets(bound, clusterSets)
	return scope{bindings: len(bound), eligible: eligible, available: availableClusters(eligible, setByName, in.Clusters)}
}

// eligibleSets is the bound sets, intersected with spec.clusterSets when given.
func eligibleSets(bound map[string]bool, inSpec []string) []string {
	var out []string
	if len(inSpec) == 0 {
		for n := range bound {
			out = append(out, n)
		}
	} else {
		seen := map[string]bool{}
		for _, n := range inSpec {
			if bound[n] && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// availableClusters are the members of the sets that are accepted by the hub
// and not being deleted, in input order (every later step that depends on
// order sorts by name itself).
func availableClusters(sets []string, byName map[string]*clusterv1beta2.ManagedClusterSet, clusters []*clusterv1.ManagedCluster) []*clusterv1.ManagedCluster {
	if len(sets) == 0 {
		return nil
	}
	members := make([]membership, 0, len(sets))
	for _, n := range sets {
		if m, ok := newMembership(byName[n]); ok {
			members = append(members, m)
		}
	}
	out := make([]*clusterv1.ManagedCluster, 0, len(clusters))
	for _, mc := range clusters {
		if mc.DeletionTimestamp != nil || !mc.Spec.HubAcceptsClient {
			continue
		}
		for _, m := range members {
			if m.contains(mc) {
				out = append(out, mc)
				break
			}
		}
	}
	return out
}

func (s *Scheduler) matchesPredicates(c *Compiled, cand *candidate) bool {
	if len(c.predicates) == 0 {
		return true
	}
	for _, p := range c.predicates {
		if !p.labels.Matches(labelSet(cand.mc.Labels)) {
			continue
		}
		if p.claims != nil && !p.claims.Matches(labelSet(cand.claimMap())) {
			continue
		}
		if len(p.cel) > 0 {
			obj, err := s.objects.get(cand.mc)
			if err != nil || !evalCEL(p.cel, obj) {
				continue
			}
		}
		return true
	}
	return false
}

// tolerated applies OCM's taint rules: PreferNoSelect never excludes,
// NoSelectIfNew excludes only clusters not already decided, NoSelect needs a
// matching toleration, and tolerationSeconds counts from the taint's
// timeAdded. expiry is when the cluster stops being tolerated (zero: never).
func tolerated(mc *clusterv1.ManagedCluster, tols []clusterv1beta1.Toleration, decided bool, now time.Time) (bool, time.Time) {
	var expiry time.Time
	for _, taint := range mc.Spec.Taints {
		if taint.Effect == clusterv1.TaintEffectPreferNoSelect {
			continue
		}
		if taint.Effect == clusterv1.TaintEffectNoSelectIfNew && decided {
			continue
		}
		ok, until := taintTolerated(taint, tols, now)
		if !ok {
			return false, time.Time{}
		}
		expiry = earliest(expiry, until)
	}
	return true, expiry
}

// taintTolerated reports whether some toleration covers the taint now, and
// until when (zero: forever).
func taintTolerated(taint clusterv1.Taint, tols []clusterv1beta1.Toleration, now time.Time) (bool, time.Time) {
	ok := false
	var until time.Time
	for _, t := range tols {
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case "", clusterv1beta1.TolerationOpEqual:
			if t.Value != taint.Value {
				continue
			}
		case clusterv1beta1.TolerationOpExists:
		default:
			continue
		}
		if t.TolerationSeconds == nil {
			return true, time.Time{}
		}
		end := taint.TimeAdded.Add(time.Duration(*t.TolerationSeconds) * time.Second)
		if now.Before(end) {
			ok = true
			if end.After(until) {
				until = end
			}
		}
	}
	return ok, until
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

func sortByScore(cs []*candidate) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].score != cs[j].score {
			return cs[i].score > cs[j].score
		}
		return cs[i].mc.Name < cs[j].mc.Name
	})
}

// groupClusters splits the selected clusters into decision groups: first the
// spec's decisionGroups in order (a cluster joins the first that matches),
// then the rest under no name; groups longer than clustersPerDecisionGroup
// are split. Each group is sorted by name, or by score under sortBy Score;
// withScores puts the candidates' scores in the groups. There is always at
// least one (possibly empty) group.
func groupClusters(c *Compiled, selected []*candidate, withScores bool) []Group {
	length, _ := groupLength(c.perGroup, len(selected))
	taken := make([]bool, len(selected))
	var groups []Group
	add := func(name string, cands []*candidate) {
		sort.Slice(cands, func(i, j int) bool {
			if c.sortByScore && cands[i].score != cands[j].score {
				return cands[i].score > cands[j].score
			}
			return cands[i].mc.Name < cands[j].mc.Name
		})
		for len(cands) > 0 {
			n := length
			if n <= 0 || n > len(cands) {
				n = len(cands)
			}
			g := Group{Index: len(groups), Name: name, Clusters: make([]string, n)}
			if withScores {
				g.Scores = make([]int64, n)
			}
			for i, cand := range cands[:n] {
				g.Clusters[i] = cand.mc.Name
				if withScores {
					g.Scores[i] = cand.score
				}
			}
			groups = append(groups, g)
			cands = cands[n:]
		}
	}
	for _, g := range c.groups {
		var members []*candidate
		for i, cand := range selected {
			if taken[i] || !g.labels.Matches(labelSet(cand.mc.Labels)) {
				continue
			}
			if g.claims != nil && !g.claims.Matches(labelSet(cand.claimMap())) {
				continue
			}
			taken[i] = true
			members = append(members, cand)
		}
		add(g.name, members)
	}
	rest := make([]*candidate, 0, len(selected))
	for i, cand := range selected {
		if !taken[i] {
			rest = append(rest, cand)
		}
	}
	add("", rest)
	if len(groups) == 0 {
		groups = []Group{{Index: 0}}
	}
	return groups
}

// satisfied builds the PlacementSatisfied condition with OCM's reasons.
func satisfied(clusterSets []string, sc scope, selected, unscheduled int) metav1.Condition {
	cond := metav1.Condition{Type: clusterv1beta1.PlacementConditionSatisfied, Status: metav1.ConditionFalse}
	switch {
	case sc.bindings == 0:
		cond.Reason = ReasonNoBindings
		cond.Message = "No valid ManagedClusterSetBindings found in placement namespace"
	case len(sc.eligible) == 0:
		cond.Reason = ReasonNoIntersection
		cond.Message = fmt.Sprintf("None of ManagedClusterSets [%s] is bound to placement namespace", joinNames(clusterSets))
	case len(sc.available) == 0:
		cond.Reason = ReasonAllSetsEmpty
		cond.Message = fmt.Sprintf("All ManagedClusterSets [%s] have no member ManagedCluster", joinNames(sc.eligible))
	case selected == 0:
		cond.Reason = ReasonNoClusterMatched
		cond.Message = "No ManagedCluster matches any of the cluster predicate"
	case unscheduled <= 0:
		cond.Status = metav1.ConditionTrue
		cond.Reason = ReasonAllScheduled
		cond.Message = "All cluster decisions scheduled"
	default:
		cond.Reason = ReasonNotAllScheduled
		cond.Message = fmt.Sprintf("%d cluster decisions unscheduled", unscheduled)
	}
	return cond
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ","
		}
		out += n
	}
	return out
}
