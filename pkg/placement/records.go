package placement

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// recordTTL bounds how long a write is trusted over an informer cache that
// has not shown it yet (normally milliseconds).
const recordTTL = time.Minute

// echoGrace is how long a record outlives the cache catching up with it.
const echoGrace = 5 * time.Second

// maxEchoes is how many of our resourceVersions per object are remembered.
const maxEchoes = 8

// records remembers the objects this controller wrote until the informer
// cache shows them. Reconciles that run before the cache catches up compare
// against what was written, so they neither repeat writes nor fail on
// AlreadyExists; and the watch events that echo our own writes are ignored.
type records struct {
	mu sync.Mutex
	m  map[string]*record
}

type record struct {
	obj     client.Object // nil: deleted by us
	rv      uint64        // resourceVersion of obj, or of the deleted object
	ours    []string      // our latest resourceVersions, newest last
	written time.Time
}

func objKey(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// parseRV reads a resourceVersion; etcd's are decimal revisions.
func parseRV(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// wrote records obj as written, with every resourceVersion our writes made.
func (r *records) wrote(obj client.Object, now time.Time, rvs ...string) {
	rv, ok := parseRV(obj.GetResourceVersion())
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*record{}
	}
	rec := r.m[objKey(obj)]
	if rec == nil {
		rec = &record{}
		r.m[objKey(obj)] = rec
	}
	rec.obj, rec.rv, rec.written = obj, rv, now
	rec.ours = append(append(rec.ours, rvs...), obj.GetResourceVersion())
	if n := len(rec.ours); n > maxEchoes {
		rec.ours = rec.ours[n-maxEchoes:]
	}
}

// deleted records that we deleted the object last seen at resourceVersion rv.
func (r *records) deleted(key, rv string, now time.Time) {
	v, _ := parseRV(rv)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*record{}
	}
	r.m[key] = &record{rv: v, written: now}
}

// echo reports whether a watched object is the result of our own write.
func (r *records) echo(obj client.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.m[objKey(obj)]
	return rec != nil && slices.Contains(rec.ours, obj.GetResourceVersion())
}

// seenDeleted handles a delete event; it reports whether we caused it.
func (r *records) seenDeleted(obj client.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := objKey(obj)
	rec := r.m[key]
	if rec == nil {
		return false
	}
	ours := rec.obj == nil
	delete(r.m, key)
	return ours
}

// newest returns the freshest known state of the object at key: cached (may
// be nil) unless a later write of ours is not in the cache yet. Records the
// cache has caught up with are dropped.
func (r *records) newest(key string, cached client.Object, now time.Time) client.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.m[key]
	if rec == nil {
		return cached
	}
	expired := now.Sub(rec.written) > recordTTL
	if rec.obj == nil { // we deleted it
		if cached == nil || expired {
			delete(r.m, key)
			return cached
		}
		if crv, ok := parseRV(cached.GetResourceVersion()); ok && crv > rec.rv {
			delete(r.m, key) // created again since
			return cached
		}
		return nil
	}
	if cached == nil {
		if expired {
			delete(r.m, key)
			return nil
		}
		return rec.obj
	}
	crv, ok := parseRV(cached.GetResourceVersion())
	if !ok || crv >= rec.rv || expired {
		// The cache has caught up. Keep the record a little longer: the
		// watch handlers may still be delivering the echoes of our writes.
		if expired || now.Sub(rec.written) > echoGrace {
			delete(r.m, key)
		}
		return cached
	}
	return rec.obj
}

// forget drops every record under the prefix (a deleted Placement's objects).
func (r *records) forget(prefix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.m {
		if strings.HasPrefix(k, prefix) {
			delete(r.m, k)
		}
	}
}

// keys lists the recorded keys under the prefix.
func (r *records) keys(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}
