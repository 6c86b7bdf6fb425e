package confine

import (
	"strings"
	"testing"

	workv1 "open-cluster-management.io/api/work/v1"
)

// TestCheck: works never reach into the system namespaces or the agent's
// own (issue 16 item 4), whatever they hold or whom they run as.
func TestCheck(t *testing.T) {
	p := New(DefaultNamespaces(), "ocm-gitops-agent")
	obj := func(group, kind, namespace, name string) workv1.ManifestResourceMeta {
		return workv1.ManifestResourceMeta{Group: group, Kind: kind, Namespace: namespace, Name: name}
	}
	exec := func(namespace string) *workv1.ManifestWorkExecutor {
		return &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{Type: workv1.ExecutorSubjectTypeServiceAccount,
			ServiceAccount: &workv1.ManifestWorkSubjectServiceAccount{Namespace: namespace, Name: "sa"}}}
	}
	for _, tc := range []struct {
		name string
		obj  workv1.ManifestResourceMeta
		exec *workv1.ManifestWorkExecutor
		want string
	}{
		{"an app", obj("apps", "Deployment", "shop", "web"), nil, ""},
		{"a cluster-scoped object", obj("rbac.authorization.k8s.io", "ClusterRole", "", "reader"), nil, ""},
		{"a Namespace of its own", obj("", "Namespace", "", "shop"), nil, ""},
		{"an executor of an app namespace", obj("", "ConfigMap", "shop", "c"), exec("shop"), ""},
		{"the agent's hub credentials", obj("", "Secret", "ocm-gitops-agent", "ocm-gitops-hub-kubeconfig"), nil, "is in namespace ocm-gitops-agent"},
		{"the agent itself", obj("apps", "Deployment", "ocm-gitops-agent", "ocm-gitops-klusterlet"), nil, "is in namespace ocm-gitops-agent"},
		{"kube-system", obj("rbac.authorization.k8s.io", "RoleBinding", "kube-system", "x"), nil, "is in namespace kube-system"},
		{"a system Namespace object", obj("", "Namespace", "", "kube-system"), nil, "is a protected namespace"},
		{"the agent's Namespace object", obj("", "Namespace", "", "ocm-gitops-agent"), nil, "is a protected namespace"},
		{"an executor from kube-system", obj("", "ConfigMap", "shop", "c"), exec("kube-system"), "ServiceAccount kube-system/sa"},
		{"an executor from the agent's namespace", obj("", "ConfigMap", "shop", "c"), exec("ocm-gitops-agent"), "ServiceAccount ocm-gitops-agent/sa"},
		{"a kind named Namespace in another group", obj("example.com", "Namespace", "", "kube-system"), nil, ""},
	} {
		err := p.Check(tc.obj, tc.exec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--protected-namespaces")):
			t.Errorf("%s: err = %v, want one containing %q and saying how to change it", tc.name, err, tc.want)
		}
	}
	// The administrator may unprotect the system namespaces, never the agent's own.
	open := New(nil, "ocm-gitops-agent")
	if err := open.Check(obj("", "ConfigMap", "kube-system", "c"), nil); err != nil {
		t.Errorf("kube-system unprotected by the administrator: %v", err)
	}
	if err := open.Check(obj("", "Secret", "ocm-gitops-agent", "s"), nil); err == nil {
		t.Error("the agent's own namespace lost its protection")
	}
}
