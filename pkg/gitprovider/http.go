package gitprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

// userAgent identifies our requests in the forges' logs.
const userAgent = "ocm-gitops"

// Response size limits: error bodies are only quoted, list pages decoded.
const (
	maxErrorBody = 64 << 10
	maxBody      = 16 << 20
)

// maxPages bounds a comment listing (100 pages of up to 100 comments).
const maxPages = 100

// defaultRateLimitWait is how long to wait after a rate limit that names no
// time; GitHub asks for at least a minute.
const defaultRateLimitWait = time.Minute

// NewHTTPClient returns a client for forge APIs that connects only to public
// addresses and to the networks the policy allows (nil: public only), with
// DefaultTimeout. The hub uses it for every Channel's commitStatus: an
// apiURL is tenant input and must not reach the hub's own network.
func NewHTTPClient(p *egress.Policy) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = p.DialContext
	return &http.Client{Transport: tr, Timeout: DefaultTimeout}
}

// APIError is a forge's answer other than 2xx.
type APIError struct {
	Provider string
	Method   string
	// URL is the request URL without its query.
	URL        string
	StatusCode int
	// Message is the forge's error message, redacted and shortened. Error
	// does not include it: the hub puts errors into Events, and an apiURL
	// may name a server whose words must not reach a tenant. Log it at most.
	Message string
	// RetryAfter is how long the forge asked callers to wait (rate limits).
	RetryAfter time.Duration

	retryable bool
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: %s %s: %d %s", e.Provider, e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter.Round(time.Second))
	}
	return msg
}

// Retryable reports whether the same request may succeed later: rate limits,
// server errors, timeouts and network failures. Other 4xx answers (bad
// token, missing repository, invalid payload) need a change first.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var api *APIError
	if errors.As(err, &api) {
		return api.retryable
	}
	var ue *url.Error
	return errors.As(err, &ue) && !errors.Is(err, context.Canceled)
}

// RetryAfter is the wait a rate-limited forge asked for, or 0.
func RetryAfter(err error) time.Duration {
	var api *APIError
	if errors.As(err, &api) {
		return api.RetryAfter
	}
	return 0
}

// transport makes authenticated JSON requests below one API root.
type transport struct {
	provider string
	base     *url.URL
	hc       *http.Client
	// headers are set on every request (authentication among them).
	headers http.Header
	// secrets are redacted from anything that could reach an error.
	secrets []string
	// rateLimited recognises a forge's "slow down" answers besides 429.
	rateLimited func(*http.Response, string) bool
	now         func() time.Time
}

// endpoint joins the API root and path segments, each escaped as one segment
// (a GitLab project path becomes group%2Fproject).
func (t *transport) endpoint(segments ...string) string {
	u := *t.base
	var raw strings.Builder
	raw.WriteString(strings.TrimRight(t.base.EscapedPath(), "/"))
	for _, s := range segments {
		raw.WriteString("/")
		raw.WriteString(url.PathEscape(s))
	}
	u.RawPath = raw.String()
	u.Path, _ = url.PathUnescape(u.RawPath)
	return u.String()
}

// do sends one request; in, when not nil, is sent as JSON and out decoded from
// a 2xx answer. It returns the answer's headers.
func (t *transport) do(ctx context.Context, method, rawURL string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", t.provider, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", t.provider, method, stripQuery(rawURL), err)
	}
	for k, vs := range t.headers {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("User-Agent", userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		// url.Error names the URL, which never carries credentials here.
		return nil, fmt.Errorf("%s: %w", t.provider, t.redactErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return resp.Header, t.apiError(req, resp, data)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return resp.Header, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(out); err != nil {
		return resp.Header, fmt.Errorf("%s: %s %s: decode answer: %w", t.provider, method, stripQuery(rawURL), err)
	}
	return resp.Header, nil
}

func (t *transport) apiError(req *http.Request, resp *http.Response, body []byte) *APIError {
	e := &APIError{
		Provider: t.provider, Method: req.Method, URL: stripQuery(req.URL.String()),
		StatusCode: resp.StatusCode, Message: t.redact(errorMessage(body)),
	}
	limited := resp.StatusCode == http.StatusTooManyRequests ||
		(t.rateLimited != nil && t.rateLimited(resp, e.Message))
	switch {
	case limited:
		e.retryable = true
		e.RetryAfter = t.retryAfter(resp.Header)
		if e.RetryAfter == 0 {
			e.RetryAfter = defaultRateLimitWait
		}
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout:
		e.retryable = true
		e.RetryAfter = t.retryAfter(resp.Header)
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date), else a rate-limit
// reset time (epoch seconds) when no requests remain.
func (t *transport) retryAfter(h http.Header) time.Duration {
	now := t.now()
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil && at.After(now) {
			return at.Sub(now)
		}
	}
	for _, p := range []string{"X-RateLimit-", "RateLimit-"} {
		if h.Get(p+"Remaining") != "0" {
			continue
		}
		if s, err := strconv.ParseInt(h.Get(p+"Reset"), 10, 64); err == nil {
			if at := time.Unix(s, 0); at.After(now) {
				return at.Sub(now)
			}
		}
	}
	return 0
}

// errorMessage pulls the human part out of a forge's error body: GitHub and
// Gitea {"message"}, GitLab {"message"} or {"error"}, Bitbucket
// {"error":{"message"}}; otherwise the start of the body.
func errorMessage(body []byte) string {
	var doc struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	text := ""
	if json.Unmarshal(body, &doc) == nil {
		text = rawText(doc.Message)
		if text == "" {
			var nested struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(doc.Error, &nested) == nil && nested.Message != "" {
				text = nested.Message
			} else {
				text = rawText(doc.Error)
			}
		}
	}
	if text == "" {
		text = string(body)
	}
	text = strings.Join(strings.Fields(text), " ")
	return trimRunes(text, 300)
}

// rawText renders a JSON value as text: strings unquoted, anything else as JSON.
func rawText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func (t *transport) redact(s string) string {
	for _, secret := range t.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr keeps err's chain (url.Error, timeouts) but scrubs its text.
func (t *transport) redactErr(err error) error {
	msg := err.Error()
	if clean := t.redact(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// sameOrigin guards pagination: a next-page link elsewhere would receive our
// credentials.
func (t *transport) sameOrigin(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%s: next-page link is not a URL", t.provider)
	}
	if u.Scheme != t.base.Scheme || u.Host != t.base.Host {
		return fmt.Errorf("%s: next-page link points to %s://%s, not to the API at %s://%s; refusing to send credentials there",
			t.provider, u.Scheme, u.Host, t.base.Scheme, t.base.Host)
	}
	return nil
}

// checkedNext passes a next-page URL through sameOrigin.
func (t *transport) checkedNext(next string) (string, error) {
	if next == "" {
		return "", nil
	}
	if err := t.sameOrigin(next); err != nil {
		return "", err
	}
	return next, nil
}

// nextLink reads rel="next" from an RFC 8288 Link header.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && containsField(strings.Trim(v, `"`), "next") {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

func containsField(s, want string) bool {
	for _, f := range strings.Fields(s) {
		if strings.EqualFold(f, want) {
			return true
		}
	}
	return false
}

func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}
