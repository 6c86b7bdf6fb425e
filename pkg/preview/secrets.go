package preview

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// undecryptable collects, for the SOPS-encrypted objects a change adds or
// changes, the clusters that hold no key for them: the most common SOPS
// mistake (a recipient forgotten), caught in review rather than on the
// cluster.
type undecryptable struct {
	clusters map[string]*clusterv1.ManagedCluster
	problems map[string]*Problem
	order    []string
}

func newUndecryptable(inv *Inventory) *undecryptable {
	u := &undecryptable{clusters: make(map[string]*clusterv1.ManagedCluster, len(inv.Clusters)), problems: map[string]*Problem{}}
	for _, mc := range inv.Clusters {
		u.clusters[mc.Name] = mc
	}
	return u
}

// check records cluster as unable to decrypt each encrypted object of head
// that changes lists as added or changed and it holds no key for; the
// problem is preexisting when the cluster could not decrypt it at base
// either.
func (u *undecryptable) check(cluster string, base, head *render.Output, changes []ObjectChange) {
	if head == nil {
		return
	}
	mc := u.clusters[cluster]
	if mc == nil {
		mc = &clusterv1.ManagedCluster{}
		mc.Name = cluster
	}
	cannot := func(o *unstructured.Unstructured) bool {
		return o != nil && len(secrets.Undecryptable(o.Object, []*clusterv1.ManagedCluster{mc})) > 0
	}
	var before map[objectID]*unstructured.Unstructured
	for _, o := range head.Objects {
		if !secrets.IsEncrypted(o.Object) || !changedIn(idOf(o), changes) || !cannot(o) {
			continue
		}
		if before == nil {
			before = index(base)
		}
		what := o.GetKind() + " " + key(o.GetNamespace(), o.GetName())
		pre := cannot(before[idOf(o)])
		k := fmt.Sprint(what, secrets.Recipients(o.Object), pre)
		p := u.problems[k]
		if p == nil {
			p = &Problem{Side: "head", Message: secrets.MissingRecipientMessage(what, o.Object), Preexisting: pre}
			u.problems[k] = p
			u.order = append(u.order, k)
		}
		p.Clusters = append(p.Clusters, cluster)
	}
}

func changedIn(id objectID, changes []ObjectChange) bool {
	for _, c := range changes {
		if c.Change != ChangeRemoved && c.Kind == id.kind && c.Namespace == id.namespace && c.Name == id.name {
			return true
		}
	}
	return false
}

// list is the problems found, in the order first seen.
func (u *undecryptable) list() []Problem {
	out := make([]Problem, 0, len(u.order))
	for _, k := range u.order {
		out = append(out, *u.problems[k])
	}
	return out
}
