package secrets

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKeyringFromSecret(t *testing.T) {
	own, ownR := identity(t)
	fleet, fleetR := identity(t)
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "agent", Name: "keys"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		data    map[string]string
		want    []string
		wantErr []string // all in the error
	}{
		{"own only", map[string]string{IdentityKey: own}, []string{ownR}, nil},
		{"own first, then other .agekey entries; other entries ignored",
			map[string]string{"a-fleet.agekey": fleet, IdentityKey: own, "notes": "not a key"}, []string{ownR, fleetR}, nil},
		{"own removed", map[string]string{"fleet.agekey": fleet}, nil, []string{"agent/keys", `"identity.agekey"`, "put it back"}},
		{"own emptied", map[string]string{IdentityKey: "# nothing\n"}, nil, []string{"agent/keys", `"identity.agekey"`, "age-keygen"}},
		{"bad fleet key text", map[string]string{IdentityKey: own, "fleet.agekey": "AGE-SECRET-KEY-1NOPE"}, nil,
			[]string{"agent/keys", `"fleet.agekey"`, "remove the entry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := KeyringFromSecret(secret(tc.data))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, keyring %v", k.Recipients())
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Recipients(); !slices.Equal(got, tc.want) {
				t.Errorf("recipients %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOpenerSwap: a swapped-in keyring opens new content at once, and a key
// swapped out stops opening content, even a ciphertext it opened (and the
// Opener cached) before.
func TestOpenerSwap(t *testing.T) {
	own, ownR := identity(t)
	fleet, fleetR := identity(t)
	ownOnly, err := NewKeyring(own)
	if err != nil {
		t.Fatal(err)
	}
	both, err := NewKeyring(own, fleet)
	if err != nil {
		t.Fatal(err)
	}
	forFleet := encrypt(t, fleetR)
	o := NewOpener(ownOnly)
	var notForUs *NotForUsError
	if _, err := o.Open(forFleet); !errors.As(err, &notForUs) {
		t.Fatalf("before the fleet key: %v, want NotForUsError", err)
	}
	o.Swap(both)
	if _, err := o.Open(forFleet); err != nil {
		t.Fatalf("after adding the fleet key: %v", err)
	}
	if _, err := o.Open(encrypt(t, ownR)); err != nil {
		t.Fatalf("own content after the swap: %v", err)
	}
	o.Swap(ownOnly)
	if _, err := o.Open(forFleet); !errors.As(err, &notForUs) {
		t.Fatalf("a cached ciphertext after the fleet key was removed: %v, want NotForUsError", err)
	}
	if got := o.Keys().Recipients(); !slices.Equal(got, []string{ownR}) {
		t.Errorf("keys in use %v", got)
	}
}
