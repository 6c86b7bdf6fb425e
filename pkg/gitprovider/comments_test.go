package gitprovider

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

const marker = "<!-- ocm-gitops:preview -->"

// fakeComment is one comment on the fake forge; hidden ones (GitLab system
// notes, Bitbucket deleted comments) must be ignored even with the marker.
type fakeComment struct {
	id     int64
	body   string
	hidden bool
}

// commentForge describes one forge's comment API as the tests expect it.
type commentForge struct {
	provider appsv1.GitProvider
	// list is the escaped path of the listing; page is read from the query.
	list         string
	firstQuery   map[string]string
	update       func(id int64) string
	updateMethod string
	// serve writes one page; base is the server URL, last says whether more follow.
	serve func(w http.ResponseWriter, base string, page int, comments []fakeComment, last bool)
	// body reads the comment text out of a create or update payload.
	body func(m map[string]any) any
}

var commentForges = []commentForge{{
	provider:   appsv1.GitProviderGitHub,
	list:       "/repos/acme/fleet/issues/7/comments",
	firstQuery: map[string]string{"per_page": "100"},
	update:     func(id int64) string { return fmt.Sprintf("/repos/acme/fleet/issues/comments/%d", id) }, updateMethod: http.MethodPatch,
	serve: func(w http.ResponseWriter, base string, page int, comments []fakeComment, last bool) {
		if !last {
			w.Header().Set("Link", fmt.Sprintf(`<%s/repositories/99/issues/7/comments?per_page=100&page=%d>; rel="next", <%s/x?page=9>; rel="last"`, base, page+1, base))
		}
		var out []map[string]any
		for _, c := range comments {
			if !c.hidden { // no such thing on this forge
				out = append(out, map[string]any{"id": c.id, "body": c.body})
			}
		}
		writeJSON(w, http.StatusOK, out)
	},
	body: func(m map[string]any) any { return m["body"] },
}, {
	provider:   appsv1.GitProviderGitLab,
	list:       "/api/v4/projects/acme%2Ffleet/merge_requests/7/notes",
	firstQuery: map[string]string{"per_page": "100", "page": "1", "sort": "asc", "order_by": "created_at"},
	update: func(id int64) string {
		return fmt.Sprintf("/api/v4/projects/acme%%2Ffleet/merge_requests/7/notes/%d", id)
	}, updateMethod: http.MethodPut,
	serve: func(w http.ResponseWriter, _ string, page int, comments []fakeComment, last bool) {
		next := ""
		if !last {
			next = strconv.Itoa(page + 1)
		}
		w.Header().Set("X-Next-Page", next)
		var out []map[string]any
		for _, c := range comments {
			out = append(out, map[string]any{"id": c.id, "body": c.body, "system": c.hidden})
		}
		writeJSON(w, http.StatusOK, out)
	},
	body: func(m map[string]any) any { return m["body"] },
}, {
	provider: appsv1.GitProviderGitea,
	list:     "/api/v1/repos/acme/fleet/issues/7/comments",
	update:   func(id int64) string { return fmt.Sprintf("/api/v1/repos/acme/fleet/issues/comments/%d", id) }, updateMethod: http.MethodPatch,
	serve: func(w http.ResponseWriter, base string, page int, comments []fakeComment, last bool) {
		if !last {
			w.Header().Set("Link", fmt.Sprintf(`<%s/api/v1/repos/acme/fleet/issues/7/comments?page=%d>; rel="next"`, base, page+1))
		}
		var out []map[string]any
		for _, c := range comments {
			if !c.hidden { // no such thing on this forge
				out = append(out, map[string]any{"id": c.id, "body": c.body})
			}
		}
		writeJSON(w, http.StatusOK, out)
	},
	body: func(m map[string]any) any { return m["body"] },
}, {
	provider: appsv1.GitProviderBitbucket,
	list:     "/2.0/repositories/acme/fleet/pullrequests/7/comments",
	update: func(id int64) string {
		return fmt.Sprintf("/2.0/repositories/acme/fleet/pullrequests/7/comments/%d", id)
	}, updateMethod: http.MethodPut,
	serve: func(w http.ResponseWriter, base string, page int, comments []fakeComment, last bool) {
		doc := map[string]any{"page": page, "pagelen": 10}
		if !last {
			doc["next"] = fmt.Sprintf("%s/2.0/repositories/acme/fleet/pullrequests/7/comments?page=%d", base, page+1)
		}
		var values []map[string]any
		for _, c := range comments {
			values = append(values, map[string]any{"id": c.id, "deleted": c.hidden, "content": map[string]any{"raw": c.body, "markup": "markdown"}})
		}
		doc["values"] = values
		writeJSON(w, http.StatusOK, doc)
	},
	body: func(m map[string]any) any { return m["content"].(map[string]any)["raw"] },
}}

func TestUpsertComment(t *testing.T) {
	const text = "## Placement preview\n3 clusters gain web"
	want := text + "\n\n" + marker
	scenarios := []struct {
		name     string
		page2    []fakeComment
		wantCall string // "update", "create" or ""
	}{
		{name: "edits the comment with the marker", page2: []fakeComment{{21, "old " + marker, true}, {22, "old " + marker, false}}, wantCall: "update"},
		{name: "creates a comment when none has the marker", page2: []fakeComment{{21, "old " + marker, true}, {22, "looks good", false}}, wantCall: "create"},
		{name: "leaves an identical comment alone", page2: []fakeComment{{22, want, false}}, wantCall: ""},
	}
	for _, cf := range commentForges {
		for _, sc := range scenarios {
			t.Run(string(cf.provider)+"/"+sc.name, func(t *testing.T) {
				pages := [][]fakeComment{{{1, "first", false}, {2, "second", false}}, sc.page2}
				var f *forge
				f = newForge(t, func(w http.ResponseWriter, r request) {
					if r.Method != http.MethodGet {
						writeJSON(w, http.StatusOK, map[string]any{"id": 99})
						return
					}
					page := 1
					if p := r.Query["page"]; len(p) == 1 {
						page, _ = strconv.Atoi(p[0])
					}
					if page < 1 || page > len(pages) {
						http.Error(w, "no such page", http.StatusNotFound)
						return
					}
					cf.serve(w, f.URL, page, pages[page-1], page == len(pages))
				})
				c, repo, err := New(appsv1.CommitStatusSpec{Provider: cf.provider, APIURL: f.URL, Repository: "acme/fleet"}, "",
					map[string][]byte{"token": []byte(token)}, f.Client())
				require.NoError(t, err)
				require.NoError(t, c.UpsertComment(context.Background(), repo, 7, marker, text))

				reqs := f.requests()
				require.GreaterOrEqual(t, len(reqs), 2)
				assert.Equal(t, http.MethodGet, reqs[0].Method)
				assert.Equal(t, cf.list, reqs[0].Path)
				for k, v := range cf.firstQuery {
					assert.Equal(t, []string{v}, reqs[0].Query[k], "query %s", k)
				}
				assert.Equal(t, http.MethodGet, reqs[1].Method, "the second page is read")
				writes := reqs[2:]
				switch sc.wantCall {
				case "":
					assert.Empty(t, writes)
				case "update":
					require.Len(t, writes, 1)
					assert.Equal(t, cf.updateMethod, writes[0].Method)
					assert.Equal(t, cf.update(22), writes[0].Path)
					assert.Equal(t, want, cf.body(writes[0].JSON(t)))
				case "create":
					require.Len(t, writes, 1)
					assert.Equal(t, http.MethodPost, writes[0].Method)
					assert.Equal(t, cf.list, writes[0].Path)
					assert.Equal(t, want, cf.body(writes[0].JSON(t)))
				}
				for _, r := range reqs {
					assert.NotEmpty(t, r.Header.Get("Authorization")+r.Header.Get("PRIVATE-TOKEN"), "%s %s unauthenticated", r.Method, r.Path)
				}
			})
		}
	}
}

func TestUpsertCommentRefusesForeignNextPage(t *testing.T) {
	f := newForge(t, func(w http.ResponseWriter, r request) {
		w.Header().Set("Link", `<https://attacker.example.com/steal?page=2>; rel="next"`)
		writeJSON(w, http.StatusOK, []map[string]any{{"id": 1, "body": "hi"}})
	})
	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "",
		map[string][]byte{"token": []byte(token)}, f.Client())
	require.NoError(t, err)
	err = c.UpsertComment(context.Background(), repo, 7, marker, "body")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to send credentials")
	assert.Len(t, f.requests(), 1, "nothing is written after a refused page")
}

func TestUpsertCommentInput(t *testing.T) {
	f := newForge(t, nil)
	c, repo, err := New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: f.URL, Repository: "acme/fleet"}, "",
		map[string][]byte{"token": []byte(token)}, f.Client())
	require.NoError(t, err)
	assert.Error(t, c.UpsertComment(context.Background(), repo, 0, marker, "x"))
	assert.Error(t, c.UpsertComment(context.Background(), repo, 3, " ", "x"))
	assert.Empty(t, f.requests())
}
