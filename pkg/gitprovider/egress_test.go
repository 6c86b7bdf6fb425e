package gitprovider

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

// TestAPIReachesOnlyAllowedNetworks: a Channel's commit-status apiURL (or
// the forge derived from its pathname) on loopback is not posted to unless
// the hub allows that network, and what an allowed server answers is not
// quoted in the error the hub puts into Events (issue 16 item 8).
func TestAPIReachesOnlyAllowedNetworks(t *testing.T) {
	f := newForge(t, func(w http.ResponseWriter, _ request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"AccessKeyId ASIAEXAMPLE on internal-db-7"}`))
	})
	creds := map[string][]byte{"token": []byte(token)}
	for name, spec := range map[string]struct {
		spec     appsv1.CommitStatusSpec
		pathname string
	}{
		"apiURL":            {appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitLab, APIURL: f.URL, Repository: "acme/fleet"}, ""},
		"derived from path": {appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitea}, f.URL + "/acme/fleet.git"},
	} {
		t.Run(name, func(t *testing.T) {
			c, repo, err := New(spec.spec, spec.pathname, creds, nil)
			require.NoError(t, err)
			err = c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: "c"})
			assert.True(t, egress.IsRefused(err), "status to loopback with the default client: %v", err)
			err = c.UpsertComment(context.Background(), repo, 1, "<!-- m -->", "body")
			assert.True(t, egress.IsRefused(err), "comment to loopback with the default client: %v", err)
		})
	}
	assert.Empty(t, f.requests(), "the refused forge was reached")

	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "", creds,
		NewHTTPClient(egress.Allow(egress.Loopback()...)))
	require.NoError(t, err)
	err = c.SetCommitStatus(context.Background(), repo, sha, Status{State: StateSuccess, Context: "c"})
	require.Error(t, err)
	assert.Len(t, f.requests(), 1)
	for _, leak := range []string{"AccessKeyId", "ASIA", "internal-db"} {
		assert.False(t, strings.Contains(err.Error(), leak), "the error quotes the answer: %v", err)
	}
	assert.Contains(t, err.Error(), "500")
}
