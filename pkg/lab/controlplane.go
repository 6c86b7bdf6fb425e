// Package lab starts real Kubernetes control planes (etcd and kube-apiserver,
// built from source by hack/tools.sh) for the lab and for tests, and wires the
// hub controllers and klusterlets onto them.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	// dataDir holds etcd's data and certDir the apiserver's serving
	// certificates; both are ours (not envtest's temporary folders), so they
	// survive Restart and go in Stop.
	dataDir, certDir string
	// workloads run when StartWorkloads was called.
	workloads *workloads
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
	dataDir, err := os.MkdirTemp("", "ocm-gitops-etcd-")
	if err != nil {
		return nil, err
	}
	certDir, err := os.MkdirTemp("", "ocm-gitops-apiserver-")
	if err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, err
	}
	env := &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			Etcd: &envtest.Etcd{DataDir: dataDir},
			APIServer: &envtest.APIServer{
				CertDir:       certDir,
				SecureServing: envtest.SecureServing{Authn: ca},
			},
		},
		BinaryAssetsDirectory:    assetsDir,
		CRDInstallOptions:        envtest.CRDInstallOptions{CRDs: list},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(dataDir)
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("start control plane %q with binaries from %s: %w", name, assetsDir, err)
	}
	cfg.QPS, cfg.Burst = -1, -1 // test and lab clients are not to be throttled
	return &ControlPlane{Name: name, Config: cfg, KubeConfig: env.KubeConfig, ClientCA: ca, env: env, dataDir: dataDir, certDir: certDir}, nil
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
	var werr error
	if c.workloads != nil {
		werr = c.workloads.stop()
		c.workloads = nil
	}
	err := errors.Join(werr, c.env.Stop())
	for _, dir := range []string{c.dataDir, c.certDir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	return err
}

// StopServers kills kube-apiserver and etcd (SIGKILL, as a crash or a lost
// node would) and keeps etcd's data and the serving certificates for
// StartServers. Clients see connections refused meanwhile. It finds the
// processes through /proc, so it works on Linux only.
func (c *ControlPlane) StopServers() error {
	// Each process is found by an argument naming a folder of this control
	// plane: processes of other control planes are never touched.
	for _, p := range []struct{ name, arg string }{
		{"kube-apiserver", "--cert-dir=" + c.certDir},
		{"etcd", "--data-dir=" + c.dataDir},
	} {
		if err := killChild(p.arg, 10*time.Second); err != nil {
			return fmt.Errorf("stop %s of %s: %w", p.name, c.Name, err)
		}
	}
	return nil
}

// killChild kills the process of this program's children whose command line
// holds arg, and waits until it is reaped.
func killChild(arg string, timeout time.Duration) error {
	pid, err := childWithArg(arg)
	if err != nil {
		return err
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill process %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// envtest's own goroutine waits for the process and reaps it.
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %d still there %s after SIGKILL", pid, timeout)
}

// childWithArg finds the child process whose command line holds arg.
func childWithArg(arg string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat is "pid (comm) state ppid ...", and comm may hold spaces.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range bytes.Split(cmdline, []byte{0}) {
			if string(a) == arg {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no child process runs with %s", arg)
}

// StartServers starts etcd and kube-apiserver again after StopServers, on
// the same addresses, with the same data and certificates: Config and
// KubeConfig stay valid.
func (c *ControlPlane) StartServers() error {
	cp := &c.env.ControlPlane
	if err := cp.Etcd.Start(); err != nil {
		return fmt.Errorf("restart etcd of %s: %w", c.Name, err)
	}
	if err := cp.APIServer.Start(); err != nil {
		return fmt.Errorf("restart kube-apiserver of %s: %w", c.Name, err)
	}
	return nil
}

// Restart is StopServers then StartServers.
func (c *ControlPlane) Restart() error {
	if err := c.StopServers(); err != nil {
		return err
	}
	return c.StartServers()
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
