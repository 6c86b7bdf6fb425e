package ignorefields

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// compilePointer reads an RFC 6901 JSON Pointer ("/spec/replicas",
// "/metadata/annotations/a~1b"). The empty pointer (the whole object) is
// refused: a manifest cannot ignore itself.
func compilePointer(p string) (field, error) {
	if p == "" {
		return nil, errors.New("the empty pointer names the whole object")
	}
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New(`a JSON Pointer starts with "/"`)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return pathField{resolve: func(_ context.Context, obj map[string]any) ([]Path, error) {
		if p, ok := resolvePointer(obj, tokens); ok {
			return []Path{p}, nil
		}
		return nil, nil
	}}, nil
}

// resolvePointer turns pointer tokens into a concrete path where obj has
// that field: a token is a list index where the value is a list.
func resolvePointer(obj any, tokens []string) (Path, bool) {
	out := make(Path, 0, len(tokens))
	cur := obj
	for _, t := range tokens {
		seg := key(t)
		if _, isList := cur.([]any); isList {
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || strconv.Itoa(i) != t {
				return nil, false
			}
			seg = Segment{Index: i}
		}
		next, ok := child(cur, seg)
		if !ok {
			return nil, false
		}
		out = append(out, seg)
		cur = next
	}
	return out, true
}
