package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Field indexes the receiver adds to the manager's cache.
const (
	// IndexChannelRepo indexes webhook-enabled Git Channels by the
	// case-folded source.RepoKey of their pathname.
	IndexChannelRepo = "ocm-gitops.webhook.repo"

	// SecretKey is the key of the webhook Secret holding the shared secret, as OCM names it.
	SecretKey = "secret"

	// DefaultMaxBodyBytes bounds a request body; push events are far smaller.
	DefaultMaxBodyBytes = 5 << 20
	// Path is where the receiver listens.
	Path = "/webhook"
)

var errIgnored = errors.New("not a push event")

// accepted is the answer to every well-formed push, whatever came of it:
// which repositories the hub follows, which Channels a push reached and
// whether a signature verified are for the hub's log, not for whoever
// sends requests.
var accepted = result{Message: "received; Channels following this repository fetch it when the push verifies"}

// Receiver handles POST /webhook. On a verified push it stamps
// apps.open-cluster-management.io/reconcile-requested-at (RFC 3339, with
// nanoseconds) on every webhook-enabled Channel whose pathname is the pushed
// repository, and on those Channels' Subscriptions that follow a pushed
// branch or tag (or the default branch, when they name none).
//
// Before reading a body it applies a rate limit and a bound on requests in
// flight (429 beyond them) and refuses a declared length over the limit.
// Webhook secrets are cached; a delivery ID seen with a verified push is
// not acted on again. Every push gets the same answer.
type Receiver struct {
	client  client.Client
	log     logr.Logger
	maxBody int64
	now     func() time.Time

	limiter    *rate.Limiter
	inFlight   chan struct{}
	secrets    *secretCache
	deliveries *deliveries
}

// Option tunes a Receiver and SetupWithManager.
type Option func(*config)

type config struct {
	listener    net.Listener
	maxBody     int64
	rate        float64
	burst       int
	maxInFlight int
	now         func() time.Time
}

// WithListener serves on an already open listener instead of addr.
func WithListener(l net.Listener) Option { return func(c *config) { c.listener = l } }

// WithMaxBodyBytes bounds request bodies (DefaultMaxBodyBytes by default).
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithRateLimit bounds requests per second over all senders, with bursts
// of up to burst (DefaultRate and DefaultBurst by default).
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) { c.rate, c.burst = perSecond, burst }
}

// WithMaxInFlight bounds the requests handled at once (DefaultMaxInFlight).
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithClock sets the clock of stamps and caches (time.Now by default).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func newConfig(opts []Option) config {
	c := config{maxBody: DefaultMaxBodyBytes, rate: DefaultRate, burst: DefaultBurst, maxInFlight: DefaultMaxInFlight, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// NewReceiver returns a receiver that reads Channels and Subscriptions from
// c (a cache with AddIndexes' indexes) and patches them, and reads webhook
// Secrets with secrets (directly from the API server, so the hub need not
// cache every Secret).
func NewReceiver(c client.Client, secrets client.Reader, log logr.Logger, opts ...Option) *Receiver {
	cfg := newConfig(opts)
	return &Receiver{
		client:     c,
		log:        log,
		maxBody:    cfg.maxBody,
		now:        cfg.now,
		limiter:    rate.NewLimiter(rate.Limit(cfg.rate), cfg.burst),
		inFlight:   make(chan struct{}, max(cfg.maxInFlight, 1)),
		secrets:    &secretCache{reader: secrets, now: cfg.now, entries: map[types.NamespacedName]cachedSecret{}},
		deliveries: &deliveries{seen: map[string]time.Time{}},
	}
}

// SetupWithManager registers the receiver's cache indexes and serves it on
// addr (e.g. ":8090") at POST /webhook for as long as the manager runs, on
// every replica (it needs no leader: patches are idempotent).
func SetupWithManager(mgr ctrl.Manager, addr string, opts ...Option) error {
	if err := AddIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	log := mgr.GetLogger().WithName("webhook")
	r := NewReceiver(mgr.GetClient(), mgr.GetAPIReader(), log, opts...)
	mux := http.NewServeMux()
	mux.Handle(Path, r)
	return mgr.Add(&server{addr: addr, listener: newConfig(opts).listener, handler: mux, log: log})
}

// AddIndexes registers the receiver's own field index; it also lists
// Subscriptions by index.SubscriptionChannel, which the manager must have
// (hub.Run registers it).
func AddIndexes(ctx context.Context, idx client.FieldIndexer) error {
	if err := idx.IndexField(ctx, &appsv1.Channel{}, IndexChannelRepo, func(o client.Object) []string {
		ch := o.(*appsv1.Channel)
		if ch.Spec.Type.Normalized() != appsv1.ChannelTypeGit || !webhookEnabled(ch) {
			return nil
		}
		if k := repoKey(ch.Spec.Pathname); k != "" {
			return []string{k}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Channels by repository: %w", err)
	}
	return nil
}

// repoKey is the repository key the receiver matches by: case-folded, as
// every forge that sends pushes routes paths regardless of case; local
// paths never match.
func repoKey(raw string) string {
	k := source.RepoKey(raw, true)
	if strings.HasPrefix(k, "/") {
		return ""
	}
	return k
}

func webhookEnabled(ch *appsv1.Channel) bool {
	a := ch.GetAnnotations()
	return strings.EqualFold(strings.TrimSpace(cmp.Or(a[appsv1.AnnotationWebhookEnabled], a["webhookenabled"])), "true")
}

// result is the JSON answer to a request.
type result struct {
	Message string `json:"message"`
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, result{Message: "use POST"})
		return
	}
	provider, kind, event, ok := detect(req.Header)
	if !ok {
		reply(w, http.StatusBadRequest, result{Message: "unknown sender: expected the X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event or X-Event-Key header"})
		return
	}
	if !r.admit(w) {
		return
	}
	defer func() { <-r.inFlight }()
	body, ok := r.readBody(w, req)
	if !ok {
		return
	}
	switch kind {
	case eventPing:
		reply(w, http.StatusOK, result{Message: "pong"})
		return
	case eventOther:
		reply(w, http.StatusAccepted, result{Message: fmt.Sprintf("ignored %s event %q: only pushes trigger a fetch", provider, event)})
		return
	}
	payload := body
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// GitHub's form encoding wraps the JSON in payload=; signatures cover the raw body.
		if p := formPayload(body); p != nil {
			payload = p
		}
	}
	out := r.handlePush(req.Context(), provider, req, body, payload)
	reply(w, out.status, out.result)
}

// admit applies the rate limit and takes a place among the requests in
// flight, answering 429 when either is exhausted. The caller frees the
// place when admit returns true.
func (r *Receiver) admit(w http.ResponseWriter) bool {
	if !r.limiter.Allow() {
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusTooManyRequests, result{Message: "too many requests; retry later"})
		return false
	}
	select {
	case r.inFlight <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusTooManyRequests, result{Message: "too many requests in flight; retry later"})
		return false
	}
}

// readBody reads at most maxBody bytes, refusing a longer declared length
// before reading anything.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, bool) {
	if req.ContentLength > r.maxBody {
		reply(w, http.StatusRequestEntityTooLarge, result{Message: fmt.Sprintf("body larger than %d bytes", r.maxBody)})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reply(w, http.StatusRequestEntityTooLarge, result{Message: fmt.Sprintf("body larger than %d bytes", r.maxBody)})
		return nil, false
	case err != nil:
		reply(w, http.StatusBadRequest, result{Message: "could not read the body"})
		return nil, false
	}
	return body, true
}

type outcome struct {
	status int
	result result
}

// retry is the answer when the hub itself failed; it says nothing of the push.
var retry = outcome{http.StatusServiceUnavailable, result{Message: "the hub could not handle the push now; retry"}}

func (r *Receiver) handlePush(ctx context.Context, provider Provider, req *http.Request, body, payload []byte) outcome {
	log := r.log.WithValues("provider", provider)
	p, err := parsePush(provider, payload)
	if errors.Is(err, errIgnored) {
		return outcome{http.StatusAccepted, accepted}
	}
	if err != nil {
		return outcome{http.StatusBadRequest, result{Message: err.Error()}}
	}
	log = log.WithValues("repository", repoKey(p.repoURLs[0]))
	verified, err := r.verifiedChannels(ctx, provider, req, body, p)
	if err != nil {
		log.Error(err, "find the Channels of a push")
		return retry
	}
	if len(verified) == 0 {
		return outcome{http.StatusAccepted, accepted}
	}
	if id := deliveryID(provider, req.Header); !r.deliveries.first(id, r.now()) {
		log.Info("push ignored: delivery already handled (a replay)", "delivery", id)
		return outcome{http.StatusAccepted, accepted}
	}
	channels, subs, err := r.stampAll(ctx, verified, p)
	if err != nil {
		log.Error(err, "request a fetch")
		return retry
	}
	log.Info("push received", "refs", p.refs, "channels", channels, "subscriptions", subs)
	return outcome{http.StatusAccepted, accepted}
}

// verifiedChannels are the webhook-enabled Channels of the pushed
// repository whose secret the request verifies (or that have none).
func (r *Receiver) verifiedChannels(ctx context.Context, provider Provider, req *http.Request, body []byte, p *push) ([]*appsv1.Channel, error) {
	channels, err := r.channelsFor(ctx, p.repoURLs)
	if err != nil || len(channels) == 0 {
		return nil, err
	}
	query := req.URL.Query()
	isSigned := signed(req.Header, query)
	var verified []*appsv1.Channel
	for _, ch := range channels {
		ok, err := r.accepts(ctx, provider, ch, req.Header, query, body, isSigned)
		if err != nil {
			return nil, fmt.Errorf("webhook secret of Channel %s/%s: %w", ch.Namespace, ch.Name, err)
		}
		if ok {
			verified = append(verified, ch)
		}
	}
	if len(verified) == 0 {
		r.log.Info("push rejected: signature or token did not verify", "repository", repoKey(p.repoURLs[0]), "channels", len(channels))
	}
	return verified, nil
}

// stampAll stamps the Channels and their Subscriptions that follow a
// pushed ref; it returns their names for the log.
func (r *Receiver) stampAll(ctx context.Context, channels []*appsv1.Channel, p *push) ([]string, []string, error) {
	stamp := r.now().UTC().Format(time.RFC3339Nano)
	var names, subNames []string
	for _, ch := range channels {
		if err := r.stamp(ctx, ch, stamp); err != nil {
			return nil, nil, fmt.Errorf("Channel %s/%s: %w", ch.Namespace, ch.Name, err)
		}
		names = append(names, ch.Namespace+"/"+ch.Name)
		subs := &appsv1.SubscriptionList{}
		if err := r.client.List(ctx, subs, client.MatchingFields{index.SubscriptionChannel: ch.Namespace + "/" + ch.Name}); err != nil {
			return nil, nil, fmt.Errorf("list Subscriptions: %w", err)
		}
		for i := range subs.Items {
			sub := &subs.Items[i]
			if !follows(sub, p) {
				continue
			}
			if err := r.stamp(ctx, sub, stamp); err != nil {
				return nil, nil, fmt.Errorf("Subscription %s/%s: %w", sub.Namespace, sub.Name, err)
			}
			subNames = append(subNames, sub.Namespace+"/"+sub.Name)
		}
	}
	sort.Strings(subNames)
	return names, subNames, nil
}

// channelsFor lists webhook-enabled Git Channels for any of the URLs.
func (r *Receiver) channelsFor(ctx context.Context, urls []string) ([]*appsv1.Channel, error) {
	seen := map[types.NamespacedName]bool{}
	keys := map[string]bool{}
	var out []*appsv1.Channel
	for _, u := range urls {
		k := repoKey(u)
		if k == "" || keys[k] {
			continue
		}
		keys[k] = true
		list := &appsv1.ChannelList{}
		if err := r.client.List(ctx, list, client.MatchingFields{IndexChannelRepo: k}); err != nil {
			return nil, err
		}
		for i := range list.Items {
			ch := &list.Items[i]
			nn := types.NamespacedName{Namespace: ch.Namespace, Name: ch.Name}
			if !seen[nn] && webhookEnabled(ch) {
				seen[nn] = true
				out = append(out, ch)
			}
		}
	}
	return out, nil
}

// accepts verifies the request for one Channel. A Channel naming a webhook
// Secret requires a valid signature or token; one without accepts unsigned
// pushes, as OCM does (a push only makes the hub fetch sooner, from the
// Channel's own source with its own credentials). Secrets come from the
// cache; one that does not verify is read again if the cached copy is more
// than a few seconds old, so a rotated secret works at once.
func (r *Receiver) accepts(ctx context.Context, p Provider, ch *appsv1.Channel, h http.Header, query map[string][]string, body []byte, isSigned bool) (bool, error) {
	name := strings.TrimSpace(ch.GetAnnotations()[appsv1.AnnotationWebhookSecret])
	if name == "" {
		if !isSigned {
			r.log.V(1).Info("unsigned push accepted for a Channel without a webhook secret", "channel", ch.Namespace+"/"+ch.Name)
		}
		return true, nil
	}
	nn := types.NamespacedName{Namespace: ch.Namespace, Name: name}
	for _, recheck := range []bool{false, true} {
		secret, fresh, err := r.secrets.get(ctx, nn, recheck)
		if err != nil {
			return false, err
		}
		if len(secret) > 0 && verify(p, h, query, body, secret) {
			return true, nil
		}
		if fresh {
			break // just read: reading again says nothing new
		}
	}
	r.log.V(1).Info("push not verified for Channel", "channel", ch.Namespace+"/"+ch.Name, "secret", nn.String())
	return false, nil
}

// follows reports whether the Subscription tracks a ref the push moved.
func follows(sub *appsv1.Subscription, p *push) bool {
	ref := source.RefFor(sub)
	switch {
	case ref.Commit != "":
		return false // a pinned commit never moves
	case ref.Tag != "":
		return containsRef(p.refs, "refs/tags/"+strings.TrimPrefix(ref.Tag, "refs/tags/"))
	case ref.Branch != "":
		return containsRef(p.refs, "refs/heads/"+strings.TrimPrefix(ref.Branch, "refs/heads/"))
	case p.defaultBranch != "":
		return containsRef(p.refs, "refs/heads/"+p.defaultBranch)
	}
	// The payload does not say which branch is the default: any branch push may be it.
	for _, r := range p.refs {
		if strings.HasPrefix(r, "refs/heads/") {
			return true
		}
	}
	return len(p.refs) == 0
}

func containsRef(refs []string, want string) bool {
	for _, r := range refs {
		if r == want {
			return true
		}
	}
	return false
}

// stamp sets reconcile-requested-at with a merge patch: no read-modify-write
// conflict with controllers updating the object.
func (r *Receiver) stamp(ctx context.Context, obj client.Object, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		appsv1.AnnotationReconcileRequestedAt: value,
	}}})
	if err != nil {
		return err
	}
	err = r.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
	if apierrors.IsNotFound(err) {
		return nil // deleted since the cache saw it
	}
	return err
}

func reply(w http.ResponseWriter, status int, res result) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// formPayload extracts payload= from a form-encoded body (GitHub's
// "application/x-www-form-urlencoded" content type).
func formPayload(body []byte) []byte {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil
	}
	if p := vals["payload"]; len(p) > 0 {
		return []byte(p[0])
	}
	return nil
}

// server runs the receiver's HTTP server as a manager Runnable.
type server struct {
	addr     string
	listener net.Listener
	handler  http.Handler
	log      logr.Logger
}

// NeedLeaderElection is false: every replica may receive webhooks.
func (s *server) NeedLeaderElection() bool { return false }

func (s *server) Start(ctx context.Context) error {
	l := s.listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", s.addr); err != nil {
			return fmt.Errorf("webhook receiver: listen on %s: %w", s.addr, err)
		}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.log.Info("webhook receiver listening", "addr", l.Addr().String(), "path", Path)
	select {
	case err := <-errc:
		return fmt.Errorf("webhook receiver: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("webhook receiver: shut down: %w", err)
	}
	return nil
}
