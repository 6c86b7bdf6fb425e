package gitprovider

import (
	"context"
	"net/http"
	"strconv"
)

// Gitea keeps descriptions in a text column; this keeps its UI readable.
const (
	giteaDescriptionMax = 255
	giteaContextMax     = 255
)

// gitea speaks the Gitea API v1, which Forgejo serves too.
type gitea struct{ t *transport }

func newGitea(t *transport, token string) *gitea {
	t.headers = http.Header{
		"Authorization": {"token " + token},
		"Accept":        {"application/json"},
	}
	return &gitea{t: t}
}

type giteaStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

// SetCommitStatus: POST /repos/{owner}/{repo}/statuses/{sha}; Gitea's states
// are GitHub's.
func (g *gitea) SetCommitStatus(ctx context.Context, repo Repo, sha string, s Status) error {
	if err := checkStatus(repo, sha, s); err != nil {
		return err
	}
	body := giteaStatus{
		State:       string(s.State),
		TargetURL:   s.TargetURL,
		Description: trimRunes(s.Description, giteaDescriptionMax),
		Context:     shorten(s.Context, giteaContextMax),
	}
	_, err := g.t.do(ctx, http.MethodPost, g.t.endpoint("repos", repo.Owner, repo.Name, "statuses", sha), body, nil)
	return err
}

type giteaComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// UpsertComment uses the pull request's issue comments: GET
// /repos/{o}/{r}/issues/{index}/comments (Gitea returns them all at once; a
// Link rel="next" is followed if a server pages them), then PATCH
// /repos/{o}/{r}/issues/comments/{id} or POST .../issues/{index}/comments.
func (g *gitea) UpsertComment(ctx context.Context, repo Repo, pr int, marker, body string) error {
	list := g.t.endpoint("repos", repo.Owner, repo.Name, "issues", strconv.Itoa(pr), "comments")
	return upsertComment(ctx, pr, marker, body, commentAPI{
		list: func(ctx context.Context, next string) ([]comment, string, error) {
			if next == "" {
				next = list
			}
			var page []giteaComment
			h, err := g.t.do(ctx, http.MethodGet, next, nil, &page)
			if err != nil {
				return nil, "", err
			}
			out := make([]comment, 0, len(page))
			for _, c := range page {
				out = append(out, comment{id: strconv.FormatInt(c.ID, 10), body: c.Body})
			}
			more, err := g.t.checkedNext(nextLink(h))
			return out, more, err
		},
		update: func(ctx context.Context, id, body string) error {
			_, err := g.t.do(ctx, http.MethodPatch, g.t.endpoint("repos", repo.Owner, repo.Name, "issues", "comments", id),
				map[string]string{"body": body}, nil)
			return err
		},
		create: func(ctx context.Context, body string) error {
			_, err := g.t.do(ctx, http.MethodPost, list, map[string]string{"body": body}, nil)
			return err
		},
	})
}
