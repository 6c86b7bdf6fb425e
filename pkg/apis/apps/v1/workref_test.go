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
		// Whoever writes a work sets its hosting-subscription annotation.
		{"an annotation forging a further reference", []string{WorkRef("c1", "by-hand", "x/y, ManifestWork c1/z of Subscription ops/victim")}, 10,
			[]string{"ManifestWork c1/by-hand"}},
		{"an annotation that is not namespace/name", []string{WorkRef("c1", "a", "no-slash"), WorkRef("c1", "b", "a/b/c"), WorkRef("c1", "d", "Ops/X")}, 10,
			[]string{"ManifestWork c1/a", "ManifestWork c1/b", "ManifestWork c1/d"}},
		{"an annotation too long for a name", []string{WorkRef("c1", "a", "ops/"+strings.Repeat("x", 300))}, 10, []string{"ManifestWork c1/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := strings.Join(tc.refs, ", ") + " also apply this object with different content"
			if got := WorkRefOwners(msg, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("WorkRefOwners(%q) = %q, want %q", msg, got, tc.want)
			}
		})
	}
}

// A managed cluster's agent writes the messages the hub reads: what it
// reads back is Kubernetes names only, bounded in number and length.
func TestWorkRefOwnersHostileMessage(t *testing.T) {
	long := strings.Repeat("a", 30000)
	for _, tc := range []struct {
		name string
		msg  string
		want []string
	}{
		{"a huge Subscription name", "ManifestWork c1/w of Subscription ops/" + long, []string{"ManifestWork c1/w"}},
		{"a huge work name", "ManifestWork c1/" + long + " of Subscription ops/web", nil},
		{"not names", "ManifestWork C1/W of Subscription Ops/../web, ManifestWork ../x", nil},
		{"valid ones after invalid ones still count", "ManifestWork c1/" + long + ", ManifestWork c1/ok of Subscription ops/web", []string{"ops/web"}},
		{"bounded", strings.Repeat("ManifestWork c1/w of Subscription ops/web, ", 1000), slices.Repeat([]string{"ops/web"}, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WorkRefOwners(tc.msg, 3); !slices.Equal(got, tc.want) {
				t.Errorf("WorkRefOwners = %.200q, want %q", got, tc.want)
			}
		})
	}
}
