// Package source fetches a Channel's content (Git, Helm repository, S3 bucket)
// into immutable local snapshots called artifacts.
package source

import (
	"strconv"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Artifact is a Channel's content at one revision, unpacked on local disk.
// Artifacts are immutable: two fetches that resolve to the same revision return
// the same Dir, and nothing writes to it afterwards.
type Artifact struct {
	// Revision identifies the content: "<branch>@sha1:<commit>" for Git,
	// "<chart>@<version>@sha256:<digest>" for Helm charts, "sha256:<digest>" for
	// buckets.
	Revision string
	// Commit is the Git commit (Git channels only).
	Commit string
	// Dir holds the content. For Helm charts it is the unpacked chart.
	Dir string
	// CheckedAt is when the source last confirmed this revision is current.
	CheckedAt time.Time
}

// Ref says what to take from a Channel; it comes from the Subscription.
type Ref struct {
	// Git: at most one of Branch, Tag, Commit; none means the default branch.
	Branch string
	Tag    string
	Commit string
	// Depth bounds the Git history fetched; 0 means the default.
	Depth int
	// Chart and Version (a semver range) pick a chart from a HelmRepo channel.
	Chart   string
	Version string
	// Prefix narrows an ObjectBucket channel to keys under it.
	Prefix string
}

// String is a stable, human-readable name for the ref, used in Channel status.
func (r Ref) String() string {
	switch {
	case r.Commit != "":
		return "commit:" + r.Commit
	case r.Tag != "":
		return "tag:" + r.Tag
	case r.Branch != "":
		return "branch:" + r.Branch
	case r.Chart != "":
		if r.Version != "" {
			return "chart:" + r.Chart + "@" + r.Version
		}
		return "chart:" + r.Chart
	case r.Prefix != "":
		return "prefix:" + r.Prefix
	}
	return "default"
}

// Credentials are what the Channel's secretRef and configMapRef hold.
type Credentials struct {
	// Secret is the data of the Secret named by spec.secretRef, with OCM's keys.
	Secret map[string][]byte
	// CACerts is the PEM bundle from the ConfigMap named by spec.configMapRef
	// (key caCerts) and from the Secret's caCerts key.
	CACerts []byte
}

// Request asks for the artifact of one ref of one Channel.
type Request struct {
	Channel     *appsv1.Channel
	Ref         Ref
	Credentials Credentials
	// NotBefore: a cached artifact checked before this time is refreshed first.
	// Zero means any cached artifact will do.
	NotBefore time.Time
}

// RefFor reads the ref a Subscription asks for from its OCM annotations and spec.
func RefFor(sub *appsv1.Subscription) Ref {
	a := sub.GetAnnotations()
	ref := Ref{
		Branch: first(a[appsv1.AnnotationGitBranch], a[appsv1.AnnotationGithubBranch]),
		Tag:    a[appsv1.AnnotationGitTag],
		Commit: a[appsv1.AnnotationGitDesiredCommit],
		Chart:  sub.Spec.Package,
		Prefix: a[appsv1.AnnotationBucketPath],
	}
	if sub.Spec.PackageFilter != nil {
		ref.Version = sub.Spec.PackageFilter.Version
	}
	if d, err := strconv.Atoi(a[appsv1.AnnotationGitCloneDepth]); err == nil && d > 0 {
		ref.Depth = d
	}
	return ref
}

// SubscriptionPath is the folder inside the artifact a Subscription deploys.
func SubscriptionPath(sub *appsv1.Subscription) string {
	a := sub.GetAnnotations()
	return first(a[appsv1.AnnotationGitPath], a[appsv1.AnnotationGithubPath])
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
