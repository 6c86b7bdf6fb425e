// Package lab starts real Kubernetes control planes (etcd and kube-apiserver,
// built from source by hack/tools.sh) for the lab and for tests, and wires the
// hub controllers and klusterlets onto them.
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ocm-gitops/ocm-gitops/deploy/crds"
)

// ControlPlane is one running etcd + kube-apiserver pair.
type ControlPlane struct {
	Name string
	// Config is an admin client configuration.
	Config *rest.Config
	// KubeConfig is Config as a kubeconfig file's contents.
	KubeConfig []byte
	// ClientCA is the CA the apiserver trusts for client certificates; a
	// hub-side CSR signer signs with it.
	ClientCA *ClientCA

	env *envtest.Environment
}

// Role says which CRDs a control plane gets.
type Role int

// Control plane roles.
const (
	RoleHub Role = iota
	RoleManaged
)

// StartControlPlane starts etcd and kube-apiserver from assetsDir and installs
// the CRDs for the role. Stop it with Stop.
func StartControlPlane(ctx context.Context, name string, role Role, assetsDir string) (*ControlPlane, error) {
	var (
		list []*apiextensionsv1.CustomResourceDefinition
		err  error
	)
	if role == RoleHub {
		list, err = crds.Hub()
	} else {
		list, err = crds.Managed()
	}
	if err != nil {
		return nil, fmt.Errorf("load CRDs: %w", err)
	}
	ca, err := newClientCA()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		ControlPlane: envtest.ControlPlane{APIServer: &envtest.APIServer{
			SecureServing: envtest.SecureServing{Authn: ca},
		}},
		BinaryAssetsDirectory:    assetsDir,
		CRDInstallOptions:        envtest.CRDInstallOptions{CRDs: list},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane %q with binaries from %s: %w", name, assetsDir, err)
	}
	cfg.QPS, cfg.Burst = -1, -1 // test and lab clients are not to be throttled
	return &ControlPlane{Name: name, Config: cfg, KubeConfig: env.KubeConfig, ClientCA: ca, env: env}, nil
}

// UserConfig returns a client configuration authenticating as user name in
// groups, with a client certificate from the control plane's ClientCA.
func (c *ControlPlane) UserConfig(name string, groups ...string) (*rest.Config, error) {
	return c.ClientCA.AddUser(envtest.User{Name: name, Groups: groups}, c.Config)
}

// Stop shuts the control plane down and removes its data.
func (c *ControlPlane) Stop() error {
	if c == nil || c.env == nil {
		return nil
	}
	return c.env.Stop()
}

// WriteKubeconfig writes an admin kubeconfig for the control plane to path.
func (c *ControlPlane) WriteKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, c.KubeConfig, 0o600)
}

// FindAssets locates the directory holding kube-apiserver and etcd: the given
// directory, else $KUBEBUILDER_ASSETS, else bin/k8s in this checkout (found by
// walking up from the working directory to go.mod).
func FindAssets(dir string) (string, error) {
	var candidates []string
	if dir != "" {
		candidates = append(candidates, dir)
	}
	if env := os.Getenv("KUBEBUILDER_ASSETS"); env != "" {
		candidates = append(candidates, env)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(d, "bin", "k8s"))
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if isFile(filepath.Join(c, "kube-apiserver")) && isFile(filepath.Join(c, "etcd")) {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("kube-apiserver and etcd not found (looked in --assets, $KUBEBUILDER_ASSETS and bin/k8s): run 'hack/tools.sh' or 'make tools' to build them")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
