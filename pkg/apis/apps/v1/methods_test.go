package v1

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestChannelKey(t *testing.T) {
	for _, tc := range []struct {
		channel, want string
	}{
		{"fleet/repo", "fleet/repo"},
		{"repo", "apps/repo"}, // a bare name is in the Subscription's namespace
		{"", ""},
		{"fleet/", ""},
		{"/repo", ""},
		{"a/b/c", ""},
	} {
		sub := &Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "apps"}, Spec: SubscriptionSpec{Channel: tc.channel}}
		key, err := sub.ChannelKey()
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: key %s, want an error", tc.channel, key)
		case tc.want != "" && (err != nil || key.String() != tc.want):
			t.Errorf("%q: key %s, %v; want %s", tc.channel, key, err, tc.want)
		}
	}
}

func TestChannelServes(t *testing.T) {
	ch := &Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet"}, Spec: ChannelSpec{AllowedNamespaces: []string{"team-a"}}}
	if !ch.Serves("fleet") || !ch.Serves("team-a") || ch.Serves("team-b") {
		t.Error("a Channel serves its namespace and the listed ones only")
	}
	ch.Spec.AllowedNamespaces = []string{"*"}
	if !ch.Serves("team-b") {
		t.Error("\"*\" allows every namespace")
	}
}
