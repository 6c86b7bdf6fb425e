package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Seeds are in testdata/fuzz/<name>; explore further with, for example,
//
//	go test ./pkg/hub/webhook -run '^$' -fuzz '^FuzzPushPayload$' -fuzztime 5m

var (
	providers = []Provider{GitHub, GitLab, Gitea, Bitbucket}
	plainKey  = regexp.MustCompile(`^[a-z0-9.-]+(/[a-z0-9._~-]+)+$`)
)

// eventHeaders are the headers each forge sends with a push.
func eventHeaders(p Provider) http.Header {
	h := http.Header{}
	switch p {
	case GitHub:
		h.Set("X-GitHub-Event", "push")
	case Gitea:
		h.Set("X-Gitea-Event", "push")
	case GitLab:
		h.Set("X-Gitlab-Event", "Push Hook")
	case Bitbucket:
		h.Set("X-Event-Key", "repo:push")
	}
	return h
}

// FuzzPushPayload feeds any body, as JSON or as GitHub's form encoding, to
// the provider's push parser: it answers with a push naming a repository or
// an error, never panics, and every repository key it yields is normalized.
func FuzzPushPayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, provider uint8, body []byte, form bool) {
		p := providers[int(provider)%len(providers)]
		got, kind, _, ok := detect(eventHeaders(p))
		if !ok || got != p || kind != eventPush {
			t.Fatalf("detect(%s push headers) = %s %v %t", p, got, kind, ok)
		}
		payload := body
		if form {
			if fp := formPayload(body); fp != nil {
				payload = fp
			}
		}
		push, err := parsePush(p, payload)
		if err != nil {
			if err != errIgnored && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(string(p))) {
				t.Fatalf("error %q does not name the provider", err)
			}
			return
		}
		if len(push.repoURLs) == 0 {
			t.Fatal("a push without a repository URL was accepted")
		}
		for _, r := range push.refs {
			if r == "" {
				t.Fatal("empty ref")
			}
		}
		for _, u := range push.repoURLs {
			k := repoKey(u)
			if k == "" {
				continue
			}
			if k != strings.ToLower(k) || strings.HasSuffix(k, ".git") || strings.HasPrefix(k, "/") {
				t.Fatalf("repoKey(%q) = %q is not normalized", u, k)
			}
			// A plain host/path key names the same repository as an https URL.
			if again := repoKey("https://" + k); plainKey.MatchString(k) && again != k {
				t.Fatalf("RepoKey is not stable: %q -> %q -> %q", u, k, again)
			}
		}
	})
}

// FuzzVerifySignature: a request signed with the Channel's secret the way
// its forge signs verifies; the same request checked against another secret
// does not; and a forged signature header verifies only if it is, byte for
// byte, the right MAC.
func FuzzVerifySignature(f *testing.F) {
	f.Fuzz(func(t *testing.T, provider uint8, body, secret, other []byte, forged string) {
		p := providers[int(provider)%len(providers)]
		secret = bytes.TrimSpace(secret)
		// HMAC pads keys with zero bytes: "k" and "k\x00" are the same key.
		if len(secret) == 0 || bytes.Equal(bytes.TrimRight(secret, "\x00"), bytes.TrimRight(bytes.TrimSpace(other), "\x00")) {
			return
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		sum := mac.Sum(nil)
		h := eventHeaders(p)
		query := url.Values{}
		switch p {
		case GitHub:
			h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(sum))
		case Gitea:
			h.Set("X-Gitea-Signature", hex.EncodeToString(sum))
		case Bitbucket:
			h.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(sum))
		case GitLab:
			if strings.ContainsAny(string(secret), "\r\n\x00") {
				return // not a header value a client can send
			}
			h.Set("X-Gitlab-Token", string(secret))
		}
		if !signed(h, query) {
			t.Fatalf("%s: a signed request is not seen as signed", p)
		}
		if !verify(p, h, query, body, secret) {
			t.Fatalf("%s: a correctly signed request does not verify", p)
		}
		if verify(p, h, query, body, other) {
			t.Fatalf("%s: a request verifies against a secret it was not signed with", p)
		}

		// A forged header.
		fh := eventHeaders(p)
		switch p {
		case GitHub, Bitbucket:
			fh.Set("X-Hub-Signature-256", forged)
		case Gitea:
			fh.Set("X-Gitea-Signature", forged)
		case GitLab:
			fh.Set("X-Gitlab-Token", forged)
		}
		if !verify(p, fh, nil, body, secret) {
			return
		}
		switch p {
		case GitLab:
			if forged != string(secret) {
				t.Fatalf("GitLab token %q accepted for another secret", forged)
			}
		default:
			raw, err := hex.DecodeString(strings.TrimPrefix(forged, "sha256="))
			if err != nil || !hmac.Equal(raw, sum) {
				t.Fatalf("%s: forged signature %q accepted", p, forged)
			}
		}
	})
}
