package gitprovider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// trimRunes cuts s to at most n characters, ending with "…" when cut.
func trimRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune(s)[:n])
	}
	return string([]rune(s)[:n-1]) + "…"
}

// shorten keeps s when it fits in max bytes, else keeps a readable head and
// appends "~" and a hash of the whole, so distinct long values stay distinct
// and the same value always gives the same result.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tag := "~" + hex.EncodeToString(sum[:])[:16]
	head := s[:max-len(tag)]
	for !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	return head + tag
}

var hexSHA = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// checkStatus validates what every forge needs before a request goes out.
func checkStatus(repo Repo, sha string, s Status) error {
	if repo.Name == "" {
		return fmt.Errorf("repository is empty")
	}
	if !hexSHA.MatchString(sha) {
		return fmt.Errorf("commit %q is not a full hexadecimal SHA-1 or SHA-256", sha)
	}
	switch s.State {
	case StatePending, StateSuccess, StateFailure, StateError:
	default:
		return fmt.Errorf("status state %q is unknown; use pending, success, failure or error", s.State)
	}
	if strings.TrimSpace(s.Context) == "" {
		return fmt.Errorf("status context is empty")
	}
	return nil
}

// withMarker makes sure a comment body carries its marker.
func withMarker(marker, body string) (string, error) {
	if strings.TrimSpace(marker) == "" {
		return "", fmt.Errorf("comment marker is empty; pass a unique string such as <!-- ocm-gitops:preview -->")
	}
	if strings.Contains(body, marker) {
		return body, nil
	}
	return body + "\n\n" + marker, nil
}
