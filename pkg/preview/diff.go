package preview

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// diffContext is the number of unchanged lines around each change.
const diffContext = 3

// objectID identifies an object across revisions: an apiVersion bump of the
// same object is a change, not a removal and an addition.
type objectID struct {
	group, kind, namespace, name string
}

func idOf(o *unstructured.Unstructured) objectID {
	gvk := o.GroupVersionKind()
	return objectID{gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName()}
}

func (id objectID) less(o objectID) bool {
	if id.namespace != o.namespace {
		return id.namespace < o.namespace
	}
	if id.kind != o.kind {
		return id.kind < o.kind
	}
	if id.name != o.name {
		return id.name < o.name
	}
	return id.group < o.group
}

// path names the object in diff headers: kind[.group]/[namespace/]name.
func (id objectID) path() string {
	k := id.kind
	if id.group != "" {
		k += "." + id.group
	}
	if id.namespace != "" {
		return k + "/" + id.namespace + "/" + id.name
	}
	return k + "/" + id.name
}

// DiffOutputs compares what a cluster receives in two renders, before and
// after (nil: the cluster receives nothing there), object by object, in a
// stable order (namespace, kind, name). The diff headers name the sides
// fromSide and toSide ("base" and "head" in a preview). Secret values, and
// the values of sops-encrypted objects, are replaced by digests keyed with
// secretKey (see NewSecretKey).
func DiffOutputs(base, head *render.Output, fromSide, toSide string, secretKey []byte) ([]ObjectChange, error) {
	before := index(base)
	after := index(head)
	ids := make([]objectID, 0, len(before)+len(after))
	for id := range before {
		ids = append(ids, id)
	}
	for id := range after {
		if _, ok := before[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].less(ids[j]) })
	var out []ObjectChange
	for _, id := range ids {
		b, a := before[id], after[id]
		by, err := objectYAML(b, secretKey)
		if err != nil {
			return nil, err
		}
		ay, err := objectYAML(a, secretKey)
		if err != nil {
			return nil, err
		}
		if by == ay {
			continue
		}
		c := ObjectChange{Kind: id.kind, Namespace: id.namespace, Name: id.name}
		from, to := fromSide+"/"+id.path(), toSide+"/"+id.path()
		switch {
		case b == nil:
			c.Change, c.APIVersion, from = ChangeAdded, a.GetAPIVersion(), "/dev/null"
		case a == nil:
			c.Change, c.APIVersion, to = ChangeRemoved, b.GetAPIVersion(), "/dev/null"
		default:
			c.Change, c.APIVersion = ChangeChanged, a.GetAPIVersion()
		}
		c.Diff = unifiedDiff(lines(by), lines(ay), from, to)
		out = append(out, c)
	}
	return out, nil
}

func index(out *render.Output) map[objectID]*unstructured.Unstructured {
	if out == nil {
		return nil
	}
	m := make(map[objectID]*unstructured.Unstructured, len(out.Objects))
	for _, o := range out.Objects {
		m[idOf(o)] = o
	}
	return m
}

// objectYAML prints an object with sorted keys; Secret values are replaced
// by a digest keyed with secretKey, so a change shows without the secret
// reaching a PR comment.
func objectYAML(o *unstructured.Unstructured, secretKey []byte) (string, error) {
	if o == nil {
		return "", nil
	}
	obj := o.Object
	switch {
	case secrets.IsEncrypted(obj): // SOPS: ciphertext digests and recipients
		obj = secrets.Redacted(obj, secretKey)
	case o.GetKind() == "Secret" && o.GroupVersionKind().Group == "":
		obj = redactSecret(o.Object, secretKey)
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", idOf(o).path(), err)
	}
	return string(b), nil
}

// redactSecret returns a copy of a Secret whose data and stringData values
// are replaced by a short HMAC of the value under key. The key is drawn
// afresh for every preview: equal values compare equal within one report,
// so a change still shows, but a digest cannot be checked against guesses
// (an unkeyed hash of a low-entropy value could be).
func redactSecret(obj map[string]any, key []byte) map[string]any {
	cp := make(map[string]any, len(obj))
	for k, v := range obj {
		cp[k] = v
	}
	for _, field := range []string{"data", "stringData"} {
		vals, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		red := make(map[string]any, len(vals))
		for k, v := range vals {
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(fmt.Sprint(v)))
			red[k] = "<redacted, keyed digest " + hex.EncodeToString(mac.Sum(nil)[:6]) + ">"
		}
		cp[field] = red
	}
	return cp
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// unifiedDiff formats the difference of two line lists as a unified diff.
// The matcher runs without difflib's "popular line" heuristic, which would
// make YAML diffs (full of repeated lines) needlessly large.
func unifiedDiff(a, b []string, from, to string) string {
	var sb strings.Builder
	sb.WriteString("--- " + from + "\n+++ " + to + "\n")
	m := difflib.NewMatcherWithJunk(a, b, false, nil)
	for _, group := range m.GetGroupedOpCodes(diffContext) {
		first, last := group[0], group[len(group)-1]
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(first.I1, last.I2), hunkRange(first.J1, last.J2))
		for _, op := range group {
			switch op.Tag {
			case 'e':
				for _, l := range a[op.I1:op.I2] {
					sb.WriteString(" " + l + "\n")
				}
			case 'r', 'd', 'i':
				for _, l := range a[op.I1:op.I2] {
					sb.WriteString("-" + l + "\n")
				}
				for _, l := range b[op.J1:op.J2] {
					sb.WriteString("+" + l + "\n")
				}
			}
		}
	}
	return sb.String()
}

// hunkRange is a hunk's "start,length" in unified diff notation.
func hunkRange(start, stop int) string {
	begin, length := start+1, stop-start
	switch length {
	case 1:
		return strconv.Itoa(begin)
	case 0:
		begin--
	}
	return strconv.Itoa(begin) + "," + strconv.Itoa(length)
}

// NewSecretKey draws a key for the digests that stand for secret values:
// fresh for each report, so digests match within it and cannot be checked
// against guesses or other reports.
func NewSecretKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("draw a key for Secret digests: %w", err)
	}
	return key, nil
}

// ChangesKey digests a list of object changes, to group clusters by it.
func ChangesKey(cs []ObjectChange) string {
	h := sha256.New()
	for _, c := range cs {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00", c.APIVersion, c.Kind, c.Namespace, c.Name, c.Change, c.Diff)
	}
	return hex.EncodeToString(h.Sum(nil))
}
