package source

import (
	"context"

	"github.com/go-logr/logr"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// switchable serves h until broken, then answers 503 (an outage).
type switchable struct {
	h      http.Handler
	broken atomic.Bool
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.broken.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	s.h.ServeHTTP(w, r)
}

func TestStoreKeepsLastGoodArtifactAndBacksOff(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	var requests int64
	sw := &switchable{h: gitHTTPHandler(t, root, "", "", &requests)}
	srv := httptest.NewServer(sw)
	defer srv.Close()
	// The token in the URL must never show up in errors or status.
	ch := channel("Git", strings.Replace(srv.URL, "http://", "http://bob:url-token-123@", 1)+"/fleet.git")
	store := NewStore(t.TempDir(), testLogger(t), lab(), WithBackoff(time.Hour, 2*time.Hour))
	events := store.Subscribe()
	ctx := ctxT(t)
	req := Request{Channel: ch, Ref: Ref{Branch: "main"}, NotBefore: time.Now()}

	good, err := store.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	expectEvent(t, events, "fleet/ch")
	// The Channel controller reads the state, which acknowledges the event.
	nn := types.NamespacedName{Namespace: "fleet", Name: "ch"}
	if s := store.Artifacts(nn); len(s) != 1 || s[0].Revision != good.Revision {
		t.Fatalf("Artifacts = %+v", s)
	}
	// Another fetch with no news sends no event.
	if _, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "main"}, NotBefore: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %v for an unchanged revision", ev.Object.GetName())
	default:
	}

	sw.broken.Store(true)
	repo.commit(map[string]string{"a.yaml": "a: 2\n"}, "bump")
	req.NotBefore = time.Now()
	_, err = store.Fetch(ctx, req)
	if err == nil || IsAuthError(err) || Reason(err) != appsv1.ReasonFetchFailed {
		t.Fatalf("outage: err = %v", err)
	}
	if strings.Contains(err.Error(), "url-token-123") || strings.Contains(err.Error(), "bob:") {
		t.Fatalf("error leaks URL credentials: %v", err)
	}
	if ra := RetryAfter(err); ra < 50*time.Minute || ra > 2*time.Hour {
		t.Fatalf("RetryAfter = %v, want about an hour", ra)
	}
	if last := store.Cached(req); last == nil || last.Revision != good.Revision {
		t.Fatalf("Cached after failure = %v, want the last good %s", last, good.Revision)
	}
	expectEvent(t, events, "fleet/ch")
	states := store.Artifacts(types.NamespacedName{Namespace: "fleet", Name: "ch"})
	if len(states) != 1 || states[0].Revision != good.Revision || states[0].Error == "" ||
		states[0].Reason != appsv1.ReasonFetchFailed || strings.Contains(states[0].Error, "url-token-123") {
		t.Fatalf("Artifacts = %+v", states)
	}

	// While backing off, polls do not touch the source.
	before := atomic.LoadInt64(&requests)
	poll := req
	poll.NotBefore = time.Now().Add(-time.Minute)
	if _, err := store.Fetch(ctx, poll); err == nil || store.Backoff(poll) <= 0 {
		t.Fatalf("a poll during backoff must return the last error (err %v, backoff %v)", err, store.Backoff(poll))
	}
	// The outage answers with 503 without counting; nothing reached git either way.
	if atomic.LoadInt64(&requests) != before {
		t.Fatal("backoff must keep polls away from the source")
	}

	// A newer request (webhook, reconcile-now) retries at once and recovers.
	sw.broken.Store(false)
	forced := req
	forced.NotBefore = time.Now()
	a, err := store.Fetch(ctx, forced)
	if err != nil || a.Revision == good.Revision {
		t.Fatalf("forced retry after recovery: %v %v", a, err)
	}
	if store.Backoff(forced) != 0 {
		t.Fatal("success must clear the backoff")
	}
	expectEvent(t, events, "fleet/ch")
	if s := store.Artifacts(types.NamespacedName{Namespace: "fleet", Name: "ch"}); s[0].Error != "" || s[0].Revision != a.Revision {
		t.Fatalf("Artifacts after recovery = %+v", s)
	}
}

func expectEvent(t *testing.T, events <-chan event.GenericEvent, want string) {
	t.Helper()
	select {
	case ev := <-events:
		if got := ev.Object.GetNamespace() + "/" + ev.Object.GetName(); got != want {
			t.Fatalf("event for %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no event for %s", want)
	}
}

func TestStoreChangedCredentialsSkipBackoff(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	srv := httptest.NewServer(gitHTTPHandler(t, root, "u", "right", nil))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab(), WithBackoff(time.Hour, time.Hour))
	ch := channel("Git", srv.URL+"/fleet.git")
	ctx := ctxT(t)
	notBefore := time.Now()
	wrong := Request{Channel: ch, NotBefore: notBefore, Credentials: Credentials{Secret: map[string][]byte{KeyUser: []byte("u"), KeyAccessToken: []byte("wrong")}}}
	if _, err := store.Fetch(ctx, wrong); !IsAuthError(err) {
		t.Fatalf("wrong token: %v", err)
	}
	fixed := wrong
	fixed.Credentials = Credentials{Secret: map[string][]byte{KeyUser: []byte("u"), KeyAccessToken: []byte("right")}}
	if _, err := store.Fetch(ctx, fixed); err != nil {
		t.Fatalf("fixed secret must retry at once: %v", err)
	}
}

func TestStoreCoalescesConcurrentFetches(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	var requests int64
	srv := httptest.NewServer(gitHTTPHandler(t, root, "", "", &requests))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ch := channel("Git", srv.URL+"/fleet.git")
	ctx := ctxT(t)
	notBefore := time.Now()
	var wg sync.WaitGroup
	revs := make([]string, 20)
	for i := range revs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: notBefore})
			if err == nil {
				revs[i] = a.Revision
			}
		}()
	}
	wg.Wait()
	for _, r := range revs {
		if r == "" || r != revs[0] {
			t.Fatalf("concurrent fetches disagree: %v", revs)
		}
	}
	// One clone: ref list + pack negotiation, whatever the number of callers.
	if n := atomic.LoadInt64(&requests); n > 3 {
		t.Fatalf("20 concurrent fetches of one ref made %d requests", n)
	}
}

func TestStoreGarbageCollectsOldSnapshots(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 0\n"})
	srv := httptest.NewServer(gitHTTPHandler(t, root, "", "", nil))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab(), WithRetention(2, 0), WithGCInterval(0, time.Hour, time.Hour))
	ch := channel("Git", srv.URL+"/fleet.git")
	ctx := ctxT(t)
	var dirs []string
	for i := 1; i <= 4; i++ {
		repo.commit(map[string]string{"a.yaml": "a: " + string(rune('0'+i)) + "\n"}, "bump")
		a, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, a.Dir)
	}
	// Keep the last two; the older ones go (grace 0 here).
	for i, d := range dirs {
		_, err := os.Stat(d)
		if kept := i >= len(dirs)-2; kept != (err == nil) {
			t.Errorf("snapshot %d kept=%t, stat err %v", i, err == nil, err)
		}
	}
	// Forgetting the Channel frees the rest on the next collection.
	store.Forget(types.NamespacedName{Namespace: "fleet", Name: "ch"})
	store.collect()
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s should be gone after Forget", d)
		}
	}
}

func TestStoreRejectsUnknownChannelType(t *testing.T) {
	store := NewStore(t.TempDir(), testLogger(t), lab())
	_, err := store.Fetch(ctxT(t), Request{Channel: channel("Namespace", "x")})
	if Reason(err) != appsv1.ReasonInvalidSpec || !strings.Contains(err.Error(), "Git, HelmRepo or ObjectBucket") {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalRepositoriesRefusedByDefault(t *testing.T) {
	ch := &appsv1.Channel{}
	ch.Namespace, ch.Name = "fleet", "local"
	ch.Spec = appsv1.ChannelSpec{Type: "Git", Pathname: "file:///etc"}
	_, err := NewStore(t.TempDir(), logr.Discard()).Fetch(context.Background(), Request{Channel: ch})
	if err == nil || !strings.Contains(err.Error(), "--allow-local-git") || Reason(err) != appsv1.ReasonInvalidSpec {
		t.Fatalf("fetch of a file:// channel: %v (reason %q)", err, Reason(err))
	}
}
