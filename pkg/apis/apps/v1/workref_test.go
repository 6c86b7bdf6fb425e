package v1

import (
	"slices"
	"strings"
	"testing"
)

// What the agent writes with WorkRef, the hub reads back with WorkRefOwners.
func TestWorkRefRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		refs  []string
		limit int
		want  []string
	}{
		{"one with a Subscription", []string{WorkRef("c1", "fleet.web", "fleet/web")}, 10, []string{"fleet/web"}},
		{"a work no Subscription wrote", []string{WorkRef("c1", "by-hand", "")}, 10, []string{"ManifestWork c1/by-hand"}},
		{"mixed, in order", []string{WorkRef("c1", "a", "ops/a"), WorkRef("c1", "b", "")}, 10, []string{"ops/a", "ManifestWork c1/b"}},
		{"bounded", []string{WorkRef("c", "a", "x/a"), WorkRef("c", "b", "x/b"), WorkRef("c", "d", "x/d")}, 2, []string{"x/a", "x/b"}},
		{"no work named", nil, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := strings.Join(tc.refs, ", ") + " also apply this object with different content"
			if got := WorkRefOwners(msg, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("WorkRefOwners(%q) = %q, want %q", msg, got, tc.want)
			}
		})
	}
}
