package gitprovider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// GitLab limits (its API rejects longer names and descriptions).
const (
	gitlabDescriptionMax = 255
	gitlabNameMax        = 255
)

// gitlab speaks the GitLab REST API v4 (gitlab.com and self-managed).
type gitlab struct{ t *transport }

func newGitLab(t *transport, token string) *gitlab {
	t.headers = http.Header{
		"Private-Token": {token},
		"Accept":        {"application/json"},
	}
	return &gitlab{t: t}
}

// gitlabState maps our states to GitLab's commit status states. pending
// becomes running: GitLab refuses running -> pending, and running reads
// better for a rollout under way. error becomes failed, which GitLab shows
// as red like GitHub does.
func gitlabState(s State) string {
	switch s {
	case StatePending:
		return "running"
	case StateSuccess:
		return "success"
	default:
		return "failed"
	}
}

type gitlabStatus struct {
	State       string `json:"state"`
	Ref         string `json:"ref,omitempty"`
	Name        string `json:"name"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
}

// SetCommitStatus: POST /projects/:id/statuses/:sha, :id being the
// URL-encoded project path (or numeric ID), with the status name as context. GitLab answers 400 "Cannot transition status via :run from
// :running" when the status is already running; that is the state asked for,
// so it counts as done (GitLab cannot update a running status's description).
func (g *gitlab) SetCommitStatus(ctx context.Context, repo Repo, sha string, s Status) error {
	if err := checkStatus(repo, sha, s); err != nil {
		return err
	}
	body := gitlabStatus{
		State:       gitlabState(s.State),
		Ref:         s.Ref,
		Name:        shorten(s.Context, gitlabNameMax),
		TargetURL:   s.TargetURL,
		Description: trimRunes(s.Description, gitlabDescriptionMax),
	}
	_, err := g.t.do(ctx, http.MethodPost, g.t.endpoint("projects", repo.String(), "statuses", sha), body, nil)
	var api *APIError
	if errors.As(err, &api) && api.StatusCode == http.StatusBadRequest && strings.Contains(api.Message, "Cannot transition status") {
		return nil
	}
	return err
}

type gitlabNote struct {
	ID     int64  `json:"id"`
	Body   string `json:"body"`
	System bool   `json:"system"`
}

// UpsertComment uses merge request notes: GET
// /projects/:id/merge_requests/:iid/notes (pages by X-Next-Page), then PUT
// .../notes/:note_id or POST .../notes. System notes are skipped.
func (g *gitlab) UpsertComment(ctx context.Context, repo Repo, pr int, marker, body string) error {
	notes := g.t.endpoint("projects", repo.String(), "merge_requests", strconv.Itoa(pr), "notes")
	return upsertComment(ctx, pr, marker, body, commentAPI{
		list: func(ctx context.Context, next string) ([]comment, string, error) {
			if next == "" {
				next = "1"
			}
			q := url.Values{"per_page": {"100"}, "page": {next}, "sort": {"asc"}, "order_by": {"created_at"}}
			var page []gitlabNote
			h, err := g.t.do(ctx, http.MethodGet, notes+"?"+q.Encode(), nil, &page)
			if err != nil {
				return nil, "", err
			}
			out := make([]comment, 0, len(page))
			for _, n := range page {
				if !n.System {
					out = append(out, comment{id: strconv.FormatInt(n.ID, 10), body: n.Body})
				}
			}
			more := strings.TrimSpace(h.Get("X-Next-Page"))
			if _, err := strconv.Atoi(more); err != nil {
				more = ""
			}
			return out, more, nil
		},
		update: func(ctx context.Context, id, body string) error {
			_, err := g.t.do(ctx, http.MethodPut, g.t.endpoint("projects", repo.String(), "merge_requests", strconv.Itoa(pr), "notes", id),
				map[string]string{"body": body}, nil)
			return err
		},
		create: func(ctx context.Context, body string) error {
			_, err := g.t.do(ctx, http.MethodPost, notes, map[string]string{"body": body}, nil)
			return err
		},
	})
}
