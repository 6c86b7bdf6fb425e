package health

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	k8scel "k8s.io/apiserver/pkg/cel/library"
	workv1 "open-cluster-management.io/api/work/v1"
)

// Cost limits, OCM's (the API server's): one expression may cost
// perCallLimit, all rules of one manifest together manifestBudget.
const (
	perCallLimit   = celconfig.PerCallLimit
	manifestBudget = celconfig.RuntimeCELCostBudget
)

// errBudget is returned when a manifest's rules together cost too much.
var errBudget = errors.New("CEL evaluation budget exceeded")

// The well-known rules OCM's work agent resolves for type WellKnownConditions,
// by exact group/version/kind and condition: Complete for Jobs (finished,
// whether succeeded or failed) and Pods (Succeeded or Failed phase).
var wellKnownRules = map[schema.GroupVersionKind]map[string]workv1.ConditionRule{
	{Group: "batch", Version: "v1", Kind: "Job"}: {workv1.ManifestComplete: {
		Condition: workv1.ManifestComplete,
		Type:      workv1.CelConditionExpressionsType,
		CelExpressions: []string{`hasConditions(object.status) ?
			object.status.conditions.exists(c, (c.type == 'Complete' || c.type == 'Failed') && c.status == 'True') :
			false`},
		MessageExpression: `result ? "Job is finished" : "Job is not finished"`,
	}},
	{Group: "", Version: "v1", Kind: "Pod"}: {workv1.ManifestComplete: {
		Condition:         workv1.ManifestComplete,
		Type:              workv1.CelConditionExpressionsType,
		CelExpressions:    []string{`object.status.phase in ['Succeeded', 'Failed']`},
		MessageExpression: `"Pod is in phase " + object.status.phase`,
	}},
}

// Evaluator evaluates conditionRules. Build one per agent; it is safe for
// concurrent use.
type Evaluator struct {
	ruleEnv    *cel.Env // variable object
	messageEnv *cel.Env // variables object and result
	wellKnown  map[schema.GroupVersionKind]map[string]*compiledRule
	// budget is the cost all rules of one manifest may spend together.
	budget int64
}

// NewEvaluator builds the CEL environments OCM's work agent uses: the
// variable object (the live manifest) for rules, plus result (the rules'
// outcome) for messageExpression; cel-go's optional types and string
// extensions, the Kubernetes libraries (lists, regex, URLs, quantity, IP,
// CIDR, format, semver) and hasConditions(map), which is true when the map
// has a non-empty list under "conditions".
func NewEvaluator() (*Evaluator, error) {
	ruleEnv, err := celEnv(cel.Variable("object", cel.DynType))
	if err != nil {
		return nil, fmt.Errorf("build the CEL environment of condition rules: %w", err)
	}
	messageEnv, err := celEnv(cel.Variable("object", cel.DynType), cel.Variable("result", cel.BoolType))
	if err != nil {
		return nil, fmt.Errorf("build the CEL environment of condition messages: %w", err)
	}
	e := &Evaluator{ruleEnv: ruleEnv, messageEnv: messageEnv, wellKnown: map[schema.GroupVersionKind]map[string]*compiledRule{}, budget: manifestBudget}
	for gvk, rules := range wellKnownRules {
		e.wellKnown[gvk] = map[string]*compiledRule{}
		for cond, r := range rules {
			c := e.compile(r)
			if c.err != nil {
				return nil, fmt.Errorf("compile the well-known %s rule of %s: %w", cond, gvk.Kind, c.err)
			}
			e.wellKnown[gvk][cond] = c
		}
	}
	return e, nil
}

func celEnv(vars ...cel.EnvOption) (*cel.Env, error) {
	return cel.NewEnv(append(vars,
		cel.OptionalTypes(),
		ext.Strings(),
		k8scel.Lists(),
		k8scel.Regex(),
		k8scel.URLs(),
		k8scel.Quantity(),
		k8scel.IP(),
		k8scel.CIDR(),
		k8scel.Format(),
		k8scel.SemverLib(),
		cel.Function("hasConditions", cel.Overload("has_conditions_dyn",
			[]*cel.Type{cel.DynType}, cel.BoolType, cel.UnaryBinding(hasConditions))),
	)...)
}

func hasConditions(v ref.Val) ref.Val {
	m, ok := v.(traits.Mapper)
	if !ok {
		return types.False
	}
	conds, found := m.Find(types.String("conditions"))
	if !found {
		return types.False
	}
	l, ok := conds.(traits.Lister)
	return types.Bool(ok && l.Size() != types.Int(0))
}

// compiledRule is one condition rule, compiled.
type compiledRule struct {
	rule workv1.ConditionRule
	// programs are the rule's celExpressions; nil entries did not compile
	// (see exprErr).
	programs []cel.Program
	exprErr  []error
	// message is the compiled messageExpression, if any.
	message    cel.Program
	messageErr error
	// err is set when no expression can be evaluated (a bad rule type).
	err    error
	reason string
	status metav1.ConditionStatus
}

func (e *Evaluator) compile(r workv1.ConditionRule) *compiledRule {
	c := &compiledRule{rule: r}
	switch r.Type {
	case workv1.CelConditionExpressionsType:
		c.programs = make([]cel.Program, len(r.CelExpressions))
		c.exprErr = make([]error, len(r.CelExpressions))
		for i, x := range r.CelExpressions {
			c.programs[i], c.exprErr[i] = program(e.ruleEnv, x)
			if c.exprErr[i] != nil {
				c.exprErr[i] = fmt.Errorf("celExpressions[%d]: %w", i, c.exprErr[i])
			}
		}
	case workv1.WellKnownConditionsType:
		// Resolved by the object's kind when evaluated.
	default:
		c.err = fmt.Errorf("unrecognized condition rule type %q; use WellKnownConditions or CEL", r.Type)
		c.status, c.reason = metav1.ConditionUnknown, workv1.ConditionRuleInvalid
		return c
	}
	if r.MessageExpression != "" {
		c.message, c.messageErr = program(e.messageEnv, r.MessageExpression)
	}
	return c
}

// compileError marks an expression that does not compile (as opposed to one
// whose program cannot be built).
type compileError struct{ msg string }

func (e *compileError) Error() string { return e.msg }

func program(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, &compileError{msg: firstLines(err.Error())}
	}
	return env.Program(ast,
		cel.CostLimit(perCallLimit),
		cel.CostTracking(&k8scel.CostEstimator{}),
		cel.InterruptCheckFrequency(celconfig.CheckFrequency))
}

// firstLines drops CEL's source snippets (the " | " lines) from an error,
// keeping one line per issue.
func firstLines(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "|") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "; ")
}

// Rules are the condition rules of one work generation, compiled once. They
// are immutable and safe for concurrent use.
type Rules struct {
	e          *Evaluator
	work       string
	generation int64
	byKey      map[string]*compiledRule
}

// Compile compiles every condition rule of work's manifestConfigs. A rule
// that does not compile is kept and reported when a manifest it applies to
// is evaluated; the others are not affected.
func (e *Evaluator) Compile(work *workv1.ManifestWork) *Rules {
	r := &Rules{e: e, work: work.Namespace + "/" + work.Name, generation: work.Generation, byKey: map[string]*compiledRule{}}
	for _, cfg := range work.Spec.ManifestConfigs {
		for _, rule := range cfg.ConditionRules {
			k := ruleKey(rule)
			if _, ok := r.byKey[k]; !ok {
				r.byKey[k] = e.compile(rule)
			}
		}
	}
	return r
}

// Generation is the work generation the rules were compiled for.
func (r *Rules) Generation() int64 { return r.generation }

func ruleKey(r workv1.ConditionRule) string {
	return strings.Join(append([]string{string(r.Type), r.Condition, r.Message, r.MessageExpression}, r.CelExpressions...), "\x00")
}

// Evaluate evaluates rules, the conditionRules of the manifest config that
// applies to the manifest m, against obj, its live object. It returns one
// condition per rule, with OCM's statuses and reasons and without
// observedGeneration; a WellKnownConditions rule with no well-known rule for
// the object's kind yields none. All rules of a manifest share one cost
// budget. Messages of rules that fail name the work, the manifest and the
// rule.
func (r *Rules) Evaluate(ctx context.Context, m workv1.ManifestResourceMeta, obj *unstructured.Unstructured, rules []workv1.ConditionRule) []metav1.Condition {
	if obj == nil {
		return nil
	}
	var out []metav1.Condition
	budget := r.e.budget
	for _, rule := range rules {
		c := r.byKey[ruleKey(rule)]
		if c == nil {
			// Not part of the compiled generation; compile it now.
			c = r.e.compile(rule)
		}
		cond, ok := r.evaluate(ctx, c, obj, &budget)
		if !ok {
			continue
		}
		if cond.Reason != workv1.ConditionRuleEvaluated {
			cond.Message = boundTo(fmt.Sprintf("work %s, manifest %s, conditionRule %s: %s", r.work, Describe(m), c.rule.Condition, cond.Message), maxRuleMessage)
		}
		out = append(out, cond)
	}
	return out
}

// evaluate evaluates one rule; ok is false for a WellKnownConditions rule
// that has nothing for obj's kind.
func (r *Rules) evaluate(ctx context.Context, c *compiledRule, obj *unstructured.Unstructured, budget *int64) (metav1.Condition, bool) {
	cond := metav1.Condition{Type: c.rule.Condition}
	if c.err != nil {
		cond.Status, cond.Reason, cond.Message = c.status, c.reason, c.err.Error()
		return cond, true
	}
	exprs, msg, msgErr := c, c.message, c.messageErr
	if c.rule.Type == workv1.WellKnownConditionsType {
		wk := r.e.wellKnown[obj.GroupVersionKind()][c.rule.Condition]
		if wk == nil {
			return cond, false
		}
		exprs = wk
		if c.rule.MessageExpression == "" {
			msg, msgErr = wk.message, wk.messageErr
		}
	}
	vars := map[string]any{"object": obj.Object}
	status, reason, err := exprs.evaluateExpressions(ctx, vars, budget)
	cond.Status, cond.Reason = status, reason
	if err != nil {
		cond.Message = err.Error()
		return cond, true
	}
	message := c.rule.Message
	if message == "" && c.rule.Type == workv1.WellKnownConditionsType {
		message = exprs.rule.Message
	}
	cond.Message = r.message(ctx, msg, msgErr, vars, status == metav1.ConditionTrue, message, c.rule.Condition, budget)
	return cond, true
}

// evaluateExpressions ANDs the rule's expressions, stopping at the first
// false one. An expression that does not compile, fails or yields no bool
// makes the condition False (ConditionRuleExpressionError); a program that
// could not be built makes it Unknown (ConditionRuleInternalError).
func (c *compiledRule) evaluateExpressions(ctx context.Context, vars map[string]any, budget *int64) (metav1.ConditionStatus, string, error) {
	for i, prg := range c.programs {
		if err := c.exprErr[i]; err != nil {
			var ce *compileError
			if errors.As(err, &ce) {
				return metav1.ConditionFalse, workv1.ConditionRuleExpressionError, err
			}
			return metav1.ConditionUnknown, workv1.ConditionRuleInternalError, err
		}
		out, err := run(ctx, prg, vars, budget)
		if err != nil {
			return metav1.ConditionFalse, workv1.ConditionRuleExpressionError, fmt.Errorf("celExpressions[%d]: %w", i, err)
		}
		b, ok := out.Value().(bool)
		if !ok {
			return metav1.ConditionFalse, workv1.ConditionRuleExpressionError,
				fmt.Errorf("celExpressions[%d]: expected bool result, got %T", i, out.Value())
		}
		if !b {
			return metav1.ConditionFalse, workv1.ConditionRuleEvaluated, nil
		}
	}
	return metav1.ConditionTrue, workv1.ConditionRuleEvaluated, nil
}

// message is the condition's message: the messageExpression's result when it
// is a non-empty string, else the rule's message, else "Manifest is
// [not] <condition>". A messageExpression that fails yields its error as the
// message; the condition's status and reason stay.
func (r *Rules) message(ctx context.Context, prg cel.Program, compileErr error, vars map[string]any, result bool, fallback, condition string, budget *int64) string {
	switch {
	case compileErr != nil:
		return boundTo("messageExpression: "+compileErr.Error(), maxRuleMessage)
	case prg != nil:
		mv := map[string]any{"object": vars["object"], "result": result}
		out, err := run(ctx, prg, mv, budget)
		if err != nil {
			return boundTo("messageExpression: "+err.Error(), maxRuleMessage)
		}
		s, ok := out.Value().(string)
		if !ok {
			return fmt.Sprintf("messageExpression: expected a string result, got %T", out.Value())
		}
		if s != "" {
			return boundTo(s, maxRuleMessage)
		}
	}
	switch {
	case fallback != "":
		return boundTo(fallback, maxRuleMessage)
	case result:
		return "Manifest is " + condition
	}
	return "Manifest is not " + condition
}

// maxRuleMessage bounds a message a rule computes; the API allows 32 KiB per
// condition and a work holds many.
const maxRuleMessage = 1024

// run evaluates prg and charges its cost to budget. Errors cost nothing, as
// in OCM.
func run(ctx context.Context, prg cel.Program, vars map[string]any, budget *int64) (ref.Val, error) {
	out, det, err := prg.ContextEval(ctx, vars)
	var cost *uint64
	if det != nil {
		cost = det.ActualCost()
	}
	if cost == nil || *cost > uint64(*budget) {
		if err != nil {
			return nil, fmt.Errorf("%w; %w", err, errBudget)
		}
		return nil, errBudget
	}
	if err != nil {
		return nil, err
	}
	*budget -= int64(*cost)
	return out, nil
}
