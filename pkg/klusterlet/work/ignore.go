package work

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/jsonpath"

	workv1 "open-cluster-management.io/api/work/v1"
)

// ignoredPaths returns the JSON paths of a server-side apply config that are
// left alone on the spoke, split by condition.
func ignoredPaths(cfg *workv1.ServerSideApplyConfig) (onPresent, onChange []string) {
	if cfg == nil {
		return nil, nil
	}
	for _, f := range cfg.IgnoreFields {
		switch f.Condition {
		case workv1.IgnoreFieldsConditionOnSpokePresent:
			onPresent = append(onPresent, f.JSONPaths...)
		default: // OnSpokeChange, OCM's default
			onChange = append(onChange, f.JSONPaths...)
		}
	}
	return onPresent, onChange
}

// specHash digests a manifest without its OnSpokePresent fields: OCM stores it
// in the object's config-spec-hash annotation and skips the apply while it
// matches, so spoke edits to ignored fields survive until the manifest changes.
func specHash(obj map[string]any) string {
	b, _ := json.Marshal(obj)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// segment is one step of a simple JSON path: a map key or a list index.
type segment struct {
	key   string
	index int // -1 for a map key
}

var indexSuffix = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// parseSimplePath parses paths such as ".spec.replicas", ".data.config\\.yaml",
// ".metadata.annotations['a.b/c']" or ".spec.containers[0].image". It reports
// false for anything with filters, wildcards or slices.
func parseSimplePath(p string) ([]segment, bool) {
	p = strings.TrimSpace(p)
	p = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(p, "{"), "}"), "$")
	if !strings.HasPrefix(p, ".") {
		return nil, false
	}
	var segs []segment
	var cur strings.Builder
	afterBracket := false
	flush := func() bool {
		s := cur.String()
		cur.Reset()
		var idx []int
		for {
			m := indexSuffix.FindStringSubmatch(s)
			if m == nil {
				break
			}
			i, _ := strconv.Atoi(m[2])
			idx = append([]int{i}, idx...)
			s = m[1]
		}
		if s == "" || strings.ContainsAny(s, "[]*?@()=") {
			return false
		}
		segs = append(segs, segment{key: s, index: -1})
		for _, i := range idx {
			segs = append(segs, segment{index: i})
		}
		return true
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			cur.WriteByte(p[i+1])
			i++
		case c == '[' && i+1 < len(p) && (p[i+1] == '\'' || p[i+1] == '"'):
			if cur.Len() > 0 && !flush() {
				return nil, false
			}
			q := p[i+1]
			end := strings.IndexByte(p[i+2:], q)
			closing := i + 2 + end + 1
			if end < 0 || closing >= len(p) || p[closing] != ']' {
				return nil, false
			}
			segs = append(segs, segment{key: p[i+2 : i+2+end], index: -1})
			i = closing
			afterBracket = true
			continue
		case c == '.':
			if cur.Len() == 0 && afterBracket {
				afterBracket = false
				continue
			}
			if !flush() {
				return nil, false
			}
		default:
			if afterBracket {
				return nil, false
			}
			cur.WriteByte(c)
		}
		afterBracket = false
	}
	if cur.Len() > 0 && !flush() {
		return nil, false
	}
	return segs, len(segs) > 0
}

// lookup returns the value at segs in obj.
func lookup(obj any, segs []segment) (any, bool) {
	cur := obj
	for _, s := range segs {
		if s.index >= 0 {
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return nil, false
			}
			cur = l[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setAt sets the value at segs, creating maps on the way; it reports false
// when a list index is out of range or a non-map is in the way.
func setAt(obj map[string]any, segs []segment, v any) bool {
	var cur any = obj
	for i, s := range segs {
		last := i == len(segs)-1
		if s.index >= 0 {
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return false
			}
			if last {
				l[s.index] = v
				return true
			}
			cur = l[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if last {
			m[s.key] = v
			return true
		}
		next, ok := m[s.key]
		if !ok {
			next = map[string]any{}
			m[s.key] = next
		}
		cur = next
	}
	return false
}

// removeAt deletes the map key at segs; list elements are never removed.
func removeAt(obj any, segs []segment) {
	if len(segs) == 0 {
		return
	}
	parent, ok := lookup(obj, segs[:len(segs)-1])
	if !ok {
		return
	}
	last := segs[len(segs)-1]
	if m, ok := parent.(map[string]any); ok && last.index < 0 {
		delete(m, last.key)
	}
}

// removePath deletes the field a JSON path names, in place. Simple paths are
// walked directly; others (filters, wildcards) go through the Kubernetes
// JSONPath engine on the parent, as OCM does.
func removePath(obj map[string]any, p string) {
	if segs, ok := parseSimplePath(p); ok {
		removeAt(obj, segs)
		return
	}
	trimmed := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(p), "{"), "}")
	i := strings.LastIndex(trimmed, ".")
	if i <= 0 {
		return
	}
	parentPath, key := trimmed[:i], trimmed[i+1:]
	jp := jsonpath.New("ignore").AllowMissingKeys(true)
	if err := jp.Parse("{" + parentPath + "}"); err != nil {
		return
	}
	results, err := jp.FindResults(obj)
	if err != nil {
		return
	}
	for _, rs := range results {
		for _, r := range rs {
			if m, ok := r.Interface().(map[string]any); ok {
				delete(m, key)
			}
		}
	}
}

// withoutPaths returns a deep copy of obj without the given fields.
func withoutPaths(obj map[string]any, paths []string) map[string]any {
	out := runtime.DeepCopyJSON(obj)
	for _, p := range paths {
		removePath(out, p)
	}
	return out
}

// adoptPaths makes the ignored fields of an apply request carry the live
// values, so applying neither overwrites a spoke's edit nor drops a field the
// agent still owns. Fields absent on the spoke are left out of the request.
func adoptPaths(required, live map[string]any, paths []string) {
	for _, p := range paths {
		segs, ok := parseSimplePath(p)
		if !ok {
			removePath(required, p)
			continue
		}
		if v, ok := lookup(live, segs); ok {
			if !setAt(required, segs, runtime.DeepCopyJSONValue(v)) {
				removeAt(required, segs)
			}
			continue
		}
		removeAt(required, segs)
	}
}

// validateIgnorePaths rejects JSON paths the Kubernetes parser cannot read.
func validateIgnorePaths(paths []string) error {
	for _, p := range paths {
		if _, ok := parseSimplePath(p); ok {
			continue
		}
		jp := jsonpath.New("ignore")
		if err := jp.Parse("{" + strings.TrimSuffix(strings.TrimPrefix(p, "{"), "}") + "}"); err != nil {
			return fmt.Errorf("ignoreFields path %q is not a valid JSON path: %w", p, err)
		}
	}
	return nil
}
