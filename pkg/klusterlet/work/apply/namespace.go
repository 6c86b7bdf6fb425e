package apply

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The agent never creates a namespace behind the user's back (as neither
// helm without --create-namespace nor Argo CD without CreateNamespace
// does): an object whose namespace does not exist fails, unless the work
// carries the Namespace, which is applied before the objects in it.

// NamespaceMissingError is a write refused because the object's namespace
// does not exist on the managed cluster.
type NamespaceMissingError struct {
	Namespace string
	Object    string
}

func (e *NamespaceMissingError) Error() string {
	return fmt.Sprintf("namespace %s does not exist on the managed cluster, so %s cannot be created in it; "+
		"add a Namespace manifest for %s to the work (the agent applies it before the objects in it) or create the namespace on the cluster",
		e.Namespace, e.Object, e.Namespace)
}

// inNamespace runs a write, telling a missing namespace apart.
func inNamespace(req *Request, write func() (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	obj, err := write()
	if ns := req.Object.GetNamespace(); missingNamespace(err, ns) {
		return nil, &NamespaceMissingError{Namespace: ns, Object: req.describe()}
	}
	return obj, err
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
