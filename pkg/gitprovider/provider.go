// Package gitprovider reports back to Git forges: commit statuses and
// pull-request comments on GitHub (and GitHub Enterprise), GitLab, Gitea or
// Forgejo, and Bitbucket Cloud.
//
// A Client makes exactly the requests a call needs and never retries. Its
// errors say whether a retry can help (Retryable) and how long the forge asked
// to wait (RetryAfter), so the caller owns backoff and never blocks on a forge.
// Tokens never appear in errors.
package gitprovider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// State is a commit status state, in GitHub's vocabulary; each client maps it
// to its forge's.
type State string

// Commit status states.
const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
	StateError   State = "error"
)

// Status is one commit status.
type Status struct {
	State State
	// Context identifies the status on the commit: posting again with the same
	// context replaces it. Contexts longer than a forge allows are shortened
	// deterministically (a readable head and a hash of the whole).
	Context string
	// Description is trimmed to the forge's limit (GitHub: 140 characters).
	Description string
	// TargetURL is linked from the forge's UI; optional except on Bitbucket,
	// where the commit's own page is used when empty.
	TargetURL string
	// Ref is the branch or tag the commit was deployed from, when known. GitLab
	// records it as the status's ref; Bitbucket uses it to show the status on
	// pull requests from that branch.
	Ref string
}

// Repo names a repository on a forge: owner and name on GitHub and Gitea,
// workspace and repository slug on Bitbucket, namespace (groups and
// subgroups) and project on GitLab.
type Repo struct {
	Owner string
	Name  string
}

// String is "owner/name", the GitLab project path, or a bare GitLab project ID.
func (r Repo) String() string {
	if r.Owner == "" {
		return r.Name
	}
	return r.Owner + "/" + r.Name
}

// Client posts commit statuses and pull-request comments to one forge.
type Client interface {
	// SetCommitStatus creates or replaces the status with s.Context on commit
	// sha (the full hexadecimal object name).
	SetCommitStatus(ctx context.Context, repo Repo, sha string, s Status) error
	// UpsertComment keeps one comment carrying marker on pull request pr (a
	// merge request IID on GitLab): it edits the first comment containing
	// marker, or creates one. body gets marker appended when it lacks it. An
	// identical comment is left alone.
	UpsertComment(ctx context.Context, repo Repo, pr int, marker, body string) error
}

// Public API roots used when neither spec.commitStatus.apiURL nor the
// Channel's pathname names another server.
const (
	GitHubAPI    = "https://api.github.com"
	GitLabAPI    = "https://gitlab.com/api/v4"
	GiteaAPI     = "https://gitea.com/api/v1"
	BitbucketAPI = "https://api.bitbucket.org/2.0"
)

// Secret keys read by New.
const (
	KeyToken = "token"
	KeyUser  = "user"
)

// DefaultTimeout bounds each request when New is given no HTTP client.
const DefaultTimeout = 20 * time.Second

// New returns a client for spec and the repository it reports on.
// pathname is the Channel's Git URL: the repository is derived from it when
// spec.repository is empty, and so is the API root of a self-hosted forge when
// spec.apiURL is empty (https://host/api/v3 for GitHub Enterprise, /api/v4 for
// GitLab, /api/v1 for Gitea); github.com, gitlab.com and bitbucket.org map to
// their public APIs. creds is the Secret's data: "token", plus "user" for a
// Bitbucket app password (without "user", Bitbucket's token is sent as a
// Bearer access token). A nil httpClient means NewHTTPClient(nil): public
// addresses only.
func New(spec appsv1.CommitStatusSpec, pathname string, creds map[string][]byte, httpClient *http.Client) (Client, Repo, error) {
	provider := appsv1.GitProvider(strings.ToLower(string(spec.Provider)))
	switch provider {
	case appsv1.GitProviderGitHub, appsv1.GitProviderGitLab, appsv1.GitProviderGitea, appsv1.GitProviderBitbucket:
	default:
		return nil, Repo{}, fmt.Errorf("spec.commitStatus.provider %q is unknown; use github, gitlab, gitea or bitbucket", spec.Provider)
	}
	base, err := apiBase(provider, spec.APIURL, pathname)
	if err != nil {
		return nil, Repo{}, err
	}
	repo, err := repository(provider, spec.Repository, pathname, base)
	if err != nil {
		return nil, Repo{}, err
	}
	token := strings.TrimSpace(string(creds[KeyToken]))
	if token == "" {
		return nil, Repo{}, fmt.Errorf("spec.commitStatus.secretRef: the Secret has no %q key (or it is empty); store the forge API token under %q", KeyToken, KeyToken)
	}
	if httpClient == nil {
		httpClient = NewHTTPClient(nil)
	}
	t := &transport{provider: string(provider), base: base, hc: httpClient, secrets: []string{token}, now: time.Now}
	switch provider {
	case appsv1.GitProviderGitHub:
		return newGitHub(t, token), repo, nil
	case appsv1.GitProviderGitLab:
		return newGitLab(t, token), repo, nil
	case appsv1.GitProviderGitea:
		return newGitea(t, token), repo, nil
	default:
		user := strings.TrimSpace(string(creds[KeyUser]))
		if user != "" {
			t.secrets = append(t.secrets, user+":"+token)
		}
		return newBitbucket(t, user, token), repo, nil
	}
}

// repository picks spec.repository, else derives it from the pathname. A
// GitLab served under a relative URL root (https://host/gitlab/api/v4) has
// that root in its clone URLs too; it is not part of the project path.
func repository(provider appsv1.GitProvider, explicit, pathname string, base *url.URL) (Repo, error) {
	if strings.TrimSpace(explicit) != "" {
		r, err := ParseRepository(provider, explicit)
		if err != nil {
			return Repo{}, fmt.Errorf("spec.commitStatus.repository: %w", err)
		}
		return r, nil
	}
	r, err := ParseRepository(provider, pathname)
	if err != nil {
		return Repo{}, fmt.Errorf("cannot derive the forge repository from spec.pathname (%w); set spec.commitStatus.repository", err)
	}
	if provider == appsv1.GitProviderGitLab {
		root := strings.Trim(strings.TrimSuffix(base.Path, "/api/v4"), "/")
		if full := r.String(); root != "" && strings.HasPrefix(full, root+"/") {
			return ParseRepository(provider, strings.TrimPrefix(full, root+"/"))
		}
	}
	return r, nil
}

// scpLike matches Git's "[user@]host:path" form.
var scpLike = regexp.MustCompile(`^(?:[^@/:]+@)?([^@/:]+):(.+)$`)

var gitlabProjectID = regexp.MustCompile(`^[0-9]+$`)

// ParseRepository reads a repository from "owner/name" (a GitLab project path
// may have subgroups, or be a numeric project ID) or from a Git URL:
// https://host/owner/name(.git), ssh://[user@]host[:port]/owner/name(.git) or
// [user@]host:owner/name(.git). GitHub and Bitbucket paths have exactly two
// segments; Gitea takes the last two (Gitea may be served under a sub-path).
func ParseRepository(provider appsv1.GitProvider, s string) (Repo, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Repo{}, fmt.Errorf("repository is empty")
	}
	path := s
	switch {
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			return Repo{}, fmt.Errorf("%q is not a URL: %v", s, err)
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git", "git+ssh", "ssh+git":
		default:
			return Repo{}, fmt.Errorf("%q: a %s:// URL names no forge repository", s, u.Scheme)
		}
		if u.Host == "" {
			return Repo{}, fmt.Errorf("%q has no host", s)
		}
		path = u.Path
	case scpLike.MatchString(s) && !strings.HasPrefix(s, "/"):
		path = scpLike.FindStringSubmatch(s)[2]
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	var segs []string
	for _, seg := range strings.Split(path, "/") {
		switch seg {
		case "":
			continue
		case ".", "..":
			return Repo{}, fmt.Errorf("%q: path segment %q is not allowed", s, seg)
		}
		segs = append(segs, seg)
	}
	n := len(segs)
	switch provider {
	case appsv1.GitProviderGitLab:
		if n == 1 && gitlabProjectID.MatchString(segs[0]) {
			return Repo{Name: segs[0]}, nil
		}
		if n < 2 {
			return Repo{}, fmt.Errorf("%q: want a project path \"group[/subgroup...]/project\" or a numeric project ID", s)
		}
		return Repo{Owner: strings.Join(segs[:n-1], "/"), Name: segs[n-1]}, nil
	case appsv1.GitProviderGitea:
		if n < 2 {
			return Repo{}, fmt.Errorf("%q: want \"owner/name\"", s)
		}
		return Repo{Owner: segs[n-2], Name: segs[n-1]}, nil
	case appsv1.GitProviderGitHub, appsv1.GitProviderBitbucket:
		if n != 2 {
			return Repo{}, fmt.Errorf("%q: want \"owner/name\" (%d path segments found)", s, n)
		}
		return Repo{Owner: segs[0], Name: segs[1]}, nil
	}
	return Repo{}, fmt.Errorf("provider %q is unknown; use github, gitlab, gitea or bitbucket", provider)
}

// apiBase is the API root: spec.apiURL completed with the provider's API path,
// else derived from the pathname's host, else the public service.
func apiBase(provider appsv1.GitProvider, apiURL, pathname string) (*url.URL, error) {
	suffix := map[appsv1.GitProvider]string{
		appsv1.GitProviderGitLab: "/api/v4", appsv1.GitProviderGitea: "/api/v1", appsv1.GitProviderBitbucket: "/2.0",
	}[provider]
	if apiURL = strings.TrimSpace(apiURL); apiURL != "" {
		u, err := url.Parse(apiURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("spec.commitStatus.apiURL %q is not an http(s) URL with a host", apiURL)
		}
		if u.User != nil {
			return nil, fmt.Errorf("spec.commitStatus.apiURL must not carry credentials; put the token in the Secret named by spec.commitStatus.secretRef")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("spec.commitStatus.apiURL %q must not have a query or fragment", apiURL)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		if suffix != "" && !strings.HasSuffix(u.Path, suffix) {
			u.Path += suffix
		}
		return u, nil
	}
	scheme, host := forgeHost(pathname)
	public := map[appsv1.GitProvider]string{
		appsv1.GitProviderGitHub: GitHubAPI, appsv1.GitProviderGitLab: GitLabAPI,
		appsv1.GitProviderGitea: GiteaAPI, appsv1.GitProviderBitbucket: BitbucketAPI,
	}[provider]
	switch {
	case host == "",
		provider == appsv1.GitProviderGitHub && host == "github.com",
		provider == appsv1.GitProviderGitLab && host == "gitlab.com",
		provider == appsv1.GitProviderBitbucket:
		// Bitbucket Cloud has one API whatever the clone host.
		return url.Parse(public)
	case provider == appsv1.GitProviderGitHub:
		suffix = "/api/v3"
	}
	return &url.URL{Scheme: scheme, Host: host, Path: suffix}, nil
}

// forgeHost is the web scheme and host behind a Git URL: an http(s) URL keeps
// its scheme and port, an SSH address becomes https on the same host name.
func forgeHost(pathname string) (scheme, host string) {
	pathname = strings.TrimSpace(pathname)
	if strings.Contains(pathname, "://") {
		u, err := url.Parse(pathname)
		if err != nil || u.Host == "" {
			return "", ""
		}
		switch u.Scheme {
		case "http", "https":
			return u.Scheme, u.Host
		case "ssh", "git", "git+ssh", "ssh+git":
			return "https", u.Hostname()
		}
		return "", ""
	}
	if m := scpLike.FindStringSubmatch(pathname); m != nil {
		return "https", m[1]
	}
	return "", ""
}
