// Package confine is a managed cluster's own bound on what the fleet may do
// there, which the agent checks before it applies or reads any manifest: no
// object in a protected namespace (the cluster's system namespaces and the
// agent's own, which holds its hub credentials), no change to those
// Namespaces themselves, and no executor that is a ServiceAccount of one.
// Whatever hub, tenant or fleet repository writes the ManifestWork, these
// stay out of its reach; RBAC the cluster's administrator owns bounds the
// rest (deploy/klusterlet).
package confine

import (
	"fmt"
	"slices"
	"strings"

	workv1 "open-cluster-management.io/api/work/v1"
)

// DefaultNamespaces are protected unless the cluster's administrator
// says otherwise (--protected-namespaces).
func DefaultNamespaces() []string {
	return []string{"kube-system", "kube-public", "kube-node-lease"}
}

// Protected is the set of protected namespaces.
type Protected map[string]bool

// New protects namespaces and the agent's own namespace (always; empty when
// the agent keeps its credentials elsewhere).
func New(namespaces []string, own string) Protected {
	p := Protected{}
	for _, ns := range append(slices.Clone(namespaces), own) {
		if ns = strings.TrimSpace(ns); ns != "" {
			p[ns] = true
		}
	}
	return p
}

// Check says why a manifest may not be applied or read (nil when it may):
// obj is what the manifest names, exec the work's executor.
func (p Protected) Check(obj workv1.ManifestResourceMeta, exec *workv1.ManifestWorkExecutor) error {
	what := obj.Kind + " " + obj.Name
	if obj.Namespace != "" {
		what = obj.Kind + " " + obj.Namespace + "/" + obj.Name
	}
	switch {
	case p[obj.Namespace]:
		return p.refusal(what, "is in namespace "+obj.Namespace)
	case obj.Group == "" && obj.Kind == "Namespace" && p[obj.Name]:
		return p.refusal(what, "is a protected namespace")
	case exec != nil && exec.Subject.ServiceAccount != nil && p[exec.Subject.ServiceAccount.Namespace]:
		sa := exec.Subject.ServiceAccount
		return p.refusal(what, "would be applied as ServiceAccount "+sa.Namespace+"/"+sa.Name+", of namespace "+sa.Namespace)
	}
	return nil
}

func (p Protected) refusal(what, why string) error {
	names := make([]string, 0, len(p))
	for ns := range p {
		names = append(names, ns)
	}
	slices.Sort(names)
	return fmt.Errorf("%s %s, which this cluster protects from the fleet (protected namespaces: %s; the cluster's administrator sets them with the klusterlet's --protected-namespaces)",
		what, why, strings.Join(names, ", "))
}
