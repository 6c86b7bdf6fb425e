// Package rollout decides which clusters receive a Subscription's new content
// next, following OCM's RolloutStrategy (cluster.open-cluster-management.io
// v1alpha1): All, Progressive or ProgressivePerGroup over the Placement's
// decision groups, with maxConcurrency, minSuccessTime, progressDeadline,
// maxFailures and mandatoryDecisionGroups. It also holds the deletion budget
// (budget.go). Everything here is pure: the hub's controller reads the clusters'
// ManifestWorks, calls Plan, and writes what it says.
//
// Plan reproduces the decisions of OCM's rollout helper (sdk-go
// pkg/apis/cluster/v1alpha1, RolloutHandler.GetRolloutCluster) on the same
// inputs, with these deliberate differences, each where OCM's code contradicts
// its API's documentation or stalls a rollout:
//
//   - Mandatory decision groups are judged by their own clusters only. OCM also
//     counts every other cluster that is in flight or timed out, so with
//     mandatory groups a Progressive rollout moves in whole batches instead of
//     keeping maxConcurrency clusters busy, and any tolerated timeout outside the
//     mandatory groups stops the rollout for good.
//   - ProgressivePerGroup moves to the next group when the clusters still in
//     flight in the current one have all failed (within maxFailures). OCM
//     subtracts the timed-out clusters too, which are not in flight, so after a
//     tolerated timeout it can start two groups at once.
//   - maxFailures above the number of clusters it applies to means all of them
//     (OCM reads it as 0); percentages are exact (OCM's floating point makes 10%
//     of 30 clusters 4); "3" written as a string is 3 (OCM rejects it); an empty
//     type is All, the CRD's default (OCM rejects it); decision group indexes
//     need not be contiguous.
//   - RequeueAfter is the earliest running soak or deadline timer of any
//     cluster; OCM looks only at the clusters of the current step, so it can
//     miss a deadline outside it.
//
// As in OCM, All ignores maxFailures and minSuccessTime; Progressive counts
// maxFailures over all clusters and maxConcurrency over the clusters outside
// the mandatory groups; ProgressivePerGroup counts maxFailures per group;
// mandatory groups tolerate no failure; clusters are taken in name order
// (byte-wise), groups in index order; a cluster that failed stays in flight
// until its progressDeadline passes, and then counts as timed out.
package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// State is where the desired content stands on a cluster that holds it, in
// OCM's terms.
type State int

const (
	// ToApply: the agent has not picked up the desired content yet. OCM sets no
	// deadline on this state; report Progressing instead when the agent should
	// have answered (for example from the time the work was written) so that an
	// offline cluster times out.
	ToApply State = iota
	// Progressing: the agent applied the content and it is not available yet.
	Progressing
	// Succeeded: applied and available.
	Succeeded
	// Failed: applying failed or the work is degraded.
	Failed
)

func (s State) String() string {
	switch s {
	case ToApply:
		return "ToApply"
	case Progressing:
		return "Progressing"
	case Succeeded:
		return "Succeeded"
	case Failed:
		return "Failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Cluster is one selected cluster.
type Cluster struct {
	Name string
	// GroupIndex and GroupName are the cluster's Placement decision group (the
	// labels cluster.open-cluster-management.io/decision-group-index and -name
	// of its PlacementDecision). Clusters without groups are all in group 0.
	GroupIndex int32
	GroupName  string
	// Current is true when the cluster's ManifestWorks already carry the
	// desired content. A cluster that is not current is waiting for it.
	Current bool
	// State is where the desired content stands; read only when Current.
	State State
	// Since is when State last changed: when the work became Progressing,
	// Succeeded (the start of minSuccessTime) or Failed (the start of
	// progressDeadline). The zero time reads as "now", as OCM reads a missing
	// time: the cluster then neither times out nor ends its soak.
	Since time.Time
}

// Input is everything a rollout decision depends on.
type Input struct {
	// Strategy is the Subscription's spec.rolloutStrategy; nil means All.
	Strategy *clusterv1alpha1.RolloutStrategy
	Clusters []Cluster
	// Revision names the desired content in the status.
	Revision string
	Now      time.Time
	// Paused stops sending (the subscription-pause label).
	Paused bool
	// Previous is the status from the last plan, for StartedAt.
	Previous *appsv1.RolloutStatus
}

// Decision is what to do now.
type Decision struct {
	// Update lists, in rollout order, the clusters to send the desired content
	// now. Current clusters keep it; the others keep what they have.
	Update []string
	// Status is the Subscription's status.rollout after Update is sent.
	Status appsv1.RolloutStatus
	// RequeueAfter is when to plan again because a minSuccessTime or a
	// progressDeadline ends; zero when no timer is running.
	RequeueAfter time.Duration
	// TimedOut lists the clusters past their progressDeadline, sorted.
	TimedOut []string
	// Failing lists the failed clusters still within their deadline, sorted.
	Failing []string
	// MaxFailureBreach is true when failures stopped the rollout.
	MaxFailureBreach bool
	// Failed is true when the rollout failed, for what spec.onRolloutFailure
	// does: failures stopped it, or, with type All (which stops for no
	// failure, as in OCM), more clusters failed or timed out than
	// all.maxFailures allows (0 when unset).
	Failed bool
}

// entry is one cluster as a rollout step sees it.
type entry struct {
	idx     int
	state   State
	timeout bool
	recheck time.Time
}

type planner struct {
	in       Input
	s        *strategy
	clusters []Cluster
	// order holds cluster indexes sorted by name.
	order []int
	// groups maps each decision group to its clusters, in name order.
	groups map[groupKey][]int
	keys   []groupKey
	// soak is the minSuccessTime that applies.
	soak time.Duration
}

type groupKey struct {
	index int32
	name  string
}

// Plan decides which clusters get the desired content now. It takes
// O(n log n) time for n clusters.
func Plan(in Input) (Decision, error) {
	p, err := newPlanner(in)
	if err != nil {
		return Decision{}, err
	}
	return p.decide(p.run()), nil
}

func newPlanner(in Input) (*planner, error) {
	s, err := parseStrategy(in.Strategy)
	if err != nil {
		return nil, err
	}
	p := &planner{in: in, s: s, clusters: in.Clusters, groups: map[groupKey][]int{}}
	if s.kind == clusterv1alpha1.All {
		// As in OCM, All waits for no soak.
		p.soak = 0
	} else {
		p.soak = s.minSuccessTime
	}
	p.order = make([]int, len(in.Clusters))
	for i := range p.order {
		p.order[i] = i
	}
	slices.SortFunc(p.order, func(a, b int) int { return strings.Compare(in.Clusters[a].Name, in.Clusters[b].Name) })
	for k, i := range p.order {
		name := in.Clusters[i].Name
		if name == "" {
			return nil, fmt.Errorf("rollout: cluster %d has no name", i)
		}
		if k > 0 && in.Clusters[p.order[k-1]].Name == name {
			return nil, fmt.Errorf("rollout: cluster %q is listed twice", name)
		}
		key := groupKey{in.Clusters[i].GroupIndex, in.Clusters[i].GroupName}
		p.groups[key] = append(p.groups[key], i)
	}
	for k := range p.groups {
		p.keys = append(p.keys, k)
	}
	slices.SortFunc(p.keys, func(a, b groupKey) int {
		if a.index != b.index {
			return int(a.index) - int(b.index)
		}
		return strings.Compare(a.name, b.name)
	})
	return p, nil
}

// run takes one rollout step, as OCM's GetRolloutCluster does.
func (p *planner) run() result {
	switch p.s.kind {
	case clusterv1alpha1.Progressive:
		return p.progressive()
	case clusterv1alpha1.ProgressivePerGroup:
		return p.progressivePerGroup()
	}
	return p.perCluster(p.order, len(p.order), len(p.order))
}

// result is the outcome of one rollout step, as OCM's RolloutResult.
type result struct {
	rollout  []entry
	timeouts []entry
	breach   bool
}

func (p *planner) progressive() result {
	maxFailures, _ := sizeOf(p.s.maxFailures, len(p.order), 0)
	mandatory, rest := p.splitMandatory()
	if len(mandatory) > 0 {
		r := p.perGroup(mandatory, intstr.FromInt32(0), p.members(mandatory))
		if len(r.rollout) > 0 || len(r.timeouts) > 0 {
			return r
		}
	}
	eligible := p.members(rest)
	size, _ := sizeOf(p.s.maxConcurrency, len(eligible), len(eligible))
	return p.perCluster(eligible, size, maxFailures)
}

func (p *planner) progressivePerGroup() result {
	mandatory, rest := p.splitMandatory()
	if len(mandatory) > 0 {
		r := p.perGroup(mandatory, intstr.FromInt32(0), p.members(mandatory))
		if len(r.rollout) > 0 || len(r.timeouts) > 0 {
			return r
		}
	}
	return p.perGroup(rest, p.s.maxFailures, p.order)
}

// splitMandatory divides the groups into the mandatory ones (a name matches
// every group of that name; an entry without a name matches by index) and the
// others, both in index order.
func (p *planner) splitMandatory() (mandatory, rest []groupKey) {
	for _, k := range p.keys {
		isMandatory := false
		for _, m := range p.s.mandatory {
			if (m.GroupName != "" && m.GroupName == k.name) || (m.GroupName == "" && m.GroupIndex == k.index) {
				isMandatory = true
				break
			}
		}
		if isMandatory {
			mandatory = append(mandatory, k)
		} else {
			rest = append(rest, k)
		}
	}
	return mandatory, rest
}

// members lists the clusters of some groups in name order.
func (p *planner) members(keys []groupKey) []int {
	var out []int
	for _, k := range keys {
		out = append(out, p.groups[k]...)
	}
	slices.SortFunc(out, func(a, b int) int { return strings.Compare(p.clusters[a].Name, p.clusters[b].Name) })
	return out
}

// judge reads one current cluster against minSuccessTime and the deadline:
// whether it is still part of the rollout, and whether it timed out.
func (p *planner) judge(i int) (e entry, inRollout bool) {
	c := p.clusters[i]
	e = entry{idx: i, state: c.State}
	since := c.Since
	if since.IsZero() {
		since = p.in.Now
	}
	switch c.State {
	case ToApply:
		return e, true
	case Succeeded:
		if end := since.Add(p.soak); p.in.Now.Before(end) {
			e.recheck = end
			return e, true
		}
		return e, false
	default:
		if p.s.deadline == forever {
			return e, true
		}
		end := since.Add(p.s.deadline)
		e.recheck = end
		if p.in.Now.Before(end) {
			return e, true
		}
		e.timeout = true
		return e, false
	}
}

// perCluster takes clusters in name order until size of them are in flight,
// stopping early when more than maxFailures failed. Current clusters are read
// first, then the eligible clusters that are not current.
func (p *planner) perCluster(eligible []int, size, maxFailures int) result {
	var r result
	failures := 0
	for _, i := range p.order {
		c := p.clusters[i]
		if !c.Current {
			continue
		}
		// Once failures broke the limit, only clusters already sent count.
		if !r.breach || c.State != ToApply {
			e, in := p.judge(i)
			switch {
			case in:
				r.rollout = append(r.rollout, e)
			case e.timeout:
				r.timeouts = append(r.timeouts, e)
			}
			if e.timeout || c.State == Failed {
				failures++
				r.breach = failures > maxFailures
			}
		}
		if len(r.rollout) >= size {
			return r
		}
	}
	if r.breach {
		return r
	}
	for _, i := range eligible {
		if p.clusters[i].Current {
			continue
		}
		r.rollout = append(r.rollout, entry{idx: i, state: ToApply})
		if len(r.rollout) >= size {
			return r
		}
	}
	return r
}

// perGroup takes whole groups in index order: the next group starts when no
// cluster of the earlier ones is in flight except failed ones, and stops when
// a group has more failures than maxFailures of its size. scope are the
// clusters whose flight state counts.
func (p *planner) perGroup(keys []groupKey, maxFailures intstr.IntOrString, scope []int) result {
	var r result
	known := map[int]entry{}
	for _, i := range scope {
		c := p.clusters[i]
		if !c.Current || c.State == ToApply {
			continue
		}
		e, in := p.judge(i)
		switch {
		case in:
			r.rollout = append(r.rollout, e)
		case e.timeout:
			r.timeouts = append(r.timeouts, e)
		}
		known[i] = e
	}
	failedInFlight := 0
	for _, k := range keys {
		members := p.groups[k]
		allowed, _ := sizeOf(maxFailures, len(members), 0)
		failures := 0
		for _, i := range members {
			if e, ok := known[i]; ok {
				if e.timeout || e.state == Failed {
					failures++
					r.breach = failures > allowed
					if !e.timeout {
						failedInFlight++
					}
				}
				continue
			}
			r.rollout = append(r.rollout, entry{idx: i, state: ToApply})
		}
		if len(r.rollout)-failedInFlight > 0 || r.breach {
			return r
		}
	}
	return r
}

// decide turns a step's result into the Decision and the status.
func (p *planner) decide(r result) Decision {
	d := Decision{MaxFailureBreach: r.breach, RequeueAfter: p.nextTimer()}
	soaking, inFlight := 0, 0
	for _, e := range r.rollout {
		c := p.clusters[e.idx]
		switch {
		case !c.Current:
			d.Update = append(d.Update, c.Name)
		case e.state == Succeeded:
			soaking++
		default:
			inFlight++
		}
	}
	st, current := p.count(r, &d)
	d.Failed = r.breach || (p.s.kind == clusterv1alpha1.All && p.failuresBeyond(len(d.Failing)+len(d.TimedOut)))
	if p.in.Paused {
		d.Update, d.RequeueAfter = nil, 0
	}
	st.Updated = int32(current + len(d.Update))
	st.Phase, st.Message = p.phase(r, d, &st, current, soaking, inFlight)
	st.StartedAt = p.startedAt()
	d.Status = st
	return d
}

// failuresBeyond reports whether n failures are more than the strategy's
// maxFailures allows over all clusters.
func (p *planner) failuresBeyond(n int) bool {
	allowed, _ := sizeOf(p.s.maxFailures, len(p.order), 0)
	return n > allowed
}

// nextTimer is how long until the first running soak or deadline timer of
// any current cluster runs out; zero when none runs. OCM rechecks at the
// timers of the step's clusters only; every running timer counts here, so a
// deadline outside the step is not missed.
func (p *planner) nextTimer() time.Duration {
	now := p.in.Now
	var recheck time.Time
	for _, i := range p.order {
		if !p.clusters[i].Current {
			continue
		}
		if e, _ := p.judge(i); e.recheck.After(now) && (recheck.IsZero() || e.recheck.Before(recheck)) {
			recheck = e.recheck
		}
	}
	if recheck.IsZero() {
		return 0
	}
	return recheck.Sub(now)
}

// count sums up the current clusters: succeeded, and failed or past their
// deadline (whichever step looked at them), naming the latter in d. It
// returns the status so far and how many clusters are current.
func (p *planner) count(r result, d *Decision) (appsv1.RolloutStatus, int) {
	st := appsv1.RolloutStatus{Revision: p.in.Revision}
	timedOut := map[int]bool{}
	for _, e := range r.timeouts {
		timedOut[e.idx] = true
	}
	current := 0
	for _, i := range p.order {
		c := p.clusters[i]
		if !c.Current {
			continue
		}
		current++
		switch {
		case c.State == Succeeded:
			st.Succeeded++
		case c.State != Progressing && c.State != Failed:
		case timedOut[i] || p.pastDeadline(c):
			d.TimedOut = append(d.TimedOut, c.Name)
			st.Failed++
		case c.State == Failed:
			d.Failing = append(d.Failing, c.Name)
			st.Failed++
		}
	}
	return st, current
}

// pastDeadline: the cluster has been progressing or failing for longer than
// progressDeadline.
func (p *planner) pastDeadline(c Cluster) bool {
	since := c.Since
	if since.IsZero() {
		since = p.in.Now
	}
	return p.s.deadline != forever && !p.in.Now.Before(since.Add(p.s.deadline))
}

// phase names where the rollout stands and says it in a sentence.
func (p *planner) phase(r result, d Decision, st *appsv1.RolloutStatus, current, soaking, inFlight int) (appsv1.RolloutPhase, string) {
	total, rev := len(p.order), p.in.Revision
	switch {
	case p.in.Paused:
		return appsv1.RolloutPaused, fmt.Sprintf("paused by the %s label: %d of %d clusters hold %s", appsv1.LabelSubscriptionPause, current, total, rev)
	case r.breach:
		return appsv1.RolloutFailed, fmt.Sprintf("stopped: %s, more than the strategy's maxFailures allows; %d of %d clusters hold %s", p.failureText(d), current, total, rev)
	case len(r.rollout) == 0:
		msg := fmt.Sprintf("%d of %d clusters applied %s", st.Succeeded, total, rev)
		if st.Failed > 0 {
			msg += "; " + p.failureText(d) + ", within what the strategy tolerates"
		}
		return appsv1.RolloutSucceeded, msg
	case len(d.Update) == 0 && inFlight == 0 && soaking > 0:
		return appsv1.RolloutWaiting, fmt.Sprintf("waiting %s for minSuccessTime on %d cluster(s) before going on: %d of %d clusters hold %s",
			d.RequeueAfter.Round(time.Second), soaking, current, total, rev)
	}
	msg := fmt.Sprintf("%d of %d clusters hold %s (%d sent now), %d succeeded", st.Updated, total, rev, len(d.Update), st.Succeeded)
	if st.Failed > 0 {
		msg += "; " + p.failureText(d)
	}
	return appsv1.RolloutProgressing, msg
}

// startedAt keeps the start of a rollout of the same revision.
func (p *planner) startedAt() *metav1.Time {
	if prev := p.in.Previous; prev != nil && prev.Revision == p.in.Revision && prev.StartedAt != nil {
		return prev.StartedAt.DeepCopy()
	}
	return &metav1.Time{Time: p.in.Now}
}

// failureText names up to five failed or timed-out clusters.
func (p *planner) failureText(d Decision) string {
	var parts []string
	if n := len(d.Failing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (%s)", n, listSome(d.Failing)))
	}
	if n := len(d.TimedOut); n > 0 {
		parts = append(parts, fmt.Sprintf("%d timed out after progressDeadline %s (%s)", n, p.s.deadline, listSome(d.TimedOut)))
	}
	if len(parts) == 0 {
		return "no cluster failed"
	}
	return strings.Join(parts, ", ")
}

func listSome(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
}
