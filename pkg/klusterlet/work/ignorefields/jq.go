package ignorefields

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"
)

// Bounds of a jq path expression, which a tenant writes: how long it may
// run on one object, how many fields it may name, and its length.
const (
	JQTimeout  = time.Second
	maxJQPaths = 10000
	maxJQBytes = 4096
)

// compileJQ reads a jq path expression (".spec.replicas",
// `.spec.template.spec.containers[] | select(.name == "app") | .image`), as
// OCM's agent does with gojq: the fields are those path(EXPR) yields.
func compileJQ(expr string) (field, error) {
	if len(expr) > maxJQBytes {
		return nil, fmt.Errorf("the expression is %d bytes long, more than %d", len(expr), maxJQBytes)
	}
	q, err := gojq.Parse("path(" + expr + ")")
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return pathField{resolve: func(ctx context.Context, obj map[string]any) ([]Path, error) {
		ps, err := runJQ(ctx, code, obj)
		if err != nil {
			return nil, &Error{Kind: "jqPathExpressions", Expr: expr, Err: err}
		}
		return ps, nil
	}}, nil
}

// runJQ lists the concrete paths the compiled path(EXPR) yields on obj,
// within JQTimeout.
func runJQ(ctx context.Context, code *gojq.Code, obj map[string]any) ([]Path, error) {
	input, err := jqValue(obj)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, JQTimeout)
	defer cancel()
	var out []Path
	iter := code.RunWithContext(ctx, input)
	for {
		v, ok := iter.Next()
		if !ok {
			return out, nil
		}
		if err, isErr := v.(error); isErr {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("did not finish within %s", JQTimeout)
			}
			return nil, err
		}
		if len(out) == maxJQPaths {
			return nil, fmt.Errorf("names more than %d fields", maxJQPaths)
		}
		p, err := jqPath(v)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
}

// jqValue converts an object to the values gojq takes (numbers as float64).
func jqValue(obj map[string]any) (any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(b, &v)
}

// jqPath converts a path yielded by path(): keys and list indexes.
func jqPath(v any) (Path, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("yielded %v, not a path", v)
	}
	p := make(Path, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case string:
			p = append(p, key(x))
		case int:
			p = append(p, Segment{Index: x})
		case float64:
			p = append(p, Segment{Index: int(x)})
		default:
			return nil, fmt.Errorf("yielded a path through %v, which is neither a key nor an index", e)
		}
	}
	if len(p) == 0 {
		return nil, errors.New("names the whole object")
	}
	return p, nil
}
