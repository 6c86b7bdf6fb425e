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
