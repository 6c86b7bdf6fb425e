package render

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// spec.clusterValuesTemplate is tenant input that runs on the hub once per
// cluster. It gets only deterministic functions of bounded cost, and every
// execution is bounded: its text, output, loop iterations, template calls,
// the size of each value a function takes or returns, the bytes all function
// results add up to, and its time. Loops and template bodies are counted by
// a call the parser's tree gains at the start of each range body and each
// defined template.

const valuesTemplateField = "spec.clusterValuesTemplate"

// templateLimits bound spec.clusterValuesTemplate.
type templateLimits struct {
	text       int           // bytes of template text
	output     int           // bytes the template writes
	value      int           // bytes of one value a function takes or returns
	produced   int           // bytes of all function results together
	iterations int           // range iterations
	calls      int           // invocations of defined templates
	width      int           // indent, nindent and printf widths and precisions
	timeout    time.Duration // one execution
}

var defaultTemplateLimits = templateLimits{
	text:       64 << 10,
	output:     1 << 20,
	value:      1 << 20,
	produced:   16 << 20,
	iterations: 100_000,
	calls:      1_000,
	width:      4096,
	timeout:    time.Second,
}

// allowedTemplateFuncs are the sprig functions a values template may call:
// deterministic, without access to the hub (env, DNS, clock), without
// randomness and without costly cryptography, and none whose cost grows with
// a number argument unless capped (indent, nindent).
var allowedTemplateFuncs = []string{
	// strings
	"abbrev", "abbrevboth", "trunc", "trim", "trimAll", "trimall", "trimPrefix", "trimSuffix", "upper", "lower",
	"title", "untitle", "substr", "nospace", "initials", "swapcase", "snakecase", "camelcase", "kebabcase",
	"wrap", "wrapWith", "contains", "hasPrefix", "hasSuffix", "quote", "squote", "cat", "indent", "nindent",
	"replace", "plural", "split", "splitList", "splitn", "join", "sortAlpha", "toString", "toStrings",
	"b64enc", "b64dec", "b32enc", "b32dec", "sha1sum", "sha256sum", "sha512sum", "adler32sum",
	"regexMatch", "regexFind", "regexFindAll", "regexReplaceAll", "regexReplaceAllLiteral", "regexSplit", "regexQuoteMeta",
	// numbers
	"atoi", "int", "int64", "float64", "toDecimal", "add1", "add", "sub", "div", "mod", "mul", "add1f", "addf", "subf",
	"divf", "mulf", "biggest", "max", "min", "maxf", "minf", "ceil", "floor", "round",
	// logic and types
	"default", "empty", "coalesce", "all", "any", "ternary", "fail", "typeOf", "typeIs", "typeIsLike", "kindOf",
	"kindIs", "deepEqual", "semver", "semverCompare",
	// encodings
	"toJson", "toPrettyJson", "toRawJson", "fromJson", "mustToJson", "mustFromJson", "toYaml",
	// lists and dicts
	"tuple", "list", "dict", "get", "set", "unset", "hasKey", "pluck", "keys", "pick", "omit", "merge",
	"mergeOverwrite", "values", "append", "push", "prepend", "first", "rest", "last", "initial", "reverse",
	"uniq", "without", "has", "slice", "concat", "dig", "chunk", "compact", "deepCopy",
	// text/template's own printing functions, wrapped to be counted
	"print", "printf", "println", "html", "js", "urlquery",
}

// Names of the counting calls added to parsed templates.
const (
	loopTick = "ocmGitopsLoop"
	callTick = "ocmGitopsCall"
)

// templateFuncs returns the allowed functions.
func templateFuncs() template.FuncMap {
	all := sprig.TxtFuncMap()
	all["toYaml"] = func(v any) (string, error) {
		b, err := yaml.Marshal(v)
		return strings.TrimSuffix(string(b), "\n"), err
	}
	all["print"] = fmt.Sprint
	all["println"] = fmt.Sprintln
	all["printf"] = fmt.Sprintf
	all["html"] = template.HTMLEscaper
	all["js"] = template.JSEscaper
	all["urlquery"] = template.URLQueryEscaper
	f := template.FuncMap{}
	for _, name := range allowedTemplateFuncs {
		f[name] = all[name]
	}
	return f
}

// valuesTemplate is a parsed spec.clusterValuesTemplate.
type valuesTemplate struct {
	tmpl *template.Template
	// uses holds the allowed functions the text calls; only those are
	// wrapped to count.
	uses template.FuncMap
	pool sync.Pool // of *boundTemplate
}

var undefinedFunc = regexp.MustCompile(`function "([^"]+)" not defined`)

// parseValuesTemplate parses text and adds the counting calls.
func parseValuesTemplate(text string, funcs template.FuncMap, lim templateLimits) (*valuesTemplate, error) {
	if len(text) > lim.text {
		return nil, &Error{Field: valuesTemplateField, Err: fmt.Errorf("the template is %d bytes, over the limit of %d", len(text), lim.text)}
	}
	t, err := parseTemplate(text, funcs)
	if err != nil {
		return nil, err
	}
	// Parse again knowing only the functions the text uses: each execution
	// copies the template's function map.
	uses := template.FuncMap{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			identifiers(tt.Root, func(name string) {
				if fn, ok := funcs[name]; ok {
					uses[name] = fn
				}
			})
		}
	}
	if t, err = parseTemplate(text, uses); err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		countLoops(tt.Root)
		if tt.Name() != t.Name() {
			tt.Root.Nodes = slices.Insert(tt.Root.Nodes, 0, parse.Node(tick(tt.Root.Position(), callTick)))
		}
	}
	delete(uses, loopTick)
	delete(uses, callTick)
	return &valuesTemplate{tmpl: t, uses: uses}, nil
}

func parseTemplate(text string, funcs template.FuncMap) (*template.Template, error) {
	ticks := template.FuncMap{loopTick: func() string { return "" }, callTick: func() string { return "" }}
	t, err := template.New("clusterValuesTemplate").Option("missingkey=zero").Funcs(ticks).Funcs(funcs).Parse(text)
	if err != nil {
		if m := undefinedFunc.FindStringSubmatch(err.Error()); m != nil && sprig.TxtFuncMap()[m[1]] != nil {
			err = fmt.Errorf("function %q is not allowed: clusterValuesTemplate offers only deterministic functions of bounded cost (no randomness, clock, environment, network or key generation); see docs/reference.md", m[1])
		}
		return nil, &Error{Field: valuesTemplateField, Err: err}
	}
	return t, nil
}

// walk calls fn for n and every node under it.
func walk(n parse.Node, fn func(parse.Node)) {
	if reflect.ValueOf(n).IsNil() {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walk(c, fn)
		}
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.ActionNode:
		walk(n.Pipe, fn)
	case *parse.TemplateNode:
		walk(n.Pipe, fn)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			walk(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, fn)
		}
	}
}

func walkBranch(b *parse.BranchNode, fn func(parse.Node)) {
	walk(b.Pipe, fn)
	walk(b.List, fn)
	walk(b.ElseList, fn)
}

// identifiers calls fn with every function name under n.
func identifiers(n parse.Node, fn func(string)) {
	walk(n, func(n parse.Node) {
		if id, ok := n.(*parse.IdentifierNode); ok {
			fn(id.Ident)
		}
	})
}

// countLoops adds a loop tick at the start of every range body under n.
func countLoops(n parse.Node) {
	walk(n, func(n parse.Node) {
		if r, ok := n.(*parse.RangeNode); ok {
			r.List.Nodes = slices.Insert(r.List.Nodes, 0, parse.Node(tick(r.Position(), loopTick)))
		}
	})
}

// tick is the action {{name}} at pos.
func tick(pos parse.Pos, name string) *parse.ActionNode {
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(name).SetPos(pos)}}
	pipe := &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: pipe}
}

// execution is the budget of one run of a values template.
type execution struct {
	lim        templateLimits
	deadline   time.Time
	iterations int
	calls      int
	produced   int
}

func (e *execution) check() error {
	switch {
	case e.iterations > e.lim.iterations:
		return fmt.Errorf("the template ran more than %d loop iterations, the limit", e.lim.iterations)
	case e.calls > e.lim.calls:
		return fmt.Errorf("the template called defined templates more than %d times, the limit", e.lim.calls)
	case e.produced > e.lim.produced:
		return fmt.Errorf("the template's functions produced more than %d bytes, the limit", e.lim.produced)
	case time.Now().After(e.deadline):
		return fmt.Errorf("the template ran longer than %v, the limit", e.lim.timeout)
	}
	return nil
}

// run executes vt for data into at most lim.output bytes.
func (vt *valuesTemplate) run(data any, lim templateLimits) ([]byte, error) {
	b, err := vt.bound()
	if err != nil {
		return nil, err
	}
	defer vt.pool.Put(b)
	*b.e = execution{lim: lim, deadline: time.Now().Add(lim.timeout)}
	var buf bytes.Buffer
	if err := b.t.Execute(&limitWriter{w: &buf, n: lim.output, limit: lim.output}, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// boundTemplate is a copy of a values template whose functions count
// against e; copies are pooled, so an execution costs no copying.
type boundTemplate struct {
	t *template.Template
	e *execution
}

func (vt *valuesTemplate) bound() (*boundTemplate, error) {
	if b, ok := vt.pool.Get().(*boundTemplate); ok {
		return b, nil
	}
	e := &execution{}
	funcs := template.FuncMap{
		loopTick: func() (string, error) { e.iterations++; return "", e.check() },
		callTick: func() (string, error) { e.calls++; return "", e.check() },
	}
	for name, fn := range vt.uses {
		funcs[name] = e.bounded(name, fn)
	}
	t, err := vt.tmpl.Clone()
	if err != nil {
		return nil, err
	}
	return &boundTemplate{t: t.Funcs(funcs), e: e}, nil
}

var errorType = reflect.TypeFor[error]()

// bounded wraps fn so that each call checks the budget, its arguments'
// sizes (and the widths of indent, nindent and printf) before it runs, and
// the size of its result after. The wrapper returns an error as its second
// result, which text/template reports with the call.
func (e *execution) bounded(name string, fn any) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	wt := reflect.FuncOf(in, []reflect.Type{t.Out(0), errorType}, t.IsVariadic())
	fail := func(err error) []reflect.Value {
		return []reflect.Value{reflect.Zero(t.Out(0)), reflect.ValueOf(&err).Elem()}
	}
	return reflect.MakeFunc(wt, func(args []reflect.Value) []reflect.Value {
		if err := e.before(name, args); err != nil {
			return fail(err)
		}
		var out []reflect.Value
		if t.IsVariadic() {
			out = v.CallSlice(args)
		} else {
			out = v.Call(args)
		}
		if len(out) == 2 && !out[1].IsNil() {
			return fail(out[1].Interface().(error))
		}
		size := valueSize(out[0], e.lim.value)
		e.produced += size
		if size > e.lim.value {
			return fail(fmt.Errorf("the result is over the limit of %d bytes per value", e.lim.value))
		}
		return []reflect.Value{out[0], reflect.Zero(errorType)}
	}).Interface()
}

// before checks the budget and a call's arguments.
func (e *execution) before(name string, args []reflect.Value) error {
	if err := e.check(); err != nil {
		return err
	}
	total := 0
	for _, a := range args {
		total += valueSize(a, 4*e.lim.value)
	}
	if total > 4*e.lim.value {
		return fmt.Errorf("the arguments are over the limit of %d bytes", 4*e.lim.value)
	}
	switch name {
	case "indent", "nindent":
		if w := args[0].Int(); w < 0 || w > int64(e.lim.width) {
			return fmt.Errorf("width %d is over the limit of %d", w, e.lim.width)
		}
	case "printf":
		return checkFormat(args[0].String(), e.lim.width)
	}
	return nil
}

// checkFormat refuses printf widths and precisions over limit, and '*'
// (a width taken from the arguments).
func checkFormat(format string, limit int) error {
	n := 0
	inVerb := false
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case !inVerb:
			inVerb, n = c == '%', 0
		case c == '*':
			return errors.New("'*' widths are not allowed; write the width into the format")
		case c >= '0' && c <= '9':
			if n = n*10 + int(c-'0'); n > limit {
				return fmt.Errorf("a width or precision in %q is over the limit of %d", format, limit)
			}
		case strings.IndexByte("+-# .[]", c) >= 0:
			n = 0
		default:
			inVerb = false // the verb ends the directive
		}
	}
	return nil
}

// valueSize estimates the bytes v holds, stopping once over limit.
func valueSize(v reflect.Value, limit int) int {
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 8
		}
		return 8 + valueSize(v.Elem(), limit)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Len()
		}
		n := 24
		for i := 0; i < v.Len() && n <= limit; i++ {
			n += valueSize(v.Index(i), limit-n)
		}
		return n
	case reflect.Map:
		n := 48
		for it := v.MapRange(); it.Next() && n <= limit; {
			n += valueSize(it.Key(), limit-n) + valueSize(it.Value(), limit-n)
		}
		return n
	}
	return 8
}

// clusterValues runs spec.clusterValuesTemplate for one cluster.
func clusterValues(vt *valuesTemplate, c Cluster, lim templateLimits) (map[string]any, error) {
	if vt == nil {
		return nil, nil
	}
	labels, claims := c.Labels, c.Claims
	if labels == nil {
		labels = map[string]string{}
	}
	if claims == nil {
		claims = map[string]string{}
	}
	data := map[string]any{"Cluster": map[string]any{"Name": c.Name, "Labels": labels, "Claims": claims}}
	out, err := vt.run(data, lim)
	if err != nil {
		return nil, &Error{Field: valuesTemplateField, Err: err}
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(out, &vals); err != nil {
		return nil, &Error{Field: valuesTemplateField, Err: fmt.Errorf("the template must produce a YAML mapping of Helm values: %w", err)}
	}
	return vals, nil
}

// limitWriter fails writes beyond n bytes.
type limitWriter struct {
	w     *bytes.Buffer
	n     int
	limit int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, fmt.Errorf("the output is over the limit of %d bytes", l.limit)
	}
	l.n -= len(p)
	return l.w.Write(p)
}
