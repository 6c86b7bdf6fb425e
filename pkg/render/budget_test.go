package render

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
)

// TestOutputBoundIsCheckedAsTheRenderGrows is issue 16 item 12 (render
// part): a render over the output limit stops at the unit that crosses it,
// instead of decoding every unit first and comparing afterwards.
func TestOutputBoundIsCheckedAsTheRenderGrows(t *testing.T) {
	files := map[string]string{}
	big := strings.Repeat("z", 1<<20)
	for i := range 40 {
		files[fmt.Sprintf("app/cm%02d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\ndata:\n  x: %s\n", i, big)
	}
	art := tempArtifact(t, files)
	obs := &recordingObserver{renders: map[string]int{}}
	r := NewRenderer(Options{MaxOutputBytes: 3 << 20, MaxFileBytes: 2 << 20, Observer: obs})
	var re *Error
	n := hostile.Allocated(func() {
		re = renderErr(t, r, art, subscription("app", "apps", "app"), Cluster{Name: "c1"})
	})
	if re.File != "app/cm02.yaml" || !strings.Contains(re.Error(), "over the 3145728-byte limit") {
		t.Errorf("error %v (file %q), want the limit crossed at app/cm02.yaml", re, re.File)
	}
	if units := obs.renders["plain/ok"] + obs.renders["plain/error"]; units != 3 {
		t.Errorf("%d units rendered (%v), want 3: the render goes on past the limit", units, obs.renders)
	}
	if n > 48<<20 {
		t.Errorf("the refused render allocated %d MiB", n>>20)
	}
}

// TestRendersShareAGlobalBudget: renders in progress together hold at most
// Options.MaxRenderBytes; a render that would go over fails as a transient
// error (not cached as a verdict on the input) and succeeds once the budget
// is free again.
func TestRendersShareAGlobalBudget(t *testing.T) {
	art := tempArtifact(t, map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: " + strings.Repeat("y", 4096) + "\n"})
	r := NewRenderer(Options{MaxRenderBytes: 64 << 10})
	r.inflight.Add(62 << 10) // other renders in progress
	_, err := r.Render(t.Context(), art, subscription("app", "apps", "app"), Cluster{Name: "c1"})
	var re *Error
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "65536 bytes") {
		t.Fatalf("error %v, want a transient error naming the renderer's budget", err)
	}
	r.inflight.Add(-62 << 10)
	mustRender(t, r, art, subscription("app", "apps", "app"), Cluster{Name: "c1"})
	if got := r.inflight.Load(); got != 0 {
		t.Errorf("%d bytes still held after the renders ended", got)
	}
}
