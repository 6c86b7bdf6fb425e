// Package webhook receives Git push webhooks (GitHub, GitLab, Gitea,
// Bitbucket Cloud and Server) on the hub and asks for an immediate fetch of
// exactly the Channels and Subscriptions the push concerns, by stamping their
// reconcile-requested-at annotation.
package webhook

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Provider names a Git forge.
type Provider string

// Providers the receiver understands.
const (
	GitHub    Provider = "github"
	GitLab    Provider = "gitlab"
	Gitea     Provider = "gitea"
	Bitbucket Provider = "bitbucket"
)

// push is what a push event says: which repository (under every URL the
// forge gives for it) and which refs moved.
type push struct {
	provider      Provider
	repoURLs      []string
	refs          []string // full names: refs/heads/main, refs/tags/v1
	defaultBranch string
}

// eventKind is what to do with a request: handle a push, answer a ping, or
// ignore another event.
type eventKind int

const (
	eventPush eventKind = iota
	eventPing
	eventOther
)

// detect tells the provider and the event kind from the headers. Gitea also
// sends GitHub's headers, so it is checked first.
func detect(h http.Header) (Provider, eventKind, string, bool) {
	switch {
	case h.Get("X-Gitea-Event") != "" || h.Get("X-Gogs-Event") != "":
		ev := firstHeader(h, "X-Gitea-Event", "X-Gogs-Event")
		return Gitea, kindOf(ev == "push", false), ev, true
	case h.Get("X-Gitlab-Event") != "":
		ev := h.Get("X-Gitlab-Event")
		return GitLab, kindOf(ev == "Push Hook" || ev == "Tag Push Hook" || ev == "System Hook", false), ev, true
	case h.Get("X-Event-Key") != "":
		ev := h.Get("X-Event-Key")
		return Bitbucket, kindOf(ev == "repo:push" || ev == "repo:refs_changed", ev == "diagnostics:ping"), ev, true
	case h.Get("X-GitHub-Event") != "":
		ev := h.Get("X-GitHub-Event")
		return GitHub, kindOf(ev == "push", ev == "ping"), ev, true
	}
	return "", eventOther, "", false
}

func kindOf(isPush, isPing bool) eventKind {
	switch {
	case isPush:
		return eventPush
	case isPing:
		return eventPing
	}
	return eventOther
}

func firstHeader(h http.Header, keys ...string) string {
	for _, k := range keys {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// githubPayload covers GitHub's and Gitea's push events (same shape).
type githubPayload struct {
	Ref        string `json:"ref"`
	Repository struct {
		CloneURL      string `json:"clone_url"`
		SSHURL        string `json:"ssh_url"`
		HTMLURL       string `json:"html_url"`
		GitURL        string `json:"git_url"`
		URL           string `json:"url"`
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
}

type gitlabPayload struct {
	ObjectKind string `json:"object_kind"`
	EventName  string `json:"event_name"`
	Ref        string `json:"ref"`
	Project    struct {
		GitHTTPURL    string `json:"git_http_url"`
		GitSSHURL     string `json:"git_ssh_url"`
		WebURL        string `json:"web_url"`
		DefaultBranch string `json:"default_branch"`
	} `json:"project"`
	Repository struct {
		URL        string `json:"url"`
		Homepage   string `json:"homepage"`
		GitHTTPURL string `json:"git_http_url"`
		GitSSHURL  string `json:"git_ssh_url"`
	} `json:"repository"`
}

type bitbucketRef struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type bitbucketLink struct {
	Href string `json:"href"`
}

type bitbucketPayload struct {
	// Bitbucket Cloud
	Push struct {
		Changes []struct {
			New *bitbucketRef `json:"new"`
			Old *bitbucketRef `json:"old"`
		} `json:"changes"`
	} `json:"push"`
	// Bitbucket Server / Data Center
	Changes []struct {
		RefID string `json:"refId"`
		Ref   struct {
			ID string `json:"id"`
		} `json:"ref"`
	} `json:"changes"`
	Repository struct {
		FullName   string `json:"full_name"`
		MainBranch *struct {
			Name string `json:"name"`
		} `json:"mainbranch"`
		Links struct {
			HTML  json.RawMessage `json:"html"`
			Clone json.RawMessage `json:"clone"`
			Self  json.RawMessage `json:"self"`
		} `json:"links"`
	} `json:"repository"`
}

// parsePush reads a push payload of the provider.
func parsePush(p Provider, body []byte) (*push, error) {
	var out *push
	var err error
	switch p {
	case GitHub, Gitea:
		out, err = parseGitHubPush(p, body)
	case GitLab:
		out, err = parseGitLabPush(body)
	case Bitbucket:
		out, err = parseBitbucketPush(body)
	default:
		return nil, fmt.Errorf("unknown provider %q", p)
	}
	if err != nil {
		return nil, err
	}
	out.provider = p
	out.repoURLs = nonEmpty(out.repoURLs)
	out.refs = nonEmpty(out.refs)
	if len(out.repoURLs) == 0 {
		return nil, fmt.Errorf("the %s payload names no repository URL", p)
	}
	return out, nil
}

// parseGitHubPush reads GitHub's and Gitea's push events (one shape).
func parseGitHubPush(p Provider, body []byte) (*push, error) {
	var pl githubPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, fmt.Errorf("payload is not a %s push event: %w", p, err)
	}
	r := pl.Repository
	return &push{repoURLs: []string{r.CloneURL, r.SSHURL, r.HTMLURL, r.GitURL, r.URL}, refs: []string{pl.Ref}, defaultBranch: r.DefaultBranch}, nil
}

func parseGitLabPush(body []byte) (*push, error) {
	var pl gitlabPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, fmt.Errorf("payload is not a GitLab push event: %w", err)
	}
	if kind := cmp.Or(pl.ObjectKind, pl.EventName); kind != "push" && kind != "tag_push" {
		return nil, errIgnored
	}
	return &push{
		repoURLs: []string{pl.Project.GitHTTPURL, pl.Project.GitSSHURL, pl.Project.WebURL,
			pl.Repository.URL, pl.Repository.Homepage, pl.Repository.GitHTTPURL, pl.Repository.GitSSHURL},
		refs:          []string{pl.Ref},
		defaultBranch: pl.Project.DefaultBranch,
	}, nil
}

// parseBitbucketPush reads Bitbucket Cloud's and Server's push events.
func parseBitbucketPush(body []byte) (*push, error) {
	var pl bitbucketPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, fmt.Errorf("payload is not a Bitbucket push event: %w", err)
	}
	out := &push{refs: bitbucketRefs(pl)}
	links := pl.Repository.Links
	out.repoURLs = append(out.repoURLs, hrefs(links.HTML)...)
	out.repoURLs = append(out.repoURLs, hrefs(links.Clone)...)
	out.repoURLs = append(out.repoURLs, hrefs(links.Self)...)
	if pl.Repository.FullName != "" {
		out.repoURLs = append(out.repoURLs, "https://bitbucket.org/"+pl.Repository.FullName)
	}
	if pl.Repository.MainBranch != nil {
		out.defaultBranch = pl.Repository.MainBranch.Name
	}
	return out, nil
}

// bitbucketRefs are the full names of the refs a Bitbucket push moved:
// Cloud names old and new ref by type, Server by refId.
func bitbucketRefs(pl bitbucketPayload) []string {
	var refs []string
	for _, c := range pl.Push.Changes {
		for _, r := range []*bitbucketRef{c.New, c.Old} {
			switch {
			case r == nil || r.Name == "":
			case r.Type == "tag" || r.Type == "annotated_tag":
				refs = append(refs, "refs/tags/"+r.Name)
			default:
				refs = append(refs, "refs/heads/"+r.Name)
			}
		}
	}
	for _, c := range pl.Changes {
		refs = append(refs, cmp.Or(c.RefID, c.Ref.ID))
	}
	return refs
}

// nonEmpty drops blank entries.
func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// hrefs reads Bitbucket links: one {"href"} object (Cloud) or a list of
// them (Server).
func hrefs(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one bitbucketLink
	if json.Unmarshal(raw, &one) == nil && one.Href != "" {
		return []string{one.Href}
	}
	var many []bitbucketLink
	if json.Unmarshal(raw, &many) != nil {
		return nil
	}
	var out []string
	for _, l := range many {
		if strings.HasSuffix(l.Href, "/browse") {
			// Server's web link: .../projects/P/repos/r/browse; the clone links carry the repository.
			continue
		}
		out = append(out, l.Href)
	}
	return out
}
