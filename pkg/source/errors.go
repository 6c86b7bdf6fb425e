package source

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Kind classifies why a fetch failed, so conditions can carry a precise reason.
type Kind int

// Failure kinds.
const (
	// KindUnavailable: the source could not be reached or answered with an
	// error; retrying may help.
	KindUnavailable Kind = iota
	// KindAuth: the source refused the credentials, or its TLS certificate or
	// SSH host key could not be verified.
	KindAuth
	// KindNotFound: the source was read but has no such branch, tag, commit,
	// chart version or bucket.
	KindNotFound
	// KindInvalid: the Channel or Subscription asks for something malformed.
	KindInvalid
)

// Error is a failed fetch. Its message is safe to show anywhere: URLs lose
// their userinfo and every credential value is masked.
type Error struct {
	Kind Kind
	// Channel is "namespace/name" of the Channel fetched.
	Channel string
	// Ref is the ref asked for, as Ref.String shows it.
	Ref string
	// RetryAfter is how long the Store waits before trying this (channel,
	// ref) again, unless a newer request forces it.
	RetryAfter time.Duration

	msg   string
	cause error // only context errors, so errors.Is(err, context.Canceled) works
}

func (e *Error) Error() string { return e.msg }

// Unwrap exposes context cancellation and deadline errors, nothing else: other
// causes may hold unmasked text.
func (e *Error) Unwrap() error { return e.cause }

// Reason is the condition reason for this error.
func (e *Error) Reason() string {
	switch e.Kind {
	case KindAuth:
		return appsv1.ReasonAuthFailed
	case KindInvalid:
		return appsv1.ReasonInvalidSpec
	}
	return appsv1.ReasonFetchFailed
}

// IsAuthError reports whether err is a refused credential or an unverifiable
// TLS certificate or SSH host key.
func IsAuthError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindAuth
}

// IsNotFound reports whether the source was reached but lacks what was asked for.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindNotFound
}

// Reason is the condition reason for a fetch error: AuthenticationFailed,
// InvalidSpec or FetchFailed.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason()
	}
	return appsv1.ReasonFetchFailed
}

// RetryAfter is how long to wait before reconciling again after err; 0 when
// err carries no advice.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// failure builds an Error with a sanitized message.
type failure struct {
	kind Kind
	msg  string
	err  error
}

func (f *failure) Error() string {
	if f.err == nil {
		return f.msg
	}
	if f.msg == "" {
		return f.err.Error()
	}
	return f.msg + ": " + f.err.Error()
}

func (f *failure) Unwrap() error { return f.err }

// fail wraps err with a kind and a message; the Store sanitizes it later.
func fail(kind Kind, err error, format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &failure{kind: kind, msg: msg, err: err}
}

func kindOf(err error) Kind {
	var f *failure
	if errors.As(err, &f) {
		return f.kind
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnavailable
}

// userinfoRE matches the userinfo part of URLs in free text.
var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s"']+@`)

// sanitizer masks credentials in text.
type sanitizer struct {
	secrets []string
}

// newSanitizer masks every value of the credentials (longer than 3 bytes, so
// short flags like "1" do not mask everything) and each of their lines.
func newSanitizer(c Credentials) sanitizer {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) > 3 && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for k, v := range c.Secret {
		if k == KeyUser || k == KeyRegion {
			continue
		}
		add(string(v))
		for _, line := range strings.Split(string(v), "\n") {
			add(line)
		}
	}
	// Longest first so a value containing another is masked whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return sanitizer{secrets: out}
}

func (s sanitizer) clean(text string) string {
	text = userinfoRE.ReplaceAllString(text, "${1}***@")
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, "***")
	}
	return text
}

// SanitizeURL drops the userinfo from a URL for display.
func SanitizeURL(u string) string {
	return userinfoRE.ReplaceAllString(u, "${1}")
}

// toError turns any fetch error into a sanitized *Error.
func toError(err error, req Request, s sanitizer) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	out := &Error{Kind: kindOf(err), Ref: req.Ref.String()}
	if req.Channel != nil {
		out.Channel = req.Channel.Namespace + "/" + req.Channel.Name
	}
	switch {
	case errors.Is(err, context.Canceled):
		out.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		out.cause = context.DeadlineExceeded
	}
	out.msg = s.clean(err.Error())
	return out
}
