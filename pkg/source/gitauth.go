package source

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// gitTransport is how to reach one repository: auth, and for http(s) the
// round tripper with the Channel's TLS settings, the egress policy and
// response bounds, for go-git's fetch and list calls.
type gitTransport struct {
	url  string
	auth transport.AuthMethod
	rt   http.RoundTripper
}

// parseGitURL is the one reading of a Git Channel's pathname: trimmed and
// parsed exactly as go-git parses it when fetching, so checks on the result
// (local paths, protocols) hold for what is fetched.
func parseGitURL(pathname string) (string, *transport.Endpoint, error) {
	url := strings.TrimSpace(pathname)
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return url, nil, fail(KindInvalid, nil, "spec.pathname %q is not a Git URL; use https://, ssh://, git@host:path or file://", SanitizeURL(url))
	}
	return url, ep, nil
}

// newGitTransport builds the transport settings for the endpoint from the
// Channel's credentials: basic auth (user + accessToken or password) and
// client certificates for http(s), a private key and known_hosts for SSH.
// SSH hosts are checked against the egress policy before connecting, and
// the connected address again during the handshake.
func (g *gitFetcher) newGitTransport(ctx context.Context, url string, ep *transport.Endpoint, c Credentials, insecure bool) (*gitTransport, error) {
	t := &gitTransport{url: url}
	switch ep.Protocol {
	case "http", "https":
		tr, err := g.clients.transport(c, insecure)
		if err != nil {
			return nil, err
		}
		t.rt = bounded{tr, maxPackBytes}
		t.auth = basicAuthFor(ep, c)
	case "ssh":
		auth, err := g.sshAuth(ctx, url, ep, c, insecure)
		if err != nil {
			return nil, err
		}
		t.auth = auth
	case "file":
	default:
		return nil, fail(KindInvalid, nil, "spec.pathname %q uses protocol %q; use https://, ssh://, git@host:path or file://", SanitizeURL(url), ep.Protocol)
	}
	return t, nil
}

// basicAuthFor is the token (or password) of the Secret, else of the URL.
func basicAuthFor(ep *transport.Endpoint, c Credentials) transport.AuthMethod {
	token := cmp.Or(c.get(KeyAccessToken), c.get(KeyPassword), ep.Password)
	if token == "" {
		return nil
	}
	// Forges accept any user name with a token; git needs one.
	return &githttp.BasicAuth{Username: cmp.Or(c.get(KeyUser), ep.User, "git"), Password: token}
}

func (g *gitFetcher) sshAuth(ctx context.Context, url string, ep *transport.Endpoint, c Credentials, insecure bool) (transport.AuthMethod, error) {
	key := c.get(KeySSHKey)
	if key == "" {
		return nil, fail(KindAuth, nil, "%s is an SSH URL but the Channel has no sshKey; put the private key as sshKey in the Secret named by spec.secretRef", SanitizeURL(url))
	}
	if err := g.policy.CheckHost(ctx, ep.Host); err != nil {
		return nil, classifyGit(err, url)
	}
	signer, err := parseSSHKey([]byte(key+"\n"), c.get(KeyPassphrase))
	if err != nil {
		return nil, err
	}
	cb, algos, err := hostKeyCheck(ep, c, insecure, g.dir)
	if err != nil {
		return nil, err
	}
	policy := g.policy
	return &gitssh.PublicKeys{
		User:   cmp.Or(ep.User, c.get(KeyUser), "git"),
		Signer: signer,
		// The name was checked before dialing; the address connected to
		// (which DNS may have changed since) is checked here, before the
		// key exchange completes and before any credential is offered.
		HostKeyCallback: func(host string, remote net.Addr, k ssh.PublicKey) error {
			if err := policy.CheckAddr(remote); err != nil {
				return err
			}
			return cb(host, remote, k)
		},
		HostKeyAlgorithms: algos,
	}, nil
}

// parseSSHKey decodes the private key, decrypting it with the passphrase
// when it is encrypted.
func parseSSHKey(pemBytes []byte, passphrase string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fail(KindAuth, nil, "sshKey is encrypted; add its passphrase as key %s in the Channel's secretRef", KeyPassphrase)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, []byte(passphrase))
		if err != nil {
			return nil, fail(KindAuth, nil, "%s in the Channel's secretRef does not decrypt sshKey", KeyPassphrase)
		}
	}
	if err != nil {
		return nil, fail(KindAuth, nil, "sshKey in the Channel's secretRef is not a usable private key (PEM or OpenSSH format)")
	}
	return signer, nil
}

// hostKeyCheck verifies SSH servers against the Channel's sshKnownHosts (or
// known_hosts) key, else the hub's own known_hosts files; it accepts any host
// key only when the Channel sets insecureSkipVerify.
func hostKeyCheck(ep *transport.Endpoint, c Credentials, insecure bool, dir string) (ssh.HostKeyCallback, []string, error) {
	if insecure {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	port := ep.Port
	if port <= 0 {
		port = 22
	}
	hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	known := cmp.Or(c.get(KeyKnownHosts), c.get(keyKnownHostsAlt))
	var files []string
	if known != "" {
		f, err := writeKnownHosts(dir, known)
		if err != nil {
			return nil, nil, err
		}
		files = []string{f}
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		return nil, nil, fail(KindAuth, nil, "no known_hosts to verify %s against; add the server's host key (ssh-keyscan -p %d %s) as key %s in the Channel's secretRef, or set spec.insecureSkipVerify",
			ep.Host, port, ep.Host, KeyKnownHosts)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostPort), nil
}

// writeKnownHosts stores known_hosts text in a content-addressed file, since
// the knownhosts parser reads files.
func writeKnownHosts(dir, content string) (string, error) {
	sum := sha256.Sum256([]byte(content))
	path := filepath.Join(dir, "known_hosts", hex.EncodeToString(sum[:12]))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	for i, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(line)); err != nil {
			return "", fail(KindInvalid, nil, "line %d of %s in the Channel's secretRef is not a known_hosts line (host key-type base64-key)", i+1, KeyKnownHosts)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content+"\n"), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// trustFailure recognizes TLS and SSH host verification failures.
func trustFailure(err error) (bool, string) {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var keyErr *knownhosts.KeyError
	msg := err.Error()
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify), errors.As(err, &invalid),
		strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return true, "TLS certificate not trusted; add the CA bundle as caCerts in the Channel's configMapRef, or set spec.insecureSkipVerify"
	case errors.As(err, &hostname):
		return true, "TLS certificate does not match the host name; fix spec.pathname or the server certificate"
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0, strings.Contains(msg, "knownhosts: key mismatch"):
		return true, "SSH host key does not match sshKnownHosts; the server key changed or someone is in between, so verify it and update sshKnownHosts"
	case errors.As(err, &keyErr), strings.Contains(msg, "knownhosts: key is unknown"):
		return true, "SSH host key is not in sshKnownHosts; add the server's key (ssh-keyscan) to the Channel's secretRef, or set spec.insecureSkipVerify"
	case strings.Contains(msg, "tls: failed to verify certificate"):
		return true, "TLS certificate not trusted; add the CA bundle as caCerts in the Channel's configMapRef, or set spec.insecureSkipVerify"
	case strings.Contains(msg, "tls: certificate required") || strings.Contains(msg, "bad certificate"):
		return true, "the server requires a client certificate; put clientCert and clientKey in the Channel's secretRef"
	}
	return false, ""
}
