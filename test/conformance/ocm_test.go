// Package conformance_test proves, against Open Cluster Management's own
// binaries (placement controller and work agent of
// open-cluster-management.io/ocm, built by hack/tools.sh ocm), what the
// README's compatibility table says: our placement controller decides as
// OCM's does, OCM's work agent applies the works our hub writes, our agent
// treats OCM-written works as OCM's does, and OCM's example Subscriptions
// deploy. Every known difference is named where a test excludes it.
package conformance_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ocm-gitops/ocm-gitops/test/harness/syncbuf"
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// needOCM returns the path of OCM's binary name ("placement" or "work") in
// bin/ of this checkout, or fails saying how to build it. The suite needs a
// control plane: it is skipped in -short.
func needOCM(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs control planes and OCM's binaries; skipped in -short")
	}
	if p := filepath.Join(moduleRoot(t), "bin", name); isExecutable(p) {
		return p
	}
	t.Fatalf("OCM's %s binary is not in bin/: run 'hack/tools.sh ocm' (or 'make tools-ocm'; about 4 minutes the first time, cached after)", name)
	return ""
}

// moduleRoot is the folder of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatalf("no go.mod above %s", wd)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freeAddr returns 127.0.0.1:PORT with a port free a moment ago. OCM's
// binaries bind 0.0.0.0:8443 unless given --listen.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// process is one of OCM's binaries running for a test.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan error
}

// startOCM starts bin with args; it is killed when the test ends, and its
// output is shown if the test failed (or with OCM_GITOPS_TEST_LOG set).
func startOCM(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: filepath.Base(bin) + " " + args[0], log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not exit after kill", p.name)
		}
		if t.Failed() || os.Getenv("OCM_GITOPS_TEST_LOG") != "" {
			t.Logf("output of %s (last 8 KiB):\n%s", p.name, p.log.Tail(8<<10))
		}
	})
	return p
}

// alive fails the test when the process has exited.
func (p *process) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s exited (%v):\n%s", p.name, err, p.log.Tail(4<<10))
	default:
	}
}

// writeFile writes data to a new file in the test's folder and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// errNotYet is a poll check that has not converged.
var errNotYet = errors.New("not yet")
