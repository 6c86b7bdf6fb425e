package preview

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// gitRepo is a Git repository built with the git CLI, with fixed identities
// and dates so that commit IDs are the same on every run.
type gitRepo struct {
	t   testing.TB
	dir string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	return g
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=fleet", "GIT_AUTHOR_EMAIL=fleet@example.invalid",
		"GIT_COMMITTER_NAME=fleet", "GIT_COMMITTER_EMAIL=fleet@example.invalid",
		"GIT_AUTHOR_DATE=2025-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2025-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write sets files (path → content); an empty content deletes the file.
func (g *gitRepo) write(files map[string]string) {
	g.t.Helper()
	for p, content := range files {
		full := filepath.Join(g.dir, filepath.FromSlash(p))
		if content == "" {
			if err := os.Remove(full); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
}

// commit commits everything and returns the commit ID.
func (g *gitRepo) commit(msg string) string {
	g.t.Helper()
	g.git("add", "-A")
	g.git("commit", "-q", "-m", msg)
	return g.git("rev-parse", "HEAD")
}

// replace edits one file, failing when old is not in it.
func (g *gitRepo) replace(path, old, new string) {
	g.t.Helper()
	full := filepath.Join(g.dir, filepath.FromSlash(path))
	data, err := os.ReadFile(full)
	if err != nil {
		g.t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		g.t.Fatalf("%s does not contain %q", path, old)
	}
	g.write(map[string]string{path: strings.Replace(string(data), old, new, 1)})
}

func readInventory(t *testing.T, path string) *Inventory {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./pkg/preview -run %s -update' to create it)", err, t.Name())
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows where two texts differ, for test failures.
func lineDiff(want, got string) string {
	return unifiedDiff(lines(want), lines(got), "want", "got")
}
