package lab

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Workload binaries, found next to kube-apiserver (hack/tools.sh kube kwok).
const (
	kubeControllerManager = "kube-controller-manager"
	kubeScheduler         = "kube-scheduler"
	kwokBinary            = "kwok"
)

// FakeNodeAnnotation marks the Nodes kwok simulates.
const FakeNodeAnnotation = "kwok.x-k8s.io/node"

// UnpullableImagePrefix starts the image references that never pull on a
// cluster with workloads: their containers wait in ErrImagePull, then
// ImagePullBackOff, as behind an unreachable registry.
const UnpullableImagePrefix = "registry.invalid/"

// DefaultNodes is how many fake nodes a cluster with workloads gets.
const DefaultNodes = 2

// stageFiles are kwok's Stages (pkg/lab/stages): nodes become Ready and keep
// their Lease, pods start and become Ready at once, Job pods complete,
// deleted pods go, and unpullable images wait.
//
//go:embed stages/*.yaml
var stageFiles embed.FS

// WorkloadOptions configure the part of a cluster that runs pods.
type WorkloadOptions struct {
	// Nodes is the number of fake nodes; DefaultNodes when 0.
	Nodes int
	// Dir receives the processes' kubeconfig, kwok's Stages and each
	// process's log (<name>.log). A temporary folder, removed by Stop, when
	// empty.
	Dir string
	// Timeout bounds the wait for the nodes to be Ready; 60s when 0.
	Timeout time.Duration
}

// workloads are the processes that make a control plane run pods.
type workloads struct {
	dir, tempDir string
	procs        []*process
}

// process is one running workload binary.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	// exited is closed when the process has exited; err is then its result.
	exited chan struct{}
	err    error
}

// StartWorkloads makes the control plane's cluster run pods: it starts
// kube-controller-manager, kube-scheduler and kwok (from the folder of the
// control plane's kube-apiserver) and creates fake Nodes that kwok keeps
// Ready. Pods are scheduled, start and become Ready within seconds,
// Deployments roll out and Jobs complete; containers whose image starts
// with UnpullableImagePrefix never start. It returns once the nodes are
// Ready; Stop stops the processes before the control plane.
func (c *ControlPlane) StartWorkloads(ctx context.Context, opts WorkloadOptions) (err error) {
	if c.workloads != nil {
		return fmt.Errorf("%s already runs workloads", c.Name)
	}
	if opts.Nodes <= 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	assets := c.env.BinaryAssetsDirectory
	for _, b := range []string{kubeControllerManager, kubeScheduler, kwokBinary} {
		if !isFile(filepath.Join(assets, b)) {
			return fmt.Errorf("%s not found in %s: run 'hack/tools.sh kube kwok' (or 'make tools') to build it", b, assets)
		}
	}
	w := &workloads{dir: opts.Dir}
	if w.dir == "" {
		if w.dir, err = os.MkdirTemp("", "ocm-gitops-workloads-"); err != nil {
			return err
		}
		w.tempDir = w.dir
	}
	defer func() {
		if err != nil {
			w.stop()
		}
	}()
	kubeconfig, stages, err := w.writeInputs(c.KubeConfig)
	if err != nil {
		return fmt.Errorf("workloads of %s: %w", c.Name, err)
	}
	for _, p := range workloadCommands(kubeconfig, stages) {
		if err := w.start(filepath.Join(assets, p[0]), p[1:], p[0] == kwokBinary); err != nil {
			return fmt.Errorf("workloads of %s: %w", c.Name, err)
		}
	}
	c.workloads = w
	if err := c.createFakeNodes(ctx, opts.Nodes); err != nil {
		c.workloads = nil
		return err
	}
	if err := w.waitNodesReady(ctx, c, opts.Nodes, opts.Timeout); err != nil {
		c.workloads = nil
		return err
	}
	return nil
}

// RunsWorkloads says whether StartWorkloads started the cluster's workload
// processes.
func (c *ControlPlane) RunsWorkloads() bool { return c.workloads != nil }

// PIDs returns the process ids of the control plane's processes by binary
// name: kube-apiserver, etcd and the workload processes, for measurements.
func (c *ControlPlane) PIDs() (map[string]int, error) {
	out := c.WorkloadPIDs()
	for name, arg := range map[string]string{"kube-apiserver": "--cert-dir=" + c.certDir, "etcd": "--data-dir=" + c.dataDir} {
		pid, err := childWithArg(arg)
		if err != nil {
			return nil, fmt.Errorf("%s of %s: %w", name, c.Name, err)
		}
		out[name] = pid
	}
	return out, nil
}

// WorkloadPIDs returns the process ids of the cluster's workload processes
// by binary name (none without workloads).
func (c *ControlPlane) WorkloadPIDs() map[string]int {
	out := map[string]int{}
	if c.workloads != nil {
		for _, p := range c.workloads.procs {
			out[p.name] = p.cmd.Process.Pid
		}
	}
	return out
}

// workloadCommands are the command lines of the workload processes, binary
// name first. The controller manager runs every controller but the CSR ones
// (the hub signs its clusters' certificates itself); nothing listens on a
// port, so any number of clusters run side by side.
func workloadCommands(kubeconfig, stages string) [][]string {
	return [][]string{
		{kubeControllerManager, "--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0",
			"--controllers=*,-csrsigning,-csrapproving,-csrcleaner", "--v=1"},
		{kubeScheduler, "--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0", "--v=1"},
		{kwokBinary, "--kubeconfig=" + kubeconfig, "--config=" + stages,
			"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=fake",
			"--node-ip=10.1.0.1", "--cidr=10.244.0.1/16", "--node-lease-duration-seconds=40"},
	}
}

// writeInputs writes the admin kubeconfig and kwok's Stages into w.dir.
func (w *workloads) writeInputs(kubeconfig []byte) (kc, stages string, err error) {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return "", "", err
	}
	kc = filepath.Join(w.dir, "kubeconfig")
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		return "", "", err
	}
	data, err := Stages()
	if err != nil {
		return "", "", err
	}
	stages = filepath.Join(w.dir, "kwok-stages.yaml")
	return kc, stages, os.WriteFile(stages, data, 0o644)
}

// Stages returns kwok's Stages for workload clusters as one YAML stream.
func Stages() ([]byte, error) {
	names, err := fs.Glob(stageFiles, "stages/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		data, err := stageFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return buf.Bytes(), nil
}

// start runs a workload binary with its output in <dir>/<name>.log. kwok
// gets the folder as its home, so no ~/.kwok configuration of the user's
// changes what it does.
func (w *workloads) start(path string, args []string, ownHome bool) error {
	name := filepath.Base(path)
	logPath := filepath.Join(w.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if ownHome {
		cmd.Env = append(os.Environ(), "HOME="+w.dir)
	}
	// The processes die with the program that started them, even when it is
	// killed: a test binary that times out leaves nothing behind. (The signal
	// follows the starting OS thread; Go ends threads only for goroutines that
	// exit locked to one, which nothing here does.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	w.procs = append(w.procs, p)
	return nil
}

// createFakeNodes creates n Nodes for kwok to simulate.
func (c *ControlPlane) createFakeNodes(ctx context.Context, n int) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-node%d", c.Name, i)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{FakeNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok",
			},
		}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create fake node %s on %s: %w", name, c.Name, err)
		}
	}
	return nil
}

// waitNodesReady waits until n fake nodes are Ready, failing early when a
// workload process exits.
func (w *workloads) waitNodesReady(ctx context.Context, c *ControlPlane, n int, timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	ready := 0
	for {
		if err := w.exitedEarly(); err != nil {
			return fmt.Errorf("workloads of %s: %w", c.Name, err)
		}
		if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			ready = countReady(nodes.Items)
			if ready >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workloads of %s: %d of %d fake nodes Ready after %s (kwok's log: %s)", c.Name, ready, n, timeout, filepath.Join(w.dir, kwokBinary+".log"))
		case <-tick.C:
		}
	}
}

// countReady counts the fake nodes whose Ready condition is True.
func countReady(nodes []corev1.Node) int {
	n := 0
	for _, node := range nodes {
		if node.Annotations[FakeNodeAnnotation] != "fake" {
			continue
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// exitedEarly returns an error naming the first workload process that has
// exited, with the end of its log.
func (w *workloads) exitedEarly() error {
	for _, p := range w.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, logTail(p.log, 5))
		default:
		}
	}
	return nil
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop ends the processes (SIGTERM, then SIGKILL after 10s) and removes a
// temporary folder.
func (w *workloads) stop() error {
	var errs []error
	for _, p := range w.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range w.procs {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			errs = append(errs, fmt.Errorf("%s did not stop within 10s of SIGTERM and was killed", p.name))
		}
	}
	if w.tempDir != "" {
		errs = append(errs, os.RemoveAll(w.tempDir))
	}
	return errors.Join(errs...)
}
