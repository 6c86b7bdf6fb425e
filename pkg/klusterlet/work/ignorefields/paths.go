package ignorefields

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/jsonpath"
)

// Segment is one step of a concrete path: a map key, or a list index.
type Segment struct {
	Key   string
	Index int // -1 for a map key
}

// Path is a concrete path into an object.
type Path []Segment

func key(k string) Segment { return Segment{Key: k, Index: -1} }

// Lookup returns the value at p in obj.
func Lookup(obj any, p Path) (any, bool) {
	cur := obj
	for _, s := range p {
		next, ok := child(cur, s)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func child(cur any, s Segment) (any, bool) {
	if s.Index >= 0 {
		l, ok := cur.([]any)
		if !ok || s.Index >= len(l) {
			return nil, false
		}
		return l[s.Index], true
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[s.Key]
	return v, ok
}

// set puts v at p, creating maps on the way; it reports false when a list
// index is out of range or a non-map is in the way.
func set(obj map[string]any, p Path, v any) bool {
	if len(p) == 0 {
		return false
	}
	var cur any = obj
	for _, s := range p[:len(p)-1] {
		next, ok := child(cur, s)
		if !ok && s.Index < 0 {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return false
			}
			next = map[string]any{}
			m[s.Key] = next
		} else if !ok {
			return false
		}
		cur = next
	}
	last := p[len(p)-1]
	if l, ok := cur.([]any); ok && last.Index >= 0 && last.Index < len(l) {
		l[last.Index] = v
		return true
	}
	if m, ok := cur.(map[string]any); ok && last.Index < 0 {
		m[last.Key] = v
		return true
	}
	return false
}

// removeAll deletes the fields at ps: map keys, and list elements from the
// last to the first so that the indexes of the others stay right.
func removeAll(obj map[string]any, ps []Path) {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b Path) int {
		if len(a) == 0 || len(b) == 0 {
			return 0
		}
		return b[len(b)-1].Index - a[len(a)-1].Index
	})
	for _, p := range ps {
		removeOne(obj, p)
	}
}

func removeOne(obj map[string]any, p Path) {
	if len(p) == 0 {
		return
	}
	parentPath, last := p[:len(p)-1], p[len(p)-1]
	parent, ok := Lookup(obj, parentPath)
	if !ok {
		return
	}
	if m, ok := parent.(map[string]any); ok && last.Index < 0 {
		delete(m, last.Key)
		return
	}
	l, ok := parent.([]any)
	if !ok || last.Index < 0 || last.Index >= len(l) {
		return
	}
	set(obj, parentPath, slices.Delete(slices.Clone(l), last.Index, last.Index+1))
}

// pathField is a field that resolves to concrete paths in an object.
type pathField struct {
	resolve func(ctx context.Context, obj map[string]any) ([]Path, error)
}

func (f pathField) remove(ctx context.Context, obj map[string]any) error {
	ps, err := f.resolve(ctx, obj)
	if err != nil {
		return err
	}
	removeAll(obj, ps)
	return nil
}

func (f pathField) adopt(ctx context.Context, required, live map[string]any) error {
	livePaths, err := f.resolve(ctx, live)
	if err != nil {
		return err
	}
	var drop []Path
	seen := map[string]bool{}
	for _, p := range livePaths {
		seen[p.String()] = true
		v, _ := Lookup(live, p)
		if !set(required, p, runtime.DeepCopyJSONValue(v)) {
			drop = append(drop, p)
		}
	}
	requiredPaths, err := f.resolve(ctx, required)
	if err != nil {
		return err
	}
	for _, p := range requiredPaths {
		if !seen[p.String()] {
			drop = append(drop, p)
		}
	}
	removeAll(required, drop)
	return nil
}

// String renders p as a JSONPath (".spec.containers[0].image").
func (p Path) String() string {
	var sb strings.Builder
	for _, s := range p {
		if s.Index >= 0 {
			sb.WriteString("[" + strconv.Itoa(s.Index) + "]")
			continue
		}
		sb.WriteString("['" + s.Key + "']")
	}
	return sb.String()
}

// existing resolves a fixed path: itself where obj has it.
func existing(p Path) func(context.Context, map[string]any) ([]Path, error) {
	return func(_ context.Context, obj map[string]any) ([]Path, error) {
		if _, ok := Lookup(obj, p); ok {
			return []Path{p}, nil
		}
		return nil, nil
	}
}

// compileJSONPath reads a Kubernetes JSONPath. Simple paths (keys and list
// indexes) are walked directly; others (filters, wildcards) go through the
// Kubernetes JSONPath engine on the parent, as OCM does, and cannot carry
// live values: they are only removed.
func compileJSONPath(p string) (field, error) {
	if segs, ok := parseSimplePath(p); ok {
		return pathField{resolve: existing(segs)}, nil
	}
	trimmed := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(p), "{"), "}")
	if err := jsonpath.New("ignore").Parse("{" + trimmed + "}"); err != nil {
		return nil, err
	}
	return filterPath(trimmed), nil
}

// filterPath is a JSONPath with filters or wildcards.
type filterPath string

func (f filterPath) remove(_ context.Context, obj map[string]any) error {
	p := string(f)
	i := strings.LastIndex(p, ".")
	if i <= 0 {
		return nil
	}
	parentPath, last := p[:i], p[i+1:]
	jp := jsonpath.New("ignore").AllowMissingKeys(true)
	if err := jp.Parse("{" + parentPath + "}"); err != nil {
		return nil
	}
	results, err := jp.FindResults(obj)
	if err != nil {
		return nil
	}
	for _, rs := range results {
		for _, r := range rs {
			if m, ok := r.Interface().(map[string]any); ok {
				delete(m, last)
			}
		}
	}
	return nil
}

func (f filterPath) adopt(ctx context.Context, required, _ map[string]any) error {
	return f.remove(ctx, required)
}

// parseSimplePath parses paths such as ".spec.replicas", ".data.config\\.yaml",
// ".metadata.annotations['a.b/c']" or ".spec.containers[0].image". It reports
// false for anything with filters, wildcards or slices.
func parseSimplePath(p string) (Path, bool) {
	p = strings.TrimSpace(p)
	p = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(p, "{"), "}"), "$")
	if !strings.HasPrefix(p, ".") {
		return nil, false
	}
	var out Path
	for i := 0; i < len(p); {
		var (
			seg Segment
			n   int
			ok  bool
		)
		switch p[i] {
		case '.':
			seg, n, ok = parseName(p[i+1:])
			n++
		case '[':
			seg, n, ok = parseBracket(p[i:])
		}
		if !ok {
			return nil, false
		}
		out = append(out, seg)
		i += n
	}
	return out, len(out) > 0
}

// parseName reads a key up to the next '.' or '['; '\' escapes a character.
func parseName(s string) (Segment, int, bool) {
	var sb strings.Builder
	i := 0
	for ; i < len(s) && s[i] != '.' && s[i] != '['; i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		} else if strings.IndexByte("]*?@()=", c) >= 0 {
			return Segment{}, 0, false
		}
		sb.WriteByte(c)
	}
	return key(sb.String()), i, sb.Len() > 0
}

// parseBracket reads ['key'], ["key"] or [index].
func parseBracket(s string) (Segment, int, bool) {
	end := strings.IndexByte(s, ']')
	if end < 2 {
		return Segment{}, 0, false
	}
	inner := s[1:end]
	if q := inner[0]; q == '\'' || q == '"' {
		closing := strings.IndexByte(s[2:], q) + 2
		if closing < 2 || closing+1 >= len(s) || s[closing+1] != ']' {
			return Segment{}, 0, false
		}
		return key(s[2:closing]), closing + 2, true
	}
	i, err := strconv.Atoi(inner)
	if err != nil || i < 0 {
		return Segment{}, 0, false
	}
	return Segment{Index: i}, end + 1, true
}
