// Package writes remembers a controller's own writes until its informer cache
// shows them. A reconcile that runs before the cache catches up reads the
// object it wrote instead of the stale copy, so it neither writes again nor
// trips over AlreadyExists; and a watch event that only echoes one of its own
// writes is known as such. Writes are matched by resourceVersion, compared as
// the API server defines (k8s.io/apimachinery/pkg/util/resourceversion).
package writes

import (
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Records' settings.
const (
	// DefaultTTL bounds how long a write is trusted over a cache that has not
	// shown it (normally milliseconds).
	DefaultTTL = time.Minute
	// DefaultGrace is how long a record outlives the cache catching up with
	// it: watch handlers run after the cache is updated, and may still be
	// delivering the echoes of the write.
	DefaultGrace = 5 * time.Second
	// maxEchoes is how many of our resourceVersions per object are kept.
	maxEchoes = 8
)

// Records is a controller's memory of its own writes, by object key
// ("namespace/name"). The zero value is ready to use with the defaults.
type Records struct {
	// TTL and Grace override DefaultTTL and DefaultGrace when positive.
	TTL   time.Duration
	Grace time.Duration

	mu        sync.Mutex
	m         map[string]*record
	lastSweep time.Time
}

type record struct {
	obj     client.Object // nil: deleted by us
	rv      string        // resourceVersion of obj, or of the object deleted
	ours    []string      // our latest resourceVersions, newest last
	written time.Time
}

// Key is an object's key in Records.
func Key(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func (r *Records) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return DefaultTTL
}

func (r *Records) grace() time.Duration {
	if r.Grace > 0 {
		return r.Grace
	}
	return DefaultGrace
}

// Wrote records obj as written at now, as the API server returned it, with
// the resourceVersions of earlier writes of the same change (a create then a
// status update, say). obj may be a stub holding only what the caller reads
// back (its metadata): Newest returns it as given. Records older than the TTL
// are swept out at most once per TTL.
func (r *Records) Wrote(obj client.Object, now time.Time, earlier ...string) {
	rv := obj.GetResourceVersion()
	if rv == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	rec := r.m[Key(obj)]
	if rec == nil {
		rec = &record{}
		r.m[Key(obj)] = rec
	}
	rec.obj, rec.rv, rec.written = obj, rv, now
	rec.ours = append(append(rec.ours, earlier...), rv)
	if n := len(rec.ours); n > maxEchoes {
		rec.ours = rec.ours[n-maxEchoes:]
	}
}

// Deleted records that we deleted the object at key, last seen at
// resourceVersion rv.
func (r *Records) Deleted(key, rv string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	r.m[key] = &record{rv: rv, written: now}
}

// sweep drops expired records, at most once per TTL; r.mu is held.
func (r *Records) sweep(now time.Time) {
	if r.m == nil {
		r.m = map[string]*record{}
	}
	if now.Sub(r.lastSweep) < r.ttl() {
		return
	}
	r.lastSweep = now
	for k, rec := range r.m {
		if now.Sub(rec.written) > r.ttl() {
			delete(r.m, k)
		}
	}
}

// Echo reports whether a watched object is the result of one of our writes.
func (r *Records) Echo(obj client.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.m[Key(obj)]
	return rec != nil && slices.Contains(rec.ours, obj.GetResourceVersion())
}

// SeenDeleted handles a delete event: it reports whether we caused it, and
// forgets the object.
func (r *Records) SeenDeleted(obj client.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.m[Key(obj)]
	if rec == nil {
		return false
	}
	delete(r.m, Key(obj))
	return rec.obj == nil
}

// Newest returns the freshest known state of the object at key: cached (nil
// when the cache has none) unless a later write of ours is not in the cache
// yet, in which case it is what we wrote (nil when we deleted it). Records
// the cache has caught up with go after the grace, expired ones at once.
func (r *Records) Newest(key string, cached client.Object, now time.Time) client.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.m[key]
	if rec == nil {
		return cached
	}
	if now.Sub(rec.written) > r.ttl() {
		delete(r.m, key)
		return cached
	}
	if rec.obj == nil { // we deleted it
		if cached == nil || newer(cached.GetResourceVersion(), rec.rv) {
			delete(r.m, key) // gone from the cache, or created again since
			return cached
		}
		return nil
	}
	if cached == nil {
		return rec.obj
	}
	if newer(rec.rv, cached.GetResourceVersion()) {
		return rec.obj
	}
	// The cache has caught up.
	if now.Sub(rec.written) > r.grace() {
		delete(r.m, key)
	}
	return cached
}

// newer reports whether resourceVersion a is later than b; a malformed one
// is never newer, so the cache wins.
func newer(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c > 0
}

// Forget drops the record of the object at key.
func (r *Records) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
}

// ForgetPrefix drops every record whose key starts with prefix (the objects
// of a deleted owner).
func (r *Records) ForgetPrefix(prefix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.m {
		if strings.HasPrefix(k, prefix) {
			delete(r.m, k)
		}
	}
}

// Keys lists the recorded keys starting with prefix.
func (r *Records) Keys(prefix string) []string {
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
