package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// GitServer serves bare repositories over Git's smart HTTP protocol with the
// git CLI's own http-backend, on a loopback address. Clone and push with plain
// git: git clone <URL>/<name>.git.
type GitServer struct {
	// URL is the server's base address, e.g. http://127.0.0.1:41234.
	URL string
	// Root holds the bare repositories.
	Root string

	srv    *http.Server
	onPush func(repo string, refs []string)
}

// StartGitServer serves the bare repositories under root on a free loopback
// port (or addr when given). onPush, when set, is called after every push with
// the repository's name, e.g. "fleet.git", and the refs the push moved.
func StartGitServer(root, addr string, onPush func(repo string, refs []string)) (*GitServer, error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("the git CLI is needed for the lab's Git server: %w", err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// git http-backend runs in another folder: a relative root would not resolve.
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the Git server on %s: %w", addr, err)
	}
	g := &GitServer{URL: "http://" + l.Addr().String(), Root: root, onPush: onPush}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=lab"},
	}
	g.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/git-receive-pack") || g.onPush == nil {
				backend.ServeHTTP(w, req)
				return
			}
			repo := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/"), "/git-receive-pack")
			before := g.refs(req.Context(), repo)
			backend.ServeHTTP(w, req)
			after := g.refs(req.Context(), repo)
			var moved []string
			for ref, sha := range after {
				if before[ref] != sha {
					moved = append(moved, ref)
				}
			}
			if len(moved) > 0 {
				sort.Strings(moved)
				g.onPush(repo, moved)
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = g.srv.Serve(l) }()
	return g, nil
}

// refs reads a bare repository's refs and their commits.
func (g *GitServer) refs(ctx context.Context, repo string) map[string]string {
	cmd := exec.CommandContext(ctx, "git", "-C", filepath.Join(g.Root, filepath.Clean("/"+repo)), "for-each-ref", "--format=%(refname) %(objectname)")
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, sha, ok := strings.Cut(line, " "); ok {
			refs[name] = sha
		}
	}
	return refs
}

// Close stops the server.
func (g *GitServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.srv.Shutdown(ctx)
}

// seedDate is the date of the commit CreateRepo makes, so that the same
// files always make the same commit: a repository recreated from an
// unchanged folder has the history clones of the old one know.
const seedDate = "2025-01-01T00:00:00Z"

// CreateRepo creates the bare repository name (e.g. "fleet.git") holding one
// commit on branch main with the files of dir, and returns its clone URL.
func (g *GitServer) CreateRepo(ctx context.Context, name, dir string) (string, error) {
	bare := filepath.Join(g.Root, name)
	if err := os.MkdirAll(bare, 0o755); err != nil {
		return "", err
	}
	if err := Git(ctx, bare, "init", "--quiet", "--bare", "--initial-branch=main"); err != nil {
		return "", err
	}
	if err := Git(ctx, bare, "config", "http.receivepack", "true"); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "lab-seed-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := os.CopyFS(work, os.DirFS(dir)); err != nil {
		return "", fmt.Errorf("copy %s: %w", dir, err)
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"add", "--all"},
		{"commit", "--quiet", "--date=" + seedDate, "-m", "Import " + filepath.Base(dir)},
		{"push", "--quiet", bare, "main"},
	} {
		if err := gitWith(ctx, work, []string{"GIT_COMMITTER_DATE=" + seedDate}, args...); err != nil {
			return "", err
		}
	}
	return g.URL + "/" + name, nil
}

// Repo says what OpenOrCreateRepo found.
type Repo struct {
	URL string
	// Head is the commit of branch main.
	Head string
	// Kept says the repository existed and is served as it was.
	Kept bool
	// Replaced, when set, says why an existing repository could not be
	// used and was created anew.
	Replaced error
}

// OpenOrCreateRepo serves the bare repository name as it is when it exists
// and has a branch main, so what was pushed to it outlives the server;
// otherwise it creates it from dir as CreateRepo does, replacing an
// unusable one (Replaced says why).
func (g *GitServer) OpenOrCreateRepo(ctx context.Context, name, dir string) (Repo, error) {
	bare := filepath.Join(g.Root, name)
	r := Repo{URL: g.URL + "/" + name}
	if _, err := os.Stat(bare); err == nil {
		head, err := gitOutput(ctx, bare, "rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}")
		if err == nil {
			r.Head, r.Kept = head, true
			return r, nil
		}
		r.Replaced = fmt.Errorf("%s has no usable branch main: %w", bare, err)
		if err := os.RemoveAll(bare); err != nil {
			return r, fmt.Errorf("remove the unusable %s: %w", bare, err)
		}
	}
	if _, err := g.CreateRepo(ctx, name, dir); err != nil {
		return r, err
	}
	head, err := gitOutput(ctx, bare, "rev-parse", "refs/heads/main")
	r.Head = head
	return r, err
}

// Git runs the git CLI in dir with a fixed identity and no user configuration.
func Git(ctx context.Context, dir string, args ...string) error {
	return gitWith(ctx, dir, nil, args...)
}

// gitWith is Git with more environment variables.
func gitWith(ctx context.Context, dir string, env []string, args ...string) error {
	_, err := runGit(ctx, dir, env, args...)
	return err
}

// gitOutput runs git and returns its trimmed standard output.
func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	return runGit(ctx, dir, nil, args...)
}

func runGit(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=ocm-gitops lab", "GIT_AUTHOR_EMAIL=lab@ocm-gitops.invalid",
		"GIT_COMMITTER_NAME=ocm-gitops lab", "GIT_COMMITTER_EMAIL=lab@ocm-gitops.invalid")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			msg := strings.TrimSpace(stderr.String() + stdout.String())
			if msg == "" {
				msg = err.Error()
			}
			return "", fmt.Errorf("git %s (in %s): %s", strings.Join(args, " "), dir, msg)
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(stdout.String()), nil
}
