package source

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
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

// gitTransport is how to reach one repository: auth and TLS settings for
// go-git's fetch and list calls.
type gitTransport struct {
	url        string
	auth       transport.AuthMethod
	caBundle   []byte
	clientCert []byte
	clientKey  []byte
	insecure   bool
}

// newGitTransport builds the transport settings for url from the Channel's
// credentials: basic auth (user + accessToken or password) and client
// certificates for http(s), a private key and known_hosts for SSH.
func newGitTransport(url string, c Credentials, insecure bool, dir string) (*gitTransport, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fail(KindInvalid, nil, "spec.pathname %q is not a Git URL; use https://, ssh://, git@host:path or file://", SanitizeURL(url))
	}
	t := &gitTransport{url: url, insecure: insecure}
	switch ep.Protocol {
	case "http", "https":
		t.caBundle = c.CACerts
		if cert, key := c.get(KeyClientCert), c.get(KeyClientKey); cert != "" {
			if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
				return nil, fail(KindInvalid, nil, "secretRef keys %s/%s do not hold a PEM certificate and its key", KeyClientCert, KeyClientKey)
			}
			t.clientCert, t.clientKey = []byte(cert), []byte(key)
		}
		if len(t.caBundle) > 0 {
			if ok := x509.NewCertPool().AppendCertsFromPEM(t.caBundle); !ok {
				return nil, fail(KindInvalid, nil, "caCerts holds no PEM certificate; put the CA bundle in PEM form in the configMapRef (or secretRef) key caCerts")
			}
		}
		token := firstNonEmpty(c.get(KeyAccessToken), c.get(KeyPassword))
		user := c.get(KeyUser)
		if user == "" && ep.User != "" {
			user = ep.User
		}
		if token == "" && ep.Password != "" {
			token = ep.Password
		}
		if token != "" {
			if user == "" {
				// Forges accept any user name with a token; git needs one.
				user = "git"
			}
			t.auth = &githttp.BasicAuth{Username: user, Password: token}
		}
	case "ssh":
		key := c.get(KeySSHKey)
		if key == "" {
			return nil, fail(KindAuth, nil, "%s is an SSH URL but the Channel has no sshKey; put the private key as sshKey in the Secret named by spec.secretRef", SanitizeURL(url))
		}
		user := firstNonEmpty(ep.User, c.get(KeyUser), "git")
		signer, err := parseSSHKey([]byte(key+"\n"), c.get(KeyPassphrase))
		if err != nil {
			return nil, err
		}
		pk := &gitssh.PublicKeys{User: user, Signer: signer}
		cb, algos, err := hostKeyCheck(ep, c, insecure, dir)
		if err != nil {
			return nil, err
		}
		pk.HostKeyCallback = cb
		pk.HostKeyAlgorithms = algos
		t.auth = pk
	case "file":
	default:
		return nil, fail(KindInvalid, nil, "spec.pathname %q uses protocol %q; use https://, ssh://, git@host:path or file://", SanitizeURL(url), ep.Protocol)
	}
	return t, nil
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
	known := firstNonEmpty(c.get(KeyKnownHosts), c.get(keyKnownHostsAlt))
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
