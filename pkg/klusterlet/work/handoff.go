package work

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/types"

	workv1 "open-cluster-management.io/api/work/v1"
)

// A relabel hands an app from one work to another, and the hub writes the
// two independently: the old work may be deleted (or drop the object) before
// the new one exists on the hub. So an object that no other work applies is
// not deleted at once: its removal is held for a short window, during which
// a work that takes it over (on the hub, or applied) turns the deletion into
// a release. The window starts when the agent first finds the object to
// remove; an agent restart starts it again.

// DefaultHandOffWindow is how long the removal of an object no other work
// applies is held by default.
const DefaultHandOffWindow = 5 * time.Second

// handOff remembers when each held removal began, and for which work.
type handOff struct {
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	holds map[workv1.ResourceIdentifier]map[types.UID]hold
}

// hold is the held removal of one object by one AppliedManifestWork.
type hold struct {
	since time.Time
	work  string
}

func newHandOff(window time.Duration) *handOff {
	return &handOff{window: window, now: time.Now, holds: map[workv1.ResourceIdentifier]map[types.UID]hold{}}
}

// wait returns how much longer work's removal of an object waits (0: no
// longer), and whether its hold began now.
func (h *handOff) wait(owner types.UID, work string, id workv1.ResourceIdentifier) (time.Duration, bool) {
	if h.window <= 0 {
		return 0, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	hd, ok := h.holds[id][owner]
	if !ok {
		h.sweep(now)
		hd = hold{since: now, work: work}
		if h.holds[id] == nil {
			h.holds[id] = map[types.UID]hold{}
		}
		h.holds[id][owner] = hd
	}
	return max(hd.since.Add(h.window).Sub(now), 0), !ok
}

// done forgets the hold of an object whose removal ended.
func (h *handOff) done(owner types.UID, id workv1.ResourceIdentifier) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if byOwner := h.holds[id]; byOwner != nil {
		delete(byOwner, owner)
		if len(byOwner) == 0 {
			delete(h.holds, id)
		}
	}
}

// holders lists the works other than except that hold the removal of any
// of the objects: a work that now applies them may end those holds.
func (h *handOff) holders(keys []objKey, except string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.holds) == 0 {
		return nil
	}
	var out []string
	for _, k := range keys {
		id := workv1.ResourceIdentifier{Group: k.gvr.Group, Resource: k.gvr.Resource, Namespace: k.namespace, Name: k.name}
		for _, hd := range h.holds[id] {
			if hd.work != except && !slices.Contains(out, hd.work) {
				out = append(out, hd.work)
			}
		}
	}
	return out
}

// sweep drops holds long past their window whose removal was never
// finished (the manifest came back, the work went elsewhere), so memory
// stays bounded; a removal still going on after that simply holds again.
func (h *handOff) sweep(now time.Time) {
	for id, byOwner := range h.holds {
		for owner, hd := range byOwner {
			if now.Sub(hd.since) > h.window+10*time.Minute {
				delete(byOwner, owner)
			}
		}
		if len(byOwner) == 0 {
			delete(h.holds, id)
		}
	}
}

// ReasonHandOffHeld is the reason of the Event a work gets when the removal
// of objects no other work applies is held for the hand-off window.
const ReasonHandOffHeld = "RemovalHeldForHandOff"

// heldForHandOff records an Event naming the objects whose hold began.
func (e *eventRecorder) heldForHandOff(ctx context.Context, work *workv1.ManifestWork, rm *removal) {
	if rm == nil || len(rm.held) == 0 {
		return
	}
	names := rm.held
	more := ""
	if len(names) > 5 {
		names, more = names[:5], fmt.Sprintf(" and %d more", len(rm.held)-5)
	}
	e.record(ctx, work, corev1.EventTypeNormal, ReasonHandOffHeld, fmt.Sprintf(
		"no other ManifestWork applies %s%s: deleted in %s unless a work takes them over meanwhile (the hand-off window)",
		strings.Join(names, ", "), more, rm.retry.Round(time.Second)))
}
