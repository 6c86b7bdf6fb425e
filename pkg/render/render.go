// Package render turns a source artifact and a Subscription into the exact
// objects each cluster receives. Rendering happens once per distinct input
// (revision, path, values); clusters that share inputs share the Output.
//
// What is rendered follows OCM: under the Subscription's path, a folder with
// Chart.yaml is a Helm chart, else one with a kustomization file is a
// Kustomize root, and other .yaml/.yml files are plain manifests. Helm charts
// render client-side like `helm template --include-crds --skip-tests`, with
// Capabilities.KubeVersion fixed to Options.KubeVersion, Helm's built-in API
// versions, no cluster lookups, release name = packageAlias or Subscription
// name and release namespace = the Subscription's namespace. Kustomize roots
// build in-process like `kustomize build`.
package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

const gitPathAnnotation = appsv1.AnnotationGitPath

// Cluster is what rendering may know of a target cluster.
type Cluster struct {
	Name   string
	Labels map[string]string
	Claims map[string]string
	// Values are Helm values merged over everything the Subscription gives
	// (used by `ocm-gitops render --values`; the hub leaves it empty).
	Values map[string]any
}

// Output is what a group of clusters receives. Outputs are shared between
// callers and must not be modified.
type Output struct {
	// Key is a digest of Objects: equal keys mean identical objects.
	Key string
	// Objects in apply order: CRDs and Namespaces before what needs them.
	Objects []*unstructured.Unstructured
}

// Error is a rendering failure caused by the input: a file of the artifact or
// a field of the Subscription. The hub reports it and keeps what is deployed.
type Error struct {
	// File is the path relative to the artifact root ("" when not tied to a file).
	File string
	// Line is the line of File at fault (0 when not known).
	Line int
	// Field is the Subscription field at fault, such as
	// "spec.overrides[0].clusterOverrides[1]" ("" when the file is at fault).
	Field string
	// Cluster is set when the failure depends on the cluster rendered for
	// (its values or overrides); other failures are the same on every cluster.
	Cluster string
	Err     error
}

// Error reads "cluster C: field file:line: what went wrong", leaving out
// what is not set.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Cluster != "" {
		b.WriteString("cluster " + e.Cluster + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.File != "" {
			b.WriteString(" ")
		}
	}
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// forCluster is e as the failure of cluster c (a copy: e may be cached and
// shared by clusters with equal inputs).
func (e *Error) forCluster(c string) *Error {
	cp := *e
	cp.Cluster = c
	return &cp
}

func (e *Error) Unwrap() error { return e.Err }

// Options tune a Renderer. Zero fields take the defaults below.
type Options struct {
	// CacheDir keeps Helm chart dependencies downloaded from chart
	// repositories, each file named by a hash of its repository, name and
	// version. Empty: downloads are not kept on disk.
	CacheDir string
	// CacheBytes bounds the memory held by cached renders (default 256 MiB).
	CacheBytes int64
	// CacheEntries bounds the number of cached renders (default 4096).
	CacheEntries int
	// MaxFileBytes is the largest file a render reads (default 8 MiB).
	MaxFileBytes int64
	// MaxOutputBytes bounds the JSON size of one render's objects (default
	// 64 MiB), counted as they are decoded.
	MaxOutputBytes int64
	// MaxRenderBytes bounds the JSON size of the objects of all renders in
	// progress together (default 4 × MaxOutputBytes). A render that would
	// go over fails with a transient error and is tried again later.
	MaxRenderBytes int64
	// MaxDownloadBytes bounds a chart repository download (default 64 MiB).
	MaxDownloadBytes int64
	// KubeVersion is the Kubernetes version Helm charts see in
	// .Capabilities.KubeVersion (default v1.37.0).
	KubeVersion string
	// HTTPTimeout bounds each chart repository request (default 1 minute).
	HTTPTimeout time.Duration
	// Egress lists the non-public networks chart repositories and
	// registries may be reached on; nil reaches public addresses only (the
	// hub passes its --allow-networks).
	Egress *egress.Policy
	// Offline refuses every download: chart dependencies and Kustomize
	// helmCharts must be in the artifact (for renders that must not reach
	// any network, such as previews of untrusted pull requests).
	Offline bool
	// Logger receives warnings about the download cache.
	Logger logr.Logger
	// Observer, when set, is told how long each unit took to render and
	// whether renders were served from the cache (for metrics).
	Observer Observer
}

// Observer receives rendering measurements. Implementations must be safe for
// concurrent use and fast: they are called on the render path.
type Observer interface {
	// ObserveRender reports one rendered unit: kind is "helm", "kustomize"
	// or "plain"; err is nil on success.
	ObserveRender(kind string, took time.Duration, err error)
	// ObserveRenderCache reports whether a Render call found its render in
	// the cache (hit) or had to render (miss).
	ObserveRenderCache(hit bool)
}

// FormatVersion changes whenever the renderer may turn the same inputs into
// other objects; callers that keep what was rendered key it on this (with
// the Helm and Kustomize library versions). 2: kinds not known to be
// cluster-scoped get the Subscription's namespace; Kustomize helmCharts.
const FormatVersion = "2"

// DefaultKubeVersion is what Helm charts see as the cluster's version.
const DefaultKubeVersion = "v1.37.0"

func (o Options) withDefaults() Options {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 256 << 20
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = 4096
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 8 << 20
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = 64 << 20
	}
	if o.MaxRenderBytes <= 0 {
		o.MaxRenderBytes = 4 * o.MaxOutputBytes
	}
	if o.MaxDownloadBytes <= 0 {
		o.MaxDownloadBytes = 64 << 20
	}
	if o.KubeVersion == "" {
		o.KubeVersion = DefaultKubeVersion
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = time.Minute
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	return o
}

// Renderer renders Subscriptions. It is safe for concurrent use.
type Renderer struct {
	opts Options

	// bases caches renders before per-cluster overrides, by input key.
	bases *lru[*base]
	// outputs caches Outputs by content key, so equal objects share one Output.
	outputs *lru[*Output]
	// routes maps a per-cluster input key to the content key of its Output.
	routes *lru[string]

	// templates caches parsed spec.clusterValuesTemplate texts.
	templates *lru[*valuesTemplate]
	funcs     template.FuncMap
	tlimits   templateLimits

	// downloads keeps chart archives fetched for dependencies.
	downloads downloads

	flight      singleflight.Group
	kustomizeMu sync.Mutex

	// inflight is the JSON size of the renders in progress (MaxRenderBytes).
	inflight atomic.Int64
}

// NewRenderer returns a Renderer. NewRenderer() uses the defaults; pass one
// Options to tune it.
func NewRenderer(opts ...Options) *Renderer {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o = o.withDefaults()
	return &Renderer{
		opts:      o,
		bases:     newLRU[*base](o.CacheBytes/2, o.CacheEntries),
		outputs:   newLRU[*Output](o.CacheBytes/2, o.CacheEntries),
		routes:    newLRU[string](o.CacheBytes/16, o.CacheEntries*16),
		templates: newLRU[*valuesTemplate](16<<20, 1024),
		funcs:     templateFuncs(),
		tlimits:   defaultTemplateLimits,
		downloads: downloads{dir: o.CacheDir},
	}
}

// base is a render before per-cluster overrides and filters.
type base struct {
	objs []*unstructured.Unstructured
	// size is the JSON size of objs.
	size int64
	err  error
}

// Render returns what cluster receives from sub at the artifact's revision.
// Clusters with equal inputs get the same *Output.
func (r *Renderer) Render(ctx context.Context, art *source.Artifact, sub *appsv1.Subscription, cluster Cluster) (*Output, error) {
	return r.RenderWith(ctx, art, sub, cluster, Access{})
}

// RenderWith is Render reaching the chart repositories and registries the
// artifact's charts depend on with access (the Channel's credentials).
func (r *Renderer) RenderWith(ctx context.Context, art *source.Artifact, sub *appsv1.Subscription, cluster Cluster, access Access) (*Output, error) {
	if art == nil || art.Dir == "" {
		return nil, errors.New("render: no artifact to render")
	}
	tmpl, err := r.valuesTemplate(sub.Spec.ClusterValuesTemplate)
	if err != nil {
		return nil, err
	}
	vals, err := clusterValues(tmpl, cluster, r.tlimits)
	if err != nil {
		return nil, attribute(err, cluster.Name, true)
	}
	if len(cluster.Values) > 0 {
		vals = mergeValues(vals, cluster.Values)
	}
	baseKey, err := digest(baseInputs{
		Revision:         art.Revision,
		Dir:              art.Dir,
		Path:             source.SubscriptionPath(sub),
		Namespace:        sub.Namespace,
		Name:             sub.Name,
		PackageOverrides: sub.Spec.PackageOverrides,
		ClusterValues:    vals,
		Access:           access.key(),
	})
	if err != nil {
		return nil, fmt.Errorf("render: key: %w", err)
	}
	b, err := r.base(ctx, baseKey, art, sub, vals, access)
	if err != nil {
		// The base depends on the cluster through its values (from the
		// template, even when they come out empty, or given by the caller).
		return nil, attribute(err, cluster.Name, tmpl != nil || len(cluster.Values) > 0)
	}

	ovs, err := overridesFor(sub, cluster.Name)
	if err != nil {
		return nil, attribute(err, cluster.Name, true)
	}
	routeKey := baseKey
	if len(ovs) > 0 || len(sub.Spec.Allow) > 0 || len(sub.Spec.Deny) > 0 {
		routeKey, err = digest(routeInputs{Base: baseKey, Overrides: ovs, Allow: sub.Spec.Allow, Deny: sub.Spec.Deny})
		if err != nil {
			return nil, fmt.Errorf("render: key: %w", err)
		}
	}
	if key, ok := r.routes.get(routeKey); ok {
		if out, ok := r.outputs.get(key); ok {
			return out, nil
		}
	}
	objs, err := applyOverrides(b.objs, ovs)
	if err != nil {
		return nil, attribute(err, cluster.Name, true)
	}
	objs = filterAllowDeny(objs, sub.Spec.Allow, sub.Spec.Deny)
	out, size, err := newOutput(objs)
	if err != nil {
		return nil, err
	}
	out = r.outputs.add(out.Key, out, size)
	r.routes.add(routeKey, out.Key, int64(len(routeKey)+len(out.Key)+64))
	return out, nil
}

// ClusterValues is what sub's clusterValuesTemplate yields for cluster, the
// Helm values merged over packageOverrides' (nil without a template), as
// Render computes them; 'ocm-gitops trace' shows them.
func (r *Renderer) ClusterValues(sub *appsv1.Subscription, cluster Cluster) (map[string]any, error) {
	tmpl, err := r.valuesTemplate(sub.Spec.ClusterValuesTemplate)
	if err != nil {
		return nil, err
	}
	return clusterValues(tmpl, cluster, r.tlimits)
}

// attribute names cluster in an input error that depends on it.
func attribute(err error, cluster string, depends bool) error {
	var re *Error
	if depends && cluster != "" && errors.As(err, &re) {
		return re.forCluster(cluster)
	}
	return err
}

// valuesTemplate parses spec.clusterValuesTemplate once per distinct text.
func (r *Renderer) valuesTemplate(text string) (*valuesTemplate, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	if t, ok := r.templates.get(text); ok {
		return t, nil
	}
	t, err := parseValuesTemplate(text, r.funcs, r.tlimits)
	if err != nil {
		return nil, err
	}
	return r.templates.add(text, t, int64(len(text))*8), nil
}

// baseInputs is everything a base render depends on.
type baseInputs struct {
	Revision         string              `json:"revision"`
	Dir              string              `json:"dir"`
	Path             string              `json:"path"`
	Namespace        string              `json:"namespace"`
	Name             string              `json:"name"`
	PackageOverrides []*appsv1.Overrides `json:"packageOverrides,omitempty"`
	ClusterValues    map[string]any      `json:"clusterValues,omitempty"`
	Access           string              `json:"access,omitempty"`
}

// routeInputs is what turns a base render into one cluster's Output.
type routeInputs struct {
	Base      string                  `json:"base"`
	Overrides []clusterOverride       `json:"-"`
	Allow     []*appsv1.AllowDenyItem `json:"allow,omitempty"`
	Deny      []*appsv1.AllowDenyItem `json:"deny,omitempty"`
}

func (ri routeInputs) MarshalJSON() ([]byte, error) {
	type ov struct {
		Path  []string `json:"path"`
		Value any      `json:"value"`
	}
	ovs := make([]ov, len(ri.Overrides))
	for i, o := range ri.Overrides {
		ovs[i] = ov{Path: o.path, Value: o.value}
	}
	type plain routeInputs
	return json.Marshal(struct {
		plain
		Overrides []ov `json:"overrides,omitempty"`
	}{plain(ri), ovs})
}

func digest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// base returns the cached render for key, rendering it once however many
// callers ask at the same time. Input errors are cached like results: a bad
// revision fails once, not once per cluster.
func (r *Renderer) base(ctx context.Context, key string, art *source.Artifact, sub *appsv1.Subscription, vals map[string]any, access Access) (*base, error) {
	if b, ok := r.bases.get(key); ok {
		r.observeCache(true)
		return b, b.err
	}
	rendered := false // only the caller that runs the flight renders
	v, err, _ := r.flight.Do(key, func() (any, error) {
		if b, ok := r.bases.get(key); ok {
			return b, nil
		}
		rendered = true
		objs, size, err := r.renderBase(ctx, art, sub, vals, access)
		var inputErr *Error
		if err != nil && !errors.As(err, &inputErr) {
			return nil, err // transient (network, cancellation, busy): not cached
		}
		b := &base{objs: objs, size: size, err: err}
		return r.bases.add(key, b, b.size+1024), nil
	})
	r.observeCache(!rendered)
	if err != nil {
		return nil, err
	}
	b := v.(*base)
	return b, b.err
}

func (r *Renderer) observeCache(hit bool) {
	if r.opts.Observer != nil {
		r.opts.Observer.ObserveRenderCache(hit)
	}
}

// checkDuplicates refuses two objects with the same identity: a ManifestWork
// may hold each object once, and which one wins would be arbitrary.
func checkDuplicates(objs []*unstructured.Unstructured, origins []string) error {
	seen := make(map[string]int, len(objs))
	for i, o := range objs {
		gvk := o.GroupVersionKind()
		id := gvk.Group + "/" + gvk.Kind + "/" + o.GetNamespace() + "/" + o.GetName()
		if first, ok := seen[id]; ok {
			return &Error{File: origins[i], Err: fmt.Errorf("%s is defined twice (also in %s); each object may appear once", describe(o), origins[first])}
		}
		seen[id] = i
	}
	return nil
}

// applyRank puts definitions before the objects that depend on them.
func applyRank(o *unstructured.Unstructured) int {
	switch o.GetKind() {
	case "CustomResourceDefinition":
		return 0
	case "Namespace":
		return 1
	}
	return 2
}

// sortForApply orders objects CRDs first, then Namespaces, then the rest,
// keeping the rendered order within each group.
func sortForApply(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return applyRank(objs[i]) < applyRank(objs[j]) })
}

// NewOutput orders objects for apply and computes the Output's key.
func NewOutput(objs []*unstructured.Unstructured) (*Output, error) {
	sorted := make([]*unstructured.Unstructured, len(objs))
	copy(sorted, objs)
	sortForApply(sorted)
	out, _, err := newOutput(sorted)
	return out, err
}

// newOutput computes the key of objects already in apply order, and their
// JSON size.
func newOutput(objs []*unstructured.Unstructured) (*Output, int64, error) {
	h := sha256.New()
	var size int64
	for _, o := range objs {
		b, err := json.Marshal(o.Object)
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s: %w", describe(o), err)
		}
		size += int64(len(b))
		h.Write(b)
		h.Write([]byte{0})
	}
	return &Output{Key: hex.EncodeToString(h.Sum(nil)), Objects: objs}, size, nil
}
