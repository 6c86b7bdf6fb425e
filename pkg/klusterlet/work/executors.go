package work

import (
	"fmt"
	"net/http"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	workv1 "open-cluster-management.io/api/work/v1"
)

// executors holds the clients that apply works with their executor's
// identity, so the cluster's RBAC bounds what a work may do.
type executors struct {
	own     dynamic.Interface
	managed *rest.Config

	mu      sync.Mutex
	clients map[string]execClient
}

type execClient struct {
	dyn  dynamic.Interface
	http *http.Client
}

// client returns the client that applies a work: the agent's own, or one
// impersonating the work's executor.
func (e *executors) client(exec *workv1.ManifestWorkExecutor) (dynamic.Interface, error) {
	if exec == nil {
		return e.own, nil
	}
	if exec.Subject.Type != workv1.ExecutorSubjectTypeServiceAccount || exec.Subject.ServiceAccount == nil {
		return nil, fmt.Errorf("executor subject type %q is not supported; use ServiceAccount with a namespace and name", exec.Subject.Type)
	}
	sa := exec.Subject.ServiceAccount
	user := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clients[user]; ok {
		return c.dyn, nil
	}
	cfg := ManagedConfigDefaults(e.managed)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for executor %s: %w", user, err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("client for executor %s: %w", user, err)
	}
	e.clients[user] = execClient{dyn: dyn, http: hc}
	return dyn, nil
}

// close releases the executors' connections.
func (e *executors) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.clients {
		c.http.CloseIdleConnections()
	}
}
