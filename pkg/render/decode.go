package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
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
func decodeYAML(data []byte, budget *outputBudget) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(bytes.NewReader(data), 4096))
	var out []*unstructured.Unstructured
	line := 1
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (line %d): %w", i, line, err)
		}
		start := line
		line += bytes.Count(doc, []byte("\n"))
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		objs, err := decodeDocument(doc, budget)
		if err != nil {
			return nil, fmt.Errorf("document %d (from line %d): %w", i, start, err)
		}
		out = append(out, objs...)
	}
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
