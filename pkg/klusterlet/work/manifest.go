package work

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/ignorefields"
)

// manifest is one entry of a ManifestWork's workload, decoded and resolved
// against the managed cluster's API.
type manifest struct {
	ordinal int
	// obj is the object to apply; nil when err is set.
	obj *unstructured.Unstructured
	// err is a decode or mapping error: the manifest cannot be applied.
	err error
	// mappingErr is set when the kind is not served (yet): a CRD may come.
	mappingErr bool

	gvr        schema.GroupVersionResource
	namespaced bool
	meta       workv1.ManifestResourceMeta
	config     *workv1.ManifestConfigOption
	strategy   workv1.UpdateStrategy
	// onPresent and onChange are the server-side apply ignoreFields.
	onPresent, onChange ignorefields.Set
	// owned says the object carries the AppliedManifestWork owner reference
	// and is deleted with the work (false when orphaned by the delete option).
	owned bool
	// hash covers everything that shapes the write: content, config,
	// ownership and the owner's UID.
	hash string
	// digest is of the object alone: two works whose manifests for the same
	// object have different digests want different content.
	digest string
}

// key identifies the live object a manifest maps to.
func (m *manifest) key() objKey {
	return objKey{gvr: m.gvr, namespace: m.meta.Namespace, name: m.meta.Name}
}

// objKey identifies one object on the managed cluster.
type objKey struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

func (k objKey) String() string {
	if k.namespace == "" {
		return k.gvr.Resource + "/" + k.name
	}
	return k.gvr.Resource + "/" + k.namespace + "/" + k.name
}

// decodeManifest turns the raw manifest into an object, dropping the server
// fields a manifest may carry over from a live object.
func decodeManifest(raw []byte) (*unstructured.Unstructured, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("manifest is empty")
	}
	data := raw
	if !json.Valid(raw) {
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("manifest is neither JSON nor YAML: %w", err)
		}
		data = j
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("%s manifest has no metadata.name", obj.GetKind())
	}
	md, _ := obj.Object["metadata"].(map[string]any)
	for _, f := range []string{"uid", "resourceVersion", "generation", "selfLink", "managedFields", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"} {
		delete(md, f)
	}
	return obj, nil
}

// resolveManifests decodes a work's manifests and maps them to resources.
// Failures stay with their manifest so the others still apply.
func resolveManifests(work *workv1.ManifestWork, mapper meta.RESTMapper, ownerUID types.UID) []*manifest {
	out := make([]*manifest, len(work.Spec.Workload.Manifests))
	for i := range work.Spec.Workload.Manifests {
		out[i] = resolveManifest(work, i, mapper, ownerUID)
	}
	return out
}

// resolveManifest decodes and maps manifest i of work.
func resolveManifest(work *workv1.ManifestWork, i int, mapper meta.RESTMapper, ownerUID types.UID) *manifest {
	raw := work.Spec.Workload.Manifests[i].Raw
	m := &manifest{ordinal: i}
	m.meta.Ordinal = int32(i)
	obj, err := decodeManifest(raw)
	if err != nil {
		m.err = fmt.Errorf("manifest %d: %w", i, err)
		return m
	}
	gvk := obj.GroupVersionKind()
	m.meta.Group, m.meta.Version, m.meta.Kind = gvk.Group, gvk.Version, gvk.Kind
	m.meta.Name, m.meta.Namespace = obj.GetName(), obj.GetNamespace()
	if gvk.Kind == "" || gvk.Version == "" {
		m.err = fmt.Errorf("manifest %d (%s): apiVersion and kind are required", i, obj.GetName())
		return m
	}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		m.err = fmt.Errorf("%s %s: the managed cluster does not serve %s: %w", gvk.Kind, obj.GetName(), gvk.GroupVersion(), err)
		m.mappingErr = true
		return m
	}
	m.gvr = mapping.Resource
	m.meta.Resource = mapping.Resource.Resource
	m.namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
	if !m.namespaced {
		obj.SetNamespace("")
		m.meta.Namespace = ""
	} else if obj.GetNamespace() == "" {
		m.err = fmt.Errorf("%s %s: metadata.namespace is empty; namespaced objects in a ManifestWork must name their namespace", gvk.Kind, obj.GetName())
		return m
	}
	id := workv1.ResourceIdentifier{Group: gvk.Group, Resource: m.meta.Resource, Name: m.meta.Name, Namespace: m.meta.Namespace}
	m.config = findConfig(work.Spec.ManifestConfigs, id)
	m.strategy = workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeUpdate}
	if m.config != nil && m.config.UpdateStrategy != nil {
		m.strategy = *m.config.UpdateStrategy
		if m.strategy.Type == "" {
			m.strategy.Type = workv1.UpdateStrategyTypeUpdate
		}
	}
	switch m.strategy.Type {
	case workv1.UpdateStrategyTypeUpdate, workv1.UpdateStrategyTypeCreateOnly,
		workv1.UpdateStrategyTypeServerSideApply, workv1.UpdateStrategyTypeReadOnly:
	default:
		m.err = fmt.Errorf("%s %s: manifestConfigs updateStrategy.type %q is not supported; use Update, CreateOnly, ServerSideApply or ReadOnly", gvk.Kind, obj.GetName(), m.strategy.Type)
		return m
	}
	if m.strategy.Type == workv1.UpdateStrategyTypeServerSideApply {
		if m.onPresent, m.onChange, err = ignorefields.Compile(m.strategy.ServerSideApply); err != nil {
			m.err = fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
			return m
		}
	}
	m.obj = obj
	m.owned = ownedByWork(work.Spec.DeleteOption, id)
	m.hash = manifestHash(raw, m.config, m.owned, ownerUID, work.Spec.Executor)
	m.digest = contentDigest(obj)
	return m
}

// contentDigest is a digest of an object's content, whatever the manifest's
// formatting (JSON or YAML, key order).
func contentDigest(obj *unstructured.Unstructured) string {
	b, _ := json.Marshal(obj.Object)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// manifestHash is a digest of what shapes the write of one manifest.
func manifestHash(raw []byte, cfg *workv1.ManifestConfigOption, owned bool, ownerUID types.UID, exec *workv1.ManifestWorkExecutor) string {
	h := sha256.New()
	h.Write(raw)
	if cfg != nil {
		b, _ := json.Marshal(cfg)
		h.Write(b)
	}
	fmt.Fprintf(h, "\x00%t\x00%s", owned, ownerUID)
	if exec != nil {
		b, _ := json.Marshal(exec)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// findConfig returns the manifest config for a resource: an exact match
// first, else the first whose name and namespace match as wildcard patterns.
func findConfig(configs []workv1.ManifestConfigOption, id workv1.ResourceIdentifier) *workv1.ManifestConfigOption {
	for i := range configs {
		if configs[i].ResourceIdentifier == id {
			return &configs[i]
		}
	}
	for i := range configs {
		c := configs[i].ResourceIdentifier
		if c.Group != id.Group || c.Resource != id.Resource {
			continue
		}
		if globMatch(c.Name, id.Name) && globMatch(c.Namespace, id.Namespace) {
			return &configs[i]
		}
	}
	return nil
}

func globMatch(pattern, s string) bool {
	if pattern == s {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// ownedByWork says whether the delete option lets the work delete the resource.
func ownedByWork(opt *workv1.DeleteOption, id workv1.ResourceIdentifier) bool {
	if opt == nil {
		return true
	}
	switch opt.PropagationPolicy {
	case workv1.DeletePropagationPolicyTypeOrphan:
		return false
	case workv1.DeletePropagationPolicyTypeSelectivelyOrphan:
		if opt.SelectivelyOrphan == nil {
			return true
		}
		for _, r := range opt.SelectivelyOrphan.OrphaningRules {
			if workv1.ResourceIdentifier(r) == id {
				return false
			}
		}
	}
	return true
}

// Apply stages: CRDs first (their objects need them), then namespaces, then
// everything else in parallel, then admission webhooks (which could reject
// the rest while their backends are not running yet).
const (
	stageCRDs = iota
	stageNamespaces
	stageObjects
	stageLast
	stageCount
)

func stageOf(m *manifest) int {
	switch {
	case m.meta.Group == "apiextensions.k8s.io" && m.meta.Kind == "CustomResourceDefinition":
		return stageCRDs
	case m.meta.Group == "" && m.meta.Kind == "Namespace":
		return stageNamespaces
	}
	for _, k := range ssa.ReconcileOrder.Last {
		if m.meta.Kind == k {
			return stageLast
		}
	}
	return stageObjects
}

// applyStages groups manifests into ordered stages; within a stage they
// follow Flux's reconcile order, which is deterministic.
func applyStages(ms []*manifest) [stageCount][]*manifest {
	var stages [stageCount][]*manifest
	for _, m := range ms {
		if m.obj == nil {
			continue
		}
		s := stageOf(m)
		stages[s] = append(stages[s], m)
	}
	for _, st := range stages {
		sort.SliceStable(st, func(i, j int) bool {
			a, b := st[i].obj.GroupVersionKind().GroupKind(), st[j].obj.GroupVersionKind().GroupKind()
			if a != b {
				return ssa.IsLessThan(a, b)
			}
			return st[i].ordinal < st[j].ordinal
		})
	}
	return stages
}
