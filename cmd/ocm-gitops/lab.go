package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
)

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		return usageErrorf("want 'ocm-gitops lab up [flags]'")
	}
	fs := newFlags("lab up", stderr)
	var (
		opts lab.Options
		logs logFlags
		root string
	)
	fs.IntVar(&opts.Clusters, "clusters", 2, "number of managed clusters")
	fs.StringVar(&opts.Dir, "dir", ".lab", "folder for kubeconfigs, the Git server's repositories and caches")
	fs.StringVar(&opts.AssetsDir, "assets", "", "folder with kube-apiserver and etcd (default: $KUBEBUILDER_ASSETS or bin/k8s)")
	fs.StringVar(&opts.GitAddr, "git-addr", lab.DefaultGitAddr, "address of the lab's Git server")
	fs.BoolVar(&opts.Example, "example", false, "serve fleet-repo-example and apply channels/ and subscriptions/")
	fs.StringVar(&root, "repo-root", ".", "checkout holding fleet-repo-example/, channels/ and subscriptions/")
	logs.register(fs, "error") // the lab speaks through its progress lines and table
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	log, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	ctrl.SetLogger(log)
	opts.Logger = log
	opts.Progress = stdout
	if opts.Example {
		opts.ExampleDir = filepath.Join(root, "fleet-repo-example")
		opts.ApplyDirs = []string{filepath.Join(root, "channels"), filepath.Join(root, "subscriptions")}
		if _, err := os.Stat(opts.ExampleDir); err != nil {
			return usageErrorf("--example needs %s: run from the repository root or pass --repo-root", opts.ExampleDir)
		}
	}
	started := time.Now()
	l, err := lab.Start(ctx, opts)
	if err != nil {
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
	printLabSummary(stdout, l, opts, time.Since(started))
	return watchFleet(ctx, stdout, l)
}

func printLabSummary(w io.Writer, l *lab.Lab, opts lab.Options, took time.Duration) {
	hubKC := l.Kubeconfigs["hub"]
	fmt.Fprintf(w, "\nocm-gitops lab is up: hub + %d managed clusters in %s\n\n", len(l.Clusters), took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  hub          %s\n", hubKC)
	for _, cp := range l.Clusters {
		fmt.Fprintf(w, "  %-12s %s\n", cp.Name, l.Kubeconfigs[cp.Name])
	}
	if l.FleetURL != "" {
		fmt.Fprintf(w, "  fleet repo   %s   (git clone, edit, commit, git push)\n", l.FleetURL)
	}
	fmt.Fprintf(w, "\nLook around (kubectl was built with the tools):\n")
	fmt.Fprintf(w, "  bin/kubectl --kubeconfig %s get subscriptions,channels -A\n", hubKC)
	fmt.Fprintf(w, "  bin/kubectl --kubeconfig %s get manifestworks -A\n", hubKC)
	if len(l.Clusters) > 0 {
		fmt.Fprintf(w, "  bin/kubectl --kubeconfig %s get all,configmaps -n hello\n", l.Kubeconfigs[l.Clusters[0].Name])
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop everything.\n\n")
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
			_ = f.WriteTable(&buf)
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
