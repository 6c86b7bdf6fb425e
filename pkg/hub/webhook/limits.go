package webhook

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of the receiver's bounds.
const (
	// DefaultRate and DefaultBurst bound requests per second over all senders.
	DefaultRate  = 20
	DefaultBurst = 100
	// DefaultMaxInFlight bounds requests handled at once (each may hold a
	// body of up to MaxBodyBytes).
	DefaultMaxInFlight = 8
	// secretTTL is how long a webhook secret read from the API server is
	// used; a signature that fails against a secret older than
	// secretRecheck reads it again, so a rotated secret works at once.
	secretTTL     = 5 * time.Minute
	secretRecheck = 10 * time.Second
	// deliveryTTL and maxDeliveries bound the delivery IDs remembered to
	// refuse replays.
	deliveryTTL   = 24 * time.Hour
	maxDeliveries = 20000
)

// secretCache keeps webhook secrets (and their absence) read from the API
// server, so a flood of pushes costs no Secret read per request.
type secretCache struct {
	reader client.Reader
	now    func() time.Time

	mu      sync.Mutex
	entries map[types.NamespacedName]cachedSecret
}

type cachedSecret struct {
	value   []byte // nil when the Secret or its key is missing
	fetched time.Time
}

// get returns the secret's "secret" key, from the cache when fresh enough.
// stale asks for a value read within the last secretRecheck.
func (c *secretCache) get(ctx context.Context, nn types.NamespacedName, stale bool) ([]byte, bool, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[nn]
	c.mu.Unlock()
	age := now.Sub(e.fetched)
	if ok && age < secretTTL && (!stale || age < secretRecheck) {
		return e.value, false, nil
	}
	sec := &corev1.Secret{}
	err := c.reader.Get(ctx, nn, sec)
	switch {
	case apierrors.IsNotFound(err):
		e = cachedSecret{fetched: now}
	case err != nil:
		return nil, false, err
	default:
		e = cachedSecret{value: bytes.TrimSpace(sec.Data[SecretKey]), fetched: now}
	}
	c.mu.Lock()
	if len(c.entries) >= maxDeliveries {
		clear(c.entries) // a bound for Channels naming ever new Secrets; they are read again
	}
	c.entries[nn] = e
	c.mu.Unlock()
	return e.value, true, nil
}

// deliveries remembers the delivery IDs of verified pushes, so a captured
// signed request sent again is not acted upon twice.
type deliveries struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	order []string // oldest first
}

// first records id and reports whether it was new (an empty id always is).
func (d *deliveries) first(id string, now time.Time) bool {
	if id == "" {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.order) > 0 && (len(d.order) >= maxDeliveries || now.Sub(d.seen[d.order[0]]) > deliveryTTL) {
		delete(d.seen, d.order[0])
		d.order = d.order[1:]
	}
	if _, ok := d.seen[id]; ok {
		return false
	}
	d.seen[id] = now
	d.order = append(d.order, id)
	return true
}

// deliveryID is the forge's unique ID of one delivery, with its provider.
func deliveryID(p Provider, h http.Header) string {
	id := firstHeader(h, "X-GitHub-Delivery", "X-Gitea-Delivery", "X-Gogs-Delivery",
		"X-Gitlab-Event-UUID", "X-Request-UUID", "X-Request-Id")
	if id == "" {
		return ""
	}
	return string(p) + ":" + id
}
