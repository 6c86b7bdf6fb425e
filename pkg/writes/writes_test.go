package writes

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var t0 = time.Unix(1_000_000, 0)

func obj(rv string) client.Object {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "o", ResourceVersion: rv}}
}

func TestRecords(t *testing.T) {
	var r Records
	key := "ns/o"
	written := obj("12")
	r.Wrote(written, t0, "11")

	// Echoes of both our writes are known; others are not.
	if !r.Echo(obj("11")) || !r.Echo(obj("12")) || r.Echo(obj("13")) {
		t.Error("echo detection wrong")
	}
	// A cache that has not seen our write yet, or lacks the object: ours.
	if got := r.Newest(key, obj("10"), t0); got != written {
		t.Errorf("stale cache: got %v, want our write", got)
	}
	if got := r.Newest(key, nil, t0); got != written {
		t.Errorf("missing from cache: got %v, want our write", got)
	}
	// Caught up: the cache wins; the record goes after the grace.
	caught := obj("15")
	if got := r.Newest(key, caught, t0.Add(time.Second)); got != caught {
		t.Errorf("caught-up cache: got %v", got)
	}
	if len(r.Keys("ns/")) != 1 {
		t.Error("record dropped before the grace")
	}
	r.Newest(key, caught, t0.Add(DefaultGrace+time.Second))
	if len(r.Keys("ns/")) != 0 {
		t.Error("record kept after the grace")
	}

	// Deleted by us: absent while the cache still shows it; the delete event
	// is ours.
	r.Deleted(key, "15", t0)
	if got := r.Newest(key, caught, t0); got != nil {
		t.Errorf("deleted object still visible: %v", got)
	}
	if !r.SeenDeleted(caught) {
		t.Error("our delete not recognised")
	}
	if r.SeenDeleted(caught) {
		t.Error("a delete nobody recorded passes for ours")
	}
	// Created again by someone else since: visible.
	r.Deleted(key, "15", t0)
	if got := r.Newest(key, obj("20"), t0); got == nil {
		t.Error("re-created object hidden")
	}
	// A record the cache never confirms expires.
	r.Wrote(obj("30"), t0)
	if got := r.Newest(key, nil, t0.Add(DefaultTTL+time.Second)); got != nil {
		t.Errorf("expired record still used: %v", got)
	}
}

// TestResourceVersionsCompareAsNumbers: "9" is older than "10" (a string
// comparison says otherwise), and a malformed one lets the cache win.
func TestResourceVersionsCompareAsNumbers(t *testing.T) {
	var r Records
	r.Wrote(obj("10"), t0)
	if got := r.Newest("ns/o", obj("9"), t0); got.GetResourceVersion() != "10" {
		t.Errorf("cache at 9, our write at 10: got %s", got.GetResourceVersion())
	}
	if got := r.Newest("ns/o", obj("100"), t0); got.GetResourceVersion() != "100" {
		t.Errorf("cache at 100, our write at 10: got %s", got.GetResourceVersion())
	}
	r.Wrote(obj("11"), t0)
	if got := r.Newest("ns/o", obj("x"), t0); got.GetResourceVersion() != "x" {
		t.Errorf("malformed cached resourceVersion: got %s, want the cache's", got.GetResourceVersion())
	}
}

func TestSweepAndForget(t *testing.T) {
	r := Records{TTL: time.Hour}
	r.Wrote(obj("1"), t0)
	other := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "o.part-1", ResourceVersion: "2"}}
	r.Wrote(other, t0)
	r.Forget("ns/o")
	if got := r.Keys("ns/"); len(got) != 1 || got[0] != "ns/o.part-1" {
		t.Errorf("Forget(ns/o) left %v", got)
	}
	// A write much later sweeps what expired.
	r.Wrote(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "y", ResourceVersion: "3"}}, t0.Add(2*time.Hour))
	if got := r.Keys("ns/"); len(got) != 0 {
		t.Errorf("expired records not swept: %v", got)
	}
	r.ForgetPrefix("x/")
	if got := r.Keys(""); len(got) != 0 {
		t.Errorf("ForgetPrefix left %v", got)
	}
}
