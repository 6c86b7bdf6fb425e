package secrets

import (
	"testing"
)

// BenchmarkOpen is the agent's cost of one encrypted Secret seen for the
// first time (data key unwrapped with age, two values opened), against
// the same Secret's second sighting (the Opener's cache: a hash of its
// JSON), which is what every resync pays.
//
//	go test ./pkg/secrets -run '^$' -bench Open -benchmem
func BenchmarkOpen(b *testing.B) {
	id, r := identity(b)
	k, _ := NewKeyring(id)
	obj := encrypt(b, r)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewOpener(k).Open(obj); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		o := NewOpener(k)
		for b.Loop() {
			if _, err := o.Open(obj); err != nil {
				b.Fatal(err)
			}
		}
	})
}
