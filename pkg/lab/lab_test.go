package lab

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// TestLabKeepsFleetRepoAcrossRestarts: a lab started again in the same
// folder serves the fleet repository as the last one left it, so a clone
// made for the tour goes on pushing (issue 15 item 13: the lab used to
// recreate it with new commit hashes).
func TestLabKeepsFleetRepoAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab twice")
	}
	ctx := context.Background()
	dir, example := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(example, "README.md"), []byte("a fleet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() (*Lab, string) {
		t.Helper()
		var progress bytes.Buffer
		l, err := Start(ctx, Options{
			Clusters: 1, Dir: dir, GitAddr: "127.0.0.1:0", Example: true, ExampleDir: example,
			Logger: logr.Discard(), Progress: &progress,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Stop() })
		return l, progress.String()
	}
	l, _ := start()
	clone := filepath.Join(t.TempDir(), "clone")
	if err := Git(ctx, "", "clone", "--quiet", l.FleetURL, clone); err != nil {
		t.Fatal(err)
	}
	pushed := pushCommit(t, clone, l.FleetURL, "tour: a change")
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}

	l, progress := start()
	if !l.FleetRepo.Kept || l.FleetRepo.Head != pushed {
		t.Fatalf("restarted lab serves %+v, want the repository kept at the pushed %s", l.FleetRepo, pushed)
	}
	if !strings.Contains(progress, "kept from the last lab, main@"+pushed[:7]) {
		t.Errorf("progress does not say the repository was kept:\n%s", progress)
	}
	pushCommit(t, clone, l.FleetURL, "tour: another change") // fails on a rewritten history
}
