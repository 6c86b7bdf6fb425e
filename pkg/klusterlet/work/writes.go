package work

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// ownWrites remembers the resource version the agent last wrote or accepted
// per object, so that watch events of its own writes are not mistaken for
// drift. A write in flight is marked: events racing its response carry the
// newest resource version they showed, judged once the response is in.
type ownWrites struct {
	mu       sync.Mutex
	written  map[objKey]string
	inflight map[objKey]string
}

func newOwnWrites() *ownWrites {
	return &ownWrites{written: map[objKey]string{}, inflight: map[objKey]string{}}
}

// begin marks an object as being written by the agent.
func (w *ownWrites) begin(key objKey) {
	w.mu.Lock()
	w.inflight[key] = ""
	w.mu.Unlock()
}

// end records the write's resource version ("" when it failed) and reports
// whether a newer change came in while it was in flight.
func (w *ownWrites) end(key objKey, rv string) (raced bool) {
	w.mu.Lock()
	seen := w.inflight[key]
	delete(w.inflight, key)
	w.mu.Unlock()
	w.accept(key, rv)
	return seen != "" && (rv == "" || newerRV(seen, rv))
}

// accept records a resource version the agent wrote or found drift-free.
func (w *ownWrites) accept(key objKey, rv string) {
	if rv == "" {
		return
	}
	w.mu.Lock()
	if cur, ok := w.written[key]; !ok || newerRV(rv, cur) {
		w.written[key] = rv
	}
	w.mu.Unlock()
}

// echo says whether a watch event is one the agent need not look at: the
// echo of its own write, or an event racing a write in flight.
func (w *ownWrites) echo(key objKey, rv string, deleted bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seen, ok := w.inflight[key]; ok && !deleted {
		if seen == "" || newerRV(rv, seen) {
			w.inflight[key] = rv
		}
		return true
	}
	own := w.written[key]
	if deleted || own == "" {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(rv, own)
	return err == nil && c <= 0
}

// forget drops what is known of objects no work applies any more.
func (w *ownWrites) forget(keys []objKey) {
	w.mu.Lock()
	for _, k := range keys {
		delete(w.written, k)
	}
	w.mu.Unlock()
}

// newerRV reports whether a is a later resource version than b.
func newerRV(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err != nil || c > 0
}

// routes maps each applied object to the works that apply it, with the
// digest of each work's manifest for it, so watch events reach the right
// works and two works that want different content are noticed.
type routes struct {
	mu    sync.Mutex
	works map[objKey]map[string]string
	keys  map[string][]objKey
}

func newRoutes() *routes {
	return &routes{works: map[objKey]map[string]string{}, keys: map[string][]objKey{}}
}

// set points a work at its objects (key → content digest). It returns the
// objects no work applies any more, and whether the work's objects or
// digests changed.
func (r *routes) set(work string, objects map[objKey]string) (dropped []objKey, changed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys[work] {
		if _, ok := objects[k]; !ok {
			changed = true
			if r.dropLocked(work, k) {
				dropped = append(dropped, k)
			}
		}
	}
	keys := make([]objKey, 0, len(objects))
	for k, digest := range objects {
		set := r.works[k]
		if set == nil {
			set = map[string]string{}
			r.works[k] = set
		}
		if old, ok := set[work]; !ok || old != digest {
			changed = true
		}
		set[work] = digest
		keys = append(keys, k)
	}
	r.keys[work] = keys
	return dropped, changed
}

// contenders returns the works other than except that apply an object,
// with their manifests' digests.
func (r *routes) contenders(k objKey, except string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.works[k]) < 2 {
		return nil
	}
	out := make(map[string]string, len(r.works[k]))
	for w, digest := range r.works[k] {
		if w != except {
			out[w] = digest
		}
	}
	return out
}

// sharing lists the other works that apply any object of a work.
func (r *routes) sharing(work string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, k := range r.keys[work] {
		for w := range r.works[k] {
			if w != work && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// keysOf lists the objects a work applies.
func (r *routes) keysOf(work string) []objKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys[work])
}

// forget drops a work; it returns the objects no work applies any more.
func (r *routes) forget(work string) []objKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dropped []objKey
	for _, k := range r.keys[work] {
		if r.dropLocked(work, k) {
			dropped = append(dropped, k)
		}
	}
	delete(r.keys, work)
	return dropped
}

func (r *routes) dropLocked(work string, k objKey) bool {
	set := r.works[k]
	delete(set, work)
	if len(set) > 0 {
		return false
	}
	delete(r.works, k)
	return true
}

// worksOf lists the works that apply an object.
func (r *routes) worksOf(k objKey) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.works[k]))
	for w := range r.works[k] {
		out = append(out, w)
	}
	return out
}

// keyLocks serializes the writes of one object by the works that share it.
type keyLocks struct {
	mu    sync.Mutex
	locks map[objKey]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

func newKeyLocks() *keyLocks { return &keyLocks{locks: map[objKey]*keyLock{}} }

// lock takes the lock of an object; the returned function releases it.
// Locks of objects nobody waits for are dropped, so memory stays bounded.
func (l *keyLocks) lock(k objKey) (unlock func()) {
	l.mu.Lock()
	kl := l.locks[k]
	if kl == nil {
		kl = &keyLock{}
		l.locks[k] = kl
	}
	kl.users++
	l.mu.Unlock()
	kl.Lock()
	return func() {
		kl.Unlock()
		l.mu.Lock()
		if kl.users--; kl.users == 0 {
			delete(l.locks, k)
		}
		l.mu.Unlock()
	}
}
