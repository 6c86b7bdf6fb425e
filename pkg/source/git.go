package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-logr/logr"
)

// GitFetcher keeps one bare clone per repository URL, fetches into it
// incrementally, and exports each commit it is asked for into its own
// read-only snapshot folder named by the commit.
type GitFetcher struct {
	dir string
	log logr.Logger

	mu    sync.Mutex
	repos map[string]*sync.Mutex // per-clone lock: go-git storage is not safe for concurrent writers
}

// NewGitFetcher keeps its clones under dir.
func NewGitFetcher(dir string, log logr.Logger) *GitFetcher {
	return &GitFetcher{dir: filepath.Join(dir, "git"), log: log, repos: map[string]*sync.Mutex{}}
}

// Fetch brings the clone up to date and returns a snapshot of the ref.
func (g *GitFetcher) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	url := req.Channel.Spec.Pathname
	sum := sha256.Sum256([]byte(url))
	key := hex.EncodeToString(sum[:8])
	lock := g.lock(key)
	lock.Lock()
	defer lock.Unlock()

	repoDir := filepath.Join(g.dir, key, "repo.git")
	repo, err := git.PlainOpen(repoDir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(repoDir, true)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open clone of %s: %w", url, err)
	}

	refSpecs := []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}
	err = repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: refSpecs, Tags: git.NoTags, Force: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}

	name, hash, err := resolve(repo, req.Ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	snap := filepath.Join(g.dir, key, "trees", hash.String())
	if _, err := os.Stat(snap); err != nil {
		if err := export(repo, hash, snap); err != nil {
			return nil, fmt.Errorf("export %s at %s: %w", url, hash, err)
		}
	}
	return &Artifact{Revision: name + "@sha1:" + hash.String(), Commit: hash.String(), Dir: snap}, nil
}

func (g *GitFetcher) lock(key string) *sync.Mutex {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.repos[key]
	if !ok {
		m = &sync.Mutex{}
		g.repos[key] = m
	}
	return m
}

// resolve turns a ref into a display name and a commit.
func resolve(repo *git.Repository, ref Ref) (string, plumbing.Hash, error) {
	switch {
	case ref.Commit != "":
		c, err := repo.CommitObject(plumbing.NewHash(ref.Commit))
		if err != nil {
			return "", plumbing.ZeroHash, fmt.Errorf("commit %s not found: %w", ref.Commit, err)
		}
		return "commit", c.Hash, nil
	case ref.Tag != "":
		r, err := repo.Reference(plumbing.NewTagReferenceName(ref.Tag), true)
		if err != nil {
			return "", plumbing.ZeroHash, fmt.Errorf("tag %q not found: %w", ref.Tag, err)
		}
		c, err := repo.ResolveRevision(plumbing.Revision(r.Hash().String()))
		if err != nil {
			return "", plumbing.ZeroHash, err
		}
		return ref.Tag, *c, nil
	}
	branch := ref.Branch
	if branch == "" {
		for _, b := range []string{"main", "master"} {
			if _, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", b), true); err == nil {
				branch = b
				break
			}
		}
	}
	r, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("branch %q not found: %w", branch, err)
	}
	return branch, r.Hash(), nil
}

// export writes the tree of a commit into dir, atomically.
func export(repo *git.Repository, hash plumbing.Hash, dir string) error {
	c, err := repo.CommitObject(hash)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	err = tree.Files().ForEach(func(f *object.File) error {
		target := filepath.Join(tmp, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		if f.Mode == filemode.Symlink {
			link, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			return os.Symlink(string(link), target)
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o444)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
