// Package source fetches a Channel's content (Git, Helm repository, S3 bucket)
// into immutable local snapshots called artifacts.
//
// A Store serves every Subscription. Per (channel, ref) it fetches at most
// once at a time and reuses the result until a Request's NotBefore asks for
// a newer look (NotBefore computes it from reconcile-rate and "reconcile now"
// annotations). Git repositories live in one bare clone per (URL,
// credentials, depth bucket), shared by all refs and fetched incrementally;
// a poll of an unchanged repository costs one ref advertisement. Helm
// charts and bucket listings are cached by (address, credentials) and
// digest, parsed Helm indexes within one budget for all Channels.
// Snapshots are read-only and belong to the (address, credentials) that
// fetched them. Every connection goes through the egress policy
// (WithEgress) and every read is bounded. A failed fetch returns
// a sanitized, classified *Error with RetryAfter, backs off exponentially,
// and leaves the last good artifact in Cached. Store.Artifacts and
// Store.Subscribe feed the Channel status.
package source

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Artifact is a Channel's content at one revision, unpacked on local disk.
// Artifacts are immutable: two fetches that resolve to the same revision return
// the same Dir, and nothing writes to it afterwards.
type Artifact struct {
	// Revision identifies the content:
	//   Git:          "<branch-or-tag>@sha1:<commit>", or "sha1:<commit>" when
	//                 pinned with git-desired-commit;
	//   Helm:         "<chart>-<version>@sha256:<digest>", the digest of the chart
	//                 archive (http repositories) or of the OCI manifest (oci://);
	//   ObjectBucket: "sha256:<digest>" of the sorted (key, ETag, size) listing.
	Revision string
	// Commit is the Git commit (Git channels only).
	Commit string
	// Dir holds the content: the repository tree, the chart's root folder
	// (the one with Chart.yaml), or the bucket's objects under the prefix.
	Dir string
	// CheckedAt is when the source last confirmed this revision is current
	// (when that check started).
	CheckedAt time.Time

	root string // the snapshot folder holding Dir, for garbage collection
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

// String is a stable, human-readable name for the ref, used in Channel status:
// "branch:main", "tag:v1", "commit:<sha>", "chart:nginx@1.2.x",
// "prefix:prod", joined with "," when several are set, or "default".
func (r Ref) String() string {
	var parts []string
	if r.Commit != "" {
		parts = append(parts, "commit:"+r.Commit)
	}
	if r.Tag != "" {
		parts = append(parts, "tag:"+r.Tag)
	}
	if r.Branch != "" {
		parts = append(parts, "branch:"+r.Branch)
	}
	if r.Chart != "" {
		c := "chart:" + r.Chart
		if r.Version != "" {
			c += "@" + r.Version
		}
		parts = append(parts, c)
	}
	if r.Prefix != "" {
		parts = append(parts, "prefix:"+r.Prefix)
	}
	if r.Depth > 0 {
		parts = append(parts, "depth:"+strconv.Itoa(r.Depth))
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, ",")
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
		Branch: cmp.Or(a[appsv1.AnnotationGitBranch], a[appsv1.AnnotationGithubBranch]),
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
	return cmp.Or(a[appsv1.AnnotationGitPath], a[appsv1.AnnotationGithubPath])
}
