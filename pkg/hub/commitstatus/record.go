package commitstatus

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
)

// key names one status: a context on a commit.
type key struct {
	sha     string
	context string
}

// posted is what was last posted under a key.
type posted struct {
	digest  string
	state   gitprovider.State
	at      time.Time
	cluster string
}

// record is the memory of one Subscription's statuses.
type record struct {
	// config identifies the forge settings; a change starts a new record.
	config string
	// seeded is set once the record was compared with the Subscription's
	// annotation (after a restart, matching statuses are not posted again).
	seeded   bool
	entries  map[key]posted
	failures int
	// retryAt holds posting back after a failure, whatever events arrive.
	retryAt time.Time
}

func newRecord(config string) *record {
	return &record{config: config, entries: map[key]posted{}}
}

// statusDigest identifies a status's content.
func statusDigest(s gitprovider.Status) string {
	h := sha256.New()
	for _, f := range []string{string(s.State), s.Context, s.Description, s.TargetURL, s.Ref} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// setDigest identifies a whole set of statuses for the posted annotation;
// final statuses are not part of it (they are posted once and forgotten).
func setDigest(config string, targets []Target) string {
	lines := make([]string, 0, len(targets))
	for _, t := range targets {
		if !t.Final {
			lines = append(lines, t.SHA+"\x00"+statusDigest(t.Status))
		}
	}
	sort.Strings(lines)
	h := sha256.New()
	h.Write([]byte(config))
	for _, l := range lines {
		h.Write([]byte{'\n'})
		h.Write([]byte(l))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// seed records targets as posted, without a time (no throttling).
func (r *record) seed(targets []Target) {
	for _, t := range targets {
		if !t.Final {
			r.entries[key{t.SHA, t.Status.Context}] = posted{digest: statusDigest(t.Status), state: t.Status.State, cluster: t.Cluster}
		}
	}
}

// postedClusters names the clusters with a status on sha.
func (r *record) postedClusters(sha string) map[string]bool {
	out := map[string]bool{}
	for k, p := range r.entries {
		if k.sha == sha && p.cluster != "" {
			out[p.cluster] = true
		}
	}
	return out
}

// plan picks what to post now: new statuses and changed ones. A change of
// description only (same state) waits until interval has passed since the
// last post under that key, so a rollout over a thousand clusters does not
// post a thousand times; wait is when the first held-back change is due.
// Keys on commits no longer desired are forgotten.
func (r *record) plan(desired []Target, now time.Time, interval time.Duration) (post []Target, wait time.Duration) {
	shas := map[string]bool{}
	for _, t := range desired {
		shas[t.SHA] = true
	}
	for k := range r.entries {
		if !shas[k.sha] {
			delete(r.entries, k)
		}
	}
	for _, t := range desired {
		p, ok := r.entries[key{t.SHA, t.Status.Context}]
		switch {
		case !ok:
			post = append(post, t)
		case p.digest == statusDigest(t.Status):
		case p.state == t.Status.State && !p.at.IsZero() && now.Sub(p.at) < interval:
			if due := interval - now.Sub(p.at); wait == 0 || due < wait {
				wait = due
			}
		default:
			post = append(post, t)
		}
	}
	// The aggregated status first: it is the one users look at.
	sort.SliceStable(post, func(i, j int) bool { return post[i].Cluster == "" && post[j].Cluster != "" })
	return post, wait
}

// done records a successful post; final statuses are forgotten.
func (r *record) done(t Target, now time.Time) {
	k := key{t.SHA, t.Status.Context}
	if t.Final {
		delete(r.entries, k)
		return
	}
	r.entries[k] = posted{digest: statusDigest(t.Status), state: t.Status.State, at: now, cluster: t.Cluster}
}

// shortSHA is for messages.
func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return strings.TrimSpace(sha)
}
