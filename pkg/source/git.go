package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-logr/logr"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

// gitFetcher keeps one bare clone per (repository URL, credentials identity,
// depth), fetches into it incrementally, and exports each commit asked for
// into a read-only snapshot named by the commit. Every Subscription and ref on
// the same repository shares the clone; a poll that finds the remote refs
// unchanged costs one ref advertisement and no pack.
type gitFetcher struct {
	dir        string // clones
	artifacts  string // snapshots
	log        logr.Logger
	clients    *httpClients
	policy     *egress.Policy
	allowLocal bool
	limits     exportLimits

	mu    sync.Mutex
	repos map[string]*gitRepo
}

type gitRepo struct {
	lock  chan struct{} // held while fetching or reading: go-git storage is not safe for concurrent writers
	dir   string
	scope string // scopeKey of the clone; its snapshots carry it

	// guarded by gitFetcher.mu
	lastUsed time.Time

	// guarded by lock
	repo *git.Repository
	// checkedAt is when the last successful look at the remote started, per
	// refspec set ("*" for the full clone, the ref name for shallow clones).
	checkedAt map[string]time.Time
	// head is the remote's default branch, from its HEAD symref.
	head string
	// lastExport is the last commit handed out, whose snapshot seeds the next
	// export with hard links.
	lastExport plumbing.Hash
}

// snapshotDir is where a clone's export of commit h lives: per clone, so a
// commit is only ever handed to a requester whose own clone holds it.
func (g *gitFetcher) snapshotDir(scope string, h plumbing.Hash) string {
	return filepath.Join(g.artifacts, "git-"+scope+"-"+h.String())
}

// lastExportBase is the last exported commit and its snapshot, when that
// snapshot still exists. Should garbage collection move it away meanwhile,
// exporting falls back from hard links to writing the files.
func (r *gitRepo) lastExportBase(g *gitFetcher) (plumbing.Hash, string) {
	if r.lastExport.IsZero() {
		return plumbing.ZeroHash, ""
	}
	dir := g.snapshotDir(r.scope, r.lastExport)
	if _, err := os.Stat(dir); err != nil {
		return plumbing.ZeroHash, ""
	}
	return r.lastExport, dir
}

func newGitFetcher(root string, log logr.Logger, clients *httpClients, o options) *gitFetcher {
	installGitTransport()
	return &gitFetcher{
		dir:        filepath.Join(root, "git"),
		artifacts:  filepath.Join(root, "artifacts"),
		log:        log,
		clients:    clients,
		policy:     o.egress,
		allowLocal: o.allowLocal,
		limits:     o.export,
		repos:      map[string]*gitRepo{},
	}
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Fetch brings the shared clone up to date (when the request needs a newer
// check than the clone had) and returns a snapshot of the ref.
func (g *gitFetcher) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	url, ep, err := parseGitURL(req.Channel.Spec.Pathname)
	if err != nil {
		return nil, err
	}
	if ep.Protocol == "file" && !g.allowLocal {
		return nil, fail(KindInvalid, nil, "Channel %s/%s: spec.pathname %q reads the hub's own disk, which this hub does not allow; serve the repository over https or ssh (or start the hub with --allow-local-git)",
			req.Channel.Namespace, req.Channel.Name, strings.TrimSpace(req.Channel.Spec.Pathname))
	}
	ref := normalizeGitRef(req.Ref)
	ref.Depth = depthBucket(ref.Depth)
	if ref.Commit != "" && !fullSHA.MatchString(ref.Commit) {
		return nil, fail(KindInvalid, nil, "annotation %s: %q is not a full 40-character commit SHA; use the full hash",
			"apps.open-cluster-management.io/git-desired-commit", req.Ref.Commit)
	}
	if ref.Depth < 0 {
		return nil, fail(KindInvalid, nil, "annotation apps.open-cluster-management.io/git-clone-depth must be a positive number")
	}
	t, err := g.newGitTransport(ctx, url, ep, req.Credentials, req.Channel.Spec.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}

	r := g.repo(scopeKey(fmt.Sprintf("%s\x00depth=%d", url, ref.Depth), req.Credentials, req.Channel.Spec.InsecureSkipVerify))
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.lock }()

	if err := r.open(url); err != nil {
		return nil, fmt.Errorf("open the clone of %s: %w", url, err)
	}
	name, hash, err := r.update(ctx, t, ref, req.NotBefore)
	if err != nil {
		return nil, err
	}
	snap := g.snapshotDir(r.scope, hash)
	if _, err := os.Stat(snap); err != nil {
		start := time.Now()
		base, baseDir := r.lastExportBase(g)
		if err := exportCommit(r.repo, hash, snap, base, baseDir, g.limits); err != nil {
			return nil, fmt.Errorf("export %s at %s: %w", SanitizeURL(url), hash, err)
		}
		g.log.V(1).Info("exported commit", "url", SanitizeURL(url), "commit", hash.String(), "took", time.Since(start))
	}
	r.lastExport = hash
	rev := Revision{Ref: name, Algorithm: SHA1, Digest: hash.String()}.String()
	return &Artifact{Revision: rev, Commit: hash.String(), Dir: snap, root: snap}, nil
}

func (g *gitFetcher) repo(key string) *gitRepo {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.repos[key]
	if !ok {
		r = &gitRepo{lock: make(chan struct{}, 1), dir: filepath.Join(g.dir, key), scope: key, checkedAt: map[string]time.Time{}}
		g.repos[key] = r
	}
	r.lastUsed = time.Now()
	return r
}

// gc forgets clones unused since before cutoff and deletes them from disk.
func (g *gitFetcher) gc(cutoff time.Time) {
	g.mu.Lock()
	var stale []*gitRepo
	for k, r := range g.repos {
		if r.lastUsed.Before(cutoff) {
			select {
			case r.lock <- struct{}{}: // not in use; keep it locked while deleting
				delete(g.repos, k)
				stale = append(stale, r)
			default:
			}
		}
	}
	known := map[string]bool{"known_hosts": true}
	for _, r := range g.repos {
		known[filepath.Base(r.dir)] = true
	}
	g.mu.Unlock()
	for _, r := range stale {
		_ = os.RemoveAll(r.dir)
	}
	// Clones left by an earlier process and not used since.
	sweepDir(g.dir, cutoff, known)
}

// depthBucket rounds a git-clone-depth up to a power of four (1, 4, 16, …,
// 4096), beyond which the whole history is fetched. Each depth is a clone
// of its own; rounding up keeps every commit the asked depth reaches while
// bounding the clones of one repository at eight, whatever depths
// Subscriptions ask for.
func depthBucket(d int) int {
	if d <= 0 || d > 4096 {
		return 0
	}
	b := 1
	for b < d {
		b *= 4
	}
	return b
}

// normalizeGitRef strips the refs/heads/ and refs/tags/ prefixes users copy
// from git output, and lower-cases commit hashes.
func normalizeGitRef(r Ref) Ref {
	r.Branch = strings.TrimPrefix(strings.TrimSpace(r.Branch), "refs/heads/")
	r.Tag = strings.TrimPrefix(strings.TrimSpace(r.Tag), "refs/tags/")
	r.Commit = strings.ToLower(strings.TrimSpace(r.Commit))
	return r
}

func (r *gitRepo) open(url string) error {
	if r.repo != nil {
		return nil
	}
	repo, err := git.PlainOpen(r.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(filepath.Dir(r.dir), 0o755); err != nil {
			return err
		}
		repo, err = git.PlainInit(r.dir, true)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		}
	}
	if err != nil {
		// A half-written clone from a crash: start over.
		_ = os.RemoveAll(r.dir)
		return err
	}
	r.repo = repo
	return nil
}

// update makes sure the clone holds the ref as the remote had it at some
// point after notBefore, then resolves it. It returns the display name
// (branch or tag; empty for a pinned commit) and the commit.
func (r *gitRepo) update(ctx context.Context, t *gitTransport, ref Ref, notBefore time.Time) (string, plumbing.Hash, error) {
	// A pinned commit never changes: when the clone has it, no network at all.
	if ref.Commit != "" {
		if c, err := r.repo.CommitObject(plumbing.NewHash(ref.Commit)); err == nil {
			return "", c.Hash, nil
		}
	}
	scope := "*"
	if ref.Depth > 0 {
		scope = "depth:" + ref.Branch + "\x00" + ref.Tag
	}
	last := r.checkedAt[scope]
	if last.IsZero() || last.Before(notBefore) || ref.Commit != "" {
		start := time.Now()
		if err := r.sync(ctx, t, ref); err != nil {
			return "", plumbing.ZeroHash, err
		}
		r.checkedAt[scope] = start
	}
	return r.resolve(ref)
}

// sync compares the remote's refs with the clone's and fetches only when they
// differ.
func (r *gitRepo) sync(ctx context.Context, t *gitTransport, ref Ref) error {
	remote, err := r.repo.Remote("origin")
	if err != nil {
		return err
	}
	ctx = withRoundTripper(ctx, t.rt)
	advertised, err := remote.ListContext(ctx, &git.ListOptions{Auth: t.auth, PeelingOption: git.IgnorePeeled})
	if err != nil {
		return classifyGit(err, t.url)
	}
	want := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, a := range advertised {
		switch {
		case a.Name() == plumbing.HEAD && a.Type() == plumbing.SymbolicReference:
			r.head = a.Target().Short()
		case a.Type() == plumbing.HashReference && (a.Name().IsBranch() || a.Name().IsTag()):
			want[a.Name()] = a.Hash()
		}
	}
	if len(want) == 0 {
		return fail(KindNotFound, nil, "%s has no branches or tags yet; push a commit", SanitizeURL(t.url))
	}

	var specs []config.RefSpec
	compare := want
	if ref.Depth > 0 {
		// A shallow clone tracks the one ref asked for.
		name := plumbing.NewTagReferenceName(ref.Tag)
		if ref.Tag == "" {
			name = plumbing.NewBranchReferenceName(cmp.Or(ref.Branch, r.defaultBranch(want)))
		}
		h, ok := want[name]
		if !ok {
			return notFoundRef(ref, name, t.url, want)
		}
		compare = map[plumbing.ReferenceName]plumbing.Hash{name: h}
		specs = []config.RefSpec{config.RefSpec("+" + name.String() + ":" + name.String())}
	} else {
		specs = []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	}
	if r.upToDate(compare, ref.Depth == 0) {
		return nil
	}
	err = r.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", RefSpecs: specs, Depth: ref.Depth, Tags: git.NoTags, Force: true, Prune: ref.Depth == 0, Auth: t.auth,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return classifyGit(err, t.url)
	}
	return nil
}

// upToDate reports whether the clone's refs equal the remote's; with exact,
// local refs the remote no longer has count as a difference too.
func (r *gitRepo) upToDate(remote map[plumbing.ReferenceName]plumbing.Hash, exact bool) bool {
	seen := 0
	iter, err := r.repo.References()
	if err != nil {
		return false
	}
	same := true
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if !ref.Name().IsBranch() && !ref.Name().IsTag() {
			return nil
		}
		h, ok := remote[ref.Name()]
		switch {
		case ok && h == ref.Hash():
			seen++
		case ok || exact:
			same = false
		}
		return nil
	})
	return same && seen == len(remote)
}

func (r *gitRepo) defaultBranch(refs map[plumbing.ReferenceName]plumbing.Hash) string {
	if r.head != "" {
		return r.head
	}
	for _, b := range []string{"main", "master"} {
		if _, ok := refs[plumbing.NewBranchReferenceName(b)]; ok {
			return b
		}
	}
	return "main"
}

func (r *gitRepo) localRefs() map[plumbing.ReferenceName]plumbing.Hash {
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	iter, err := r.repo.References()
	if err != nil {
		return out
	}
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && (ref.Name().IsBranch() || ref.Name().IsTag()) {
			out[ref.Name()] = ref.Hash()
		}
		return nil
	})
	return out
}

// resolve turns the ref into a display name and a commit, from the clone alone.
func (r *gitRepo) resolve(ref Ref) (string, plumbing.Hash, error) {
	url := ""
	if rem, err := r.repo.Remote("origin"); err == nil && len(rem.Config().URLs) > 0 {
		url = rem.Config().URLs[0]
	}
	switch {
	case ref.Commit != "":
		c, err := r.repo.CommitObject(plumbing.NewHash(ref.Commit))
		if err != nil {
			hint := "push it to a branch or tag, or fix the annotation"
			if ref.Depth > 0 {
				hint = fmt.Sprintf("it may be older than git-clone-depth %d allows; raise the depth or remove the annotation", ref.Depth)
			}
			return "", plumbing.ZeroHash, fail(KindNotFound, nil, "commit %s is not on any branch or tag of %s; %s", ref.Commit, SanitizeURL(url), hint)
		}
		return "", c.Hash, nil
	case ref.Tag != "":
		name := plumbing.NewTagReferenceName(ref.Tag)
		rf, err := r.repo.Reference(name, true)
		if err != nil {
			return "", plumbing.ZeroHash, notFoundRef(ref, name, url, r.localRefs())
		}
		h, err := peel(r.repo, rf.Hash())
		if err != nil {
			return "", plumbing.ZeroHash, fmt.Errorf("tag %s of %s: %w", ref.Tag, SanitizeURL(url), err)
		}
		return ref.Tag, h, nil
	}
	branch := ref.Branch
	if branch == "" {
		branch = r.defaultBranch(r.localRefs())
	}
	name := plumbing.NewBranchReferenceName(branch)
	rf, err := r.repo.Reference(name, true)
	if err != nil {
		return "", plumbing.ZeroHash, notFoundRef(ref, name, url, r.localRefs())
	}
	return branch, rf.Hash(), nil
}

// peel follows annotated tags down to the commit.
func peel(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for i := 0; i < 10; i++ {
		tag, err := repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			c, err := repo.CommitObject(h)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("%s is not a commit: %w", h, err)
			}
			return c.Hash, nil
		}
		if err != nil {
			return plumbing.ZeroHash, err
		}
		h = tag.Target
	}
	return plumbing.ZeroHash, fmt.Errorf("tag chain at %s is too long", h)
}

// notFoundRef says a branch or tag is missing and lists a few that exist.
func notFoundRef(ref Ref, name plumbing.ReferenceName, url string, refs map[plumbing.ReferenceName]plumbing.Hash) error {
	kind, field := "branch", "apps.open-cluster-management.io/git-branch"
	if name.IsTag() {
		kind, field = "tag", "apps.open-cluster-management.io/git-tag"
	}
	var have []string
	for n := range refs {
		if n.IsTag() == name.IsTag() {
			have = append(have, n.Short())
		}
	}
	sort.Strings(have)
	if len(have) > 10 {
		have = append(have[:10], "…")
	}
	return fail(KindNotFound, nil, "%s %q not found in %s (it has %s); fix annotation %s",
		kind, name.Short(), SanitizeURL(url), strings.Join(have, ", "), field)
}

// classifyGit turns transport errors into Errors with a kind and a hint.
// An HTTP answer's status is described, never quoted, and its body never
// shown.
func classifyGit(err error, url string) error {
	u := SanitizeURL(url)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case egress.IsRefused(err):
		return refusedByPolicy(url)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fail(KindAuth, nil, "%s requires authentication; put user and accessToken (https) or sshKey (ssh) in the Channel's secretRef", u)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fail(KindAuth, nil, "%s refused the credentials; check the Channel's secretRef", u)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fail(KindNotFound, nil, "repository %s not found (or the credentials may not read it)", u)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fail(KindNotFound, nil, "%s is empty; push a commit", u)
	case errors.Is(err, errBodyTooLarge):
		return fail(KindUnavailable, nil, "%s sent more than %d MiB in one answer; the repository is too large for this hub", u, maxPackBytes>>20)
	}
	if code := gitHTTPStatus(err); code != 0 {
		return fail(KindUnavailable, nil, "%s %s", u, httpStatusText(code))
	}
	if k, hint := trustFailure(err); k {
		return fail(KindAuth, err, "%s: %s", u, hint)
	}
	msg := err.Error()
	if strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain") {
		return fail(KindAuth, nil, "%s refused the SSH key; check sshKey and passphrase in the Channel's secretRef", u)
	}
	return fail(KindUnavailable, err, "fetch %s", u)
}

// gitHTTPStatus is the status of an unexpected HTTP answer go-git reports,
// or 0.
func gitHTTPStatus(err error) int {
	var ue *plumbing.UnexpectedError
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var he *githttp.Err
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode
	}
	return 0
}
