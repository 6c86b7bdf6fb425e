package health

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	workv1 "open-cluster-management.io/api/work/v1"
)

func newEvaluator(t testing.TB) *Evaluator {
	t.Helper()
	e, err := NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func workWith(rules ...workv1.ConditionRule) *workv1.ManifestWork {
	w := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "cluster1", Name: "hello", Generation: 2}}
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{{
		ResourceIdentifier: workv1.ResourceIdentifier{Group: "apps", Resource: "deployments", Namespace: "hello", Name: "hello"},
		ConditionRules:     rules,
	}}
	return w
}

var deployMeta = workv1.ManifestResourceMeta{Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments", Namespace: "hello", Name: "hello"}

const readyDeployment = deployment + `status: {observedGeneration: 1, replicas: 1, readyReplicas: 1}
`

func celRule(cond string, exprs ...string) workv1.ConditionRule {
	return workv1.ConditionRule{Condition: cond, Type: workv1.CelConditionExpressionsType, CelExpressions: exprs}
}

func complete() workv1.ConditionRule {
	return workv1.ConditionRule{Condition: workv1.ManifestComplete, Type: workv1.WellKnownConditionsType}
}

type condWant struct {
	typ, reason string
	status      metav1.ConditionStatus
	message     string // exact, or a prefix when it ends in "*"
}

func (w condWant) check(t *testing.T, got metav1.Condition) {
	t.Helper()
	msgOK := got.Message == w.message
	if p, ok := strings.CutSuffix(w.message, "*"); ok {
		msgOK = strings.HasPrefix(got.Message, p)
	}
	if got.Type != w.typ || got.Status != w.status || got.Reason != w.reason || !msgOK {
		t.Errorf("condition = %s %s %s %q\nwant        %s %s %s %q", got.Type, got.Status, got.Reason, got.Message, w.typ, w.status, w.reason, w.message)
	}
	if got.ObservedGeneration != 0 {
		t.Errorf("Evaluate set observedGeneration %d; the caller sets it", got.ObservedGeneration)
	}
}

func TestConditionRules(t *testing.T) {
	e := newEvaluator(t)
	const prefix = "work cluster1/hello, manifest Deployment hello/hello, conditionRule Ready: "
	tests := []struct {
		name string
		obj  string
		rule workv1.ConditionRule
		want *condWant // nil: no condition
	}{
		{
			name: "job complete",
			obj:  job + "status: {succeeded: 1, conditions: [{type: Complete, status: \"True\"}]}\n",
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "Job is finished"},
		},
		{
			name: "job failed is finished too",
			obj:  job + "status: {failed: 1, conditions: [{type: Failed, status: \"True\"}]}\n",
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "Job is finished"},
		},
		{
			name: "job running",
			obj:  job + "status: {active: 1, startTime: '2026-01-01T00:00:00Z'}\n",
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionFalse, "Job is not finished"},
		},
		{
			name: "job with a false Complete condition",
			obj:  job + "status: {conditions: [{type: Complete, status: \"False\"}]}\n",
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionFalse, "Job is not finished"},
		},
		{
			name: "job without status yet: OCM's rule errors on the missing field",
			obj:  job,
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleExpressionError, metav1.ConditionFalse, "work cluster1/hello, manifest Deployment hello/hello, conditionRule Complete: celExpressions[0]: no such key: status"},
		},
		{
			name: "job complete with a messageExpression override",
			obj:  job + "status: {succeeded: 1, conditions: [{type: Complete, status: \"True\"}]}\n",
			rule: workv1.ConditionRule{Condition: "Complete", Type: workv1.WellKnownConditionsType, MessageExpression: `"done: " + string(object.status.succeeded)`},
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "done: 1"},
		},
		{
			name: "pod succeeded",
			obj:  "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: hello}\nstatus: {phase: Succeeded}\n",
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "Pod is in phase Succeeded"},
		},
		{
			name: "pod running",
			obj:  "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: hello}\nstatus: {phase: Running}\n",
			rule: complete(),
			want: &condWant{"Complete", workv1.ConditionRuleEvaluated, metav1.ConditionFalse, "Pod is in phase Running"},
		},
		{
			name: "no well-known rule for Deployments",
			obj:  readyDeployment,
			rule: complete(),
		},
		{
			name: "no well-known rule for other conditions",
			obj:  job,
			rule: workv1.ConditionRule{Condition: "Ready", Type: workv1.WellKnownConditionsType},
		},
		{
			name: "well-known rules match the exact version",
			obj:  strings.Replace(job, "batch/v1", "batch/v2", 1),
			rule: complete(),
		},
		{
			name: "cel true",
			obj:  readyDeployment,
			rule: celRule("Ready", "object.status.readyReplicas == object.spec.replicas"),
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "Manifest is Ready"},
		},
		{
			name: "cel false",
			obj:  readyDeployment,
			rule: celRule("Ready", "object.status.readyReplicas > 5"),
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionFalse, "Manifest is not Ready"},
		},
		{
			name: "cel expressions are ANDed and stop at the first false",
			obj:  readyDeployment,
			rule: celRule("Ready", "true", "object.status.readyReplicas > 5", "object.status.nope"),
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionFalse, "Manifest is not Ready"},
		},
		{
			name: "cel without expressions is true",
			obj:  readyDeployment,
			rule: celRule("Ready"),
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "Manifest is Ready"},
		},
		{
			name: "cel with a static message",
			obj:  readyDeployment,
			rule: workv1.ConditionRule{Condition: "Ready", Type: workv1.CelConditionExpressionsType, CelExpressions: []string{"true"}, Message: "all good"},
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "all good"},
		},
		{
			name: "messageExpression sees object and result",
			obj:  readyDeployment,
			rule: workv1.ConditionRule{Condition: "Ready", Type: workv1.CelConditionExpressionsType,
				CelExpressions:    []string{"object.status.readyReplicas >= 1"},
				MessageExpression: `(result ? "ready: " : "waiting: ") + string(object.status.readyReplicas) + "/" + string(object.spec.replicas)`},
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "ready: 1/1"},
		},
		{
			name: "messageExpression yielding empty falls back to message",
			obj:  readyDeployment,
			rule: workv1.ConditionRule{Condition: "Ready", Type: workv1.CelConditionExpressionsType, CelExpressions: []string{"true"},
				Message: "static", MessageExpression: `""`},
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "static"},
		},
		{
			name: "messageExpression that does not compile keeps the rule's status",
			obj:  readyDeployment,
			rule: workv1.ConditionRule{Condition: "Ready", Type: workv1.CelConditionExpressionsType, CelExpressions: []string{"true"},
				MessageExpression: `"a" + `},
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "messageExpression: ERROR: <input>:1:7: *"},
		},
		{
			name: "messageExpression of the wrong type",
			obj:  readyDeployment,
			rule: workv1.ConditionRule{Condition: "Ready", Type: workv1.CelConditionExpressionsType, CelExpressions: []string{"true"}, MessageExpression: `1`},
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "messageExpression: expected a string result, got int64"},
		},
		{
			name: "cel evaluation error",
			obj:  readyDeployment,
			rule: celRule("Ready", "object.status.nope > 1"),
			want: &condWant{"Ready", workv1.ConditionRuleExpressionError, metav1.ConditionFalse, prefix + "celExpressions[0]: no such key: nope"},
		},
		{
			name: "cel result not a bool",
			obj:  readyDeployment,
			rule: celRule("Ready", "1 + 1"),
			want: &condWant{"Ready", workv1.ConditionRuleExpressionError, metav1.ConditionFalse, prefix + "celExpressions[0]: expected bool result, got int64"},
		},
		{
			name: "cel that does not compile names the work, the manifest and the rule",
			obj:  readyDeployment,
			rule: celRule("Ready", "true", "object.status.(readyReplicas"),
			want: &condWant{"Ready", workv1.ConditionRuleExpressionError, metav1.ConditionFalse, prefix + "celExpressions[1]: ERROR: <input>:1:15: *"},
		},
		{
			name: "cel with an undeclared variable",
			obj:  readyDeployment,
			rule: celRule("Ready", "self.status.ready"),
			want: &condWant{"Ready", workv1.ConditionRuleExpressionError, metav1.ConditionFalse, prefix + "celExpressions[0]: ERROR: <input>:1:1: undeclared reference to 'self'*"},
		},
		{
			name: "hasConditions and the Kubernetes libraries are there",
			obj:  readyDeployment,
			rule: celRule("Ready", `!hasConditions(object.status)`, `object.metadata.name.matches('^hel+o$')`, `quantity('1Gi').isGreaterThan(quantity('1Mi'))`, `object.metadata.?labels.orValue({}).size() == 0`),
			want: &condWant{"Ready", workv1.ConditionRuleEvaluated, metav1.ConditionTrue, "Manifest is Ready"},
		},
		{
			name: "unknown rule type",
			obj:  readyDeployment,
			rule: workv1.ConditionRule{Condition: "Ready", Type: "Magic"},
			want: &condWant{"Ready", workv1.ConditionRuleInvalid, metav1.ConditionUnknown, prefix + `unrecognized condition rule type "Magic"; use WellKnownConditions or CEL`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := e.Compile(workWith(tc.rule))
			got := rules.Evaluate(context.Background(), deployMeta, obj(t, tc.obj), []workv1.ConditionRule{tc.rule})
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("Evaluate() = %+v, want no condition", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("Evaluate() = %+v, want one condition", got)
			}
			tc.want.check(t, got[0])
			if strings.Contains(got[0].Message, "\n") || strings.Contains(got[0].Message, " | ") {
				t.Errorf("message keeps CEL's source snippet: %q", got[0].Message)
			}
		})
	}
}

func TestConditionRulesCompileOncePerGeneration(t *testing.T) {
	e := newEvaluator(t)
	bad := celRule("Ready", "object.status.(")
	good := complete()
	w := workWith(bad, good)
	// A second config with the same rules shares their compiled form.
	w.Spec.ManifestConfigs = append(w.Spec.ManifestConfigs, workv1.ManifestConfigOption{
		ResourceIdentifier: workv1.ResourceIdentifier{Group: "batch", Resource: "jobs", Namespace: "hello", Name: "migrate"},
		ConditionRules:     []workv1.ConditionRule{good},
	})
	rules := e.Compile(w)
	if rules.Generation() != 2 || len(rules.byKey) != 2 {
		t.Fatalf("compiled %d rules for generation %d, want 2 for 2", len(rules.byKey), rules.Generation())
	}
	for _, c := range rules.byKey {
		if c.rule.Type == workv1.CelConditionExpressionsType && c.exprErr[0] == nil {
			t.Errorf("the bad rule compiled: %+v", c)
		}
	}

	// The bad rule of one manifest does not keep the other from completing.
	jobMeta := workv1.ManifestResourceMeta{Group: "batch", Version: "v1", Kind: "Job", Resource: "jobs", Namespace: "hello", Name: "migrate"}
	got := rules.Evaluate(context.Background(), jobMeta, obj(t, job+"status: {conditions: [{type: Complete, status: \"True\"}]}\n"), []workv1.ConditionRule{good})
	if len(got) != 1 || got[0].Status != metav1.ConditionTrue {
		t.Errorf("job's Complete = %+v, want True", got)
	}
	// Within one manifest, the bad rule fails alone.
	got = rules.Evaluate(context.Background(), deployMeta, obj(t, readyDeployment), []workv1.ConditionRule{bad, celRule("Healthy", "true")})
	if len(got) != 2 || got[0].Reason != workv1.ConditionRuleExpressionError || got[1].Status != metav1.ConditionTrue {
		t.Errorf("rules of the deployment = %+v, want the bad one failed and the good one True", got)
	}
}

// items is an object with n list items: a nested all() over them costs about
// 5·n².
func items(n int) *unstructured.Unstructured {
	l := make([]any, n)
	for i := range l {
		l[i] = int64(i)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "List", "metadata": map[string]any{"name": "l"},
		"status": map[string]any{"items": l},
	}}
}

const quadratic = `object.status.items.all(a, object.status.items.all(b, a != -1))`

func TestConditionRuleCostIsBounded(t *testing.T) {
	e := newEvaluator(t)
	// One expression over its per-call limit fails, whatever the budget left.
	rule := celRule("Ready", quadratic)
	got := e.Compile(workWith(rule)).Evaluate(context.Background(), deployMeta, items(500), []workv1.ConditionRule{rule})
	if len(got) != 1 || got[0].Reason != workv1.ConditionRuleExpressionError || !strings.Contains(got[0].Message, "cost limit exceeded") {
		t.Fatalf("expensive rule = %+v, want an expression error for the cost limit", got)
	}

	// Rules of one manifest share a budget (OCM's 10M takes seconds to
	// spend, so this uses a smaller one): two rules fit, the third does not.
	obj := items(50)
	prg, err := program(e.ruleEnv, quadratic)
	if err != nil {
		t.Fatal(err)
	}
	left := int64(1 << 40)
	if _, err := run(context.Background(), prg, map[string]any{"object": obj.Object}, &left); err != nil {
		t.Fatal(err)
	}
	cost := 1<<40 - left
	e.budget = 2*cost + cost/2
	var rules []workv1.ConditionRule
	for _, c := range []string{"A", "B", "C"} {
		rules = append(rules, celRule(c, quadratic))
	}
	got = e.Compile(workWith(rules...)).Evaluate(context.Background(), deployMeta, obj, rules)
	if len(got) != 3 {
		t.Fatalf("got %d conditions, want 3", len(got))
	}
	for i, c := range got[:2] {
		if c.Status != metav1.ConditionTrue {
			t.Errorf("rule %d = %+v, want True within the budget", i, c)
		}
	}
	if c := got[2]; c.Reason != workv1.ConditionRuleExpressionError || !strings.Contains(c.Message, errBudget.Error()) {
		t.Errorf("rule 3 = %+v, want the budget exceeded", c)
	}
	// Each manifest starts with a full budget.
	got = e.Compile(workWith(rules...)).Evaluate(context.Background(), deployMeta, obj, rules[2:])
	if len(got) != 1 || got[0].Status != metav1.ConditionTrue {
		t.Errorf("fresh budget: %+v", got)
	}
}

func TestConditionRuleMessagesAreBounded(t *testing.T) {
	e := newEvaluator(t)
	rule := workv1.ConditionRule{Condition: "Ready", Type: workv1.CelConditionExpressionsType, CelExpressions: []string{"true"},
		MessageExpression: `"x".repeat(100000)`}
	rules := e.Compile(workWith(rule))
	got := rules.Evaluate(context.Background(), deployMeta, obj(t, readyDeployment), []workv1.ConditionRule{rule})
	if len(got) != 1 || len(got[0].Message) > maxRuleMessage {
		t.Fatalf("message of %d bytes, want at most %d", len(got[0].Message), maxRuleMessage)
	}
}

func BenchmarkConditionRuleJobComplete(b *testing.B) {
	e := newEvaluator(b)
	rules := e.Compile(workWith(complete()))
	t := &testing.T{}
	o := obj(t, job+"status: {succeeded: 1, conditions: [{type: Complete, status: \"True\"}]}\n")
	r := []workv1.ConditionRule{complete()}
	b.ReportAllocs()
	for b.Loop() {
		if got := rules.Evaluate(context.Background(), deployMeta, o, r); len(got) != 1 {
			b.Fatal(got)
		}
	}
}

func TestMonitorCompilesOncePerGeneration(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The pods watch never starts: no workload is judged.
	m, err := NewMonitor(kubernetes.NewForConfigOrDie(&rest.Config{Host: "http://127.0.0.1:1"}), logr.Discard(), func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	w := workWith(complete())
	first := m.rulesFor(w)
	if again := m.rulesFor(w.DeepCopy()); again != first {
		t.Error("rules compiled again for the same generation")
	}
	w.Generation++
	if next := m.rulesFor(w); next == first || next.Generation() != w.Generation {
		t.Error("rules not compiled again for a new generation")
	}
	var conds []metav1.Condition
	jobMeta := workv1.ManifestResourceMeta{Group: "batch", Version: "v1", Kind: "Job", Resource: "jobs", Namespace: "hello", Name: "migrate"}
	v, rc := m.Judge(ctx, w, jobMeta, []workv1.ConditionRule{complete()}, obj(t, job+"status: {conditions: [{type: Complete, status: \"True\"}]}\n"))
	SetManifest(&conds, v, rc, w.Generation)
	if !ManifestComplete(conds) || v.Status != Current {
		t.Errorf("verdict %+v, conditions %+v, want Current and Complete", v, conds)
	}
	m.Forget(w.Name)
	if len(m.rules) != 0 {
		t.Error("Forget kept the rules")
	}
}

// BenchmarkJudgeConfigMap is what health adds to the agent's sync of one
// manifest without rules: the verdict and the conditions it sets.
func BenchmarkJudgeConfigMap(b *testing.B) {
	m, err := NewMonitor(kubernetes.NewForConfigOrDie(&rest.Config{Host: "http://127.0.0.1:1"}), logr.Discard(), func(string) {})
	if err != nil {
		b.Fatal(err)
	}
	w := workWith()
	cm := obj(&testing.T{}, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: hello}\ndata: {a: b}\n")
	meta := workv1.ManifestResourceMeta{Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "hello", Name: "cfg"}
	var conds []metav1.Condition
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, rc := m.Judge(ctx, w, meta, nil, cm)
		SetManifest(&conds, v, rc, w.Generation)
	}
}
