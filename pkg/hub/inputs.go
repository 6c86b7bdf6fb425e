package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"

	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// renderFormat is bumped when this hub renders or encodes the same inputs
// differently, so that works are rewritten (see rendererVersion).
const renderFormat = "1"

// rendererVersion names what renders: this hub's format and the Helm and
// Kustomize libraries built in. Part of every input digest, so an upgrade
// that may render differently rewrites the works whose content changed.
func rendererVersion() string {
	v := "ocm-gitops/" + renderFormat + " render/" + render.FormatVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "helm.sh/helm/v3" || d.Path == "sigs.k8s.io/kustomize/api" {
				v += " " + d.Path + "@" + d.Version
			}
		}
	}
	return v
}

// renderInputs is everything a cluster's works are made from. Its digest is
// recorded on the works (appsv1.AnnotationInputDigest): while it stays the
// same, the works are not rewritten, even when rendering again gives other
// bytes (charts that use randAlphaNum, genCA and friends do).
type renderInputs struct {
	Renderer         string                  `json:"renderer"`
	Revision         string                  `json:"revision"`
	Path             string                  `json:"path,omitempty"`
	Chart            string                  `json:"chart,omitempty"`
	PackageOverrides []*appsv1.Overrides     `json:"packageOverrides,omitempty"`
	ValuesTemplate   string                  `json:"valuesTemplate,omitempty"`
	Allow            []*appsv1.AllowDenyItem `json:"allow,omitempty"`
	Deny             []*appsv1.AllowDenyItem `json:"deny,omitempty"`
	Settings         workSettings            `json:"settings"`
	// Cluster is set when the render depends on the cluster.
	Cluster *clusterInputs `json:"cluster,omitempty"`
}

// clusterInputs is what a cluster-dependent render may read of the cluster.
type clusterInputs struct {
	Name      string                    `json:"name"`
	Labels    map[string]string         `json:"labels,omitempty"`
	Claims    map[string]string         `json:"claims,omitempty"`
	Overrides []appsv1.ClusterOverrides `json:"overrides,omitempty"`
}

// inputDigest digests the inputs of sub's render of art for a cluster; c is
// nil for a render that does not depend on the cluster.
func inputDigest(renderer string, sub *appsv1.Subscription, art *source.Artifact, c *render.Cluster) string {
	in := renderInputs{
		Renderer: renderer, Revision: art.Revision, Path: source.SubscriptionPath(sub), Chart: sub.Spec.Package,
		PackageOverrides: sub.Spec.PackageOverrides, ValuesTemplate: sub.Spec.ClusterValuesTemplate,
		Allow: sub.Spec.Allow, Deny: sub.Spec.Deny, Settings: settingsOf(sub),
	}
	if c != nil {
		in.Cluster = &clusterInputs{Name: c.Name, Labels: c.Labels, Claims: c.Claims}
		for _, o := range sub.Spec.Overrides {
			if o.ClusterName == c.Name {
				in.Cluster.Overrides = append(in.Cluster.Overrides, o)
			}
		}
	}
	data, _ := json.Marshal(in) // plain data: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// want is what one cluster should hold.
type want struct {
	b *bundle
	// inputs digests what b was rendered from.
	inputs string
	// hash is the content the cluster should hold: b's, or the content its
	// works carry when they were written from these very inputs, so that a
	// render differing by chance rewrites nothing.
	hash string
	// rollbackRevision and rolledBackFrom go on the works written
	// (appsv1.AnnotationRollbackRevision, AnnotationRolledBackFrom); when
	// rollbackRevision is empty, syncWorks records the cluster's last
	// healthy revision.
	rollbackRevision, rolledBackFrom string
}

// newWant is the cluster's want for bundle b rendered from inputs, given the
// works it holds.
func newWant(b *bundle, inputs string, works []*workv1.ManifestWork) *want {
	w := &want{b: b, inputs: inputs, hash: b.hash}
	if held := heldContent(works, inputs, len(b.parts)); held != "" {
		w.hash = held
	}
	return w
}

// heldContent is the content hash of a cluster's works when all parts of
// them were written from inputs; "" otherwise.
func heldContent(works []*workv1.ManifestWork, inputs string, parts int) string {
	if len(works) != parts {
		return ""
	}
	hash := ""
	for _, w := range works {
		h := w.Annotations[appsv1.AnnotationContentHash]
		if w.DeletionTimestamp != nil || w.Annotations[appsv1.AnnotationInputDigest] != inputs || h == "" || (hash != "" && h != hash) {
			return ""
		}
		hash = h
	}
	return hash
}
