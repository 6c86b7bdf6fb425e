package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// gitCmd runs the git CLI with a fixed identity and no user configuration.
func gitCmd(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// testRepo is a bare repository served to the fetcher plus a working clone
// to commit from.
type testRepo struct {
	t    testing.TB
	root string // holds <name>.git
	name string
	bare string
	work string
}

// newTestRepo creates root/<name>.git with one commit on main holding files.
func newTestRepo(t testing.TB, root, name string, files map[string]string) *testRepo {
	t.Helper()
	r := &testRepo{t: t, root: root, name: name + ".git", bare: filepath.Join(root, name+".git"), work: t.TempDir()}
	if err := os.MkdirAll(r.bare, 0o755); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, r.bare, "init", "--quiet", "--bare", "--initial-branch=main")
	gitCmd(t, r.work, "init", "--quiet", "--initial-branch=main")
	gitCmd(t, r.work, "remote", "add", "origin", r.bare)
	r.commit(files, "initial")
	return r
}

// commit writes files (empty content deletes), commits and pushes to the
// current branch; it returns the commit.
func (r *testRepo) commit(files map[string]string, msg string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.work, filepath.FromSlash(name))
		if content == "" {
			_ = os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	gitCmd(r.t, r.work, "add", "--all")
	gitCmd(r.t, r.work, "commit", "--quiet", "--allow-empty", "-m", msg)
	branch := gitCmd(r.t, r.work, "rev-parse", "--abbrev-ref", "HEAD")
	gitCmd(r.t, r.work, "push", "--quiet", "--force", "origin", branch)
	return gitCmd(r.t, r.work, "rev-parse", "HEAD")
}

func (r *testRepo) checkout(branch string, create bool) {
	r.t.Helper()
	if create {
		gitCmd(r.t, r.work, "checkout", "--quiet", "-b", branch)
	} else {
		gitCmd(r.t, r.work, "checkout", "--quiet", branch)
	}
}

func (r *testRepo) tag(name string, annotated bool) {
	r.t.Helper()
	if annotated {
		gitCmd(r.t, r.work, "tag", "-a", "-m", "release "+name, name)
	} else {
		gitCmd(r.t, r.work, "tag", name)
	}
	gitCmd(r.t, r.work, "push", "--quiet", "origin", "refs/tags/"+name)
}

// gitHTTPHandler serves repositories under root with git http-backend (the
// git CLI's own smart-HTTP server), optionally behind basic auth.
func gitHTTPHandler(t testing.TB, root, user, pass string, requests *int64) http.Handler {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git CLI needed: %v", err)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if requests != nil {
			mu.Lock()
			*requests++
			mu.Unlock()
		}
		if user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, req)
	})
}

func channel(typ appsv1.ChannelType, pathname string) *appsv1.Channel {
	return &appsv1.Channel{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ch"},
		Spec:       appsv1.ChannelSpec{Type: typ, Pathname: pathname},
	}
}

func testLogger(t testing.TB) logr.Logger {
	if tt, ok := t.(*testing.T); ok {
		return testr.NewWithOptions(tt, testr.Options{Verbosity: 1})
	}
	return logr.Discard()
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testCA is a certificate authority for TLS servers and client certificates.
type testCA struct {
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	certPEM []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a certificate for a server on 127.0.0.1 or for a client.
func (ca *testCA) issue(t testing.TB, name string, server bool) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// startTLS serves h over TLS with a certificate from ca; with clientCA set it
// requires client certificates signed by it.
func startTLS(t testing.TB, ca *testCA, h http.Handler, clientCA *testCA) *httptest.Server {
	t.Helper()
	_, _, pair := ca.issue(t, "127.0.0.1", true)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.cert)
		srv.TLS.ClientCAs = pool
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// sshGitServer runs an SSH server on 127.0.0.1 that accepts one user key and
// serves git-upload-pack for repositories under root: the real Git protocol
// over a real SSH transport.
type sshGitServer struct {
	addr        string
	hostKeyLine string // known_hosts line for the server
	userKeyPEM  []byte // the client's private key (encrypted when passphrase set)
}

func startSSHGitServer(t testing.TB, root, passphrase string) *sshGitServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	userPub, userPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(userPriv, "test", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(userPriv, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := ssh.NewPublicKey(userPub)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(allowed.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go serveSSHConn(conn, cfg, root)
		}
	}()
	addr := l.Addr().(*net.TCPAddr)
	line := fmt.Sprintf("[127.0.0.1]:%d %s", addr.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))))
	return &sshGitServer{addr: addr.String(), hostKeyLine: line, userKeyPEM: pem.EncodeToMemory(block)}
}

func serveSSHConn(conn net.Conn, cfg *ssh.ServerConfig, root string) {
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range requests {
				if req.Type != "exec" {
					_ = req.Reply(false, nil)
					continue
				}
				var payload struct{ Command string }
				_ = ssh.Unmarshal(req.Payload, &payload)
				fields := strings.SplitN(payload.Command, " ", 2)
				if len(fields) != 2 || fields[0] != "git-upload-pack" {
					_ = req.Reply(false, nil)
					return
				}
				repo := filepath.Join(root, filepath.Clean("/"+strings.Trim(fields[1], "'\"")))
				_ = req.Reply(true, nil)
				cmd := exec.Command("git-upload-pack", repo)
				cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
				cmd.Stdout, cmd.Stderr = ch, io.Discard
				stdin, err := cmd.StdinPipe()
				status := uint32(1)
				if err == nil && cmd.Start() == nil {
					go func() { _, _ = io.Copy(stdin, ch); _ = stdin.Close() }()
					if cmd.Wait() == nil {
						status = 0
					}
				}
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				return
			}
		}()
	}
}
