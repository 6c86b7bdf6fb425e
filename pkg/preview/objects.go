package preview

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
)

// hubObjects are the hub objects that decide where apps go, by key
// (namespace/name, or name for cluster-scoped kinds).
type hubObjects struct {
	subs       map[string]*appsv1.Subscription
	placements map[string]*clusterv1beta1.Placement
	channels   map[string]*appsv1.Channel
	sets       map[string]*clusterv1beta2.ManagedClusterSet
	bindings   map[string]*clusterv1beta2.ManagedClusterSetBinding
	// files maps "Kind key" to the file that defines the object (repo only).
	files map[string]string
}

func newHubObjects() *hubObjects {
	return &hubObjects{
		subs:       map[string]*appsv1.Subscription{},
		placements: map[string]*clusterv1beta1.Placement{},
		channels:   map[string]*appsv1.Channel{},
		sets:       map[string]*clusterv1beta2.ManagedClusterSet{},
		bindings:   map[string]*clusterv1beta2.ManagedClusterSetBinding{},
		files:      map[string]string{},
	}
}

// hubKinds is what a scan looks for; a file must mention one of them to be parsed.
var hubKinds = regexp.MustCompile(`["']?kind["']?\s*:\s*["']?(Subscription|Placement|Channel|ManagedClusterSet|ManagedClusterSetBinding)\b`)

// maxScanFile bounds the files a scan parses: hub objects are small.
const maxScanFile = 4 << 20

// scanTree finds the hub objects in the YAML and JSON files under root/sub:
// apps.open-cluster-management.io/v1 Subscriptions and Channels,
// cluster.open-cluster-management.io/v1beta1 Placements and v1beta2
// ManagedClusterSets and ManagedClusterSetBindings. Folders holding a
// Chart.yaml are skipped (their templates are not YAML yet), and so are
// hidden folders. Objects without a namespace are in "default", as kubectl
// would create them.
func scanTree(root, sub string) (*hubObjects, []Warning, error) {
	start, ok, err := scanStart(root, sub)
	if err != nil || !ok {
		return newHubObjects(), nil, err
	}
	sc := &scanner{root: root, start: start, objs: newHubObjects()}
	if err := filepath.WalkDir(start, sc.visit); err != nil {
		return nil, nil, fmt.Errorf("scan %s for hub objects: %w", sub, err)
	}
	return sc.objs, sc.warnings, nil
}

// scanStart is the folder to scan: the root, or sub inside it; ok is false
// when sub does not exist at this revision (it then holds nothing).
func scanStart(root, sub string) (string, bool, error) {
	if sub == "" {
		return root, true, nil
	}
	clean := filepath.Clean(filepath.FromSlash(sub))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", false, fmt.Errorf("objects path %q must be a folder inside the repository", sub)
	}
	start := filepath.Join(root, clean)
	if st, err := os.Stat(start); err != nil || !st.IsDir() {
		return "", false, nil
	}
	return start, true, nil
}

// scanner collects hub objects from the files of a tree.
type scanner struct {
	root, start string
	objs        *hubObjects
	warnings    []Warning
}

// visit skips hidden folders and Helm charts, and reads YAML and JSON files
// that mention a hub kind.
func (sc *scanner) visit(p string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if d.IsDir() {
		return sc.enter(p, d)
	}
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
	default:
		return nil
	}
	if !d.Type().IsRegular() {
		return nil
	}
	if info, err := d.Info(); err != nil || info.Size() > maxScanFile {
		return nil
	}
	return sc.read(p)
}

func (sc *scanner) enter(p string, d fs.DirEntry) error {
	if p != sc.start && strings.HasPrefix(d.Name(), ".") {
		return filepath.SkipDir
	}
	if _, err := os.Stat(filepath.Join(p, "Chart.yaml")); err == nil {
		return filepath.SkipDir
	}
	return nil
}

func (sc *scanner) read(p string) error {
	rel, _ := filepath.Rel(sc.root, p)
	rel = filepath.ToSlash(rel)
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	if !hubKinds.Match(data) {
		return nil
	}
	us, err := render.DecodeYAML(data)
	if err != nil {
		sc.warnings = append(sc.warnings, Warning(fmt.Sprintf("%s: %v; the hub objects in this file are ignored", rel, err)))
		return nil
	}
	for _, u := range us {
		if w := sc.objs.add(u, rel); w != "" {
			sc.warnings = append(sc.warnings, w)
		}
	}
	return nil
}

// add keeps u when it is a hub object, and returns a warning when it cannot.
func (h *hubObjects) add(u *unstructured.Unstructured, file string) Warning {
	gvk := u.GroupVersionKind()
	var into client.Object
	var store func()
	clusterScoped := false
	switch gvk {
	case gvkSubscription:
		o := &appsv1.Subscription{}
		into, store = o, func() { h.subs[key(o.Namespace, o.Name)] = o }
	case gvkPlacement:
		o := &clusterv1beta1.Placement{}
		into, store = o, func() { h.placements[key(o.Namespace, o.Name)] = o }
	case gvkChannel:
		o := &appsv1.Channel{}
		into, store = o, func() { h.channels[key(o.Namespace, o.Name)] = o }
	case gvkClusterSet:
		o := &clusterv1beta2.ManagedClusterSet{}
		into, store, clusterScoped = o, func() { h.sets[o.Name] = o }, true
	case gvkBinding:
		o := &clusterv1beta2.ManagedClusterSetBinding{}
		into, store = o, func() { h.bindings[key(o.Namespace, o.Name)] = o }
	default:
		return ""
	}
	if !clusterScoped && u.GetNamespace() == "" {
		u.SetNamespace("default")
	}
	id := gvk.Kind + " " + key(u.GetNamespace(), u.GetName())
	if errs := validation.IsDNS1123Subdomain(u.GetName()); len(errs) > 0 {
		return Warning(fmt.Sprintf("%s: %s: metadata.name is not a valid name (%s); it is ignored", file, gvk.Kind, strings.Join(errs, "; ")))
	}
	if errs := validation.IsDNS1123Label(u.GetNamespace()); !clusterScoped && len(errs) > 0 {
		return Warning(fmt.Sprintf("%s: %s: metadata.namespace is not a valid namespace (%s); it is ignored", file, id, strings.Join(errs, "; ")))
	}
	if first, ok := h.files[id]; ok {
		return Warning(fmt.Sprintf("%s: %s is also defined in %s; the first one is used", file, id, first))
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return Warning(fmt.Sprintf("%s: %s: %v; it is ignored", file, id, err))
	}
	store()
	h.files[id] = file
	return ""
}

// overlay is the hub as one revision would leave it: the inventory's objects,
// with every object the repository defines at either revision taken from this
// revision (so an object the change deletes is gone, not the hub's copy).
func overlay(inv *Inventory, side, other *hubObjects) *hubObjects {
	out := newHubObjects()
	managed := func(kind, k string) bool {
		id := kind + " " + k
		_, a := side.files[id]
		_, b := other.files[id]
		return a || b
	}
	for _, o := range inv.Subscriptions {
		if k := key(o.Namespace, o.Name); !managed("Subscription", k) {
			out.subs[k] = o
		}
	}
	for _, o := range inv.Placements {
		if k := key(o.Namespace, o.Name); !managed("Placement", k) {
			out.placements[k] = o
		}
	}
	for _, o := range inv.Channels {
		if k := key(o.Namespace, o.Name); !managed("Channel", k) {
			out.channels[k] = o
		}
	}
	for _, o := range inv.ClusterSets {
		if !managed("ManagedClusterSet", o.Name) {
			out.sets[o.Name] = o
		}
	}
	for _, o := range inv.Bindings {
		if k := key(o.Namespace, o.Name); !managed("ManagedClusterSetBinding", k) {
			out.bindings[k] = o
		}
	}
	for k, o := range side.subs {
		out.subs[k] = o
	}
	for k, o := range side.placements {
		out.placements[k] = o
	}
	for k, o := range side.channels {
		out.channels[k] = o
	}
	for k, o := range side.sets {
		out.sets[k] = o
	}
	for k, o := range side.bindings {
		out.bindings[k] = o
	}
	for k, f := range side.files {
		out.files[k] = f
	}
	return out
}

// clusterSets and bindingsIn return the objects as the scheduler takes them.
func (h *hubObjects) clusterSets() []*clusterv1beta2.ManagedClusterSet {
	out := make([]*clusterv1beta2.ManagedClusterSet, 0, len(h.sets))
	for _, s := range h.sets {
		out = append(out, s)
	}
	sortObjects(out)
	return out
}

func (h *hubObjects) bindingsIn(namespace string) []*clusterv1beta2.ManagedClusterSetBinding {
	var out []*clusterv1beta2.ManagedClusterSetBinding
	for _, b := range h.bindings {
		if b.Namespace == namespace {
			out = append(out, b)
		}
	}
	sortObjects(out)
	return out
}

// subscriptionKeys is the sorted union of the Subscriptions of both sides.
func subscriptionKeys(a, b *hubObjects) []string {
	seen := map[string]bool{}
	var keys []string
	for _, h := range []*hubObjects{a, b} {
		for k := range h.subs {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
