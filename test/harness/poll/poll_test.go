package poll

import (
	"errors"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf ends the calling goroutine, as the
// real one does, and records that it was called.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	panic(r)
}

func run(f func(r *recorder)) (failed bool) {
	r := &recorder{}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		f(r)
	}()
	return r.failed
}

func TestEventually(t *testing.T) {
	calls := 0
	if run(func(r *recorder) {
		Eventually(r, time.Second, "third call", func() error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	}) {
		t.Error("Eventually failed a check that passes on the third call")
	}
	start := time.Now()
	if !run(func(r *recorder) {
		Eventually(r, 200*time.Millisecond, "never", func() error { return errors.New("no") })
	}) {
		t.Error("Eventually passed a check that never passes")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Eventually with a 200ms timeout took %s", took)
	}
}

func TestConsistently(t *testing.T) {
	if run(func(r *recorder) { Consistently(r, 250*time.Millisecond, "holds", func() error { return nil }) }) {
		t.Error("Consistently failed a check that always passes")
	}
	calls := 0
	if !run(func(r *recorder) {
		Consistently(r, time.Second, "breaks", func() error {
			if calls++; calls > 2 {
				return errors.New("broke")
			}
			return nil
		})
	}) {
		t.Error("Consistently passed a check that stops holding")
	}
}
