package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the hub child serves profiles
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
)

// The client limits `ocm-gitops hub` uses unless told otherwise
// (cmd/ocm-gitops/common.go); the hub child uses the same so the figures are
// those of a default hub.
const (
	defaultHubQPS   = 2000
	defaultHubBurst = 4000
)

// runHubChild is the `hub` command: the hub controllers as `ocm-gitops hub`
// runs them, plus a pprof endpoint. The fleet command starts it as a child
// process so the hub's memory and CPU are its own.
func runHubChild(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kubeconfig, metricsAddr, healthAddr, pprofAddr, cacheDir, controllers string
		qps                                                                   float64
		burst                                                                 int
	)
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the hub")
	fs.Float64Var(&qps, "kube-api-qps", defaultHubQPS, "client requests per second (negative: unlimited)")
	fs.IntVar(&burst, "kube-api-burst", defaultHubBurst, "client request burst")
	fs.StringVar(&metricsAddr, "metrics-addr", "0", "Prometheus metrics address")
	fs.StringVar(&healthAddr, "health-addr", "0", "/healthz and /readyz address")
	fs.StringVar(&pprofAddr, "pprof-addr", "", "net/http/pprof address (\"\": off)")
	fs.StringVar(&cacheDir, "cache-dir", "", "Git and artifact cache folder")
	fs.StringVar(&controllers, "controllers", "", "controllers to run (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	if pprofAddr != "" {
		l, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof-addr %s: %w", pprofAddr, err)
		}
		go func() { _ = http.Serve(l, http.DefaultServeMux) }()
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctrl.SetLogger(log)
	opts := hub.Options{MetricsAddr: metricsAddr, HealthAddr: healthAddr, CacheDir: cacheDir, Logger: log, AllowNetworks: egress.Loopback()}
	if controllers != "" {
		opts.Controllers = strings.Split(controllers, ",")
	}
	return hub.Run(ctx, cfg, opts)
}

// hubProcess is a hub running as a child process: this program's `hub`
// command, or a real `ocm-gitops` binary.
type hubProcess struct {
	cmd        *exec.Cmd
	metricsURL string
	pprofURL   string // "" for an ocm-gitops binary
	done       chan error
}

// startHubProcess starts the hub against the kubeconfig and waits until it is ready.
func startHubProcess(ctx context.Context, binary, kubeconfig, dir string, qps float64, burst int, log io.Writer) (*hubProcess, error) {
	addrs, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	metrics, health, pprof := addrs[0], addrs[1], addrs[2]
	common := []string{"--kubeconfig", kubeconfig, "--metrics-addr", metrics, "--health-addr", health,
		"--cache-dir", filepath.Join(dir, "hub-cache")}
	if qps != 0 {
		common = append(common, fmt.Sprintf("--kube-api-qps=%g", qps), fmt.Sprintf("--kube-api-burst=%d", burst))
	}
	h := &hubProcess{metricsURL: "http://" + metrics + "/metrics", done: make(chan error, 1)}
	if binary == "" || binary == "self" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		h.cmd = exec.Command(self, append([]string{"hub", "--pprof-addr", pprof}, common...)...)
		h.pprofURL = "http://" + pprof + "/debug/pprof"
	} else {
		h.cmd = exec.Command(binary, append([]string{"hub", "--log-level", "error"}, common...)...)
	}
	h.cmd.Stdout, h.cmd.Stderr = log, log
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hub %s: %w", h.cmd.Path, err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h, nil
			}
		}
		select {
		case err := <-h.done:
			return nil, fmt.Errorf("hub exited before it was ready: %v", err)
		case <-ctx.Done():
			h.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, errors.New("hub not ready within 60s")
		}
	}
}

func (h *hubProcess) pid() int { return h.cmd.Process.Pid }

// stop ends the hub with SIGTERM, then SIGKILL after 20 s.
func (h *hubProcess) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

// profile saves a pprof profile of the hub child to path (self mode only).
func (h *hubProcess) profile(ctx context.Context, name, query, path string) error {
	if h.pprofURL == "" {
		return nil
	}
	return download(ctx, http.DefaultClient, h.pprofURL+"/"+name+query, path)
}

func download(ctx context.Context, c *http.Client, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("get %s: %s: %s", url, resp.Status, body)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func freeAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
