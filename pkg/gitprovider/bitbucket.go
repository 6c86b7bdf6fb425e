package gitprovider

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Bitbucket Cloud limits: a status key has at most 40 characters.
const (
	bitbucketKeyMax         = 40
	bitbucketNameMax        = 255
	bitbucketDescriptionMax = 255
)

// bitbucket speaks the Bitbucket Cloud REST API 2.0.
type bitbucket struct {
	t *transport
}

// newBitbucket authenticates with basic auth for an app password (user and
// token), or as Bearer for a repository, project or workspace access token.
func newBitbucket(t *transport, user, token string) *bitbucket {
	auth := "Bearer " + token
	if user != "" {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+token))
		t.secrets = append(t.secrets, strings.TrimPrefix(auth, "Basic "))
	}
	t.headers = http.Header{
		"Authorization": {auth},
		"Accept":        {"application/json"},
	}
	return &bitbucket{t: t}
}

func bitbucketState(s State) string {
	switch s {
	case StatePending:
		return "INPROGRESS"
	case StateSuccess:
		return "SUCCESSFUL"
	default:
		return "FAILED"
	}
}

type bitbucketStatus struct {
	Key         string `json:"key"`
	State       string `json:"state"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	Refname     string `json:"refname,omitempty"`
}

// BitbucketKey is the status key used for a context: the context itself when
// it fits Bitbucket's 40 characters, else a deterministic shortening.
func BitbucketKey(context string) string { return shorten(context, bitbucketKeyMax) }

// SetCommitStatus: POST /repositories/{workspace}/{repo_slug}/commit/{sha}/statuses/build.
// The key identifies the status; the full context is its name. Bitbucket
// requires a URL: the commit's page when s.TargetURL is empty.
func (b *bitbucket) SetCommitStatus(ctx context.Context, repo Repo, sha string, s Status) error {
	if err := checkStatus(repo, sha, s); err != nil {
		return err
	}
	target := s.TargetURL
	if target == "" {
		target = b.commitPage(repo, sha)
	}
	body := bitbucketStatus{
		Key:         BitbucketKey(s.Context),
		State:       bitbucketState(s.State),
		Name:        shorten(s.Context, bitbucketNameMax),
		URL:         target,
		Description: trimRunes(s.Description, bitbucketDescriptionMax),
		Refname:     s.Ref,
	}
	_, err := b.t.do(ctx, http.MethodPost, b.t.endpoint("repositories", repo.Owner, repo.Name, "commit", sha, "statuses", "build"), body, nil)
	return err
}

// commitPage is the commit's web page: bitbucket.org for the public API,
// the API's own host otherwise (a test server).
func (b *bitbucket) commitPage(repo Repo, sha string) string {
	u := url.URL{Scheme: b.t.base.Scheme, Host: b.t.base.Host}
	if u.Host == "api.bitbucket.org" {
		u.Host = "bitbucket.org"
	}
	u.Path = "/" + repo.Owner + "/" + repo.Name + "/commits/" + sha
	return u.String()
}

type bitbucketComment struct {
	ID      int64 `json:"id"`
	Deleted bool  `json:"deleted"`
	Content struct {
		Raw string `json:"raw"`
	} `json:"content"`
}

type bitbucketPage struct {
	Values []bitbucketComment `json:"values"`
	Next   string             `json:"next"`
}

type bitbucketContent struct {
	Content struct {
		Raw string `json:"raw"`
	} `json:"content"`
}

func bitbucketBody(body string) bitbucketContent {
	var c bitbucketContent
	c.Content.Raw = body
	return c
}

// UpsertComment uses pull request comments: GET
// /repositories/{w}/{r}/pullrequests/{id}/comments (pages by the "next"
// field), then PUT .../comments/{comment_id} or POST .../comments with
// {"content":{"raw":...}}. Deleted comments are skipped.
func (b *bitbucket) UpsertComment(ctx context.Context, repo Repo, pr int, marker, body string) error {
	list := b.t.endpoint("repositories", repo.Owner, repo.Name, "pullrequests", strconv.Itoa(pr), "comments")
	return upsertComment(ctx, pr, marker, body, commentAPI{
		list: func(ctx context.Context, next string) ([]comment, string, error) {
			if next == "" {
				next = list
			}
			var page bitbucketPage
			if _, err := b.t.do(ctx, http.MethodGet, next, nil, &page); err != nil {
				return nil, "", err
			}
			out := make([]comment, 0, len(page.Values))
			for _, c := range page.Values {
				if !c.Deleted {
					out = append(out, comment{id: strconv.FormatInt(c.ID, 10), body: c.Content.Raw})
				}
			}
			more, err := b.t.checkedNext(page.Next)
			return out, more, err
		},
		update: func(ctx context.Context, id, body string) error {
			_, err := b.t.do(ctx, http.MethodPut, b.t.endpoint("repositories", repo.Owner, repo.Name, "pullrequests", strconv.Itoa(pr), "comments", id),
				bitbucketBody(body), nil)
			return err
		},
		create: func(ctx context.Context, body string) error {
			_, err := b.t.do(ctx, http.MethodPost, list, bitbucketBody(body), nil)
			return err
		},
	})
}
