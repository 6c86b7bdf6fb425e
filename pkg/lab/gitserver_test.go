package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestGitServerCloneAndPush(t *testing.T) {
	ctx := context.Background()
	seed := t.TempDir()
	if err := os.WriteFile(filepath.Join(seed, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var pushes atomic.Int32
	srv, err := StartGitServer(t.TempDir(), "", func(repo string, refs []string) {
		if repo == "fleet.git" && len(refs) == 1 && refs[0] == "refs/heads/main" {
			pushes.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url, err := srv.CreateRepo(ctx, "fleet.git", seed)
	if err != nil {
		t.Fatal(err)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	if err := Git(ctx, "", "clone", "--quiet", url, clone); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(clone, "app.yaml")); err != nil {
		t.Fatalf("clone lacks the seeded file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(clone, "more.yaml"), []byte("kind: Secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "more.yaml"}, {"commit", "--quiet", "-m", "more"}, {"push", "--quiet", "origin", "main"}} {
		if err := Git(ctx, clone, args...); err != nil {
			t.Fatal(err)
		}
	}
	if pushes.Load() != 1 {
		t.Fatalf("push hook called %d times, want 1", pushes.Load())
	}
	again := filepath.Join(t.TempDir(), "again")
	if err := Git(ctx, "", "clone", "--quiet", url, again); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(again, "more.yaml")); err != nil {
		t.Fatalf("pushed file not served: %v", err)
	}
}

// TestOpenOrCreateRepoKeepsPushes: a repository served again (a restarted
// lab) keeps what was pushed, so a clone made before goes on pushing; one
// that lost its branch is created anew and says why; the seed commit is the
// same for the same files, so a recreated repository still has the history
// of older clones.
func TestOpenOrCreateRepoKeepsPushes(t *testing.T) {
	ctx := context.Background()
	seed, root := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(seed, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serve := func() (*GitServer, Repo) {
		t.Helper()
		srv, err := StartGitServer(root, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		repo, err := srv.OpenOrCreateRepo(ctx, "fleet.git", seed)
		if err != nil {
			t.Fatal(err)
		}
		return srv, repo
	}
	_, first := serve()
	if first.Kept || first.Replaced != nil || len(first.Head) != 40 {
		t.Fatalf("first serve: %+v, want a new repository", first)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := Git(ctx, "", "clone", "--quiet", first.URL, clone); err != nil {
		t.Fatal(err)
	}
	pushed := pushCommit(t, clone, first.URL, "one")

	// Served again (another port, as after a restart): the push is there and
	// the old clone pushes on top of it.
	_, second := serve()
	if !second.Kept || second.Head != pushed {
		t.Fatalf("served again: %+v, want kept at %s", second, pushed)
	}
	pushCommit(t, clone, second.URL, "two")

	// A repository without branch main is replaced, with the reason; the
	// seed commit is the one the first repository started from.
	if err := Git(ctx, filepath.Join(root, "fleet.git"), "update-ref", "-d", "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	_, third := serve()
	if third.Kept || third.Replaced == nil {
		t.Fatalf("served after losing main: %+v, want replaced with a reason", third)
	}
	root1, err := gitOutput(ctx, clone, "rev-list", "--max-parents=0", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if third.Head != root1 {
		t.Errorf("recreated repository starts at %s, the first one at %s: same files, want the same commit", third.Head, root1)
	}
	if got := fleetRepoLine(third, "lab/git/fleet.git"); !strings.Contains(got, "push --force origin HEAD:main") {
		t.Errorf("the recreated repository's line gives no recovery command: %q", got)
	}
	if got := fleetRepoLine(second, "lab/git/fleet.git"); !strings.Contains(got, "kept from the last lab") || !strings.Contains(got, "rm -rf lab/git/fleet.git") {
		t.Errorf("the kept repository's line: %q", got)
	}
}

// TestGitServerRelativeRoot: `make lab` passes --dir .lab, so the server's
// root may be relative; git http-backend runs elsewhere and must still find
// the repositories.
func TestGitServerRelativeRoot(t *testing.T) {
	ctx := context.Background()
	seed := t.TempDir()
	if err := os.WriteFile(filepath.Join(seed, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	srv, err := StartGitServer(filepath.Join(".lab", "git"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	repo, err := srv.OpenOrCreateRepo(ctx, "fleet.git", seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := Git(ctx, "", "clone", "--quiet", repo.URL, filepath.Join(t.TempDir(), "clone")); err != nil {
		t.Fatalf("clone from a server with a relative root: %v", err)
	}
}

// pushCommit commits a change in clone (a new file named after msg) and
// pushes it to url; it returns the commit.
func pushCommit(t *testing.T, clone, url, msg string) string {
	t.Helper()
	ctx := context.Background()
	file := strings.ReplaceAll(msg, " ", "-") + ".yaml"
	if err := os.WriteFile(filepath.Join(clone, file), []byte("kind: Secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"remote", "set-url", "origin", url}, {"add", file}, {"commit", "--quiet", "-m", msg}, {"push", "--quiet", "origin", "main"}} {
		if err := Git(ctx, clone, args...); err != nil {
			t.Fatal(err)
		}
	}
	head, err := gitOutput(ctx, clone, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	return head
}
