package lab

import (
	"context"
	"os"
	"path/filepath"
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
