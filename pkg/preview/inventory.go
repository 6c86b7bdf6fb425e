package preview

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
)

// Inventory is the hub state a preview is computed against: the clusters and
// what places apps on them. Export reads it from a hub; Marshal and
// ParseInventory store it in a file so CI needs no hub access.
type Inventory struct {
	Clusters      []*clusterv1.ManagedCluster
	ClusterSets   []*clusterv1beta2.ManagedClusterSet
	Bindings      []*clusterv1beta2.ManagedClusterSetBinding
	Scores        []*clusterv1alpha1.AddOnPlacementScore
	Placements    []*clusterv1beta1.Placement
	Decisions     []*clusterv1beta1.PlacementDecision
	Channels      []*appsv1.Channel
	Subscriptions []*appsv1.Subscription
}

// Warning is something a preview or an export could not fully take into account.
type Warning string

// exportPageSize bounds each List call of Export.
const exportPageSize = 500

// Export reads the inventory from a hub. Kinds whose API the hub does not
// serve (a hub without AddOnPlacementScores, or without the apps API) are
// left out with a warning; other errors fail the export.
func Export(ctx context.Context, c client.Reader) (*Inventory, []Warning, error) {
	inv := &Inventory{}
	var warnings []Warning
	var err error
	// check turns a missing API into a warning.
	check := func(kind string, err error) error {
		if meta.IsNoMatchError(err) {
			warnings = append(warnings, Warning(fmt.Sprintf("the hub does not serve %s; the inventory has none", kind)))
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", kind, err)
		}
		return nil
	}
	inv.Clusters, err = listAll(ctx, c, &clusterv1.ManagedClusterList{}, func(l *clusterv1.ManagedClusterList) []clusterv1.ManagedCluster { return l.Items })
	if err = check("ManagedClusters", err); err != nil {
		return nil, nil, err
	}
	inv.ClusterSets, err = listAll(ctx, c, &clusterv1beta2.ManagedClusterSetList{}, func(l *clusterv1beta2.ManagedClusterSetList) []clusterv1beta2.ManagedClusterSet { return l.Items })
	if err = check("ManagedClusterSets", err); err != nil {
		return nil, nil, err
	}
	inv.Bindings, err = listAll(ctx, c, &clusterv1beta2.ManagedClusterSetBindingList{}, func(l *clusterv1beta2.ManagedClusterSetBindingList) []clusterv1beta2.ManagedClusterSetBinding {
		return l.Items
	})
	if err = check("ManagedClusterSetBindings", err); err != nil {
		return nil, nil, err
	}
	inv.Scores, err = listAll(ctx, c, &clusterv1alpha1.AddOnPlacementScoreList{}, func(l *clusterv1alpha1.AddOnPlacementScoreList) []clusterv1alpha1.AddOnPlacementScore { return l.Items })
	if err = check("AddOnPlacementScores", err); err != nil {
		return nil, nil, err
	}
	inv.Placements, err = listAll(ctx, c, &clusterv1beta1.PlacementList{}, func(l *clusterv1beta1.PlacementList) []clusterv1beta1.Placement { return l.Items })
	if err = check("Placements", err); err != nil {
		return nil, nil, err
	}
	inv.Decisions, err = listAll(ctx, c, &clusterv1beta1.PlacementDecisionList{}, func(l *clusterv1beta1.PlacementDecisionList) []clusterv1beta1.PlacementDecision { return l.Items })
	if err = check("PlacementDecisions", err); err != nil {
		return nil, nil, err
	}
	inv.Channels, err = listAll(ctx, c, &appsv1.ChannelList{}, func(l *appsv1.ChannelList) []appsv1.Channel { return l.Items })
	if err = check("Channels", err); err != nil {
		return nil, nil, err
	}
	inv.Subscriptions, err = listAll(ctx, c, &appsv1.SubscriptionList{}, func(l *appsv1.SubscriptionList) []appsv1.Subscription { return l.Items })
	if err = check("Subscriptions", err); err != nil {
		return nil, nil, err
	}
	inv.normalize()
	return inv, warnings, nil
}

// listAll lists every object of a kind, page by page.
func listAll[T any, L client.ObjectList](ctx context.Context, c client.Reader, list L, items func(L) []T) ([]*T, error) {
	var out []*T
	cont := ""
	for {
		page := list.DeepCopyObject().(L)
		if err := c.List(ctx, page, client.Limit(exportPageSize), client.Continue(cont)); err != nil {
			return nil, err
		}
		its := items(page)
		for i := range its {
			out = append(out, &its[i])
		}
		if cont = page.GetContinue(); cont == "" {
			return out, nil
		}
	}
}

// normalize sorts every kind by namespace and name and drops what a preview
// never reads: managed fields, the status of Channels, Subscriptions and
// Placements, and the last-applied annotation.
func (inv *Inventory) normalize() {
	for _, o := range inv.objects() {
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a != nil {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		}
	}
	for _, ch := range inv.Channels {
		ch.Status = appsv1.ChannelStatus{}
	}
	for _, s := range inv.Subscriptions {
		s.Status = appsv1.SubscriptionStatus{}
	}
	for _, p := range inv.Placements {
		p.Status = clusterv1beta1.PlacementStatus{}
	}
	sortObjects(inv.Clusters)
	sortObjects(inv.ClusterSets)
	sortObjects(inv.Bindings)
	sortObjects(inv.Scores)
	sortObjects(inv.Placements)
	sortObjects(inv.Decisions)
	sortObjects(inv.Channels)
	sortObjects(inv.Subscriptions)
}

func sortObjects[T metav1.Object](objs []T) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}

// objects lists every object of the inventory, in file order.
func (inv *Inventory) objects() []client.Object {
	var out []client.Object
	for _, o := range inv.Clusters {
		out = append(out, o)
	}
	for _, o := range inv.ClusterSets {
		out = append(out, o)
	}
	for _, o := range inv.Bindings {
		out = append(out, o)
	}
	for _, o := range inv.Scores {
		out = append(out, o)
	}
	for _, o := range inv.Placements {
		out = append(out, o)
	}
	for _, o := range inv.Decisions {
		out = append(out, o)
	}
	for _, o := range inv.Channels {
		out = append(out, o)
	}
	for _, o := range inv.Subscriptions {
		out = append(out, o)
	}
	return out
}

// The kinds an inventory holds, by group/version and kind.
var (
	gvkCluster      = schema.GroupVersion(clusterv1.GroupVersion).WithKind("ManagedCluster")
	gvkClusterSet   = schema.GroupVersion(clusterv1beta2.GroupVersion).WithKind("ManagedClusterSet")
	gvkBinding      = schema.GroupVersion(clusterv1beta2.GroupVersion).WithKind("ManagedClusterSetBinding")
	gvkScore        = schema.GroupVersion(clusterv1alpha1.GroupVersion).WithKind("AddOnPlacementScore")
	gvkPlacement    = schema.GroupVersion(clusterv1beta1.GroupVersion).WithKind("Placement")
	gvkDecision     = schema.GroupVersion(clusterv1beta1.GroupVersion).WithKind("PlacementDecision")
	gvkChannel      = appsv1.GroupVersion.WithKind("Channel")
	gvkSubscription = appsv1.GroupVersion.WithKind("Subscription")
)

// gvkOf names the kind of an inventory object (typed objects read through a
// client carry no TypeMeta).
func gvkOf(o client.Object) schema.GroupVersionKind {
	switch o.(type) {
	case *clusterv1.ManagedCluster:
		return gvkCluster
	case *clusterv1beta2.ManagedClusterSet:
		return gvkClusterSet
	case *clusterv1beta2.ManagedClusterSetBinding:
		return gvkBinding
	case *clusterv1alpha1.AddOnPlacementScore:
		return gvkScore
	case *clusterv1beta1.Placement:
		return gvkPlacement
	case *clusterv1beta1.PlacementDecision:
		return gvkDecision
	case *appsv1.Channel:
		return gvkChannel
	case *appsv1.Subscription:
		return gvkSubscription
	}
	return schema.GroupVersionKind{}
}

// Marshal writes the inventory as one Kubernetes List, YAML or JSON.
func (inv *Inventory) Marshal(asJSON bool) ([]byte, error) {
	items := make([]map[string]any, 0, len(inv.objects()))
	for _, o := range inv.objects() {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", gvkOf(o).Kind, key(o.GetNamespace(), o.GetName()), err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvkOf(o))
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		items = append(items, u.Object)
	}
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
	if asJSON {
		return jsonMarshalIndent(list)
	}
	return yaml.Marshal(list)
}

// ParseInventory reads an inventory written by Marshal, by
// `kubectl get ... -o yaml`, or any YAML or JSON stream of the inventory's
// kinds (Lists are expanded). name is used in error messages.
func ParseInventory(name string, data []byte) (*Inventory, error) {
	objs, err := render.DecodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	inv := &Inventory{}
	for i, u := range objs {
		gvk := u.GroupVersionKind()
		into, add := inv.slot(gvk)
		if into == nil {
			return nil, fmt.Errorf("%s: item %d (%s %s) is not part of a cluster inventory; "+
				"it holds ManagedClusters, ManagedClusterSets, ManagedClusterSetBindings, AddOnPlacementScores, "+
				"Placements, PlacementDecisions, Channels and Subscriptions (write one with 'ocm-gitops clusters export')",
				name, i+1, gvk.GroupVersion().String()+" "+gvk.Kind, key(u.GetNamespace(), u.GetName()))
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", name, gvk.Kind, key(u.GetNamespace(), u.GetName()), err)
		}
		add()
	}
	inv.normalize()
	return inv, nil
}

// slot returns a new typed object for gvk and a function adding it to the
// inventory, or nil for a kind the inventory does not hold.
func (inv *Inventory) slot(gvk schema.GroupVersionKind) (client.Object, func()) {
	switch gvk {
	case gvkCluster:
		o := &clusterv1.ManagedCluster{}
		return o, func() { inv.Clusters = append(inv.Clusters, o) }
	case gvkClusterSet:
		o := &clusterv1beta2.ManagedClusterSet{}
		return o, func() { inv.ClusterSets = append(inv.ClusterSets, o) }
	case gvkBinding:
		o := &clusterv1beta2.ManagedClusterSetBinding{}
		return o, func() { inv.Bindings = append(inv.Bindings, o) }
	case gvkScore:
		o := &clusterv1alpha1.AddOnPlacementScore{}
		return o, func() { inv.Scores = append(inv.Scores, o) }
	case gvkPlacement:
		o := &clusterv1beta1.Placement{}
		return o, func() { inv.Placements = append(inv.Placements, o) }
	case gvkDecision:
		o := &clusterv1beta1.PlacementDecision{}
		return o, func() { inv.Decisions = append(inv.Decisions, o) }
	case gvkChannel:
		o := &appsv1.Channel{}
		return o, func() { inv.Channels = append(inv.Channels, o) }
	case gvkSubscription:
		o := &appsv1.Subscription{}
		return o, func() { inv.Subscriptions = append(inv.Subscriptions, o) }
	}
	return nil, nil
}

func key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
