package secrets

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// TestKeyringFromSecretErrorsHoldNoKey: the error of a key Secret that does
// not parse goes to the agent's log and to an Event anyone who reads Events
// in the agent's namespace sees, so it must not quote the key text. A key
// with one character changed, dropped or added (a typo, a paste cut short,
// a line joined) is the likely case; no six characters of the key's data
// may appear in the error.
func TestKeyringFromSecretErrorsHoldNoKey(t *testing.T) {
	own, _ := identity(t)
	id, _ := identity(t)
	const prefix = "AGE-SECRET-KEY-1"
	data := strings.TrimPrefix(strings.TrimSpace(id), prefix)
	var variants []string
	for i := range len(data) {
		for _, c := range "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L1BIO qz-" {
			variants = append(variants, prefix+data[:i]+string(c)+data[i+1:], prefix+data[:i]+string(c)+data[i:])
		}
		variants = append(variants, prefix+data[:i]+data[i+1:], prefix+data[:i], strings.ToLower(prefix+data[:i])+data[i:])
	}
	variants = append(variants, "AGE-SECRET-KEY-"+data, "age-secret-key-1"+data+prefix+data, prefix+data+prefix+data, id+" "+own)
	for _, v := range variants {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "agent", Name: "keys"},
			Data: map[string][]byte{IdentityKey: []byte(own), "fleet.agekey": []byte(v)}}
		_, err := KeyringFromSecret(s)
		if err == nil {
			continue // the change made another valid key (a checksum collision) or left it whole
		}
		msg := strings.ToUpper(err.Error())
		for i := 0; i+6 <= len(data); i++ {
			if strings.Contains(msg, data[i:i+6]) {
				t.Fatalf("key text %q: error quotes %q of the key: %s", v, data[i:i+6], err)
			}
		}
	}
}

// TestKeyWatcherRefusesOncePerEdit: a key Secret that does not parse gets
// one KeySecretInvalid Event per edit, not one more at every resync (which
// re-delivers the same Secret every ten minutes while it stays broken).
func TestKeyWatcherRefusesOncePerEdit(t *testing.T) {
	var mu sync.Mutex
	posted := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/namespaces/agent/events" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		mu.Lock()
		posted++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Event"}`))
	}))
	defer srv.Close()
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	own, _ := identity(t)
	keys, err := NewKeyring(own)
	if err != nil {
		t.Fatal(err)
	}
	w := &KeyWatcher{Kube: kube, Namespace: "agent", Name: "keys", Opener: NewOpener(keys), Log: logr.Discard()}
	broken := func(rv string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "agent", Name: "keys", ResourceVersion: rv},
			Data: map[string][]byte{IdentityKey: []byte(own), "fleet.agekey": []byte("AGE-SECRET-KEY-1NOPE")}}
	}
	events := func() int {
		mu.Lock()
		defer mu.Unlock()
		return posted
	}
	ctx := context.Background()
	w.onSecret(ctx, broken("1"))
	w.onSecret(ctx, broken("1")) // a resync
	if got := events(); got != 1 {
		t.Fatalf("%d Events for one broken edit and a resync, want 1", got)
	}
	w.onSecret(ctx, broken("2")) // edited again, still broken
	if got := events(); got != 2 {
		t.Errorf("%d Events after a second broken edit, want 2", got)
	}
	if got := w.Opener.Keys().Recipients(); len(got) != 1 {
		t.Errorf("keys in use changed: %v", got)
	}
}
