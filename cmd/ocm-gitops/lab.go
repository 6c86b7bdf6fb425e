package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
)

// labReconcileTimeout bounds the wait for the example fleet at start-up.
const labReconcileTimeout = 3 * time.Minute

// labUpCommand holds the flags of 'ocm-gitops lab up'.
type labUpCommand struct {
	opts    lab.Options
	logs    logFlags
	logFile string
	root    string
	uiAddr  string
}

func newLabCommand() *cobra.Command {
	return newParentCommand("lab", "Start a hub and managed clusters on local control planes", newLabUpCommand())
}

func newLabUpCommand() *cobra.Command {
	u := &labUpCommand{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a hub and managed clusters (and the example fleet) until interrupted",
		Long: `Starts a hub and managed clusters on local control planes (etcd and kube-apiserver
each; with --workloads also kube-controller-manager, kube-scheduler and kwok so pods
run), the hub controllers and an agent per cluster, and a local Git server. With
--example it serves fleet-repo-example, applies channels/ and subscriptions/ and
waits for the example fleet. It serves the dashboard (--ui-addr) and prints the fleet
whenever it changes, until Ctrl-C stops everything it started.`,
		Example: "  ocm-gitops lab up --clusters 3 --dir .lab --example",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return u.run(cmd) },
	}
	fs, opts := cmd.Flags(), &u.opts
	fs.IntVar(&opts.Clusters, "clusters", 3, "number of managed clusters")
	fs.StringVar(&opts.Dir, "dir", ".lab", "folder for kubeconfigs, the log, the Git server's repositories and caches")
	fs.StringVar(&opts.AssetsDir, "assets", "", "folder with kube-apiserver and etcd (default: $KUBEBUILDER_ASSETS or bin/k8s)")
	fs.StringVar(&opts.GitAddr, "git-addr", lab.DefaultGitAddr, "address of the lab's Git server")
	fs.StringVar(&opts.HelmAddr, "helm-addr", "", "address of the lab's Helm repository (default "+lab.DefaultHelmAddr+" with the default --git-addr, else a free port)")
	fs.BoolVar(&opts.Example, "example", false, "serve fleet-repo-example (and its Helm charts) and apply channels/ and subscriptions/")
	fs.BoolVar(&opts.Workloads, "workloads", true, "make each managed cluster run pods: kube-controller-manager, kube-scheduler and kwok with fake nodes (--workloads=false: API servers only)")
	fs.IntVar(&opts.Nodes, "nodes", lab.DefaultNodes, "fake nodes per managed cluster with --workloads")
	fs.StringVar(&u.root, "repo-root", ".", "checkout holding fleet-repo-example/, channels/ and subscriptions/")
	fs.StringVar(&u.uiAddr, "ui-addr", "127.0.0.1:8090", "address of the dashboard ('ocm-gitops ui') the lab serves; empty: none")
	fs.StringVar(&u.logFile, "log-file", "", "where the components log (default: lab.log in --dir; - for stderr)")
	u.logs.register(fs, "info")
	return cmd
}

func (u *labUpCommand) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	opts, logs, logFile, root := u.opts, u.logs, u.logFile, u.root
	if opts.Clusters < 1 {
		return usageErrorf("--clusters must be at least 1, got %d", opts.Clusters)
	}
	if opts.Example {
		opts.ExampleDir = filepath.Join(root, "fleet-repo-example")
		opts.ApplyDirs = []string{filepath.Join(root, "channels"), filepath.Join(root, "subscriptions")}
		if _, err := os.Stat(opts.ExampleDir); err != nil {
			return usageErrorf("--example needs %s: run from the repository root or pass --repo-root", opts.ExampleDir)
		}
	}
	if logFile == "" {
		logFile = filepath.Join(opts.Dir, "lab.log")
	}
	logOut := stderr
	if logFile != "-" {
		if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return usageErrorf("--log-file %s: %v", logFile, err)
		}
		defer f.Close()
		logOut = f
	}
	log, err := logs.logger(logOut)
	if err != nil {
		return err
	}
	// The terminal shows progress and the fleet table; every component,
	// client-go included, logs to the file.
	ctrl.SetLogger(log)
	klog.SetLogger(log)
	opts.Logger = log
	opts.Progress = stdout

	// A closed terminal or a reader that went away (lab up | head) must stop
	// the lab like Ctrl-C does, not kill it and orphan its control planes.
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGPIPE)
	defer stopSignals()

	started := time.Now()
	clusters := "1 managed cluster"
	if opts.Clusters != 1 {
		clusters = fmt.Sprintf("%d managed clusters", opts.Clusters)
	}
	fmt.Fprintf(stdout, "ocm-gitops lab: a hub and %s on local control planes (logs: %s)\n", clusters, relPath(logFile))
	l, err := lab.Start(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "\ninterrupted; everything started was stopped")
			return nil
		}
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "\nstopping the lab...")
		if err := l.Stop(); err != nil {
			fmt.Fprintf(stderr, "lab stopped with errors: %v\n", err)
		} else {
			fmt.Fprintln(stdout, "stopped; nothing left running")
		}
	}()
	if opts.Example {
		if err := waitExample(ctx, stdout, l, started); err != nil {
			return err
		}
	}
	dashboardURL := u.startDashboard(ctx, l, stderr, log)
	printLabSummary(stdout, l, labPaths{root: root, logFile: logFile, dashboard: dashboardURL}, time.Since(started))
	return watchFleet(ctx, stdout, l)
}

// startDashboard serves the dashboard on --ui-addr until ctx ends and
// returns its URL; a dashboard that cannot start is reported, and the lab
// runs on without it.
func (u *labUpCommand) startDashboard(ctx context.Context, l *lab.Lab, stderr io.Writer, log logr.Logger) string {
	if u.uiAddr == "" {
		return ""
	}
	d, err := startDashboard(ctx, l.Hub.Config, u.uiAddr, time.Minute)
	if err != nil {
		fmt.Fprintf(stderr, "the dashboard did not start (--ui-addr %s): %v\n", u.uiAddr, err)
		return ""
	}
	go func() {
		if err := d.serve(); err != nil {
			log.Error(err, "dashboard stopped")
		}
	}()
	return d.url
}

// labPaths are where the summary points people.
type labPaths struct {
	root, logFile, dashboard string
}

// waitExample shows the example fleet coming up: on a terminal one line
// that counts up, elsewhere only the outcome.
func waitExample(ctx context.Context, w io.Writer, l *lab.Lab, started time.Time) error {
	tty := isTerminal(w)
	begin := time.Now()
	err := l.WaitReconciled(ctx, labReconcileTimeout, func(ready, total int) {
		if tty {
			fmt.Fprintf(w, "\rexample fleet: %d/%d subscriptions ready", ready, total)
		}
	})
	if tty {
		fmt.Fprint(w, "\r\033[K")
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted: stop quietly
		}
		return fmt.Errorf("the example fleet did not become ready: %w (see 'ocm-gitops status --hub-kubeconfig %s')", err, relPath(l.Kubeconfigs["hub"]))
	}
	c, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	f, err := fleetstatus.Collect(ctx, c)
	if err != nil {
		return err
	}
	nowhere := ""
	if n := placedNowhere(f); n > 0 {
		nowhere = fmt.Sprintf(", %d with no cluster to go to in this lab", n)
	}
	fmt.Fprintf(w, "example fleet: %d/%d subscriptions ready%s in %s (%s since start)\n", f.Totals.SubscriptionsReady, f.Totals.Subscriptions, nowhere,
		time.Since(begin).Round(100*time.Millisecond), time.Since(started).Round(100*time.Millisecond))
	return nil
}

// placedNowhere counts the Subscriptions whose placement selects no cluster
// (in a small lab, the production ones may have none).
func placedNowhere(f *fleetstatus.Fleet) int {
	n := 0
	for _, s := range f.Subscriptions {
		if !s.Ready && s.Reason == appsv1.ReasonNoClusters {
			n++
		}
	}
	return n
}

func printLabSummary(w io.Writer, l *lab.Lab, paths labPaths, took time.Duration) {
	root, logFile := paths.root, paths.logFile
	hubKC := relPath(l.Kubeconfigs["hub"])
	kubectl := relPath(filepath.Join(root, "bin", "kubectl"))
	what := fmt.Sprintf("hub + %d managed clusters", len(l.Clusters))
	if len(l.Clusters) == 1 {
		what = "hub + 1 managed cluster"
	}
	if l.FleetURL != "" {
		what += ", example fleet reconciled,"
	}
	fmt.Fprintf(w, "\nThe lab is up: %s in %s.\n\n", what, took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  %-14s %s\n", "hub", hubKC)
	for _, cp := range l.Clusters {
		fmt.Fprintf(w, "  %-14s %s\n", cp.Name, relPath(l.Kubeconfigs[cp.Name]))
	}
	if l.FleetURL != "" {
		fmt.Fprintf(w, "  %-14s git clone %s\n", "fleet repo", l.FleetURL)
	}
	if l.Helm != nil {
		fmt.Fprintf(w, "  %-14s %s/index.yaml\n", "Helm repo", l.Helm.URL)
	}
	if paths.dashboard != "" {
		fmt.Fprintf(w, "  %-14s %s\n", "dashboard", paths.dashboard)
	}
	fmt.Fprintf(w, "  %-14s %s\n", "logs", relPath(logFile))

	fmt.Fprintf(w, "\nLook around (kubectl was built with the tools):\n")
	fmt.Fprintf(w, "  %s --kubeconfig %s get subscriptions -A\n", kubectl, hubKC)
	fmt.Fprintf(w, "  %s --kubeconfig %s get placements,placementdecisions -A\n", kubectl, hubKC)
	fmt.Fprintf(w, "  %s --kubeconfig %s get manifestworks -A\n", kubectl, hubKC)
	if len(l.Clusters) > 0 {
		fmt.Fprintf(w, "  %s --kubeconfig %s get deployments -A\n", kubectl, relPath(l.Kubeconfigs[l.Clusters[0].Name]))
		if l.Clusters[0].RunsWorkloads() {
			fmt.Fprintf(w, "  %s --kubeconfig %s get pods -A -o wide\n", kubectl, relPath(l.Kubeconfigs[l.Clusters[0].Name]))
		}
	}
	fmt.Fprintf(w, "  %s status --hub-kubeconfig %s\n", relPath(filepath.Join(root, "bin", "ocm-gitops")), hubKC)
	if l.FleetURL != "" {
		fmt.Fprintf(w, "\nChange the fleet (every cluster has it seconds after the push):\n")
		fmt.Fprintf(w, "  git clone %s /tmp/fleet\n", l.FleetURL)
		fmt.Fprintf(w, "  sed -i 's/color: blue/color: green/' /tmp/fleet/apps/hello/configmap.yaml\n")
		fmt.Fprintf(w, "  git -C /tmp/fleet commit -am 'hello: green' && git -C /tmp/fleet push\n")
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop everything. The fleet, as it changes:\n\n")
}

// watchFleet prints the fleet table whenever it changes, until ctx ends.
func watchFleet(ctx context.Context, w io.Writer, l *lab.Lab) error {
	c, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	var last []byte
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if f, err := fleetstatus.Collect(ctx, c); err == nil && len(f.Subscriptions) > 0 {
			var buf bytes.Buffer
			_ = lab.WriteFleetTable(&buf, f)
			if !bytes.Equal(buf.Bytes(), last) {
				fmt.Fprintf(w, "%s\n%s\n", time.Now().Format("15:04:05"), buf.String())
				last = buf.Bytes()
			}
		}
		if err := l.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// relPath shows p relative to the working folder when it is inside it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return abs
	}
	return rel
}

// isTerminal reports whether w is a terminal, where a line may be redrawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
