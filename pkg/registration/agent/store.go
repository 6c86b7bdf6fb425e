package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// Credentials are a hub kubeconfig issued to the agent: the hub's address and
// CA, and the agent's client certificate and key.
type Credentials struct {
	Server   string
	CAData   []byte
	CertData []byte
	KeyData  []byte
}

// Kubeconfig renders the credentials as a kubeconfig file.
func (c *Credentials) Kubeconfig(cluster string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["hub"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData}
	cfg.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: cluster}
	cfg.CurrentContext = "hub"
	return clientcmd.Write(*cfg)
}

// ParseKubeconfig reads credentials from a kubeconfig with embedded data.
func ParseKubeconfig(data []byte) (*Credentials, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("parse hub kubeconfig: %w", err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		return nil, errors.New("hub kubeconfig has no current context")
	}
	cl, ai := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cl == nil || ai == nil {
		return nil, errors.New("hub kubeconfig's current context names a missing cluster or user")
	}
	c := &Credentials{Server: cl.Server, CAData: cl.CertificateAuthorityData, CertData: ai.ClientCertificateData, KeyData: ai.ClientKeyData}
	if len(c.CAData) == 0 && cl.CertificateAuthority != "" {
		if c.CAData, err = os.ReadFile(cl.CertificateAuthority); err != nil {
			return nil, fmt.Errorf("read hub CA: %w", err)
		}
	}
	if len(c.CertData) == 0 && ai.ClientCertificate != "" {
		if c.CertData, err = os.ReadFile(ai.ClientCertificate); err != nil {
			return nil, fmt.Errorf("read client certificate: %w", err)
		}
	}
	if len(c.KeyData) == 0 && ai.ClientKey != "" {
		if c.KeyData, err = os.ReadFile(ai.ClientKey); err != nil {
			return nil, fmt.Errorf("read client key: %w", err)
		}
	}
	return c, nil
}

// Store keeps the issued hub kubeconfig across restarts.
type Store interface {
	// Load returns the stored kubeconfig, or nil when there is none.
	Load(ctx context.Context) ([]byte, error)
	// Save replaces the stored kubeconfig.
	Save(ctx context.Context, kubeconfig []byte) error
	// String names the store in messages.
	String() string
}

// FileStore keeps the kubeconfig in a file, written atomically.
type FileStore struct{ Path string }

func (s FileStore) String() string { return "file " + s.Path }

// Load reads the file; a missing file is no kubeconfig.
func (s FileStore) Load(context.Context) ([]byte, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// Save writes the file through a temporary file and a rename.
func (s FileStore) Save(_ context.Context, kubeconfig []byte) error {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return err
	}
	tmp := s.Path + ".tmp"
	if err := os.WriteFile(tmp, kubeconfig, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.Path)
}

// SecretStore keeps the kubeconfig in a Secret on the managed cluster, under
// "kubeconfig" (with the certificate and key also under tls.crt and tls.key).
type SecretStore struct {
	Client          kubernetes.Interface
	Namespace, Name string
}

func (s SecretStore) String() string { return "Secret " + s.Namespace + "/" + s.Name }

// Load reads the Secret; a missing Secret is no kubeconfig.
func (s SecretStore) Load(ctx context.Context) ([]byte, error) {
	sec, err := s.Client.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return sec.Data["kubeconfig"], nil
}

// Save creates or updates the Secret (and its namespace).
func (s SecretStore) Save(ctx context.Context, kubeconfig []byte) error {
	data := map[string][]byte{"kubeconfig": kubeconfig}
	if c, err := ParseKubeconfig(kubeconfig); err == nil {
		data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey] = c.CertData, c.KeyData
	}
	secrets := s.Client.CoreV1().Secrets(s.Namespace)
	cur, err := secrets.Get(ctx, s.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace}, Data: data}
		_, err = secrets.Create(ctx, sec, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) { // the namespace is missing
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}
			if _, err := s.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create namespace %s for the hub kubeconfig: %w", s.Namespace, err)
			}
			_, err = secrets.Create(ctx, sec, metav1.CreateOptions{})
		}
		return err
	case err != nil:
		return err
	}
	cur.Data = data
	_, err = secrets.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// IdentityCluster returns the cluster whose agent identity a kubeconfig's
// client certificate carries, or "" when it carries none.
func IdentityCluster(kubeconfig []byte) string {
	c, err := ParseKubeconfig(kubeconfig)
	if err != nil || len(c.CertData) == 0 {
		return ""
	}
	_, _, cert, err := certValidity(c.CertData)
	if err != nil {
		return ""
	}
	cluster, _, ok := registration.ParseAgentUser(cert.Subject.CommonName)
	if !ok {
		return ""
	}
	return cluster
}
