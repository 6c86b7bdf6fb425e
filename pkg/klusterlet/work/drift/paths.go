package drift

import (
	"fmt"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// resolvePath finds the value at a managed-fields path in obj and renders
// the path with list positions as indexes (".spec.containers[0].image").
func resolvePath(obj any, p fieldpath.Path) (any, string, bool) {
	var sb strings.Builder
	cur := obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			sb.WriteString(".")
			sb.WriteString(*pe.FieldName)
			if !ok {
				return nil, sb.String(), false
			}
			v, ok := m[*pe.FieldName]
			if !ok {
				return nil, sb.String(), false
			}
			cur = v
		case pe.Key != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, sb.String() + pe.String(), false
			}
			i := indexByKey(l, *pe.Key)
			if i < 0 {
				return nil, sb.String() + pe.String(), false
			}
			fmt.Fprintf(&sb, "[%d]", i)
			cur = l[i]
		case pe.Value != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, sb.String() + pe.String(), false
			}
			i := -1
			for j, e := range l {
				if value.Equals(value.NewValueInterface(e), *pe.Value) {
					i = j
					break
				}
			}
			if i < 0 {
				return nil, sb.String() + pe.String(), false
			}
			fmt.Fprintf(&sb, "[%d]", i)
			cur = l[i]
		case pe.Index != nil:
			l, ok := cur.([]any)
			fmt.Fprintf(&sb, "[%d]", *pe.Index)
			if !ok || *pe.Index >= len(l) {
				return nil, sb.String(), false
			}
			cur = l[*pe.Index]
		}
	}
	return cur, sb.String(), true
}

func indexByKey(l []any, key value.FieldList) int {
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		match := true
		for _, f := range key {
			v, ok := m[f.Name]
			if !ok || !value.Equals(value.NewValueInterface(v), f.Value) {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
