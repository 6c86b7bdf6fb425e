package render

import (
	"bytes"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// DecodeYAML splits a multi-document YAML (or JSON) stream into objects.
// Empty documents, and documents with neither apiVersion nor kind (values
// files, CI configuration and the like, which OCM skips too), are left out.
// Kind List documents are expanded into their items. Every object must have
// apiVersion, kind and metadata.name.
//
// The YAML parser refuses documents whose aliases expand excessively, which
// bounds "billion laughs" inputs.
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	return decodeYAML(data, nil)
}

// decodeYAML is DecodeYAML charging each object's JSON size to budget.
// Errors are *LineError, at the line of data they are about.
func decodeYAML(data []byte, budget *outputBudget) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := splitDocuments(data, func(doc []byte, line int) error {
		objs, err := decodeDocument(doc, budget)
		if err != nil {
			return yamlLineError(doc, line, err)
		}
		out = append(out, objs...)
		return nil
	})
	return out, err
}

// LineError is a failure to decode YAML at a line of the text (counting
// from 1).
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// splitDocuments calls fn with each non-empty document of data and the line
// it starts on. Documents are separated by lines starting with "---" and
// followed by nothing but a comment, as Kubernetes' YAML reader splits them.
func splitDocuments(data []byte, fn func(doc []byte, line int) error) error {
	start, startLine, line := 0, 1, 1
	flush := func(end int) error {
		doc := data[start:end]
		if len(bytes.TrimSpace(doc)) == 0 {
			return nil
		}
		return fn(doc, startLine)
	}
	for pos := 0; pos < len(data); line++ {
		end := len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		if rest, ok := bytes.CutPrefix(data[pos:end], []byte("---")); ok {
			if t := bytes.TrimSpace(rest); len(t) > 0 && t[0] != '#' {
				return &LineError{Line: line, Err: fmt.Errorf("invalid document separator %q: only a comment may follow ---", t)}
			}
			if err := flush(pos); err != nil {
				return err
			}
			start, startLine = end, line+1
		}
		pos = end
	}
	return flush(len(data))
}

func decodeDocument(doc []byte, budget *outputBudget) ([]*unstructured.Unstructured, error) {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	if err := budget.charge(int64(len(j))); err != nil {
		return nil, err
	}
	if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		return nil, nil // only comments
	}
	var v any
	if err := utiljson.Unmarshal(j, &v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a Kubernetes object must be a mapping, not %T", v)
	}
	if len(m) == 0 {
		return nil, nil
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" && u.GetKind() == "" {
		return nil, nil
	}
	if strings.HasSuffix(u.GetKind(), "List") && u.IsList() {
		var out []*unstructured.Unstructured
		err := u.EachListItem(func(o runtime.Object) error {
			item, ok := o.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("list item is %T", o)
			}
			if err := checkObject(item); err != nil {
				return fmt.Errorf("%s item %d: %w", u.GetKind(), len(out)+1, err)
			}
			out = append(out, item)
			return nil
		})
		return out, err
	}
	if err := checkObject(u); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{u}, nil
}

func checkObject(u *unstructured.Unstructured) error {
	var missing []string
	if u.GetAPIVersion() == "" {
		missing = append(missing, "apiVersion")
	}
	if u.GetKind() == "" {
		missing = append(missing, "kind")
	}
	if u.GetName() == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		what := "object"
		if u.GetKind() != "" {
			what = u.GetKind()
		}
		return fmt.Errorf("%s has no %s; every object needs apiVersion, kind and metadata.name (generateName is not supported)", what, strings.Join(missing, ", "))
	}
	return nil
}
