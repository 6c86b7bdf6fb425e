package source

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func gitReq(ch *appsv1.Channel, ref Ref, creds Credentials) Request {
	return Request{Channel: ch, Ref: ref, Credentials: creds, NotBefore: time.Now()}
}

func TestGitHTTPBasicAuthBranchesTagsCommits(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"apps/a.yaml": "kind: A\n"})
	srv := httptest.NewServer(gitHTTPHandler(t, root, "alice", "s3cr3t-token", nil))
	defer srv.Close()
	ch := channel("Git", srv.URL+"/fleet.git")
	creds := Credentials{Secret: map[string][]byte{KeyUser: []byte("alice"), KeyAccessToken: []byte("s3cr3t-token")}}
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)

	first := repo.commit(map[string]string{"apps/b.yaml": "kind: B\n"}, "second")
	a, err := store.Fetch(ctx, gitReq(ch, Ref{}, creds))
	if err != nil {
		t.Fatalf("fetch default branch: %v", err)
	}
	if a.Revision != "main@sha1:"+first || a.Commit != first {
		t.Fatalf("revision = %q, want main@sha1:%s", a.Revision, first)
	}
	if got := readFile(t, filepath.Join(a.Dir, "apps/b.yaml")); got != "kind: B\n" {
		t.Fatalf("apps/b.yaml = %q", got)
	}
	if info, err := os.Stat(filepath.Join(a.Dir, "apps/a.yaml")); err != nil || info.Mode().Perm()&0o222 != 0 {
		t.Fatalf("snapshot files must exist read-only: %v %v", info, err)
	}

	// A branch, a lightweight tag, an annotated tag and a pinned commit.
	repo.tag("v1", false)
	repo.tag("v1-annotated", true)
	repo.checkout("dev", true)
	dev := repo.commit(map[string]string{"apps/dev.yaml": "kind: Dev\n"}, "dev only")
	cases := []struct {
		ref  Ref
		want string
	}{
		{Ref{Branch: "dev"}, "dev@sha1:" + dev},
		{Ref{Branch: "refs/heads/dev"}, "dev@sha1:" + dev},
		{Ref{Tag: "v1"}, "v1@sha1:" + first},
		{Ref{Tag: "v1-annotated"}, "v1-annotated@sha1:" + first},
		{Ref{Commit: first}, "sha1:" + first},
		{Ref{Commit: strings.ToUpper(first)}, "sha1:" + first},
	}
	for _, c := range cases {
		a, err := store.Fetch(ctx, gitReq(ch, c.ref, creds))
		if err != nil {
			t.Fatalf("fetch %s: %v", c.ref, err)
		}
		if a.Revision != c.want {
			t.Errorf("fetch %s: revision %q, want %q", c.ref, a.Revision, c.want)
		}
	}

	// Missing things say what exists and which annotation to fix.
	_, err = store.Fetch(ctx, gitReq(ch, Ref{Branch: "nope"}, creds))
	if !IsNotFound(err) || !strings.Contains(err.Error(), `branch "nope" not found`) || !strings.Contains(err.Error(), "dev, main") ||
		!strings.Contains(err.Error(), "git-branch") {
		t.Fatalf("missing branch error = %v", err)
	}
	_, err = store.Fetch(ctx, gitReq(ch, Ref{Commit: strings.Repeat("ab", 20)}, creds))
	if !IsNotFound(err) || !strings.Contains(err.Error(), "not on any branch or tag") {
		t.Fatalf("missing commit error = %v", err)
	}
	_, err = store.Fetch(ctx, gitReq(ch, Ref{Commit: "abc123"}, creds))
	if Reason(err) != appsv1.ReasonInvalidSpec {
		t.Fatalf("short commit error = %v (reason %s)", err, Reason(err))
	}

	// A wrong token is an authentication failure whose text never holds the token.
	bad := Credentials{Secret: map[string][]byte{KeyUser: []byte("alice"), KeyAccessToken: []byte("wrong-token-value")}}
	_, err = store.Fetch(ctx, gitReq(ch, Ref{Branch: "main"}, bad))
	if !IsAuthError(err) || strings.Contains(err.Error(), "wrong-token-value") {
		t.Fatalf("bad token: err = %v, auth=%t", err, IsAuthError(err))
	}
	_, err = store.Fetch(ctx, gitReq(ch, Ref{Branch: "main"}, Credentials{}))
	if !IsAuthError(err) {
		t.Fatalf("no credentials: err = %v, want an authentication error", err)
	}
}

func TestGitSharedCloneFetchesIncrementally(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "v: 1\n"})
	repo.checkout("dev", true)
	repo.commit(map[string]string{"dev.yaml": "v: 1\n"}, "dev")
	repo.checkout("main", false)
	var requests int64
	srv := httptest.NewServer(gitHTTPHandler(t, root, "", "", &requests))
	defer srv.Close()
	count := func() int64 { return atomic.LoadInt64(&requests) }
	ch := channel("Git", srv.URL+"/fleet.git")
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)

	start := time.Now()
	main1, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "main"}, NotBefore: start})
	if err != nil {
		t.Fatal(err)
	}
	afterFirst := count()

	// Another ref of the same repository, not asking for anything newer than
	// the clone's last check, reads the shared clone: no request at all.
	dev, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "dev"}, NotBefore: start})
	if err != nil || !strings.HasPrefix(dev.Revision, "dev@") {
		t.Fatalf("dev: %v %v", dev, err)
	}
	if got := count() - afterFirst; got != 0 {
		t.Fatalf("second ref on the same clone made %d requests, want 0", got)
	}

	// An unchanged poll costs one ref advertisement and no pack negotiation.
	before := count()
	again, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "main"}, NotBefore: time.Now()})
	if err != nil || again.Revision != main1.Revision || again.Dir != main1.Dir {
		t.Fatalf("unchanged poll: %v %v", again, err)
	}
	if got := count() - before; got != 1 {
		t.Fatalf("unchanged poll made %d requests, want 1 (info/refs)", got)
	}

	// A new commit is fetched incrementally; the old snapshot stays as it was.
	next := repo.commit(map[string]string{"a.yaml": "v: 2\n"}, "bump")
	a2, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "main"}, NotBefore: time.Now()})
	if err != nil || a2.Commit != next {
		t.Fatalf("after push: %v %v", a2, err)
	}
	if readFile(t, filepath.Join(a2.Dir, "a.yaml")) != "v: 2\n" || readFile(t, filepath.Join(main1.Dir, "a.yaml")) != "v: 1\n" {
		t.Fatal("snapshots must hold their own commit's content")
	}
	// A cached artifact serves requests that accept its check time.
	before = count()
	if c, err := store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "main"}, NotBefore: a2.CheckedAt}); err != nil || c.Commit != next {
		t.Fatalf("cached: %v %v", c, err)
	}
	if count() != before {
		t.Fatal("a fresh enough cached artifact must not touch the server")
	}

	// A deleted branch is pruned from the clone.
	gitCmd(t, repo.work, "push", "--quiet", "origin", "--delete", "dev")
	_, err = store.Fetch(ctx, Request{Channel: ch, Ref: Ref{Branch: "dev"}, NotBefore: time.Now()})
	if !IsNotFound(err) {
		t.Fatalf("deleted branch: err = %v", err)
	}
}

func TestGitDefaultBranchFollowsRemoteHEAD(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "trunk.git")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, bare, "init", "--quiet", "--bare", "--initial-branch=trunk")
	work := t.TempDir()
	gitCmd(t, work, "init", "--quiet", "--initial-branch=trunk")
	if err := os.WriteFile(filepath.Join(work, "x.yaml"), []byte("x: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, work, "add", "--all")
	gitCmd(t, work, "commit", "--quiet", "-m", "x")
	gitCmd(t, work, "push", "--quiet", bare, "trunk")
	gitCmd(t, work, "push", "--quiet", bare, "trunk:main") // a decoy named main
	gitCmd(t, work, "commit", "--quiet", "--allow-empty", "-m", "y")
	gitCmd(t, work, "push", "--quiet", bare, "trunk")
	head := gitCmd(t, work, "rev-parse", "HEAD")
	srv := httptest.NewServer(gitHTTPHandler(t, root, "", "", nil))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab())
	a, err := store.Fetch(ctxT(t), Request{Channel: channel("git", srv.URL+"/trunk.git"), NotBefore: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != "trunk@sha1:"+head {
		t.Fatalf("default branch revision = %q, want trunk@sha1:%s", a.Revision, head)
	}
}

func TestGitTLSCustomCAAndClientCertificates(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	ca := newTestCA(t)
	srv := startTLS(t, ca, gitHTTPHandler(t, root, "", "", nil), nil)
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("Git", srv.URL+"/fleet.git")

	_, err := store.Fetch(ctx, gitReq(ch, Ref{}, Credentials{}))
	if !IsAuthError(err) || !strings.Contains(err.Error(), "caCerts") {
		t.Fatalf("untrusted CA: err = %v", err)
	}
	if _, err := store.Fetch(ctx, gitReq(ch, Ref{}, Credentials{CACerts: ca.certPEM})); err != nil {
		t.Fatalf("with caCerts: %v", err)
	}
	insecure := channel("Git", srv.URL+"/fleet.git")
	insecure.Name = "insecure"
	insecure.Spec.InsecureSkipVerify = true
	if _, err := store.Fetch(ctx, gitReq(insecure, Ref{}, Credentials{})); err != nil {
		t.Fatalf("insecureSkipVerify: %v", err)
	}

	clientCA := newTestCA(t)
	mtls := startTLS(t, ca, gitHTTPHandler(t, root, "", "", nil), clientCA)
	mch := channel("Git", mtls.URL+"/fleet.git")
	mch.Name = "mtls"
	_, err = store.Fetch(ctx, gitReq(mch, Ref{}, Credentials{CACerts: ca.certPEM}))
	if err == nil {
		t.Fatal("a server requiring client certificates must refuse a client without one")
	}
	certPEM, keyPEM, _ := clientCA.issue(t, "ocm-gitops", false)
	withCert := Credentials{CACerts: ca.certPEM, Secret: map[string][]byte{KeyClientCert: certPEM, KeyClientKey: keyPEM}}
	if _, err := store.Fetch(ctx, gitReq(mch, Ref{}, withCert)); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	if strings.Contains(err.Error(), string(keyPEM[40:80])) {
		t.Fatal("errors must not echo key material")
	}
}

func TestGitSSHKeysAndKnownHosts(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	srv := startSSHGitServer(t, root, "")
	url := "ssh://git@" + srv.addr + "/fleet.git"
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("Git", url)
	creds := Credentials{Secret: map[string][]byte{KeySSHKey: srv.userKeyPEM, KeyKnownHosts: []byte(srv.hostKeyLine)}}

	a, err := store.Fetch(ctx, gitReq(ch, Ref{}, creds))
	if err != nil {
		t.Fatalf("ssh fetch: %v", err)
	}
	if a.Commit != gitCmd(t, repo.work, "rev-parse", "HEAD") {
		t.Fatalf("ssh fetch got %s", a.Revision)
	}

	// A host key that does not match is refused, with a hint.
	other := startSSHGitServer(t, root, "")
	wrongHost := Credentials{Secret: map[string][]byte{KeySSHKey: srv.userKeyPEM,
		KeyKnownHosts: []byte(strings.Replace(other.hostKeyLine, other.addr[strings.LastIndex(other.addr, ":")+1:], srv.addr[strings.LastIndex(srv.addr, ":")+1:], 1))}}
	ch2 := channel("Git", url)
	ch2.Name = "wrong-host-key"
	_, err = store.Fetch(ctx, gitReq(ch2, Ref{}, wrongHost))
	if !IsAuthError(err) || !strings.Contains(err.Error(), "host key") {
		t.Fatalf("mismatched host key: err = %v", err)
	}
	// No known_hosts at all: refuse unless insecureSkipVerify.
	t.Setenv("SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HOME", t.TempDir())
	noKnown := Credentials{Secret: map[string][]byte{KeySSHKey: srv.userKeyPEM}}
	ch3 := channel("Git", url)
	ch3.Name = "no-known-hosts"
	_, err = store.Fetch(ctx, gitReq(ch3, Ref{}, noKnown))
	if !IsAuthError(err) || !strings.Contains(err.Error(), "sshKnownHosts") {
		t.Fatalf("no known_hosts: err = %v", err)
	}
	ch3.Spec.InsecureSkipVerify = true
	if _, err := store.Fetch(ctx, gitReq(ch3, Ref{}, noKnown)); err != nil {
		t.Fatalf("insecureSkipVerify over ssh: %v", err)
	}

	// A key the server does not know is an authentication failure.
	stranger := startSSHGitServer(t, root, "")
	badKey := Credentials{Secret: map[string][]byte{KeySSHKey: stranger.userKeyPEM, KeyKnownHosts: []byte(srv.hostKeyLine)}}
	ch4 := channel("Git", url)
	ch4.Name = "bad-key"
	_, err = store.Fetch(ctx, gitReq(ch4, Ref{}, badKey))
	if !IsAuthError(err) {
		t.Fatalf("unknown user key: err = %v", err)
	}
}

func TestGitSSHPassphraseAndSCPLikeURL(t *testing.T) {
	root := t.TempDir()
	newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	srv := startSSHGitServer(t, root, "correct horse")
	port := srv.addr[strings.LastIndex(srv.addr, ":")+1:]
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("Git", "ssh://git@127.0.0.1:"+port+"/fleet.git")
	creds := Credentials{Secret: map[string][]byte{KeySSHKey: srv.userKeyPEM, KeyPassphrase: []byte("correct horse"), KeyKnownHosts: []byte(srv.hostKeyLine)}}
	if _, err := store.Fetch(ctx, gitReq(ch, Ref{}, creds)); err != nil {
		t.Fatalf("passphrase-protected key: %v", err)
	}
	missing := Credentials{Secret: map[string][]byte{KeySSHKey: srv.userKeyPEM, KeyKnownHosts: []byte(srv.hostKeyLine)}}
	ch2 := channel("Git", ch.Spec.Pathname)
	ch2.Name = "nopass"
	_, err := store.Fetch(ctx, gitReq(ch2, Ref{}, missing))
	if !IsAuthError(err) || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("missing passphrase: err = %v", err)
	}
	wrong := Credentials{Secret: map[string][]byte{KeySSHKey: srv.userKeyPEM, KeyPassphrase: []byte("battery staple"), KeyKnownHosts: []byte(srv.hostKeyLine)}}
	_, err = store.Fetch(ctx, gitReq(ch2, Ref{}, wrong))
	if !IsAuthError(err) || strings.Contains(err.Error(), "battery staple") {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
}

func TestGitShallowCloneDepth(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"a.yaml": "a: 1\n"})
	old := gitCmd(t, repo.work, "rev-parse", "HEAD")
	for i := 0; i < 5; i++ {
		repo.commit(map[string]string{"a.yaml": "a: " + string(rune('2'+i)) + "\n"}, "bump")
	}
	gitCmd(t, repo.bare, "config", "uploadpack.allowAnySHA1InWant", "true")
	srv := httptest.NewServer(gitHTTPHandler(t, root, "", "", nil))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab())
	ctx := ctxT(t)
	ch := channel("Git", srv.URL+"/fleet.git")

	a, err := store.Fetch(ctx, gitReq(ch, Ref{Branch: "main", Depth: 1}, Credentials{}))
	if err != nil {
		t.Fatalf("shallow fetch: %v", err)
	}
	if readFile(t, filepath.Join(a.Dir, "a.yaml")) != "a: 6\n" {
		t.Fatal("shallow fetch must hold the branch tip")
	}
	next := repo.commit(map[string]string{"a.yaml": "a: 7\n"}, "bump")
	a2, err := store.Fetch(ctx, gitReq(ch, Ref{Branch: "main", Depth: 1}, Credentials{}))
	if err != nil || a2.Commit != next {
		t.Fatalf("shallow incremental fetch: %v %v", a2, err)
	}
	_, err = store.Fetch(ctx, gitReq(ch, Ref{Commit: old, Depth: 2}, Credentials{}))
	if !IsNotFound(err) || !strings.Contains(err.Error(), "git-clone-depth") {
		t.Fatalf("commit beyond depth: err = %v", err)
	}
}

func TestGitSnapshotDropsEscapingSymlinks(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepo(t, root, "fleet", map[string]string{"dir/real.yaml": "x: 1\n"})
	for name, target := range map[string]string{
		"dir/inside.yaml": "real.yaml",
		"dir/up.yaml":     "../../../../etc/passwd",
		"abs.yaml":        "/etc/passwd",
		"dir/chain":       "../dir",
		"via-chain.yaml":  "dir/chain/../../../../etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(repo.work, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	repo.commit(nil, "links")
	srv := httptest.NewServer(gitHTTPHandler(t, root, "", "", nil))
	defer srv.Close()
	store := NewStore(t.TempDir(), testLogger(t), lab())
	a, err := store.Fetch(ctxT(t), gitReq(channel("Git", srv.URL+"/fleet.git"), Ref{}, Credentials{}))
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(a.Dir, "dir/inside.yaml")) != "x: 1\n" {
		t.Fatal("a link inside the repository must be kept")
	}
	for _, name := range []string{"dir/up.yaml", "abs.yaml", "via-chain.yaml"} {
		if _, err := os.Lstat(filepath.Join(a.Dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s escapes the snapshot and must be dropped (lstat err %v)", name, err)
		}
	}
}
