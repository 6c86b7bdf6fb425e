// Command ocm-gitops is the whole system in one binary: the hub controllers, the
// klusterlet agent, the local lab, and the render/preview/status tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"clusters":   {"export the cluster inventory that previews read", runClusters},
		"hub":        {"run the hub controllers", runHub},
		"klusterlet": {"run the agent of one managed cluster", runKlusterlet},
		"lab":        {"start a hub and managed clusters on local control planes", runLab},
		"migrate":    {"print the Placements that replace OCM's deprecated PlacementRules", runMigrate},
		"preview":    {"compare where and what a fleet repo change deploys, for pull requests", runPreview},
		"render":     {"print what a cluster would receive from a fleet repo", runRender},
		"status":     {"show the fleet at a glance: channels, subscriptions, clusters", runStatus},
		"version":    {"print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ocm-gitops: unknown command %q; run 'ocm-gitops help' for the list\n", args[0])
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ocm-gitops %s: %v\n", args[0], err)
		if errors.As(err, new(usageError)) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: ocm-gitops <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEvery flag can also be set through the environment: --hub-kubeconfig is OCM_GITOPS_HUB_KUBECONFIG.")
}

// usageError is a mistake in how the command was called (exit status 2).
type usageError struct{ error }

func usageErrorf(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// newFlags returns a flag set for a subcommand whose errors are returned, not fatal.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ocm-gitops "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, then fills every flag not given on the command line
// from its environment variable OCM_GITOPS_<NAME> (upper case, '-' as '_').
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q is not a valid value for --%s: %w", env, v, f.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		return usageError{errors.Join(errs...)}
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q; all options are flags (see --help)", fs.Arg(0))
	}
	return nil
}

// EnvName is the environment variable that doubles a flag.
func EnvName(flagName string) string {
	return "OCM_GITOPS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
