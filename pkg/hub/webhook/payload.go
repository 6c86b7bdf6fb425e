// Package webhook receives Git push webhooks (GitHub, GitLab, Gitea,
// Bitbucket Cloud and Server) on the hub and asks for an immediate fetch of
// exactly the Channels and Subscriptions the push concerns, by stamping their
// reconcile-requested-at annotation.
package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
	out := &push{provider: p}
	switch p {
	case GitHub, Gitea:
		var pl githubPayload
		if err := json.Unmarshal(body, &pl); err != nil {
			return nil, fmt.Errorf("payload is not a %s push event: %w", p, err)
		}
		r := pl.Repository
		out.repoURLs = []string{r.CloneURL, r.SSHURL, r.HTMLURL, r.GitURL, r.URL}
		out.refs = []string{pl.Ref}
		out.defaultBranch = r.DefaultBranch
	case GitLab:
		var pl gitlabPayload
		if err := json.Unmarshal(body, &pl); err != nil {
			return nil, fmt.Errorf("payload is not a GitLab push event: %w", err)
		}
		kind := firstNonEmpty(pl.ObjectKind, pl.EventName)
		if kind != "push" && kind != "tag_push" {
			return nil, errIgnored
		}
		out.repoURLs = []string{pl.Project.GitHTTPURL, pl.Project.GitSSHURL, pl.Project.WebURL,
			pl.Repository.URL, pl.Repository.Homepage, pl.Repository.GitHTTPURL, pl.Repository.GitSSHURL}
		out.refs = []string{pl.Ref}
		out.defaultBranch = pl.Project.DefaultBranch
	case Bitbucket:
		var pl bitbucketPayload
		if err := json.Unmarshal(body, &pl); err != nil {
			return nil, fmt.Errorf("payload is not a Bitbucket push event: %w", err)
		}
		for _, c := range pl.Push.Changes {
			for _, r := range []*bitbucketRef{c.New, c.Old} {
				if r == nil || r.Name == "" {
					continue
				}
				if r.Type == "tag" || r.Type == "annotated_tag" {
					out.refs = append(out.refs, "refs/tags/"+r.Name)
				} else {
					out.refs = append(out.refs, "refs/heads/"+r.Name)
				}
			}
		}
		for _, c := range pl.Changes {
			out.refs = append(out.refs, firstNonEmpty(c.RefID, c.Ref.ID))
		}
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
	default:
		return nil, fmt.Errorf("unknown provider %q", p)
	}
	var urls []string
	for _, u := range out.repoURLs {
		if strings.TrimSpace(u) != "" {
			urls = append(urls, u)
		}
	}
	out.repoURLs = urls
	if len(out.repoURLs) == 0 {
		return nil, fmt.Errorf("the %s payload names no repository URL", p)
	}
	var refs []string
	for _, r := range out.refs {
		if r != "" {
			refs = append(refs, r)
		}
	}
	out.refs = refs
	return out, nil
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

// RepoKey normalizes a repository address so its https, ssh and scp-like
// (git@host:path) forms, with or without .git and in any case, compare
// equal: "host/path" in lower case, without user, port or .git. It returns
// "" for text that is not a repository address.
func RepoKey(raw string) string {
	s := strings.TrimSpace(raw)
	var host, path string
	if i := strings.Index(s, "://"); i > 0 {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return ""
		}
		host, path = u.Hostname(), u.Path
	} else {
		// scp-like: [user@]host:path, where no slash comes before the colon.
		colon := strings.Index(s, ":")
		if colon <= 0 || strings.Contains(s[:colon], "/") {
			return ""
		}
		host, path = s[:colon], s[colon+1:]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
	}
	path = strings.Trim(path, "/")
	if strings.HasSuffix(strings.ToLower(path), ".git") { // .GIT too: keys compare in lower case
		path = path[:len(path)-len(".git")]
	}
	path = strings.TrimSuffix(path, "/")
	if host == "" || path == "" {
		return ""
	}
	return strings.ToLower(host + "/" + path)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
