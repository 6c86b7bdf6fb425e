package gitprovider

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// GitHub's documented limits and API version.
const (
	githubAPIVersion     = "2022-11-28"
	githubDescriptionMax = 140
	githubContextMax     = 255
)

// github speaks the GitHub REST API (github.com and GitHub Enterprise Server).
type github struct{ t *transport }

func newGitHub(t *transport, token string) *github {
	t.headers = http.Header{
		"Authorization":        {"Bearer " + token},
		"Accept":               {"application/vnd.github+json"},
		"X-Github-Api-Version": {githubAPIVersion},
	}
	t.rateLimited = githubRateLimited
	return &github{t: t}
}

// githubRateLimited: GitHub answers 403 (or 429) both to an exhausted primary
// rate limit (x-ratelimit-remaining: 0) and to a secondary one (retry-after,
// or a message saying so).
func githubRateLimited(resp *http.Response, msg string) bool {
	if resp.StatusCode != http.StatusForbidden {
		return false
	}
	return resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "" ||
		strings.Contains(strings.ToLower(msg), "rate limit")
}

type githubStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

// SetCommitStatus: POST /repos/{owner}/{repo}/statuses/{sha}.
func (g *github) SetCommitStatus(ctx context.Context, repo Repo, sha string, s Status) error {
	if err := checkStatus(repo, sha, s); err != nil {
		return err
	}
	body := githubStatus{
		State:       string(s.State),
		TargetURL:   s.TargetURL,
		Description: trimRunes(s.Description, githubDescriptionMax),
		Context:     shorten(s.Context, githubContextMax),
	}
	_, err := g.t.do(ctx, http.MethodPost, g.t.endpoint("repos", repo.Owner, repo.Name, "statuses", sha), body, nil)
	return err
}

type githubComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// UpsertComment uses the issue comments of the pull request: list (following
// Link rel="next"), then PATCH /repos/{o}/{r}/issues/comments/{id} or POST
// /repos/{o}/{r}/issues/{pr}/comments.
func (g *github) UpsertComment(ctx context.Context, repo Repo, pr int, marker, body string) error {
	first := g.t.endpoint("repos", repo.Owner, repo.Name, "issues", strconv.Itoa(pr), "comments") + "?per_page=100"
	return upsertComment(ctx, pr, marker, body, commentAPI{
		list: func(ctx context.Context, next string) ([]comment, string, error) {
			if next == "" {
				next = first
			}
			var page []githubComment
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
			_, err := g.t.do(ctx, http.MethodPost, g.t.endpoint("repos", repo.Owner, repo.Name, "issues", strconv.Itoa(pr), "comments"),
				map[string]string{"body": body}, nil)
			return err
		},
	})
}
