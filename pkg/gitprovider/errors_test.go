package gitprovider

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestErrors(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name       string
		provider   appsv1.GitProvider
		respond    func(w http.ResponseWriter)
		retryable  bool
		retryAfter time.Duration
		contains   string
		// message is what APIError.Message keeps of the forge's answer
		// (logged, never in Error).
		message string
	}{{
		name: "bad token is final and redacted", provider: appsv1.GitProviderGitHub,
		respond: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials for " + token})
		},
		contains: "401 Unauthorized", message: "Bad credentials for [redacted]",
	}, {
		name: "missing repository is final", provider: appsv1.GitProviderGitea,
		respond: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "repository does not exist"})
		},
		contains: "404 Not Found", message: "repository does not exist",
	}, {
		name: "server error is retried", provider: appsv1.GitProviderGitLab,
		respond:   func(w http.ResponseWriter) { http.Error(w, "upstream failed", http.StatusBadGateway) },
		retryable: true, contains: "502 Bad Gateway", message: "upstream failed",
	}, {
		name: "429 with Retry-After seconds", provider: appsv1.GitProviderGitLab,
		respond: func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Retry later"})
		},
		retryable: true, retryAfter: 7 * time.Second, contains: "retry after 7s",
	}, {
		name: "gitlab 429 with RateLimit-Reset", provider: appsv1.GitProviderGitLab,
		respond: func(w http.ResponseWriter) {
			w.Header().Set("RateLimit-Remaining", "0")
			w.Header().Set("RateLimit-Reset", strconv.FormatInt(now.Add(90*time.Second).Unix(), 10))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Retry later"})
		},
		retryable: true, retryAfter: 90 * time.Second,
	}, {
		name: "github primary rate limit is a 403 with x-ratelimit-remaining 0", provider: appsv1.GitProviderGitHub,
		respond: func(w http.ResponseWriter) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(120*time.Second).Unix(), 10))
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "API rate limit exceeded"})
		},
		retryable: true, retryAfter: 120 * time.Second,
	}, {
		name: "github secondary rate limit without a time waits a minute", provider: appsv1.GitProviderGitHub,
		respond: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "You have exceeded a secondary rate limit"})
		},
		retryable: true, retryAfter: time.Minute,
	}, {
		name: "github 403 without rate limit is final", provider: appsv1.GitProviderGitHub,
		respond: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration"})
		},
		contains: "403 Forbidden", message: "Resource not accessible by integration",
	}, {
		name: "bitbucket nested error message", provider: appsv1.GitProviderBitbucket,
		respond: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error", "error": map[string]any{"message": "url: Enter a valid URL."}})
		},
		contains: "400 Bad Request", message: "url: Enter a valid URL.",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newForge(t, func(w http.ResponseWriter, _ request) { tc.respond(w) })
			c, repo, err := New(appsv1.CommitStatusSpec{Provider: tc.provider, APIURL: f.URL, Repository: "acme/fleet"}, "",
				map[string][]byte{"token": []byte(token)}, f.Client())
			require.NoError(t, err)
			setNow(c, func() time.Time { return now })
			err = c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: "c"})
			require.Error(t, err)
			assert.Equal(t, tc.retryable, Retryable(err), "retryable: %v", err)
			assert.Equal(t, tc.retryAfter, RetryAfter(err))
			assert.Contains(t, err.Error(), tc.contains)
			assert.NotContains(t, err.Error(), token)
			var api *APIError
			require.True(t, errors.As(err, &api))
			assert.Contains(t, api.Message, tc.message)
			if tc.message != "" {
				assert.NotContains(t, err.Error(), tc.message, "the forge's answer is quoted")
			}
		})
	}
}

// setNow fixes a client's clock for rate-limit arithmetic.
func setNow(c Client, now func() time.Time) {
	switch c := c.(type) {
	case *github:
		c.t.now = now
	case *gitlab:
		c.t.now = now
	case *gitea:
		c.t.now = now
	case *bitbucket:
		c.t.now = now
	}
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	f := newForge(t, nil)
	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "",
		map[string][]byte{"token": []byte(token)}, f.Client())
	require.NoError(t, err)
	f.Close()
	err = c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: "c"})
	require.Error(t, err)
	assert.True(t, Retryable(err), "%v", err)
	assert.NotContains(t, err.Error(), token)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = c.SetCommitStatus(ctx, repo, sha, Status{State: StateSuccess, Context: "c"})
	require.Error(t, err)
	assert.False(t, Retryable(err), "a cancelled caller is not a forge failure: %v", err)
}

func TestBitbucketCredentialsNeverInErrors(t *testing.T) {
	basic := "amRvZTp0b2stM2Y5YTFj" // base64("jdoe:tok-3f9a1c")
	f := newForge(t, func(w http.ResponseWriter, r request) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"message": "bad " + r.Header.Get("Authorization") + " jdoe:" + token}})
	})
	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderBitbucket, APIURL: f.URL, Repository: "acme/fleet"}, "",
		map[string][]byte{"user": []byte("jdoe"), "token": []byte(token)}, f.Client())
	require.NoError(t, err)
	err = c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: "c"})
	require.Error(t, err)
	var api *APIError
	require.True(t, errors.As(err, &api))
	for _, text := range []string{err.Error(), api.Message} {
		assert.NotContains(t, text, token)
		assert.NotContains(t, text, basic)
	}
	assert.True(t, strings.Contains(api.Message, "[redacted]"), api.Message)
}
