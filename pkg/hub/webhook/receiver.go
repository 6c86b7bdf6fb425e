package webhook

import (
	"bytes"
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
	corev1 "k8s.io/api/core/v1"
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
	// IndexChannelRepo indexes webhook-enabled Git Channels by RepoKey of
	// their pathname.
	IndexChannelRepo = "ocm-gitops.webhook.repo"

	// SecretKey is the key of the webhook Secret holding the shared secret, as OCM names it.
	SecretKey = "secret"

	// DefaultMaxBodyBytes bounds a request body; push events are far smaller.
	DefaultMaxBodyBytes = 5 << 20
	// Path is where the receiver listens.
	Path = "/webhook"
)

var errIgnored = errors.New("not a push event")

// Receiver handles POST /webhook. On a verified push it stamps
// apps.open-cluster-management.io/reconcile-requested-at (RFC 3339, with
// nanoseconds) on every webhook-enabled Channel whose pathname is the pushed
// repository, and on those Channels' Subscriptions that follow a pushed
// branch or tag (or the default branch, when they name none).
type Receiver struct {
	// Client reads Channels and Subscriptions from the cache (with the
	// indexes above) and patches them.
	Client client.Client
	// Secrets reads webhook Secrets directly from the API server, so the
	// hub need not cache every Secret.
	Secrets client.Reader
	Log     logr.Logger
	// MaxBodyBytes bounds request bodies (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Option tunes SetupWithManager.
type Option func(*setup)

type setup struct {
	listener net.Listener
	maxBody  int64
}

// WithListener serves on an already open listener instead of addr.
func WithListener(l net.Listener) Option { return func(s *setup) { s.listener = l } }

// WithMaxBodyBytes bounds request bodies.
func WithMaxBodyBytes(n int64) Option { return func(s *setup) { s.maxBody = n } }

// SetupWithManager registers the receiver's cache indexes and serves it on
// addr (e.g. ":8090") at POST /webhook for as long as the manager runs, on
// every replica (it needs no leader: patches are idempotent).
func SetupWithManager(mgr ctrl.Manager, addr string, opts ...Option) error {
	var s setup
	for _, o := range opts {
		o(&s)
	}
	if err := AddIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	r := &Receiver{
		Client:       mgr.GetClient(),
		Secrets:      mgr.GetAPIReader(),
		Log:          mgr.GetLogger().WithName("webhook"),
		MaxBodyBytes: s.maxBody,
	}
	mux := http.NewServeMux()
	mux.Handle(Path, r)
	return mgr.Add(&server{addr: addr, listener: s.listener, handler: mux, log: r.Log})
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
		if k := RepoKey(ch.Spec.Pathname); k != "" {
			return []string{k}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Channels by repository: %w", err)
	}
	return nil
}

func webhookEnabled(ch *appsv1.Channel) bool {
	a := ch.GetAnnotations()
	return strings.EqualFold(strings.TrimSpace(firstNonEmpty(a[appsv1.AnnotationWebhookEnabled], a["webhookenabled"])), "true")
}

// result is the JSON answer to a push.
type result struct {
	Message       string   `json:"message"`
	Channels      []string `json:"channels,omitempty"`
	Subscriptions []string `json:"subscriptions,omitempty"`
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
	limit := r.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(w, http.StatusRequestEntityTooLarge, result{Message: fmt.Sprintf("body larger than %d bytes", limit)})
			return
		}
		reply(w, http.StatusBadRequest, result{Message: "could not read the body"})
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

type outcome struct {
	status int
	result result
}

func (r *Receiver) handlePush(ctx context.Context, provider Provider, req *http.Request, body, payload []byte) outcome {
	log := r.Log.WithValues("provider", provider)
	p, err := parsePush(provider, payload)
	if errors.Is(err, errIgnored) {
		return outcome{http.StatusAccepted, result{Message: "ignored: not a push event"}}
	}
	if err != nil {
		return outcome{http.StatusBadRequest, result{Message: err.Error()}}
	}
	channels, err := r.channelsFor(ctx, p.repoURLs)
	if err != nil {
		log.Error(err, "list Channels")
		return outcome{http.StatusInternalServerError, result{Message: "could not list Channels; retry"}}
	}
	if len(channels) == 0 {
		return outcome{http.StatusAccepted, result{Message: fmt.Sprintf("no webhook-enabled Channel has repository %s", RepoKey(p.repoURLs[0]))}}
	}
	query := req.URL.Query()
	isSigned := signed(req.Header, query)
	var verified []*appsv1.Channel
	rejected := 0
	for _, ch := range channels {
		ok, err := r.accepts(ctx, provider, ch, req.Header, query, body, isSigned)
		if err != nil {
			log.Error(err, "read webhook secret", "channel", ch.Namespace+"/"+ch.Name)
			return outcome{http.StatusInternalServerError, result{Message: "could not read a webhook secret; retry"}}
		}
		if !ok {
			rejected++
			continue
		}
		verified = append(verified, ch)
	}
	if len(verified) == 0 {
		log.Info("push rejected: signature or token did not verify", "repository", RepoKey(p.repoURLs[0]), "channels", rejected)
		return outcome{http.StatusUnauthorized, result{Message: "the signature or token does not match the webhook secret of any Channel for this repository"}}
	}

	stamp := r.now().UTC().Format(time.RFC3339Nano)
	out := result{Message: "fetch requested"}
	for _, ch := range verified {
		if err := r.stamp(ctx, ch, stamp); err != nil {
			log.Error(err, "stamp Channel", "channel", ch.Namespace+"/"+ch.Name)
			return outcome{http.StatusInternalServerError, result{Message: "could not update a Channel; retry"}}
		}
		out.Channels = append(out.Channels, ch.Namespace+"/"+ch.Name)
		subs := &appsv1.SubscriptionList{}
		if err := r.Client.List(ctx, subs, client.MatchingFields{index.SubscriptionChannel: ch.Namespace + "/" + ch.Name}); err != nil {
			log.Error(err, "list Subscriptions")
			return outcome{http.StatusInternalServerError, result{Message: "could not list Subscriptions; retry"}}
		}
		for i := range subs.Items {
			sub := &subs.Items[i]
			if !follows(sub, p) {
				continue
			}
			if err := r.stamp(ctx, sub, stamp); err != nil {
				log.Error(err, "stamp Subscription", "subscription", sub.Namespace+"/"+sub.Name)
				return outcome{http.StatusInternalServerError, result{Message: "could not update a Subscription; retry"}}
			}
			out.Subscriptions = append(out.Subscriptions, sub.Namespace+"/"+sub.Name)
		}
	}
	sort.Strings(out.Subscriptions)
	log.Info("push received", "repository", RepoKey(p.repoURLs[0]), "refs", p.refs, "channels", out.Channels, "subscriptions", out.Subscriptions)
	return outcome{http.StatusOK, out}
}

// channelsFor lists webhook-enabled Git Channels for any of the URLs.
func (r *Receiver) channelsFor(ctx context.Context, urls []string) ([]*appsv1.Channel, error) {
	seen := map[types.NamespacedName]bool{}
	keys := map[string]bool{}
	var out []*appsv1.Channel
	for _, u := range urls {
		k := RepoKey(u)
		if k == "" || keys[k] {
			continue
		}
		keys[k] = true
		list := &appsv1.ChannelList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexChannelRepo: k}); err != nil {
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
// Channel's own source with its own credentials).
func (r *Receiver) accepts(ctx context.Context, p Provider, ch *appsv1.Channel, h http.Header, query map[string][]string, body []byte, isSigned bool) (bool, error) {
	name := strings.TrimSpace(ch.GetAnnotations()[appsv1.AnnotationWebhookSecret])
	if name == "" {
		if !isSigned {
			r.Log.V(1).Info("unsigned push accepted for a Channel without a webhook secret", "channel", ch.Namespace+"/"+ch.Name)
		}
		return true, nil
	}
	sec := &corev1.Secret{}
	if err := r.Secrets.Get(ctx, types.NamespacedName{Namespace: ch.Namespace, Name: name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			r.Log.Info("webhook Secret not found; pushes for this Channel are refused until it exists",
				"channel", ch.Namespace+"/"+ch.Name, "secret", ch.Namespace+"/"+name)
			return false, nil
		}
		return false, err
	}
	secret := bytes.TrimSpace(sec.Data[SecretKey])
	if len(secret) == 0 {
		r.Log.Info("webhook Secret has no \"secret\" key; pushes for this Channel are refused",
			"channel", ch.Namespace+"/"+ch.Name, "secret", ch.Namespace+"/"+name)
		return false, nil
	}
	return verify(p, h, query, body, secret), nil
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
	err = r.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
	if apierrors.IsNotFound(err) {
		return nil // deleted since the cache saw it
	}
	return err
}

func (r *Receiver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
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
