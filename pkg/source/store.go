package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Fetcher fetches one type of Channel.
type Fetcher interface {
	Fetch(ctx context.Context, req Request) (*Artifact, error)
}

// Store hands out artifacts, fetching each (channel, ref) at most once at a
// time and reusing what it fetched until a Request's NotBefore says it is stale.
// It is safe for concurrent use; every Subscription on a Channel shares it.
type Store struct {
	fetchers map[appsv1.ChannelType]Fetcher

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	mu       sync.Mutex // held while fetching, so concurrent callers wait for one fetch
	artifact *Artifact
}

// NewStore returns a Store that keeps its clones and snapshots under dir.
func NewStore(dir string, log logr.Logger) *Store {
	return &Store{
		fetchers: map[appsv1.ChannelType]Fetcher{
			appsv1.ChannelTypeGit: NewGitFetcher(dir, log.WithName("git")),
		},
		entries: map[string]*entry{},
	}
}

// Fetch returns the artifact for the request, from cache when it was checked
// at or after req.NotBefore.
func (s *Store) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	if req.Channel == nil {
		return nil, fmt.Errorf("fetch: no channel given")
	}
	typ := req.Channel.Spec.Type.Normalized()
	f, ok := s.fetchers[typ]
	if !ok {
		return nil, fmt.Errorf("channel %s/%s: spec.type %q is not supported; use Git, HelmRepo or ObjectBucket",
			req.Channel.Namespace, req.Channel.Name, req.Channel.Spec.Type)
	}
	e := s.entry(cacheKey(req))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.artifact != nil && !e.artifact.CheckedAt.Before(req.NotBefore) {
		return e.artifact, nil
	}
	a, err := f.Fetch(ctx, req)
	if err != nil {
		return nil, err
	}
	a.CheckedAt = time.Now()
	e.artifact = a
	return a, nil
}

// Cached returns the last artifact fetched for the request, if any.
func (s *Store) Cached(req Request) *Artifact {
	e := s.entry(cacheKey(req))
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.artifact
}

func (s *Store) entry(key string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		e = &entry{}
		s.entries[key] = e
	}
	return e
}

// cacheKey identifies a (channel, address, ref) so a changed pathname is a new entry.
func cacheKey(req Request) string {
	h := sha256.Sum256([]byte(req.Channel.Namespace + "/" + req.Channel.Name + "\x00" +
		req.Channel.Spec.Pathname + "\x00" + req.Ref.String()))
	return hex.EncodeToString(h[:16])
}
