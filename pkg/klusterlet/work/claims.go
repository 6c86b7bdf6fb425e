package work

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"

	workv1 "open-cluster-management.io/api/work/v1"
)

// claims tells which other works on the hub want an object applied, even
// before they applied it: an object handed from one work to another (a
// relabel moves an app between Subscriptions) is let go, never deleted,
// whatever order the works arrive in.
type claims struct {
	works  cache.SharedIndexInformer
	mapper meta.RESTMapper
}

// of returns a lookup of the works other than except that apply an object.
// The works are read once, at the first lookup: only a removal needs them.
func (c *claims) of(except string) func(workv1.ResourceIdentifier) string {
	var index map[workv1.ResourceIdentifier]string
	return func(id workv1.ResourceIdentifier) string {
		if index == nil {
			index = c.index(except)
		}
		return index[id]
	}
}

// index maps the objects that works other than except apply to the first of
// those works by name.
func (c *claims) index(except string) map[workv1.ResourceIdentifier]string {
	out := map[workv1.ResourceIdentifier]string{}
	items := c.works.GetIndexer().List()
	slices.SortFunc(items, func(a, b any) int {
		return compareStrings(a.(*workv1.ManifestWork).Name, b.(*workv1.ManifestWork).Name)
	})
	for _, item := range items {
		w := item.(*workv1.ManifestWork)
		if w.Name == except || w.DeletionTimestamp != nil {
			continue
		}
		for _, m := range resolveManifests(w, c.mapper, "") {
			if m.obj == nil || m.strategy.Type == workv1.UpdateStrategyTypeReadOnly {
				continue
			}
			id := workv1.ResourceIdentifier{Group: m.meta.Group, Resource: m.meta.Resource, Namespace: m.meta.Namespace, Name: m.meta.Name}
			if _, ok := out[id]; !ok {
				out[id] = w.Name
			}
		}
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
