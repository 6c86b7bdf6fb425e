package placement

import (
	"sync"

	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// decisionCounts counts, per cluster, the decisions of all PlacementDecisions
// on the hub, kept current from watch events, so that the Balance
// prioritizer costs one pass over the clusters instead of a pass over every
// PlacementDecision on each scheduling.
type decisionCounts struct {
	mu      sync.Mutex
	objects map[string]countedDecision // namespace/name → what it counted
	byOwner map[string]map[string]bool // namespace/placement → object keys
	total   map[string]int             // cluster → decisions naming it
}

type countedDecision struct {
	owner    string // namespace/placement, "" without the placement label
	clusters []string
}

// observe updates the counts for a PlacementDecision that now looks like
// obj (nil: deleted) under key namespace/name.
func (d *decisionCounts) observe(key string, obj *clusterv1beta1.PlacementDecision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.objects == nil {
		d.objects, d.byOwner, d.total = map[string]countedDecision{}, map[string]map[string]bool{}, map[string]int{}
	}
	if old, ok := d.objects[key]; ok {
		for _, c := range old.clusters {
			if d.total[c]--; d.total[c] <= 0 {
				delete(d.total, c)
			}
		}
		if old.owner != "" {
			delete(d.byOwner[old.owner], key)
			if len(d.byOwner[old.owner]) == 0 {
				delete(d.byOwner, old.owner)
			}
		}
		delete(d.objects, key)
	}
	if obj == nil {
		return
	}
	cd := countedDecision{clusters: make([]string, 0, len(obj.Status.Decisions))}
	if p, ok := obj.Labels[clusterv1beta1.PlacementLabel]; ok {
		cd.owner = obj.Namespace + "/" + p
		if d.byOwner[cd.owner] == nil {
			d.byOwner[cd.owner] = map[string]bool{}
		}
		d.byOwner[cd.owner][key] = true
	}
	for _, dec := range obj.Status.Decisions {
		cd.clusters = append(cd.clusters, dec.ClusterName)
		d.total[dec.ClusterName]++
	}
	d.objects[key] = cd
}

// others returns, per cluster, the decisions of every Placement but
// namespace/placement (as OCM's Balance counts them).
func (d *decisionCounts) others(namespace, placement string) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.total))
	for c, n := range d.total {
		out[c] = n
	}
	for key := range d.byOwner[namespace+"/"+placement] {
		for _, c := range d.objects[key].clusters {
			if out[c]--; out[c] <= 0 {
				delete(out, c)
			}
		}
	}
	return out
}
