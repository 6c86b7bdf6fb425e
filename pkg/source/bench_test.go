package source

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	benchFiles   = 5000
	benchCommits = 3000
)

// bigRepo builds, with git fast-import, a bare repository of benchFiles files
// and benchCommits commits (the first adds every file, each later one edits
// one), plus a working clone to push more commits from.
func bigRepo(b *testing.B) (root string, work string) {
	b.Helper()
	root = b.TempDir()
	bare := filepath.Join(root, "big.git")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		b.Fatal(err)
	}
	gitCmd(b, bare, "init", "--quiet", "--bare", "--initial-branch=main")
	var in bytes.Buffer
	when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for c := 0; c < benchCommits; c++ {
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter bench <bench@example.invalid> %d +0000\ndata <<EOM\ncommit %d\nEOM\n", when+int64(c), c)
		write := func(i int, rev int) {
			content := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  namespace: apps-%d\ndata:\n  revision: \"%d\"\n  payload: %s\n", i, i%50, rev, strings.Repeat("x", 120))
			fmt.Fprintf(&in, "M 100644 inline apps/team-%02d/cm-%05d.yaml\ndata %d\n%s\n", i%50, i, len(content), content)
		}
		if c == 0 {
			for i := 0; i < benchFiles; i++ {
				write(i, 0)
			}
		} else {
			write((c*7919)%benchFiles, c)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = bare
	cmd.Stdin = &in
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fast-import: %v\n%s", err, out)
	}
	gitCmd(b, bare, "gc", "--quiet")
	work = b.TempDir()
	gitCmd(b, work, "clone", "--quiet", bare, ".")
	return root, work
}

func pushOne(b *testing.B, work string, n int) {
	b.Helper()
	p := filepath.Join(work, "apps/team-00/cm-00000.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf("kind: ConfigMap\nrevision: %d\n", n)), 0o644); err != nil {
		b.Fatal(err)
	}
	gitCmd(b, work, "commit", "--quiet", "-am", fmt.Sprintf("bench %d", n))
	gitCmd(b, work, "push", "--quiet", "origin", "main")
}

// BenchmarkGitFreshClone: a first fetch into an empty cache (clone + export).
func BenchmarkGitFreshClone(b *testing.B) {
	root, _ := bigRepo(b)
	srv := httptest.NewServer(gitHTTPHandler(b, root, "", "", nil))
	defer srv.Close()
	ch := channel("Git", srv.URL+"/big.git")
	ctx := ctxT(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		store := NewStore(b.TempDir(), testLogger(b), lab())
		if _, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGitPollUnchanged: a poll of a repository that did not change
// (ref advertisement only: no pack, no export).
func BenchmarkGitPollUnchanged(b *testing.B) {
	root, _ := bigRepo(b)
	srv := httptest.NewServer(gitHTTPHandler(b, root, "", "", nil))
	defer srv.Close()
	ch := channel("Git", srv.URL+"/big.git")
	store := NewStore(b.TempDir(), testLogger(b), lab())
	ctx := ctxT(b)
	first, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()})
		if err != nil || a.Revision != first.Revision {
			b.Fatalf("%v %v", a, err)
		}
	}
}

// BenchmarkGitFetchAfterOneCommit: a poll right after one new commit
// (incremental pack + snapshot of the new tree).
func BenchmarkGitFetchAfterOneCommit(b *testing.B) {
	root, work := bigRepo(b)
	srv := httptest.NewServer(gitHTTPHandler(b, root, "", "", nil))
	defer srv.Close()
	ch := channel("Git", srv.URL+"/big.git")
	store := NewStore(b.TempDir(), testLogger(b), lab())
	ctx := ctxT(b)
	prev, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pushOne(b, work, i)
		b.StartTimer()
		a, err := store.Fetch(ctx, Request{Channel: ch, NotBefore: time.Now()})
		if err != nil || a.Revision == prev.Revision {
			b.Fatalf("%v %v", a, err)
		}
		prev = a
	}
}
