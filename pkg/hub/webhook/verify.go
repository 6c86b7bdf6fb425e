package webhook

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // GitHub's legacy X-Hub-Signature is HMAC-SHA1; still a sound MAC
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
)

// signed reports whether the request carries any signature or token, so a
// Channel without a webhook secret can tell authenticated traffic apart in
// logs.
func signed(h http.Header, query map[string][]string) bool {
	for _, k := range []string{"X-Hub-Signature-256", "X-Hub-Signature", "X-Gitea-Signature", "X-Gogs-Signature", "X-Gitlab-Token"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return len(query["token"]) > 0
}

// verify checks a request against one Channel's webhook secret, the way its
// provider signs:
//   - GitHub: X-Hub-Signature-256 (sha256=HMAC), or the older X-Hub-Signature (sha1=HMAC);
//   - Gitea: X-Gitea-Signature (hex HMAC-SHA256), or the GitHub headers it also sends;
//   - GitLab: X-Gitlab-Token equal to the secret;
//   - Bitbucket Cloud and Server: X-Hub-Signature (sha256=HMAC) when the
//     webhook has a secret; Bitbucket Cloud webhooks without one can pass the
//     secret as ?token= in the URL instead.
//
// All comparisons take constant time.
func verify(p Provider, h http.Header, query map[string][]string, body []byte, secret []byte) bool {
	switch p {
	case GitHub:
		return hmacHeader(h.Get("X-Hub-Signature-256"), "sha256=", sha256.New, body, secret) ||
			hmacHeader(h.Get("X-Hub-Signature"), "sha1=", sha1.New, body, secret)
	case Gitea:
		return hmacHeader(firstHeader(h, "X-Gitea-Signature", "X-Gogs-Signature"), "", sha256.New, body, secret) ||
			hmacHeader(h.Get("X-Hub-Signature-256"), "sha256=", sha256.New, body, secret)
	case GitLab:
		return equalSecret(h.Get("X-Gitlab-Token"), secret)
	case Bitbucket:
		if hmacHeader(h.Get("X-Hub-Signature"), "sha256=", sha256.New, body, secret) ||
			hmacHeader(h.Get("X-Hub-Signature-256"), "sha256=", sha256.New, body, secret) {
			return true
		}
		for _, tok := range query["token"] {
			if equalSecret(tok, secret) {
				return true
			}
		}
	}
	return false
}

func hmacHeader(header, prefix string, newHash func() hash.Hash, body, secret []byte) bool {
	if header == "" || !strings.HasPrefix(header, prefix) {
		return false
	}
	got, err := hex.DecodeString(strings.TrimPrefix(header, prefix))
	if err != nil {
		return false
	}
	mac := hmac.New(newHash, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func equalSecret(given string, secret []byte) bool {
	if given == "" || len(secret) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(given), secret) == 1
}
