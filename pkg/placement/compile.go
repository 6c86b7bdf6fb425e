package placement

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// Built-in prioritizer names (spec.prioritizerPolicy.configurations[].scoreCoordinate.builtIn).
const (
	PrioritizerBalance                   = "Balance"
	PrioritizerSteady                    = "Steady"
	PrioritizerResourceAllocatableCPU    = "ResourceAllocatableCPU"
	PrioritizerResourceAllocatableMemory = "ResourceAllocatableMemory"
	// PrioritizerSpread is accepted for API compatibility; spreading is done
	// by spec.spreadPolicy, so its weight has no effect.
	PrioritizerSpread = "Spread"
)

// Misconfiguration says what is wrong with a Placement's spec. Plugin names the
// OCM scheduling plugin that would reject it, for the condition message.
type Misconfiguration struct {
	Plugin  string
	Message string
}

func (m *Misconfiguration) Error() string { return m.Plugin + ":" + m.Message }

func misconfigured(plugin, format string, args ...any) *Misconfiguration {
	return &Misconfiguration{Plugin: plugin, Message: fmt.Sprintf(format, args...)}
}

// Compiled is a Placement spec parsed once: selectors, CEL programs,
// prioritizer weights and decision-group rules. It is immutable and reused
// for every scheduling of the same Placement generation.
type Compiled struct {
	Namespace, Name string
	ClusterSets     []string
	// NumberOfClusters is nil for "all that match".
	NumberOfClusters *int

	predicates   []compiledPredicate
	tolerations  []clusterv1beta1.Toleration
	prioritizers []prioritizer
	spread       []spreadTerm
	groups       []compiledGroup
	perGroup     intstr.IntOrString
	usesCEL      bool
	usesClaims   bool
	scoreNames   map[string]bool // AddOnPlacementScore names consulted
	sortByScore  bool
	// scoreRateLimit is how often scores alone may change the decisions.
	scoreRateLimit time.Duration
}

// DefaultScoreRateLimit is spec.scoreRateLimit when it is empty (the CRD's default).
const DefaultScoreRateLimit = time.Minute

type compiledPredicate struct {
	labels labels.Selector
	claims labels.Selector // nil when the claim selector is empty
	cel    []cel.Program
}

type compiledGroup struct {
	name   string
	labels labels.Selector
	claims labels.Selector
}

type prioritizerKind int

const (
	prioBalance prioritizerKind = iota
	prioSteady
	prioResourceCPU
	prioResourceMemory
	prioAddOn
)

type prioritizer struct {
	kind     prioritizerKind
	weight   int64
	resource string // AddOn resourceName
	score    string // AddOn scoreName
}

type spreadTerm struct {
	key     string
	claim   bool
	maxSkew int
	hard    bool // DoNotSchedule
}

// ScoreRateLimit is how often changes of scores alone may be written
// (spec.scoreRateLimit).
func (c *Compiled) ScoreRateLimit() time.Duration { return c.scoreRateLimit }

// UsesCEL reports whether any predicate has CEL expressions (which may read
// any field of a ManagedCluster and AddOnPlacementScores).
func (c *Compiled) UsesCEL() bool { return c.usesCEL }

// UsesScore reports whether scheduling reads the AddOnPlacementScore of that name.
func (c *Compiled) UsesScore(name string) bool { return c.usesCEL || c.scoreNames[name] }

// Compile parses a Placement's spec. A Misconfiguration names the field and the fix.
func (s *Scheduler) Compile(p *clusterv1beta1.Placement) (*Compiled, *Misconfiguration) {
	c := &Compiled{
		Namespace:   p.Namespace,
		Name:        p.Name,
		ClusterSets: p.Spec.ClusterSets,
		tolerations: p.Spec.Tolerations,
		perGroup:    p.Spec.DecisionStrategy.GroupStrategy.ClustersPerDecisionGroup,
		scoreNames:  map[string]bool{},
	}
	if n := p.Spec.NumberOfClusters; n != nil {
		if *n < 0 {
			return nil, misconfigured("", "spec.numberOfClusters is %d; set it to 0 or more, or remove it to select every matching cluster", *n)
		}
		v := int(*n)
		c.NumberOfClusters = &v
	}
	if mis := s.compilePredicates(c, p); mis != nil {
		return nil, mis
	}
	if mis := checkTolerations(p); mis != nil {
		return nil, mis
	}
	if mis := c.compilePrioritizers(p); mis != nil {
		return nil, mis
	}
	if mis := c.compileSpread(p); mis != nil {
		return nil, mis
	}
	if mis := c.compileGroups(p); mis != nil {
		return nil, mis
	}
	if mis := c.compileSortBy(p); mis != nil {
		return nil, mis
	}
	return c, nil
}

func (s *Scheduler) compilePredicates(c *Compiled, p *clusterv1beta1.Placement) *Misconfiguration {
	for i, pred := range p.Spec.Predicates {
		cp, err := s.compileSelector(pred.RequiredClusterSelector)
		if err != nil {
			return misconfigured("Predicate", "spec.predicates[%d].requiredClusterSelector: %v", i, err)
		}
		c.usesCEL = c.usesCEL || len(cp.cel) > 0
		c.usesClaims = c.usesClaims || cp.claims != nil
		c.predicates = append(c.predicates, cp)
	}
	return nil
}

func checkTolerations(p *clusterv1beta1.Placement) *Misconfiguration {
	for i, t := range p.Spec.Tolerations {
		if t.Key == "" && t.Operator != clusterv1beta1.TolerationOpExists {
			return misconfigured("TaintToleration", "spec.tolerations[%d]: the key is empty, so the operator must be Exists; set operator: Exists or give a key", i)
		}
		if t.Operator == clusterv1beta1.TolerationOpExists && t.Value != "" {
			return misconfigured("TaintToleration", "spec.tolerations[%d]: operator Exists takes no value; remove value %q or use operator Equal", i, t.Value)
		}
		if t.Operator != "" && t.Operator != clusterv1beta1.TolerationOpExists && t.Operator != clusterv1beta1.TolerationOpEqual {
			return misconfigured("TaintToleration", "spec.tolerations[%d]: unknown operator %q; use Equal or Exists", i, t.Operator)
		}
	}
	return nil
}

func (c *Compiled) compilePrioritizers(p *clusterv1beta1.Placement) *Misconfiguration {
	prios, mis := compilePrioritizers(p.Spec.PrioritizerPolicy)
	if mis != nil {
		return mis
	}
	c.prioritizers = prios
	for _, pr := range prios {
		if pr.kind == prioAddOn {
			c.scoreNames[pr.resource] = true
		}
	}
	return nil
}

func (c *Compiled) compileSpread(p *clusterv1beta1.Placement) *Misconfiguration {
	for i, t := range p.Spec.SpreadPolicy.SpreadConstraints {
		term, mis := spreadConstraint(i, t)
		if mis != nil {
			return mis
		}
		c.usesClaims = c.usesClaims || term.claim
		c.spread = append(c.spread, term)
	}
	return nil
}

// spreadConstraint compiles spec.spreadPolicy.spreadConstraints[i].
func spreadConstraint(i int, t clusterv1beta1.SpreadConstraintsTerm) (spreadTerm, *Misconfiguration) {
	if t.TopologyKey == "" {
		return spreadTerm{}, misconfigured("Spread", "spec.spreadPolicy.spreadConstraints[%d].topologyKey is empty; name a label or cluster claim", i)
	}
	term := spreadTerm{key: t.TopologyKey, maxSkew: max(int(t.MaxSkew), 1)}
	switch t.TopologyKeyType {
	case clusterv1beta1.TopologyKeyTypeLabel:
	case clusterv1beta1.TopologyKeyTypeClaim:
		term.claim = true
	default:
		return spreadTerm{}, misconfigured("Spread", "spec.spreadPolicy.spreadConstraints[%d].topologyKeyType is %q; use Label or Claim", i, t.TopologyKeyType)
	}
	switch t.WhenUnsatisfiable {
	case "", clusterv1beta1.ScheduleAnyway:
	case clusterv1beta1.DoNotSchedule:
		term.hard = true
	default:
		return spreadTerm{}, misconfigured("Spread", "spec.spreadPolicy.spreadConstraints[%d].whenUnsatisfiable is %q; use DoNotSchedule or ScheduleAnyway", i, t.WhenUnsatisfiable)
	}
	return term, nil
}

func (c *Compiled) compileGroups(p *clusterv1beta1.Placement) *Misconfiguration {
	for i, g := range p.Spec.DecisionStrategy.GroupStrategy.DecisionGroups {
		ls, err := metav1.LabelSelectorAsSelector(&g.ClusterSelector.LabelSelector)
		if err != nil {
			return misconfigured("", "spec.decisionStrategy.groupStrategy.decisionGroups[%d].groupClusterSelector.labelSelector: %v", i, err)
		}
		cs, err := claimSelector(g.ClusterSelector.ClaimSelector)
		if err != nil {
			return misconfigured("", "spec.decisionStrategy.groupStrategy.decisionGroups[%d].groupClusterSelector.claimSelector: %v", i, err)
		}
		if cs != nil {
			c.usesClaims = true
		}
		c.groups = append(c.groups, compiledGroup{name: g.GroupName, labels: ls, claims: cs})
	}
	_, mis := groupLength(c.perGroup, 1)
	return mis
}

func (c *Compiled) compileSortBy(p *clusterv1beta1.Placement) *Misconfiguration {
	switch p.Spec.SortBy {
	case "", clusterv1beta1.PlacementSortByClusterName:
	case clusterv1beta1.PlacementSortByScore:
		c.sortByScore = true
	default:
		return misconfigured("", "spec.sortBy is %q; use ClusterName or Score", p.Spec.SortBy)
	}
	limit, err := parseScoreRateLimit(p.Spec.ScoreRateLimit)
	if err != nil {
		return misconfigured("", "spec.scoreRateLimit %q: %v", p.Spec.ScoreRateLimit, err)
	}
	c.scoreRateLimit = limit
	return nil
}

// parseScoreRateLimit reads spec.scoreRateLimit: digits and one unit of h, m or s.
func parseScoreRateLimit(v string) (time.Duration, error) {
	if v == "" {
		return DefaultScoreRateLimit, nil
	}
	n, unit := v[:len(v)-1], v[len(v)-1]
	d, err := strconv.ParseUint(n, 10, 32)
	if err != nil || n == "" || strings.ContainsAny(n, "+-") {
		return 0, fmt.Errorf("write a whole number followed by h, m or s, like 1m or 30s")
	}
	switch unit {
	case 'h':
		return time.Duration(d) * time.Hour, nil
	case 'm':
		return time.Duration(d) * time.Minute, nil
	case 's':
		return time.Duration(d) * time.Second, nil
	}
	return 0, fmt.Errorf("the unit must be h, m or s, like 1m or 30s")
}

func (s *Scheduler) compileSelector(sel clusterv1beta1.ClusterSelector) (compiledPredicate, error) {
	var cp compiledPredicate
	ls, err := metav1.LabelSelectorAsSelector(&sel.LabelSelector)
	if err != nil {
		return cp, fmt.Errorf("labelSelector: %w", err)
	}
	cp.labels = ls
	cp.claims, err = claimSelector(sel.ClaimSelector)
	if err != nil {
		return cp, fmt.Errorf("claimSelector: %w", err)
	}
	if len(sel.CelSelector.CelExpressions) > 0 {
		cp.cel, err = compileCEL(s.env, sel.CelSelector.CelExpressions)
		if err != nil {
			return cp, fmt.Errorf("celSelector.%w", err)
		}
	}
	return cp, nil
}

func claimSelector(cs clusterv1beta1.ClusterClaimSelector) (labels.Selector, error) {
	if len(cs.MatchExpressions) == 0 {
		return nil, nil
	}
	return metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: cs.MatchExpressions})
}

// compilePrioritizers resolves the weights as OCM does: in Additive mode (the
// default) Balance and Steady weigh 1 unless configured; in Exact mode only
// the listed prioritizers count; a later entry overrides an earlier one for
// the same prioritizer. Weight 0 disables a prioritizer, so (as in OCM) an
// entry of weight 0 is not checked any further.
func compilePrioritizers(pol clusterv1beta1.PrioritizerPolicy) ([]prioritizer, *Misconfiguration) {
	type key struct{ builtIn, resource, score string }
	type entry struct {
		weight int32
		index  int // configuration index, -1 for a default
		sc     *clusterv1beta1.ScoreCoordinate
	}
	entries := map[key]entry{}
	var order []key
	set := func(k key, e entry) {
		if _, ok := entries[k]; !ok {
			order = append(order, k)
		}
		entries[k] = e
	}
	switch pol.Mode {
	case "", clusterv1beta1.PrioritizerPolicyModeAdditive:
		set(key{builtIn: PrioritizerBalance}, entry{weight: 1, index: -1})
		set(key{builtIn: PrioritizerSteady}, entry{weight: 1, index: -1})
	case clusterv1beta1.PrioritizerPolicyModeExact:
	default:
		return nil, misconfigured("", "spec.prioritizerPolicy.mode is %q; use Additive or Exact", pol.Mode)
	}
	for i, cfg := range pol.Configurations {
		sc := cfg.ScoreCoordinate
		if sc == nil {
			return nil, misconfigured("", "spec.prioritizerPolicy.configurations[%d].scoreCoordinate is required", i)
		}
		k := key{builtIn: sc.BuiltIn}
		if sc.Type == clusterv1beta1.ScoreCoordinateTypeAddOn {
			k = key{resource: "?"}
			if sc.AddOn != nil {
				k = key{resource: sc.AddOn.ResourceName, score: sc.AddOn.ScoreName}
			}
		}
		set(k, entry{weight: cfg.Weight, index: i, sc: sc})
	}
	var out []prioritizer
	for _, k := range order {
		e := entries[k]
		if e.weight == 0 {
			continue
		}
		p, mis := prioritizerOf(e.index, e.sc, k.builtIn)
		if mis != nil {
			return nil, mis
		}
		if p == nil {
			continue // Spread: done by spec.spreadPolicy
		}
		p.weight = int64(e.weight)
		out = append(out, *p)
	}
	return out, nil
}

// prioritizerOf checks one configured (or default, i < 0) prioritizer.
func prioritizerOf(i int, sc *clusterv1beta1.ScoreCoordinate, builtIn string) (*prioritizer, *Misconfiguration) {
	field := fmt.Sprintf("spec.prioritizerPolicy.configurations[%d].scoreCoordinate", i)
	typ := clusterv1beta1.ScoreCoordinateTypeBuiltIn
	if sc != nil && sc.Type != "" {
		typ = sc.Type
	}
	switch typ {
	case clusterv1beta1.ScoreCoordinateTypeBuiltIn:
		switch builtIn {
		case PrioritizerBalance:
			return &prioritizer{kind: prioBalance}, nil
		case PrioritizerSteady:
			return &prioritizer{kind: prioSteady}, nil
		case PrioritizerResourceAllocatableCPU:
			return &prioritizer{kind: prioResourceCPU}, nil
		case PrioritizerResourceAllocatableMemory:
			return &prioritizer{kind: prioResourceMemory}, nil
		case PrioritizerSpread:
			return nil, nil
		}
		return nil, misconfigured("", "%s.builtIn %q is not a built-in prioritizer; use Balance, Steady, ResourceAllocatableCPU or ResourceAllocatableMemory, or set weight 0", field, builtIn)
	case clusterv1beta1.ScoreCoordinateTypeAddOn:
		if sc.AddOn == nil || sc.AddOn.ResourceName == "" || sc.AddOn.ScoreName == "" {
			return nil, misconfigured("", "%s.addOn needs resourceName and scoreName", field)
		}
		return &prioritizer{kind: prioAddOn, resource: sc.AddOn.ResourceName, score: sc.AddOn.ScoreName}, nil
	}
	return nil, misconfigured("", "%s.type is %q; use BuiltIn or AddOn", field, typ)
}

// groupLength is the size of a decision group for total selected clusters:
// a number, or a percentage rounded up; out of range means one group.
func groupLength(v intstr.IntOrString, total int) (int, *Misconfiguration) {
	length := total
	switch v.Type {
	case intstr.Int:
		length = int(v.IntVal)
	case intstr.String:
		str := v.StrVal
		if !strings.HasSuffix(str, "%") {
			return 0, misconfigured("", "spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup %q is neither a number nor a percentage like \"25%%\"", str)
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(str, "%"), 64)
		if err != nil {
			return 0, misconfigured("", "spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup %q is not a percentage like \"25%%\"", str)
		}
		length = int(math.Ceil(f / 100 * float64(total)))
	}
	if length <= 0 || length > total {
		length = total
	}
	return length, nil
}

// claimsOf returns the cluster's ClusterClaims as a map.
func claimsOf(mc *clusterv1.ManagedCluster) map[string]string {
	m := make(map[string]string, len(mc.Status.ClusterClaims))
	for _, c := range mc.Status.ClusterClaims {
		m[c.Name] = c.Value
	}
	return m
}
