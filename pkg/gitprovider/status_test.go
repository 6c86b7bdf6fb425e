package gitprovider

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

const (
	sha   = "0123456789abcdef0123456789abcdef01234567"
	token = "tok-3f9a1c"
)

func TestSetCommitStatusRequests(t *testing.T) {
	status := Status{
		State: StatePending, Context: "ocm-gitops/apps/web", Description: "rolling out: 12/40 applied",
		TargetURL: "https://hub.example.com/apps/web", Ref: "main",
	}
	cases := []struct {
		name     string
		provider appsv1.GitProvider
		pathname string
		creds    map[string][]byte
		path     string
		headers  map[string]string
		body     map[string]any
	}{{
		name: "github", provider: appsv1.GitProviderGitHub, pathname: "https://github.com/acme/fleet.git",
		creds: map[string][]byte{"token": []byte(token + "\n")},
		path:  "/repos/acme/fleet/statuses/" + sha,
		headers: map[string]string{
			"Authorization": "Bearer " + token, "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
		},
		body: map[string]any{"state": "pending", "target_url": "https://hub.example.com/apps/web",
			"description": "rolling out: 12/40 applied", "context": "ocm-gitops/apps/web"},
	}, {
		name: "gitlab", provider: appsv1.GitProviderGitLab, pathname: "git@gitlab.example.com:platform/team/fleet.git",
		creds:   map[string][]byte{"token": []byte(token)},
		path:    "/api/v4/projects/platform%2Fteam%2Ffleet/statuses/" + sha,
		headers: map[string]string{"PRIVATE-TOKEN": token, "Accept": "application/json"},
		body: map[string]any{"state": "running", "ref": "main", "name": "ocm-gitops/apps/web",
			"target_url": "https://hub.example.com/apps/web", "description": "rolling out: 12/40 applied"},
	}, {
		name: "gitea", provider: appsv1.GitProviderGitea, pathname: "ssh://git@code.example.com:2222/acme/fleet.git",
		creds:   map[string][]byte{"token": []byte(token)},
		path:    "/api/v1/repos/acme/fleet/statuses/" + sha,
		headers: map[string]string{"Authorization": "token " + token, "Accept": "application/json"},
		body: map[string]any{"state": "pending", "target_url": "https://hub.example.com/apps/web",
			"description": "rolling out: 12/40 applied", "context": "ocm-gitops/apps/web"},
	}, {
		name: "bitbucket app password", provider: appsv1.GitProviderBitbucket, pathname: "https://jdoe@bitbucket.org/acme/fleet.git",
		creds:   map[string][]byte{"user": []byte("jdoe"), "token": []byte(token)},
		path:    "/2.0/repositories/acme/fleet/commit/" + sha + "/statuses/build",
		headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("jdoe:"+token)), "Accept": "application/json"},
		body: map[string]any{"key": "ocm-gitops/apps/web", "state": "INPROGRESS", "name": "ocm-gitops/apps/web",
			"url": "https://hub.example.com/apps/web", "description": "rolling out: 12/40 applied", "refname": "main"},
	}, {
		name: "bitbucket access token", provider: appsv1.GitProviderBitbucket, pathname: "git@bitbucket.org:acme/fleet.git",
		creds:   map[string][]byte{"token": []byte(token)},
		path:    "/2.0/repositories/acme/fleet/commit/" + sha + "/statuses/build",
		headers: map[string]string{"Authorization": "Bearer " + token},
		body: map[string]any{"key": "ocm-gitops/apps/web", "state": "INPROGRESS", "name": "ocm-gitops/apps/web",
			"url": "https://hub.example.com/apps/web", "description": "rolling out: 12/40 applied", "refname": "main"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newForge(t, nil)
			c, repo, err := New(appsv1.CommitStatusSpec{Provider: tc.provider, APIURL: f.URL}, tc.pathname, tc.creds, f.Client())
			require.NoError(t, err)
			require.NoError(t, c.SetCommitStatus(context.Background(), repo, sha, status))
			reqs := f.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, tc.path, r.Path)
			for k, v := range tc.headers {
				assert.Equal(t, v, r.Header.Get(k), "header %s", k)
			}
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Equal(t, "ocm-gitops", r.Header.Get("User-Agent"))
			assert.Equal(t, tc.body, r.JSON(t))
		})
	}
}

func TestStateMapping(t *testing.T) {
	cases := []struct {
		provider appsv1.GitProvider
		field    string
		want     map[State]string
	}{
		{appsv1.GitProviderGitHub, "state", map[State]string{StatePending: "pending", StateSuccess: "success", StateFailure: "failure", StateError: "error"}},
		{appsv1.GitProviderGitea, "state", map[State]string{StatePending: "pending", StateSuccess: "success", StateFailure: "failure", StateError: "error"}},
		{appsv1.GitProviderGitLab, "state", map[State]string{StatePending: "running", StateSuccess: "success", StateFailure: "failed", StateError: "failed"}},
		{appsv1.GitProviderBitbucket, "state", map[State]string{StatePending: "INPROGRESS", StateSuccess: "SUCCESSFUL", StateFailure: "FAILED", StateError: "FAILED"}},
	}
	for _, tc := range cases {
		t.Run(string(tc.provider), func(t *testing.T) {
			f := newForge(t, nil)
			c, repo, err := New(appsv1.CommitStatusSpec{Provider: tc.provider, APIURL: f.URL, Repository: "acme/fleet"}, "", map[string][]byte{"token": []byte(token)}, f.Client())
			require.NoError(t, err)
			for _, s := range []State{StatePending, StateSuccess, StateFailure, StateError} {
				require.NoError(t, c.SetCommitStatus(context.Background(), repo, sha, Status{State: s, Context: "c"}))
			}
			reqs := f.requests()
			require.Len(t, reqs, 4)
			for i, s := range []State{StatePending, StateSuccess, StateFailure, StateError} {
				assert.Equal(t, tc.want[s], reqs[i].JSON(t)[tc.field], "state %s", s)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("drift on 1/40: east-1 Deployment/web .spec.replicas ", 10)
	longContext := "ocm-gitops/hub-eu-west-1/team-payments/payments-api-frontend/cluster-eu-west-1-prod-001"

	t.Run("github description is cut to 140 characters", func(t *testing.T) {
		f := newForge(t, nil)
		c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "", map[string][]byte{"token": []byte(token)}, f.Client())
		require.NoError(t, err)
		require.NoError(t, c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateFailure, Context: "c", Description: long}))
		d := f.requests()[0].JSON(t)["description"].(string)
		assert.Equal(t, 140, len([]rune(d)))
		assert.True(t, strings.HasSuffix(d, "…"))
		assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(d, "…")))
	})

	t.Run("bitbucket key fits 40 characters, deterministic and distinct", func(t *testing.T) {
		f := newForge(t, nil)
		c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderBitbucket, APIURL: f.URL, Repository: "acme/fleet"}, "", map[string][]byte{"token": []byte(token)}, f.Client())
		require.NoError(t, err)
		ctx := context.Background()
		require.NoError(t, c.SetCommitStatus(ctx, repo, sha, Status{State: StateSuccess, Context: longContext}))
		require.NoError(t, c.SetCommitStatus(ctx, repo, sha, Status{State: StateFailure, Context: longContext}))
		require.NoError(t, c.SetCommitStatus(ctx, repo, sha, Status{State: StateSuccess, Context: longContext + "2"}))
		reqs := f.requests()
		k1, k2, k3 := reqs[0].JSON(t)["key"].(string), reqs[1].JSON(t)["key"].(string), reqs[2].JSON(t)["key"].(string)
		assert.LessOrEqual(t, len(k1), 40)
		assert.Equal(t, k1, k2, "the same context must keep its key")
		assert.NotEqual(t, k1, k3, "distinct contexts must get distinct keys")
		assert.True(t, strings.HasPrefix(k1, "ocm-gitops/hub-eu-west-"), "key keeps a readable head: %s", k1)
		assert.Equal(t, longContext, reqs[0].JSON(t)["name"], "the name carries the full context")
		assert.Equal(t, f.URL+"/acme/fleet/commits/"+sha, reqs[0].JSON(t)["url"], "Bitbucket requires a URL: the commit page")
	})

	t.Run("github context longer than 255 is shortened", func(t *testing.T) {
		f := newForge(t, nil)
		c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "", map[string][]byte{"token": []byte(token)}, f.Client())
		require.NoError(t, err)
		require.NoError(t, c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: strings.Repeat("x", 300)}))
		assert.Len(t, f.requests()[0].JSON(t)["context"], 255)
	})
}

func TestSetCommitStatusRejectsBadInput(t *testing.T) {
	f := newForge(t, nil)
	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "", map[string][]byte{"token": []byte(token)}, f.Client())
	require.NoError(t, err)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"short sha": func() error {
			return c.SetCommitStatus(ctx, repo, "0123abc", Status{State: StateSuccess, Context: "c"})
		},
		"path in sha": func() error {
			return c.SetCommitStatus(ctx, repo, "../../x", Status{State: StateSuccess, Context: "c"})
		},
		"unknown state": func() error { return c.SetCommitStatus(ctx, repo, sha, Status{State: "done", Context: "c"}) },
		"no context":    func() error { return c.SetCommitStatus(ctx, repo, sha, Status{State: StateSuccess}) },
	} {
		assert.Error(t, call(), name)
	}
	assert.Empty(t, f.requests(), "invalid input must not reach the forge")
}

func TestGitLabAlreadyRunningIsDone(t *testing.T) {
	f := newForge(t, func(w http.ResponseWriter, r request) {
		if strings.Contains(string(r.Body), `"running"`) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")`})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "name is too long"})
	})
	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitLab, APIURL: f.URL, Repository: "acme/fleet"}, "", map[string][]byte{"token": []byte(token)}, f.Client())
	require.NoError(t, err)
	assert.NoError(t, c.SetCommitStatus(context.Background(), repo, sha, Status{State: StatePending, Context: "c"}))
	err = c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: "c"})
	require.Error(t, err, "other 400s are errors")
	assert.False(t, Retryable(err))
	assert.Contains(t, err.Error(), "400 Bad Request")
}
