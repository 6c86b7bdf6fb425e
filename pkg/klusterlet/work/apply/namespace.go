package apply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// inNamespace runs a write and, when it failed because the object's
// namespace does not exist, creates the namespace and runs it again.
func inNamespace(ctx context.Context, req *Request, write func() (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	obj, err := write()
	ns := req.Object.GetNamespace()
	if !missingNamespace(err, ns) {
		return obj, err
	}
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns},
	}}
	if _, cerr := req.Client.Resource(namespacesGVR).Create(ctx, nsObj, metav1.CreateOptions{}); cerr != nil && !apierrors.IsAlreadyExists(cerr) {
		return nil, fmt.Errorf("create namespace %s for %s: %w", ns, req.describe(), cerr)
	}
	return write()
}

func missingNamespace(err error, ns string) bool {
	if ns == "" || !apierrors.IsNotFound(err) {
		return false
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}
