// Package poll waits, in tests, for what controllers make true eventually.
// It imports only the standard library, so the tests of any package can use
// it, including those the test harness itself is built from.
package poll

import (
	"testing"
	"time"
)

// interval is how often a condition is checked again.
const interval = 100 * time.Millisecond

// Eventually retries check until it passes, or fails the test with check's
// last error once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

// Consistently fails the test if check fails at any point during d.
func Consistently(t testing.TB, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := check(); err != nil {
			t.Fatalf("%s stopped holding: %v", what, err)
		}
		time.Sleep(interval)
	}
}
