// Package render turns a source artifact and a Subscription into the exact
// objects each cluster receives. Rendering happens once per distinct input
// (revision, path, values); clusters that share inputs share the Output.
package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Cluster is what rendering may know of a target cluster.
type Cluster struct {
	Name   string
	Labels map[string]string
	Claims map[string]string
}

// Output is what a group of clusters receives. Outputs are shared between
// callers and must not be modified.
type Output struct {
	// Key is a digest of Objects: equal keys mean identical objects.
	Key string
	// Objects in apply order: CRDs and Namespaces before what needs them.
	Objects []*unstructured.Unstructured
}

// Error is a rendering failure tied to a file of the artifact.
type Error struct {
	// File is the path relative to the artifact root ("" when not tied to a file).
	File string
	Err  error
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Err.Error()
	}
	return e.File + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Renderer renders Subscriptions. It is safe for concurrent use.
type Renderer struct{}

// NewRenderer returns a Renderer.
func NewRenderer() *Renderer { return &Renderer{} }

// Render returns what cluster receives from sub at the artifact's revision.
func (r *Renderer) Render(ctx context.Context, art *source.Artifact, sub *appsv1.Subscription, cluster Cluster) (*Output, error) {
	rel := filepath.Clean("/" + source.SubscriptionPath(sub))[1:]
	root := filepath.Join(art.Dir, rel)
	objs, err := renderPlain(art.Dir, root)
	if err != nil {
		return nil, err
	}
	return NewOutput(objs)
}

// NewOutput orders objects for apply and computes the Output's key.
func NewOutput(objs []*unstructured.Unstructured) (*Output, error) {
	sort.SliceStable(objs, func(i, j int) bool { return applyRank(objs[i]) < applyRank(objs[j]) })
	h := sha256.New()
	for _, o := range objs {
		b, err := json.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return &Output{Key: hex.EncodeToString(h.Sum(nil)), Objects: objs}, nil
}

// applyRank puts definitions before the objects that depend on them.
func applyRank(o *unstructured.Unstructured) int {
	switch o.GetKind() {
	case "CustomResourceDefinition":
		return 0
	case "Namespace":
		return 1
	}
	return 2
}

// renderPlain reads every .yaml/.yml file under dir, in lexical path order.
func renderPlain(artifactRoot, dir string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			rel, _ := filepath.Rel(artifactRoot, p)
			return &Error{File: rel, Err: err}
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		rel, _ := filepath.Rel(artifactRoot, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return &Error{File: rel, Err: err}
		}
		docs, err := DecodeYAML(data)
		if err != nil {
			return &Error{File: rel, Err: err}
		}
		objs = append(objs, docs...)
		return nil
	})
	return objs, err
}

// DecodeYAML splits a multi-document YAML stream into objects, skipping empty
// documents. Every object must have apiVersion, kind and metadata.name.
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d: apiVersion, kind and metadata.name are required", i)
		}
		out = append(out, u)
	}
}
