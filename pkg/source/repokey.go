package source

import (
	"net/url"
	"path/filepath"
	"strings"
)

// caseFoldingForges are public forges known to route repository paths
// regardless of case (github.com/Org/Repo is github.com/org/repo).
var caseFoldingForges = map[string]bool{
	"github.com": true, "gitlab.com": true, "bitbucket.org": true, "gitea.com": true, "codeberg.org": true,
}

// RepoKey reduces the spellings of one Git repository's address to one
// key: https, ssh and scp-like (git@host:path) forms, with or without user,
// port, trailing slash or ".git", give "host/path" with the host in lower
// case; file:// URLs and paths give the absolute path. It returns "" for
// text that is no repository address.
//
// Paths keep their case, except when foldCase is set or the host is a
// public forge that ignores it (github.com, gitlab.com, bitbucket.org,
// gitea.com, codeberg.org). The webhook receiver folds always: every forge
// that sends pushes (GitHub, GitLab, Gitea, Bitbucket, self-hosted too)
// routes paths case-insensitively, and a wrong match costs one extra
// fetch. The preview does not: a plain Git server's paths are
// case-sensitive, and a wrong match there renders another repository.
func RepoKey(raw string, foldCase bool) string {
	host, path, local := splitRepoAddress(strings.TrimSpace(raw))
	if local {
		return path
	}
	path = strings.Trim(path, "/")
	if len(path) >= len(".git") && strings.EqualFold(path[len(path)-len(".git"):], ".git") {
		path = strings.TrimSuffix(path[:len(path)-len(".git")], "/")
	}
	if host == "" || path == "" {
		return ""
	}
	host = strings.ToLower(host)
	if foldCase || caseFoldingForges[host] {
		path = strings.ToLower(path)
	}
	return host + "/" + path
}

// splitRepoAddress returns the host and path of a URL or scp-like address,
// or the absolute path (local set) of a file:// URL or filesystem path.
func splitRepoAddress(s string) (host, path string, local bool) {
	if s == "" {
		return "", "", false
	}
	if i := strings.Index(s, "://"); i > 0 {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", false
		}
		if strings.EqualFold(u.Scheme, "file") {
			return "", localPath(u.Path), u.Path != ""
		}
		return u.Hostname(), u.Path, false
	}
	// scp-like: [user@]host:path, where no slash comes before the colon.
	colon, slash := strings.Index(s, ":"), strings.Index(s, "/")
	if colon > 0 && (slash < 0 || colon < slash) {
		host = s[:colon]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
		return host, s[colon+1:], false
	}
	if !strings.ContainsAny(s, "/\\") && !strings.HasPrefix(s, ".") {
		return "", "", false // a bare word names no repository
	}
	return "", localPath(s), true
}

// localPath is an absolute, cleaned path without a trailing ".git".
func localPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return strings.TrimSuffix(filepath.Clean(p), ".git")
}
