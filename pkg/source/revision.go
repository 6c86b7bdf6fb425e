package source

import (
	"fmt"
	"regexp"
	"strings"
)

// Digest algorithms of revisions.
const (
	// SHA1 digests are Git commits.
	SHA1 = "sha1"
	// SHA256 digests are chart archives, OCI manifests and bucket listings.
	SHA256 = "sha256"
)

// Revision names a source's content, as Artifact.Revision spells it:
//
//	Git:          "<branch-or-tag>@sha1:<commit>", or "sha1:<commit>" for a
//	              commit pinned with git-desired-commit;
//	Helm:         "<chart>-<version>@sha256:<digest>";
//	ObjectBucket: "sha256:<digest>".
//
// It is built and read only here, as Flux keeps its revision format in
// fluxcd/pkg (SplitRevision).
type Revision struct {
	// Ref is the branch, tag or chart-version; empty for a pinned commit or
	// a bucket.
	Ref string
	// Algorithm is SHA1 or SHA256.
	Algorithm string
	// Digest is the hexadecimal digest.
	Digest string
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]+$`)

// ParseRevision reads a revision; it fails on anything Revision.String does
// not write (a digest that is not lowercase hexadecimal, an unknown
// algorithm, a missing digest).
func ParseRevision(s string) (Revision, error) {
	ref, digest := "", s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		ref, digest = s[:i], s[i+1:]
	}
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok || (algo != SHA1 && algo != SHA256) || !hexDigest.MatchString(hex) {
		return Revision{}, fmt.Errorf("revision %q is not <ref>@<sha1|sha256>:<hex digest>", s)
	}
	return Revision{Ref: ref, Algorithm: algo, Digest: hex}, nil
}

// String spells the revision as ParseRevision reads it.
func (r Revision) String() string {
	d := r.Algorithm + ":" + r.Digest
	if r.Ref == "" {
		return d
	}
	return r.Ref + "@" + d
}

// Commit is the Git commit the revision names; ok is false for anything but
// a full SHA-1 (charts and buckets carry sha256 digests, which are not
// commits).
func (r Revision) Commit() (commit string, ok bool) {
	if r.Algorithm != SHA1 || len(r.Digest) != 40 {
		return "", false
	}
	return r.Digest, true
}

// Short is the revision for tables: "main@0123456" for a branch or tag,
// "0123456" for a pinned commit, the chart and version for a chart
// ("web-1.2.3"), and "sha256:0123456" for a bucket.
func (r Revision) Short() string {
	digest := r.Digest[:min(7, len(r.Digest))]
	switch {
	case r.Algorithm == SHA1 && r.Ref != "":
		return r.Ref + "@" + digest
	case r.Algorithm == SHA1:
		return digest
	case r.Ref != "":
		return r.Ref
	}
	return r.Algorithm + ":" + digest
}

// ShortRevision is Short of a revision string; "-" for none, and the string
// itself when it is not a revision.
func ShortRevision(s string) string {
	if s == "" {
		return "-"
	}
	r, err := ParseRevision(s)
	if err != nil {
		return s
	}
	return r.Short()
}

// CommitOf is the Git commit a revision string names (see Revision.Commit).
func CommitOf(s string) (string, bool) {
	r, err := ParseRevision(s)
	if err != nil {
		return "", false
	}
	return r.Commit()
}
