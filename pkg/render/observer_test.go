package render

import (
	"context"
	"sync"
	"testing"
	"time"
)

// recordingObserver keeps what a Renderer reports.
type recordingObserver struct {
	mu      sync.Mutex
	renders map[string]int // "kind/ok" or "kind/error"
	hits    int
	misses  int
}

func (o *recordingObserver) ObserveRender(kind string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
	}
	if took < 0 {
		result = "negative"
	}
	o.renders[kind+"/"+result]++
}

func (o *recordingObserver) ObserveRenderCache(hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hit {
		o.hits++
	} else {
		o.misses++
	}
}

func TestObserverSeesUnitsAndCache(t *testing.T) {
	obs := &recordingObserver{renders: map[string]int{}}
	r := NewRenderer(Options{Observer: obs})
	art := fleet(t)
	for _, path := range []string{"apps/kustomize/base", "apps/helm/webapp", "apps/plain/namespace.yaml"} {
		mustRender(t, r, art, subscription("shop", "apps", path), Cluster{Name: "c1"})
	}
	// The same inputs for another cluster come from the cache.
	mustRender(t, r, art, subscription("shop", "apps", "apps/kustomize/base"), Cluster{Name: "c2"})
	// A missing path is an input error, reported as a miss.
	if _, err := r.Render(context.Background(), art, subscription("shop", "apps", "apps/nope"), Cluster{Name: "c1"}); err == nil {
		t.Fatal("rendering a missing path succeeded")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, want := range []string{"kustomize/ok", "helm/ok", "plain/ok"} {
		if obs.renders[want] != 1 {
			t.Errorf("renders[%s] = %d, want 1 (all: %v)", want, obs.renders[want], obs.renders)
		}
	}
	if obs.hits != 1 || obs.misses != 4 {
		t.Errorf("cache hits/misses = %d/%d, want 1/4", obs.hits, obs.misses)
	}
}
