package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/reconcileopt"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
)

// FieldManager is the server-side apply field manager the hub asks agents to
// use. OCM's ManifestWork schema requires the "work-agent" prefix.
const FieldManager = "work-agent-ocm-gitops"

// WorkName is the name of a Subscription's ManifestWork in every cluster
// namespace. Namespaces cannot contain dots, so "namespace.name" is unique.
// part > 0 names the further works of a bundle split to respect OCM's size limit.
func WorkName(sub *appsv1.Subscription, part int) string {
	name := sub.Namespace + "." + sub.Name
	if part > 0 {
		name = fmt.Sprintf("%s.part-%d", name, part)
	}
	if len(name) > validation.DNS1123SubdomainMaxLength-80 { // leave room for the agent's AppliedManifestWork prefix
		name = name[:validation.DNS1123SubdomainMaxLength-100] + "-" + shortHash(name)
	}
	return name
}

// SubscriptionLabel is the value of appsv1.LabelSubscription on a Subscription's
// ManifestWorks: "namespace.name", or a shortened form with a hash when that is
// not a valid label value.
func SubscriptionLabel(namespace, name string) string {
	v := namespace + "." + name
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	return strings.Trim(v[:min(len(v), 50)], ".-_") + "-" + shortHash(v)
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:5])
}

// bundle is a render Output encoded for ManifestWorks, built once per Output
// and Subscription settings and shared by every cluster that receives it.
type bundle struct {
	// parts are the manifests of each ManifestWork, in order.
	parts [][]workv1.Manifest
	// configs ask the agent for server-side apply of each manifest, per part.
	configs [][]workv1.ManifestConfigOption
	// settings shape every work of the bundle.
	settings workSettings
	// hash covers everything that goes into the works' specs.
	hash string
}

// workSettings are the Subscription fields that shape every ManifestWork.
// DeleteOption is the Subscription's, with the objects marked do-not-delete
// orphaned (see reconcileopt.DeleteOption), so it can differ per output.
type workSettings struct {
	DeleteOption    *workv1.DeleteOption         `json:"deleteOption,omitempty"`
	Executor        *workv1.ManifestWorkExecutor `json:"executor,omitempty"`
	DriftPolicy     appsv1.DriftPolicy           `json:"driftPolicy,omitempty"`
	ReconcileOption string                       `json:"reconcileOption,omitempty"`
}

func settingsOf(sub *appsv1.Subscription) workSettings {
	// Spelled canonically, so writing out the default (merge) or changing
	// case rewrites no work; a wrong value is kept for encodeBundle to report.
	option := sub.Annotations[appsv1.AnnotationReconcileOption]
	if canonical, err := reconcileopt.Resolve(option, ""); err == nil {
		option = canonical
	}
	return workSettings{
		DeleteOption: sub.Spec.DeleteOption, Executor: sub.Spec.Executor, DriftPolicy: sub.Spec.DriftPolicy,
		ReconcileOption: option,
	}
}

// resourceMapper maps a kind to its resource name, for manifestConfigs.
type resourceMapper func(gvk schema.GroupVersionKind) (string, bool)

// encodeBundle turns rendered objects into ManifestWork manifests, split so no
// work exceeds OCM's manifest size limit.
func encodeBundle(out *render.Output, settings workSettings, mapResource resourceMapper) (*bundle, error) {
	// The undeclared namespaces come first, so they land in the first part.
	implicit := undeclaredNamespaces(out.Objects)
	objects := withNamespaces(out.Objects, implicit)
	parts, err := render.Split(objects, render.ManifestLimit)
	if err != nil {
		return nil, err
	}
	crdPlurals := map[schema.GroupKind]string{}
	for _, o := range objects {
		if o.GetKind() == "CustomResourceDefinition" {
			var crd apiextensionsv1.CustomResourceDefinition
			if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &crd) == nil {
				crdPlurals[schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}] = crd.Spec.Names.Plural
			}
		}
	}
	b := &bundle{settings: settings}
	h := sha256.New()
	for _, objs := range parts {
		manifests := make([]workv1.Manifest, 0, len(objs))
		configs := make([]workv1.ManifestConfigOption, 0, len(objs))
		for _, o := range objs {
			raw, err := json.Marshal(o.Object)
			if err != nil {
				return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
			}
			manifests = append(manifests, workv1.Manifest{RawExtension: runtime.RawExtension{Raw: raw}})
			h.Write(raw)
			cfg, err := configFor(o, implicit, crdPlurals, mapResource, settings.ReconcileOption)
			if err != nil {
				return nil, err
			}
			configs = append(configs, cfg)
		}
		b.parts = append(b.parts, manifests)
		b.configs = append(b.configs, configs)
		h.Write([]byte("\x00part\x00"))
	}
	s, _ := json.Marshal(settings)
	h.Write(s)
	b.hash = hex.EncodeToString(h.Sum(nil))[:32]
	return b, nil
}

// configFor is the manifest config of one object. A namespace the render
// uses but does not declare (in implicit) is made sure to exist and never
// changed: not the work's own, so no reconcile option applies to it.
func configFor(o *unstructured.Unstructured, implicit []string, crdPlurals map[schema.GroupKind]string, mapResource resourceMapper, subOption string) (workv1.ManifestConfigOption, error) {
	if isNamespace(o) && slices.Contains(implicit, o.GetName()) {
		return workv1.ManifestConfigOption{
			ResourceIdentifier: workv1.ResourceIdentifier{Resource: "namespaces", Name: o.GetName()},
			UpdateStrategy:     &workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeCreateOnly},
		}, nil
	}
	return applyConfig(o, crdPlurals, mapResource, subOption)
}

// applyConfig sets the update strategy of one object from its reconcile
// option, or the Subscription's: a forced server-side apply for merge and
// mergeAndOwn, a whole-object update for replace.
func applyConfig(o *unstructured.Unstructured, crdPlurals map[schema.GroupKind]string, mapResource resourceMapper, subOption string) (workv1.ManifestConfigOption, error) {
	strategy, err := reconcileopt.ForObject(o, subOption, FieldManager)
	if err != nil {
		return workv1.ManifestConfigOption{}, err
	}
	gvk := o.GroupVersionKind()
	resource, ok := crdPlurals[gvk.GroupKind()]
	if !ok && mapResource != nil {
		resource, ok = mapResource(gvk)
	}
	if !ok {
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		resource = plural.Resource
	}
	return workv1.ManifestConfigOption{
		ResourceIdentifier: workv1.ResourceIdentifier{
			Group: gvk.Group, Resource: resource, Name: o.GetName(), Namespace: o.GetNamespace(),
		},
		UpdateStrategy: strategy,
	}, nil
}

// desiredWork builds part i of the ManifestWorks one cluster gets from its
// bundle.
func desiredWork(sub *appsv1.Subscription, cluster, revision string, d *want, i int) *workv1.ManifestWork {
	b := d.b
	settings := b.settings
	annotations := map[string]string{
		appsv1.AnnotationHostingSubscription: sub.Namespace + "/" + sub.Name,
		appsv1.AnnotationRevision:            revision, // the revision that first produced this content
		appsv1.AnnotationContentHash:         b.hash,
		appsv1.AnnotationInputDigest:         d.inputs,
	}
	if settings.DriftPolicy != "" {
		annotations[appsv1.AnnotationDriftPolicy] = string(settings.DriftPolicy)
	}
	if d.rollbackRevision != "" {
		annotations[appsv1.AnnotationRollbackRevision] = d.rollbackRevision
	}
	if d.rolledBackFrom != "" {
		annotations[appsv1.AnnotationRolledBackFrom] = d.rolledBackFrom
	}
	return &workv1.ManifestWork{
		TypeMeta: metav1.TypeMeta{APIVersion: workv1.GroupVersion.String(), Kind: "ManifestWork"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        WorkName(sub, i),
			Namespace:   cluster,
			Labels:      map[string]string{appsv1.LabelSubscription: SubscriptionLabel(sub.Namespace, sub.Name)},
			Annotations: annotations,
		},
		Spec: workv1.ManifestWorkSpec{
			Workload:        workv1.ManifestsTemplate{Manifests: b.parts[i]},
			DeleteOption:    settings.DeleteOption,
			ManifestConfigs: b.configs[i],
			Executor:        settings.Executor,
		},
	}
}

// upToDate says whether an existing work already carries the desired content.
// The revision is left out on purpose: a commit that does not change what a
// cluster receives must not rewrite thousands of works.
func upToDate(existing *workv1.ManifestWork, hash string) bool {
	return existing.DeletionTimestamp == nil && existing.Annotations[appsv1.AnnotationContentHash] == hash
}
