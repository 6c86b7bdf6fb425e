package source

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

type fetchRecord struct {
	typ  appsv1.ChannelType
	took time.Duration
	err  error
}

type recordingObserver struct {
	mu      sync.Mutex
	fetches []fetchRecord
}

func (o *recordingObserver) ObserveFetch(typ appsv1.ChannelType, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fetches = append(o.fetches, fetchRecord{typ, took, err})
}

func (o *recordingObserver) snapshot() []fetchRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]fetchRecord(nil), o.fetches...)
}

// TestObserverSeesFetchesThatReachTheSource: fetches served from the cache
// are not reported; failures come with the classified error.
func TestObserverSeesFetchesThatReachTheSource(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	sw := &switchable{h: gitHTTPHandler(t, root, "", "", nil)}
	srv := httptest.NewServer(sw)
	defer srv.Close()
	obs := &recordingObserver{}
	store := NewStore(t.TempDir(), testLogger(t), lab(), WithObserver(obs), WithBackoff(time.Hour, time.Hour))
	ctx := ctxT(t)
	req := Request{Channel: channel("git", srv.URL+"/fleet.git"), Ref: Ref{Branch: "main"}, NotBefore: time.Now()}

	if _, err := store.Fetch(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Fetch(ctx, req); err != nil { // served from the cache
		t.Fatal(err)
	}
	got := obs.snapshot()
	if len(got) != 1 || got[0].typ != appsv1.ChannelTypeGit || got[0].err != nil || got[0].took <= 0 {
		t.Fatalf("after a fetch and a cached fetch: %+v, want one successful Git fetch", got)
	}

	sw.broken.Store(true)
	req.NotBefore = time.Now()
	_, ferr := store.Fetch(ctx, req)
	if ferr == nil {
		t.Fatal("fetch during an outage succeeded")
	}
	got = obs.snapshot()
	if len(got) != 2 || got[1].err == nil || got[1].err.Error() != ferr.Error() || Reason(got[1].err) != appsv1.ReasonFetchFailed {
		t.Fatalf("after an outage: %+v, want the failure reported with the caller's error %v", got, ferr)
	}
}
