package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

// Fetcher fetches one type of Channel.
type Fetcher interface {
	Fetch(ctx context.Context, req Request) (*Artifact, error)
}

// collector is a Fetcher with caches of its own to trim.
type collector interface {
	gc(cutoff time.Time)
}

// Store hands out artifacts, fetching each (channel, ref) at most once at a
// time and reusing what it fetched until a Request's NotBefore says it is
// stale. A failed fetch keeps the last good artifact (Cached) and backs off
// exponentially; a newer NotBefore or changed credentials retry at once. It is
// safe for concurrent use; every Subscription on a Channel shares it. Use one
// Store per cache folder.
type Store struct {
	dir      string
	log      logr.Logger
	opts     options
	clients  *httpClients
	fetchers map[appsv1.ChannelType]Fetcher

	mu        sync.Mutex
	entries   map[string]*entry
	byChannel map[types.NamespacedName]map[string]*entry
	snapshots map[string]time.Time // snapshot root -> last handed out
	subs      []*subscriber
	lastGC    time.Time
}

type entry struct {
	key      string
	channel  types.NamespacedName
	pathname string
	ref      string
	lock     chan struct{} // held while fetching, so concurrent callers wait for one fetch

	// guarded by Store.mu
	artifact    *Artifact
	history     []string // snapshot roots, oldest first
	lastAttempt time.Time
	lastErr     *Error
	failures    int
	nextRetry   time.Time
	credID      string
	lastUsed    time.Time
}

type subscriber struct {
	ch      chan event.GenericEvent
	pending map[types.NamespacedName]time.Time
}

// ArtifactState is what the Store knows about one ref of a Channel, for the
// Channel's status.
type ArtifactState struct {
	// Ref is the ref as Ref.String shows it.
	Ref string
	// Revision is the last good revision; empty when none was ever fetched.
	Revision string
	// CheckedAt is when the source last confirmed Revision.
	CheckedAt time.Time
	// LastAttempt is when the Store last tried the source.
	LastAttempt time.Time
	// Error is the last attempt's failure, sanitized; empty when it succeeded.
	Error string
	// Reason is the condition reason for Error: AuthenticationFailed,
	// InvalidSpec or FetchFailed; empty when Error is.
	Reason string
	// RetryAt is when the Store tries again after a failure.
	RetryAt time.Time
}

type options struct {
	backoffInitial time.Duration
	backoffMax     time.Duration
	fetchTimeout   time.Duration
	keep           int
	grace          time.Duration
	entryTTL       time.Duration
	cacheTTL       time.Duration
	gcEvery        time.Duration
	allowLocal     bool
	egress         *egress.Policy
	export         exportLimits
	indexBudget    int64
	observer       Observer
}

// Observer is told about every fetch that reached a source (fetches served
// from the Store's cache are not reported), for metrics. Implementations
// must be safe for concurrent use and fast.
type Observer interface {
	// ObserveFetch reports one fetch of a Channel of type typ (normalized);
	// err is the *Error the caller got, nil on success.
	ObserveFetch(typ appsv1.ChannelType, took time.Duration, err error)
}

// WithObserver reports every fetch that reaches a source to o.
func WithObserver(o Observer) Option {
	return func(opts *options) { opts.observer = o }
}

// Option tunes a Store.
type Option func(*options)

// WithBackoff sets the first and the longest wait after failed fetches
// (defaults 10s and 5m).
func WithBackoff(initial, max time.Duration) Option {
	return func(o *options) { o.backoffInitial, o.backoffMax = initial, max }
}

// WithFetchTimeout bounds one fetch (default 10m, for first clones of big
// repositories).
func WithFetchTimeout(d time.Duration) Option {
	return func(o *options) { o.fetchTimeout = d }
}

// WithRetention sets how many snapshots each (channel, ref) keeps (default 3)
// and how long any snapshot handed out stays on disk after its last hand-out
// even when no longer kept (default 15m), so renders in flight never lose it.
func WithRetention(keep int, grace time.Duration) Option {
	return func(o *options) { o.keep, o.grace = keep, grace }
}

// WithGCInterval sets how often garbage collection may run (default 1m),
// how long an unused (channel, ref) is remembered (default 3h, past the
// slowest poll), and how long unused clones and indexes stay (default 24h).
func WithGCInterval(every, entryTTL, cacheTTL time.Duration) Option {
	return func(o *options) { o.gcEvery, o.entryTTL, o.cacheTTL = every, entryTTL, cacheTTL }
}

// WithLocalRepositories allows Git Channels to read repositories on the hub's
// own disk (file:// URLs and paths). It is off by default: a Channel author
// must not be able to read the hub's files; the lab and tests turn it on.
func WithLocalRepositories(allowed bool) Option {
	return func(o *options) { o.allowLocal = allowed }
}

// WithEgress sets the non-public networks sources may reach. Without it,
// or with nil, Git, Helm and S3 sources are reached on public addresses
// only: a Channel author must not make the hub probe its own network or a
// cloud metadata service. The lab and tests allow loopback.
func WithEgress(p *egress.Policy) Option {
	return func(o *options) { o.egress = p }
}

// WithExportLimits bounds the files and bytes of one exported Git commit
// (defaults DefaultMaxExportFiles and DefaultMaxExportBytes); a commit
// beyond either fails to fetch with InvalidSpec.
func WithExportLimits(files int, bytes int64) Option {
	return func(o *options) { o.export = exportLimits{files: files, bytes: bytes} }
}

// DefaultIndexBudget bounds the Helm repository indexes kept parsed, in
// bytes of index.yaml, across all Channels.
const DefaultIndexBudget = 256 << 20

// WithIndexBudget bounds the Helm repository indexes kept parsed between
// polls, in bytes of index.yaml summed over every repository (default
// DefaultIndexBudget); the least recently used are dropped first.
func WithIndexBudget(bytes int64) Option {
	return func(o *options) { o.indexBudget = bytes }
}

// NewStore returns a Store that keeps its clones, caches and snapshots under dir.
func NewStore(dir string, log logr.Logger, opts ...Option) *Store {
	o := options{
		backoffInitial: 10 * time.Second,
		backoffMax:     5 * time.Minute,
		fetchTimeout:   10 * time.Minute,
		keep:           3,
		grace:          15 * time.Minute,
		entryTTL:       3 * time.Hour,
		cacheTTL:       24 * time.Hour,
		gcEvery:        time.Minute,
		export:         exportLimits{files: DefaultMaxExportFiles, bytes: DefaultMaxExportBytes},
		indexBudget:    DefaultIndexBudget,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.keep < 1 {
		o.keep = 1
	}
	clients := newHTTPClients(o.egress)
	return &Store{
		dir:     dir,
		log:     log,
		opts:    o,
		clients: clients,
		fetchers: map[appsv1.ChannelType]Fetcher{
			appsv1.ChannelTypeGit:          newGitFetcher(dir, log.WithName("git"), clients, o),
			appsv1.ChannelTypeHelmRepo:     newHelmFetcher(dir, log.WithName("helm"), clients, o.indexBudget),
			appsv1.ChannelTypeObjectBucket: newBucketFetcher(dir, log.WithName("bucket"), clients),
		},
		entries:   map[string]*entry{},
		byChannel: map[types.NamespacedName]map[string]*entry{},
		snapshots: map[string]time.Time{},
	}
}

// Fetch returns the artifact for the request: from cache when it was checked
// at or after req.NotBefore, else from the source. On failure it returns an
// *Error (sanitized, classified, with RetryAfter) and Cached still returns
// the last good artifact. Returned artifacts are copies; their Dir never
// changes while it may still be in use.
func (s *Store) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	f, err := s.fetcherFor(req)
	if err != nil {
		return nil, err
	}
	san := newSanitizer(req.Credentials)
	credID := req.Credentials.identity(req.Channel.Spec.InsecureSkipVerify)
	e := s.entry(req)
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, toError(ctx.Err(), req, san)
	}
	defer func() { <-e.lock }()

	now := time.Now()
	if a, err, done := s.answerFromCache(e, req, credID, now); done {
		return a, err
	}
	fctx, cancel := context.WithTimeout(ctx, s.opts.fetchTimeout)
	defer cancel()
	a, err := s.fetchAndPin(fctx, f, req)
	s.observe(req, now, err, san)
	if err != nil {
		fe := toError(err, req, san)
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the source.
			return nil, fe
		}
		return nil, s.recordFailure(e, fe, credID, now)
	}
	return s.recordSuccess(e, a, credID, now), nil
}

// fetcherFor is the Fetcher of the request's Channel type.
func (s *Store) fetcherFor(req Request) (Fetcher, error) {
	if req.Channel == nil {
		return nil, fmt.Errorf("fetch: no channel given")
	}
	if f, ok := s.fetchers[req.Channel.Spec.Type.Normalized()]; ok {
		return f, nil
	}
	return nil, &Error{Kind: KindInvalid, Channel: req.Channel.Namespace + "/" + req.Channel.Name, Ref: req.Ref.String(),
		msg: fmt.Sprintf("Channel %s/%s: spec.type %q is not supported; use Git, HelmRepo or ObjectBucket",
			req.Channel.Namespace, req.Channel.Name, req.Channel.Spec.Type)}
}

// answerFromCache serves the request without the source when it can: an
// artifact checked at or after NotBefore, or, while backing off from a
// failure with the same credentials and no newer NotBefore, that failure.
// done says whether the answer is final. The caller holds e.lock.
func (s *Store) answerFromCache(e *entry, req Request, credID string, now time.Time) (*Artifact, error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.lastErr == nil && e.artifact != nil && !e.artifact.CheckedAt.Before(req.NotBefore) {
		return s.handOut(e), nil, true
	}
	if e.lastErr != nil && e.credID == credID && now.Before(e.nextRetry) && !req.NotBefore.After(e.lastAttempt) {
		err := *e.lastErr
		err.RetryAfter = e.nextRetry.Sub(now)
		return nil, &err, true
	}
	return nil, nil, false
}

// observe reports a fetch that reached the source.
func (s *Store) observe(req Request, start time.Time, err error, san sanitizer) {
	if s.opts.observer == nil {
		return
	}
	var fe error
	if err != nil {
		fe = toError(err, req, san)
	}
	s.opts.observer.ObserveFetch(req.Channel.Spec.Type.Normalized(), time.Since(start), fe)
}

// recordFailure backs the entry off, keeps its last good artifact, and
// tells subscribers when the error is new. It returns the caller's copy.
func (s *Store) recordFailure(e *entry, fe *Error, credID string, now time.Time) *Error {
	s.mu.Lock()
	e.failures++
	wait := s.backoff(e.failures, fe.Kind)
	e.lastAttempt, e.nextRetry, e.credID = now, now.Add(wait), credID
	fe.RetryAfter = wait
	changed := e.lastErr == nil || e.lastErr.msg != fe.msg
	e.lastErr = fe
	failures := e.failures
	s.mu.Unlock()
	s.log.Info("fetch failed", "channel", e.channel.String(), "ref", e.ref, "error", fe.Error(), "retryAfter", wait, "failures", failures)
	if changed {
		s.notify(e.channel)
	}
	out := *fe
	return &out
}

// recordSuccess makes a the entry's artifact, keeps it in the entry's
// history, tells subscribers when something changed, and collects garbage
// when it is time. It returns the caller's copy.
func (s *Store) recordSuccess(e *entry, a *Artifact, credID string, now time.Time) *Artifact {
	a.CheckedAt = now
	s.mu.Lock()
	changed := e.artifact == nil || e.artifact.Revision != a.Revision || e.lastErr != nil
	if changed {
		s.log.Info("fetched", "channel", e.channel.String(), "ref", e.ref, "revision", a.Revision, "took", time.Since(now).Round(time.Millisecond))
	}
	e.artifact = a
	e.lastErr, e.failures, e.lastAttempt, e.credID, e.nextRetry = nil, 0, now, credID, time.Time{}
	e.keep(a.root, s.opts.keep)
	out := s.handOut(e)
	runGC := time.Since(s.lastGC) >= s.opts.gcEvery
	if runGC {
		s.lastGC = time.Now()
	}
	s.mu.Unlock()
	if changed {
		s.notify(e.channel)
	}
	if runGC {
		s.collect()
	}
	return out
}

// keep appends root to the entry's history (once) and trims it to n. s.mu
// is held.
func (e *entry) keep(root string, n int) {
	if l := len(e.history); l > 0 && e.history[l-1] == root {
		return
	}
	e.history = append(removeString(e.history, root), root)
	if len(e.history) > n {
		e.history = e.history[len(e.history)-n:]
	}
}

// fetchAndPin runs the fetcher and records the snapshot as handed out. The
// check that the snapshot still exists and the record happen under s.mu,
// where garbage collection also decides and moves snapshots away, so a
// snapshot is either pinned before collection looks or re-created by a
// second fetch.
func (s *Store) fetchAndPin(ctx context.Context, f Fetcher, req Request) (*Artifact, error) {
	for attempt := 0; ; attempt++ {
		a, err := f.Fetch(ctx, req)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		_, statErr := os.Stat(a.root)
		if statErr == nil {
			s.snapshots[a.root] = time.Now()
		}
		s.mu.Unlock()
		if statErr == nil {
			return a, nil
		}
		if attempt == 1 {
			return nil, fmt.Errorf("snapshot %s vanished: %w", filepath.Base(a.root), statErr)
		}
	}
}

// handOut copies the entry's artifact and notes the hand-out. s.mu is held.
func (s *Store) handOut(e *entry) *Artifact {
	s.snapshots[e.artifact.root] = time.Now()
	a := *e.artifact
	return &a
}

// backoff is the wait after the n-th failure in a row, with ±10% jitter.
func (s *Store) backoff(n int, kind Kind) time.Duration {
	d := s.opts.backoffInitial
	if kind == KindInvalid || kind == KindAuth {
		// Only a changed object or secret fixes these; both retry at once.
		d *= 4
	}
	for i := 1; i < n && d < s.opts.backoffMax; i++ {
		d *= 2
	}
	if d > s.opts.backoffMax {
		d = s.opts.backoffMax
	}
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// Cached returns the last good artifact for the request, if any.
func (s *Store) Cached(req Request) *Artifact {
	if req.Channel == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[cacheKey(req)]
	if !ok || e.artifact == nil {
		return nil
	}
	return s.handOut(e)
}

// Backoff is how long the Store will refuse to retry the request's source
// after failures, unless a newer NotBefore or new credentials force it; 0
// when it is not backing off.
func (s *Store) Backoff(req Request) time.Duration {
	if req.Channel == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[cacheKey(req)]
	if !ok || e.lastErr == nil {
		return 0
	}
	if d := time.Until(e.nextRetry); d > 0 {
		return d
	}
	return 0
}

// Artifacts lists what the Store knows of the Channel's refs, sorted by ref,
// for its status. Calling it also acknowledges pending notifications for
// the Channel.
func (s *Store) Artifacts(channel types.NamespacedName) []ArtifactState {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		delete(sub.pending, channel)
	}
	var out []ArtifactState
	for _, e := range s.byChannel[channel] {
		st := ArtifactState{Ref: e.ref, LastAttempt: e.lastAttempt}
		if e.artifact != nil {
			st.Revision, st.CheckedAt = e.artifact.Revision, e.artifact.CheckedAt
		}
		if e.lastErr != nil {
			st.Error, st.Reason, st.RetryAt = e.lastErr.msg, e.lastErr.Reason(), e.nextRetry
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}

// Forget drops what the Store remembers of a Channel (call it when the
// Channel is deleted). Its snapshots go with the next garbage collection.
func (s *Store) Forget(channel types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.byChannel[channel] {
		delete(s.entries, key)
	}
	delete(s.byChannel, channel)
	for _, sub := range s.subs {
		delete(sub.pending, channel)
	}
}

// Subscribe returns events naming Channels whose fetch results changed (a
// new revision, a new error, or recovery), for the Channel controller to
// refresh their status: pass it to source.Channel with
// handler.EnqueueRequestForObject. Sends never block: events for a Channel
// coalesce until Artifacts is called for it (or 30s pass), and when the
// buffer is full events are dropped — the controller's own resyncs cover
// that case.
func (s *Store) Subscribe() <-chan event.GenericEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &subscriber{ch: make(chan event.GenericEvent, 1024), pending: map[types.NamespacedName]time.Time{}}
	s.subs = append(s.subs, sub)
	return sub.ch
}

func (s *Store) notify(channel types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, sub := range s.subs {
		if t, ok := sub.pending[channel]; ok && now.Sub(t) < 30*time.Second {
			continue
		}
		obj := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: channel.Namespace, Name: channel.Name}}
		select {
		case sub.ch <- event.GenericEvent{Object: obj}:
			sub.pending[channel] = now
		default:
		}
	}
}

func (s *Store) entry(req Request) *entry {
	key := cacheKey(req)
	nn := types.NamespacedName{Namespace: req.Channel.Namespace, Name: req.Channel.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		e = &entry{key: key, channel: nn, pathname: req.Channel.Spec.Pathname, ref: req.Ref.String(), lock: make(chan struct{}, 1)}
		s.entries[key] = e
		refs := s.byChannel[nn]
		if refs == nil {
			refs = map[string]*entry{}
			s.byChannel[nn] = refs
		}
		// A changed pathname makes the old address's entries meaningless.
		for k, old := range refs {
			if old.pathname != e.pathname {
				delete(refs, k)
				delete(s.entries, k)
			}
		}
		refs[key] = e
	}
	e.lastUsed = time.Now()
	return e
}

// collect forgets unused entries, deletes snapshots no entry keeps and
// nobody was handed recently (and leftovers of earlier processes), and lets
// fetchers trim their caches. Doomed snapshots are moved aside under s.mu
// (fast) and deleted after it (slow); see fetchAndPin.
func (s *Store) collect() {
	now := time.Now()
	s.mu.Lock()
	s.forgetUnused(now)
	moved := s.moveAside(s.doomed(now))
	s.mu.Unlock()

	if moved > 0 {
		s.emptyTrash()
		s.log.V(1).Info("garbage-collected snapshots", "count", moved)
	}
	for _, f := range s.fetchers {
		if c, ok := f.(collector); ok {
			c.gc(now.Add(-s.opts.cacheTTL))
		}
	}
	s.clients.gc(now.Add(-s.opts.cacheTTL))
}

// forgetUnused drops entries nobody asked for within entryTTL. s.mu is held.
func (s *Store) forgetUnused(now time.Time) {
	for key, e := range s.entries {
		if now.Sub(e.lastUsed) <= s.opts.entryTTL {
			continue
		}
		delete(s.entries, key)
		if refs := s.byChannel[e.channel]; refs != nil {
			delete(refs, key)
			if len(refs) == 0 {
				delete(s.byChannel, e.channel)
			}
		}
	}
}

// doomed lists snapshots no entry keeps and nobody was handed within the
// grace period, and untracked leftovers on disk. s.mu is held.
func (s *Store) doomed(now time.Time) []string {
	kept := map[string]bool{}
	for _, e := range s.entries {
		for _, root := range e.history {
			kept[root] = true
		}
	}
	var drop []string
	for root, last := range s.snapshots {
		if !kept[root] && now.Sub(last) > s.opts.grace {
			drop = append(drop, root)
			delete(s.snapshots, root)
		}
	}
	return append(drop, s.leftovers(now, kept)...)
}

// leftovers are snapshots on disk this Store never handed out: from an
// earlier process, or half-written by a crash (fresh ones, whose names
// start with a dot, may still be in the making). s.mu is held.
func (s *Store) leftovers(now time.Time, kept map[string]bool) []string {
	artifacts := filepath.Join(s.dir, "artifacts")
	list, err := os.ReadDir(artifacts)
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range list {
		root := filepath.Join(artifacts, d.Name())
		if _, tracked := s.snapshots[root]; tracked || kept[root] {
			continue
		}
		age := s.opts.grace
		if strings.HasPrefix(d.Name(), ".") {
			age = 2 * s.opts.fetchTimeout
		}
		if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) > age {
			out = append(out, root)
		}
	}
	return out
}

// moveAside renames snapshots into the trash folder, fast and under s.mu,
// so no fetch pins one half-deleted (see fetchAndPin). It returns how many
// moved.
func (s *Store) moveAside(roots []string) int {
	trash := filepath.Join(s.dir, "trash")
	if len(roots) == 0 || os.MkdirAll(trash, 0o755) != nil {
		return 0
	}
	moved := 0
	for _, root := range roots {
		// Moving a read-only folder to another parent rewrites its "..".
		_ = os.Chmod(root, 0o755)
		if os.Rename(root, filepath.Join(trash, filepath.Base(root)+"-"+randomSuffix())) == nil {
			moved++
		}
	}
	return moved
}

// emptyTrash deletes what was moved aside, and leftovers of a process that
// stopped while deleting.
func (s *Store) emptyTrash() {
	trash := filepath.Join(s.dir, "trash")
	list, err := os.ReadDir(trash)
	if err != nil {
		return
	}
	for _, d := range list {
		removeTree(filepath.Join(trash, d.Name()))
	}
}

func randomSuffix() string {
	return fmt.Sprintf("%08x", rand.Uint32())
}

func removeString(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// cacheKey identifies a (channel, address, ref) so a changed pathname is a new entry.
func cacheKey(req Request) string {
	h := sha256.Sum256([]byte(req.Channel.Namespace + "/" + req.Channel.Name + "\x00" +
		req.Channel.Spec.Pathname + "\x00" + req.Ref.String()))
	return hex.EncodeToString(h[:16])
}
