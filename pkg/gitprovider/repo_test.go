package gitprovider

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestParseRepository(t *testing.T) {
	const (
		gh = appsv1.GitProviderGitHub
		gl = appsv1.GitProviderGitLab
		gt = appsv1.GitProviderGitea
		bb = appsv1.GitProviderBitbucket
	)
	cases := []struct {
		provider appsv1.GitProvider
		in       string
		want     Repo
		err      bool
	}{
		{gh, "acme/fleet", Repo{"acme", "fleet"}, false},
		{gh, "https://github.com/acme/fleet", Repo{"acme", "fleet"}, false},
		{gh, "https://github.com/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gh, "https://github.com/acme/fleet/", Repo{"acme", "fleet"}, false},
		{gh, "https://x-access-token:abc@github.com/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gh, "http://ghe.example.com:8080/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gh, "ssh://git@github.com/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gh, "ssh://git@github.com:22/acme/fleet", Repo{"acme", "fleet"}, false},
		{gh, "git@github.com:acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gh, "github.com:acme/fleet", Repo{"acme", "fleet"}, false},
		{gh, "https://github.com/acme/fleet/tree/main", Repo{}, true},
		{gh, "https://github.com/acme", Repo{}, true},
		{gh, "file:///srv/git/fleet.git", Repo{}, true},
		{gh, "https://github.com/acme/../fleet", Repo{}, true},
		{gh, "", Repo{}, true},
		{gl, "https://gitlab.com/platform/team/fleet.git", Repo{"platform/team", "fleet"}, false},
		{gl, "git@gitlab.example.com:platform/fleet.git", Repo{"platform", "fleet"}, false},
		{gl, "ssh://git@gitlab.example.com:2222/a/b/c/fleet.git", Repo{"a/b/c", "fleet"}, false},
		{gl, "platform/team/fleet", Repo{"platform/team", "fleet"}, false},
		{gl, "12345", Repo{"", "12345"}, false},
		{gl, "fleet", Repo{}, true},
		{gt, "https://code.example.com/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gt, "https://example.com/gitea/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{gt, "git@codeberg.org:acme/fleet.git", Repo{"acme", "fleet"}, false},
		{bb, "https://jdoe@bitbucket.org/acme/fleet.git", Repo{"acme", "fleet"}, false},
		{bb, "git@bitbucket.org:acme/fleet.git", Repo{"acme", "fleet"}, false},
		{bb, "https://bitbucket.org/acme/team/fleet", Repo{}, true},
		{"svn", "acme/fleet", Repo{}, true},
	}
	for _, tc := range cases {
		t.Run(string(tc.provider)+" "+tc.in, func(t *testing.T) {
			got, err := ParseRepository(tc.provider, tc.in)
			if tc.err {
				assert.Error(t, err, "got %+v", got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tok := map[string][]byte{"token": []byte("t")}
	cases := []struct {
		name     string
		spec     appsv1.CommitStatusSpec
		pathname string
		api      string
		repo     string
	}{
		{"github public", appsv1.CommitStatusSpec{Provider: "github"}, "https://github.com/acme/fleet.git", "https://api.github.com", "acme/fleet"},
		{"github enterprise from pathname", appsv1.CommitStatusSpec{Provider: "github"}, "git@ghe.example.com:acme/fleet.git", "https://ghe.example.com/api/v3", "acme/fleet"},
		{"github explicit", appsv1.CommitStatusSpec{Provider: "github", APIURL: "https://ghe.example.com/api/v3/", Repository: "o/r"}, "file:///x", "https://ghe.example.com/api/v3", "o/r"},
		{"gitlab public", appsv1.CommitStatusSpec{Provider: "gitlab"}, "https://gitlab.com/g/s/p.git", "https://gitlab.com/api/v4", "g/s/p"},
		{"gitlab self-managed", appsv1.CommitStatusSpec{Provider: "gitlab"}, "http://gitlab.local:8080/g/p.git", "http://gitlab.local:8080/api/v4", "g/p"},
		{"gitlab relative root", appsv1.CommitStatusSpec{Provider: "gitlab", APIURL: "https://example.com/gitlab"}, "https://example.com/gitlab/g/p.git", "https://example.com/gitlab/api/v4", "g/p"},
		{"gitea from ssh", appsv1.CommitStatusSpec{Provider: "gitea"}, "ssh://git@code.example.com:2222/o/r.git", "https://code.example.com/api/v1", "o/r"},
		{"gitea explicit", appsv1.CommitStatusSpec{Provider: "Gitea", APIURL: "https://codeberg.org"}, "https://codeberg.org/o/r", "https://codeberg.org/api/v1", "o/r"},
		{"gitea without a host", appsv1.CommitStatusSpec{Provider: "gitea", Repository: "o/r"}, "", "https://gitea.com/api/v1", "o/r"},
		{"bitbucket", appsv1.CommitStatusSpec{Provider: "bitbucket"}, "git@bitbucket.org:ws/r.git", "https://api.bitbucket.org/2.0", "ws/r"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, repo, err := New(tc.spec, tc.pathname, tok, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.repo, repo.String())
			assert.Equal(t, tc.api, transportOf(c).base.String())
		})
	}
}

func transportOf(c Client) *transport {
	switch c := c.(type) {
	case *github:
		return c.t
	case *gitlab:
		return c.t
	case *gitea:
		return c.t
	case *bitbucket:
		return c.t
	}
	return nil
}

func TestNewErrors(t *testing.T) {
	tok := map[string][]byte{"token": []byte("t")}
	cases := []struct {
		name     string
		spec     appsv1.CommitStatusSpec
		pathname string
		creds    map[string][]byte
		contains string
	}{
		{"unknown provider", appsv1.CommitStatusSpec{Provider: "svn"}, "https://github.com/o/r", tok, "spec.commitStatus.provider"},
		{"no token", appsv1.CommitStatusSpec{Provider: "github"}, "https://github.com/o/r", map[string][]byte{"user": []byte("u")}, `no "token" key`},
		{"blank token", appsv1.CommitStatusSpec{Provider: "github"}, "https://github.com/o/r", map[string][]byte{"token": []byte(" \n")}, `no "token" key`},
		{"credentials in apiURL", appsv1.CommitStatusSpec{Provider: "github", APIURL: "https://u:p@ghe.example.com/api/v3"}, "https://github.com/o/r", tok, "must not carry credentials"},
		{"apiURL not http", appsv1.CommitStatusSpec{Provider: "gitea", APIURL: "ftp://x"}, "https://x/o/r", tok, "spec.commitStatus.apiURL"},
		{"underivable repository", appsv1.CommitStatusSpec{Provider: "github"}, "file:///srv/fleet.git", tok, "set spec.commitStatus.repository"},
		{"bad repository", appsv1.CommitStatusSpec{Provider: "github", Repository: "just-a-name"}, "https://github.com/o/r", tok, "spec.commitStatus.repository"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := New(tc.spec, tc.pathname, tc.creds, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.contains)
			assert.NotContains(t, err.Error(), ":p@")
		})
	}
}
