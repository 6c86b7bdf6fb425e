package source

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // the Git pack trailer is SHA-1
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
)

// pktLine encodes one Git pkt-line.
func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// claimingGitServer speaks just enough smart HTTP to advertise main at
// commit and answer any fetch with an empty pack: it claims a commit it
// does not have.
func claimingGitServer(t *testing.T, commit string) string {
	t.Helper()
	srv, _ := countingServer(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/info/refs"):
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			_, _ = io.WriteString(w, pktLine("# service=git-upload-pack\n")+"0000"+
				pktLine(commit+" HEAD\x00symref=HEAD:refs/heads/main\n")+pktLine(commit+" refs/heads/main\n")+"0000")
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			_, _ = io.Copy(io.Discard, r.Body)
			var pack bytes.Buffer
			pack.WriteString("PACK")
			_ = binary.Write(&pack, binary.BigEndian, uint32(2))
			_ = binary.Write(&pack, binary.BigEndian, uint32(0))
			sum := sha1.Sum(pack.Bytes()) //nolint:gosec
			pack.Write(sum[:])
			w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
			_, _ = io.WriteString(w, pktLine("NAK\n"))
			_, _ = w.Write(pack.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	return srv.URL
}

// TestGitSnapshotsAreScopedByCredentials: tenant B, without credentials,
// points its Channel at a server that merely advertises tenant A's private
// commit. B used to be handed A's snapshot, which the commit named (issue
// 16 item 6); now snapshots belong to one (repository, credentials) and B
// gets an error.
func TestGitSnapshotsAreScopedByCredentials(t *testing.T) {
	root := t.TempDir()
	private := newTestRepo(t, root, "private", map[string]string{"secret.yaml": "password: hunter2\n"})
	commit := gitCmd(t, private.work, "rev-parse", "HEAD")
	srv, _ := countingServer(t, "127.0.0.1:0", gitHTTPHandler(t, root, "alice", "alice-token", nil))
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)

	victim := channel("Git", srv.URL+"/private.git")
	victim.Namespace = "team-a"
	a, err := store.Fetch(ctx, Request{Channel: victim, NotBefore: time.Now(),
		Credentials: Credentials{Secret: map[string][]byte{KeyUser: []byte("alice"), KeyAccessToken: []byte("alice-token")}}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Commit != commit {
		t.Fatalf("fetched %s, want %s", a.Commit, commit)
	}

	thief := channel("Git", claimingGitServer(t, commit)+"/claims.git")
	thief.Namespace = "team-b"
	for _, ref := range []Ref{{}, {Commit: commit}} {
		b, err := store.Fetch(ctx, Request{Channel: thief, Ref: ref, NotBefore: time.Now()})
		if err == nil {
			content, _ := os.ReadFile(filepath.Join(b.Dir, "secret.yaml"))
			t.Fatalf("ref %v: tenant B was handed a snapshot (%s) holding %q", ref, b.Dir, content)
		}
	}
}

// TestHelmChartsAreScopedByCredentials: tenant B's index names tenant A's
// private chart by its digest; B used to get A's cached chart without
// downloading anything (issue 16 item 6). Now B must download it itself.
func TestHelmChartsAreScopedByCredentials(t *testing.T) {
	secret := hostile.Archive(t, hostile.File{Name: "demo/Chart.yaml", Content: "apiVersion: v2\nname: demo\nversion: 1.0.0\n"},
		hostile.File{Name: "demo/templates/secret.yaml", Content: "password: hunter2\n"})
	private := newFileServer(t)
	private.set("/demo-1.0.0.tgz", secret)
	private.set("/index.yaml", indexFor(private.URL, "demo", map[string][]byte{"1.0.0": secret}))
	protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "alice-pass" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		private.Config.Handler.ServeHTTP(w, r)
	})
	privateSrv, _ := countingServer(t, "127.0.0.1:0", protected)
	private.set("/index.yaml", indexFor(privateSrv.URL, "demo", map[string][]byte{"1.0.0": secret}))

	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	victim := channel("HelmRepo", privateSrv.URL)
	victim.Namespace = "team-a"
	if _, err := store.Fetch(ctx, Request{Channel: victim, Ref: Ref{Chart: "demo"}, NotBefore: time.Now(),
		Credentials: Credentials{Secret: map[string][]byte{KeyUser: []byte("alice"), KeyPassword: []byte("alice-pass")}}}); err != nil {
		t.Fatal(err)
	}

	// B's own repository lists the same digest, with an archive it does not have.
	claims := newFileServer(t)
	claims.set("/index.yaml", indexFor(claims.URL, "demo", map[string][]byte{"1.0.0": secret}))
	thief := channel("HelmRepo", claims.URL)
	thief.Namespace = "team-b"
	b, err := store.Fetch(ctx, Request{Channel: thief, Ref: Ref{Chart: "demo"}, NotBefore: time.Now()})
	if err == nil {
		t.Fatalf("tenant B was handed tenant A's chart at %s", b.Dir)
	}
}

// TestBucketSnapshotsAreScopedByCredentials: tenant B's endpoint lists the
// keys, ETags and sizes of tenant A's private objects; B used to be handed
// A's snapshot, named by the listing's digest (issue 16 item 6).
func TestBucketSnapshotsAreScopedByCredentials(t *testing.T) {
	s3a := startS3(t, "AKIDALICE", "alice-secret", "fleet")
	s3a.put(t, "app/secret.yaml", "password: hunter2\n")
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	victim := channel("ObjectBucket", s3a.srv.URL+"/fleet")
	victim.Namespace = "team-a"
	a, err := store.Fetch(ctx, Request{Channel: victim, NotBefore: time.Now(),
		Credentials: Credentials{Secret: map[string][]byte{KeyAccessKeyID: []byte("AKIDALICE"), KeySecretAccessKey: []byte("alice-secret")}}})
	if err != nil {
		t.Fatal(err)
	}

	// B's bucket holds other bytes of the same size, and its listing
	// claims A's ETag.
	s3b := startS3(t, "AKIDBOB", "bob-secret", "fleet")
	s3b.put(t, "app/secret.yaml", "password: xxxxxxx\n")
	real, err := s3a.client.StatObject(ctx, "fleet", "app/secret.yaml", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fake, err := s3b.client.StatObject(ctx, "fleet", "app/secret.yaml", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(s3b.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		body = bytes.ReplaceAll(body, []byte(fake.ETag), []byte(real.ETag))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	liar, _ := countingServer(t, "127.0.0.1:0", proxy)
	thief := channel("ObjectBucket", liar.URL+"/fleet")
	thief.Namespace = "team-b"
	b, err := store.Fetch(ctx, Request{Channel: thief, NotBefore: time.Now(),
		Credentials: Credentials{Secret: map[string][]byte{KeyAccessKeyID: []byte("AKIDBOB"), KeySecretAccessKey: []byte("bob-secret")}}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Revision != a.Revision {
		t.Fatalf("the listing was not forged as intended: %s vs %s", b.Revision, a.Revision)
	}
	if got := readFile(t, filepath.Join(b.Dir, "app/secret.yaml")); got != "password: xxxxxxx\n" {
		t.Fatalf("tenant B was handed tenant A's object: %q", got)
	}
}

// TestSnapshotsAreReadOnly: nothing under an exported snapshot (Git, Helm,
// S3) has a write bit, so a process that must not write there cannot
// (issue 16 item 1: a render escaping its cache into another tenant's
// snapshot). The hub runs as a non-root user (Dockerfile), for whom the
// bits hold.
func TestSnapshotsAreReadOnly(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"apps/a.yaml": "a: 1\n"})
	gitSrv, _ := countingServer(t, "127.0.0.1:0", gitHTTPHandler(t, root, "", "", nil))
	chart := newFileServer(t)
	archive := hostile.Archive(t, hostile.File{Name: "demo/Chart.yaml", Content: "apiVersion: v2\nname: demo\nversion: 1.0.0\n"},
		hostile.File{Name: "demo/templates/cm.yaml", Content: "kind: ConfigMap\n"})
	chart.set("/demo-1.0.0.tgz", archive)
	chart.set("/index.yaml", indexFor(chart.URL, "demo", map[string][]byte{"1.0.0": archive}))
	s3 := startS3(t, "AKIDRO", "ro-secret", "fleet")
	s3.put(t, "apps/a.yaml", "a: 1\n")

	store := NewStore(t.TempDir(), testLogger(t), lab(), WithRetention(1, 0), WithGCInterval(0, time.Hour, time.Hour))
	ctx := ctxT(t)
	for i, req := range []Request{
		{Channel: channel("Git", gitSrv.URL+"/fleet.git")},
		{Channel: channel("HelmRepo", chart.URL), Ref: Ref{Chart: "demo"}},
		{Channel: channel("ObjectBucket", s3.srv.URL+"/fleet"), Credentials: Credentials{Secret: map[string][]byte{KeyAccessKeyID: []byte("AKIDRO"), KeySecretAccessKey: []byte("ro-secret")}}},
	} {
		req.Channel.Name = fmt.Sprintf("ch%d", i)
		req.NotBefore = time.Now()
		a, err := store.Fetch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		_ = filepath.WalkDir(a.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			info, err := d.Info()
			if err != nil {
				t.Fatal(err)
			}
			if d.Type()&fs.ModeSymlink == 0 && info.Mode().Perm()&0o222 != 0 {
				t.Errorf("%s is writable (%s)", p, info.Mode())
			}
			return nil
		})
	}
	// Garbage collection still removes read-only snapshots.
	gitReq := Request{Channel: channel("Git", gitSrv.URL+"/fleet.git")}
	gitReq.Channel.Name = "ch0"
	first := store.Cached(gitReq)
	gitCmd(t, filepath.Join(root, "fleet.git"), "update-ref", "refs/heads/main", gitCmd(t, filepath.Join(root, "fleet.git"), "commit-tree", "-m", "next", gitCmd(t, filepath.Join(root, "fleet.git"), "rev-parse", "main^{tree}")))
	gitReq.NotBefore = time.Now()
	if _, err := store.Fetch(ctx, gitReq); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Fetch(ctx, gitReq); err != nil {
		t.Fatal(err)
	}
	if fileExists(first.root) {
		t.Errorf("the replaced read-only snapshot %s was not collected", first.root)
	}
}
