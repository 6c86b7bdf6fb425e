// Command scale measures the hub at fleet scale: the real hub controllers
// against a real kube-apiserver and etcd, with thousands of simulated
// clusters whose lightweight agents report ManifestWork status the way a
// klusterlet does. It also measures push-to-applied latency on a lab of real
// managed clusters. See docs/performance.md for the figures and how to read
// them.
//
//	go run ./test/scale fleet -clusters 5000 -subscriptions 10
//	go run ./test/scale lab -clusters 10 -pushes 5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// controller-runtime's caches log through its global logger.
	ctrl.SetLogger(logr.Discard())
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "scale:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: scale <command> [flags]

commands:
  fleet   hub controllers + simulated clusters on one API server (default)
  lab     push-to-applied latency on a lab of real managed clusters
  hub     run the hub controllers with pprof (started by fleet; not for direct use)

run "scale <command> -h" for the flags of a command`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "fleet"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "fleet":
		return runFleetCommand(ctx, args, stdout, stderr)
	case "lab":
		return runLabCommand(ctx, args, stdout, stderr)
	case "hub":
		return runHubChild(ctx, args, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
