package source

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Server is gofakes3 (a server speaking the S3 protocol) that also checks
// the access key in each request's signature, since gofakes3 accepts any.
type s3Server struct {
	srv     *httptest.Server
	client  *minio.Client
	gets    atomic.Int64
	lists   atomic.Int64
	keyID   string
	secret  string
	bucket  string
	context context.Context
}

func startS3(t testing.TB, keyID, secret, bucket string) *s3Server {
	t.Helper()
	s := &s3Server{keyID: keyID, secret: secret, bucket: bucket, context: ctxT(t)}
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	inner := faker.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+s.keyID+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Query().Has("list-type"), r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0:
			s.lists.Add(1)
		case r.Method == http.MethodGet:
			s.gets.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	var err error
	s.client, err = minio.New(strings.TrimPrefix(s.srv.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4(keyID, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.MakeBucket(s.context, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *s3Server) put(t testing.TB, key, content string) {
	t.Helper()
	if _, err := s.client.PutObject(s.context, s.bucket, key, bytes.NewReader([]byte(content)), int64(len(content)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestBucketFetchesPrefixAndSkipsUnchanged(t *testing.T) {
	s := startS3(t, "AKIDTEST", "bucket-secret-value", "fleet")
	s.put(t, "prod/apps/a.yaml", "a: 1\n")
	s.put(t, "prod/apps/b.yaml", "b: 1\n")
	s.put(t, "dev/apps/a.yaml", "dev: 1\n")
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("ObjectBucket", s.srv.URL+"/fleet")
	creds := Credentials{Secret: map[string][]byte{KeyAccessKeyID: []byte("AKIDTEST"), KeySecretAccessKey: []byte("bucket-secret-value"), KeyRegion: []byte("us-east-1")}}
	fetch := func() (*Artifact, error) {
		return store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Prefix: "prod"}, Credentials: creds, NotBefore: time.Now()})
	}

	a, err := fetch()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Revision, "sha256:") || readFile(t, filepath.Join(a.Dir, "apps/a.yaml")) != "a: 1\n" {
		t.Fatalf("revision %s", a.Revision)
	}
	if _, err := filepath.Glob(filepath.Join(a.Dir, "dev")); err != nil || fileExists(filepath.Join(a.Dir, "dev")) {
		t.Fatal("objects outside the prefix must not be downloaded")
	}

	// Unchanged bucket: one listing, no download, same revision and Dir.
	gets := s.gets.Load()
	a2, err := fetch()
	if err != nil || a2.Revision != a.Revision || a2.Dir != a.Dir {
		t.Fatalf("unchanged: %v %v", a2, err)
	}
	if s.gets.Load() != gets {
		t.Fatal("an unchanged listing must not download objects")
	}

	s.put(t, "prod/apps/b.yaml", "b: 2\n")
	a3, err := fetch()
	if err != nil || a3.Revision == a.Revision || readFile(t, filepath.Join(a3.Dir, "apps/b.yaml")) != "b: 2\n" {
		t.Fatalf("changed object: %v %v", a3, err)
	}

	bad := Credentials{Secret: map[string][]byte{KeyAccessKeyID: []byte("AKIDWRONG"), KeySecretAccessKey: []byte("bucket-secret-value")}}
	_, err = store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Prefix: "prod"}, Credentials: bad, NotBefore: time.Now()})
	if !IsAuthError(err) || strings.Contains(err.Error(), "bucket-secret-value") {
		t.Fatalf("bad key: %v", err)
	}
	if last := store.Cached(Request{Channel: ch, Ref: Ref{Prefix: "prod"}}); last == nil || last.Revision != a3.Revision {
		t.Fatal("the last good artifact must stay available")
	}
	_, err = store.Fetch(ctx, Request{Channel: channel("ObjectBucket", s.srv.URL+"/missing"), Credentials: creds, NotBefore: time.Now()})
	if !IsNotFound(err) {
		t.Fatalf("missing bucket: %v", err)
	}
	_, err = store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Prefix: "nothing-here"}, Credentials: creds, NotBefore: time.Now()})
	if !IsNotFound(err) || !strings.Contains(err.Error(), "bucket-path") {
		t.Fatalf("empty prefix: %v", err)
	}
}

func TestBucketAddress(t *testing.T) {
	for _, c := range []struct {
		in, endpoint, bucket, prefix string
		secure, bad                  bool
	}{
		{in: "http://127.0.0.1:9000/fleet", endpoint: "127.0.0.1:9000", bucket: "fleet"},
		{in: "https://s3.amazonaws.com/fleet/team-a/", endpoint: "s3.amazonaws.com", bucket: "fleet", prefix: "team-a", secure: true},
		{in: "https://minio.example.com", bad: true},
		{in: "s3://fleet", bad: true},
	} {
		ep, secure, bucket, prefix, err := bucketAddress(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%s: want an error", c.in)
			}
			continue
		}
		if err != nil || ep != c.endpoint || secure != c.secure || bucket != c.bucket || prefix != c.prefix {
			t.Errorf("%s: got %q %t %q %q %v", c.in, ep, secure, bucket, prefix, err)
		}
	}
	if p, err := joinPrefix("team-a/", "/prod/"); err != nil || p != "team-a/prod/" {
		t.Errorf("joinPrefix = %q %v", p, err)
	}
	if _, err := joinPrefix("../x"); err == nil {
		t.Error("joinPrefix must refuse ..")
	}
}
