package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
)

func TestDepthBucket(t *testing.T) {
	for d, want := range map[int]int{0: 0, -3: 0, 1: 1, 2: 4, 4: 4, 5: 16, 20: 64, 64: 64, 65: 256, 4096: 4096, 4097: 0, 1 << 30: 0} {
		if got := depthBucket(d); got != want {
			t.Errorf("depthBucket(%d) = %d, want %d", d, got, want)
		}
	}
}

// TestCloneDepthsShareClones: every git-clone-depth value used to make a
// clone of its own, so Subscriptions asking for depths 1 to 20 cost twenty
// clones of one repository (issue 16 item 12). Depths are rounded up to a
// few buckets now, and each still gets its commit.
func TestCloneDepthsShareClones(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	for i := 0; i < 5; i++ {
		repo.commit(map[string]string{"a.yaml": fmt.Sprintf("a: %d\n", i+2)}, "next")
	}
	head := gitCmd(t, repo.work, "rev-parse", "HEAD")
	srv, _ := countingServer(t, "127.0.0.1:0", gitHTTPHandler(t, root, "", "", nil))
	dir := t.TempDir()
	store := NewStore(dir, testLogger(t), lab())
	ctx := ctxT(t)
	for depth := 1; depth <= 20; depth++ {
		a, err := store.Fetch(ctx, Request{Channel: channel("Git", srv.URL+"/fleet.git"), Ref: Ref{Depth: depth}, NotBefore: time.Now()})
		if err != nil || a.Commit != head {
			t.Fatalf("depth %d: %v %v", depth, a, err)
		}
	}
	clones, err := os.ReadDir(filepath.Join(dir, "git"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range clones {
		if c.IsDir() && c.Name() != "known_hosts" {
			n++
		}
	}
	if n > 4 {
		t.Errorf("%d clones for depths 1 to 20, want at most 4 (buckets 1, 4, 16, 64)", n)
	}
}

// TestHelmIndexesFitTheBudget: parsed indexes used to be kept per
// (URL, credentials) for a day with no overall bound, so a tenant with many
// HelmRepo Channels held as many indexes (issue 16 item 12). The bytes of
// the indexes kept stay within the budget now, and a dropped index is
// simply downloaded again.
func TestHelmIndexesFitTheBudget(t *testing.T) {
	archive := hostile.Archive(t, hostile.File{Name: "demo/Chart.yaml", Content: "apiVersion: v2\nname: demo\nversion: 1.0.0\n"})
	padding := "# " + strings.Repeat("x", 30<<10) + "\n"
	var sizes []int
	var urls []string
	for i := 0; i < 6; i++ {
		srv := newFileServer(t)
		srv.set("/demo-1.0.0.tgz", archive)
		index := append(indexFor(srv.URL, "demo", map[string][]byte{"1.0.0": archive}), padding...)
		srv.set("/index.yaml", index)
		sizes = append(sizes, len(index))
		urls = append(urls, srv.URL)
	}
	budget := int64(sizes[0] * 5 / 2)
	store := NewStore(t.TempDir(), testLogger(t), lab(), WithIndexBudget(budget))
	h := store.fetchers[appsv1.ChannelTypeHelmRepo].(*helmFetcher)
	held := func() int64 {
		h.mu.Lock()
		defer h.mu.Unlock()
		var n int64
		for _, r := range h.repos {
			select {
			case r.lock <- struct{}{}:
				if r.index != nil {
					n += int64(sizes[0])
				}
				<-r.lock
			default:
			}
		}
		return n
	}
	ctx := ctxT(t)
	for round := 0; round < 2; round++ {
		for i, u := range urls {
			ch := channel("HelmRepo", u)
			ch.Name = fmt.Sprintf("repo%d", i)
			if _, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Chart: "demo"}, NotBefore: time.Now()}); err != nil {
				t.Fatalf("round %d, repository %d: %v", round, i, err)
			}
			if n := held(); n > budget {
				t.Fatalf("round %d, after repository %d: %d index bytes kept, budget %d", round, i, n, budget)
			}
		}
	}
}
