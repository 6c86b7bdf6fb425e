// Command ocm-gitops is the whole system in one binary: the hub controllers,
// the klusterlet agent, the local lab, the day-2 commands that inspect and
// steer the fleet, and the dashboard.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status: 0 done, 1
// failed, 2 called wrongly (or what an exitError asks for).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(normalizeArgs(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var exit exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// newRootCommand builds the command tree.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ocm-gitops",
		Short: "GitOps for Open Cluster Management fleets",
		Long: `ocm-gitops deploys what a fleet repository holds to the clusters OCM Placements choose.

Run the hub controllers (hub) and an agent per managed cluster (klusterlet), or a
whole fleet on local control planes (lab up). Inspect and steer a running fleet with
get, trace, tree, diff, reconcile, suspend and resume, or watch it in the dashboard (ui).

Every flag can also be set through the environment: --hub-kubeconfig is
OCM_GITOPS_HUB_KUBECONFIG, --log-level is OCM_GITOPS_LOG_LEVEL. A flag on the command
line wins over its variable.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// The first word that is no command is a mistake, not an argument.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return usageErrorf("unknown command %q%s; run 'ocm-gitops --help' for the list", args[0], hint)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindEnv(cmd.Flags())
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Run the system:"},
		&cobra.Group{ID: "fleet", Title: "Inspect and steer a fleet:"},
		&cobra.Group{ID: "repo", Title: "Work on a fleet repository:"},
	)
	for _, c := range []struct {
		group string
		cmd   *cobra.Command
	}{
		{"run", newHubCommand()},
		{"run", newKlusterletCommand()},
		{"run", newLabCommand()},
		{"fleet", newStatusCommand()},
		{"fleet", newGetCommand()},
		{"fleet", newTraceCommand()},
		{"fleet", newTreeCommand()},
		{"fleet", newDiffCommand()},
		{"fleet", newReconcileCommand()},
		{"fleet", newSuspendCommand()},
		{"fleet", newUICommand()},
		{"fleet", newResumeCommand()},
		{"fleet", newClustersCommand()},
		{"repo", newRenderCommand()},
		{"repo", newPreviewCommand()},
		{"repo", newMigrateCommand()},
		{"repo", newSecretsCommand()},
		{"", newVersionCommand()},
	} {
		c.cmd.GroupID = c.group
		root.AddCommand(c.cmd)
	}
	return root
}

// usageError is a mistake in how the command was called (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usageErrorf(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError ends the command with a given status, printing err when not nil
// (diff exits 1 when it finds changes, as kubectl diff does).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// newParentCommand groups subcommands; alone or with an unknown
// subcommand it is a usage error naming the subcommands.
func newParentCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.AddCommand(subs...)
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		var names []string
		for _, s := range cmd.Commands() {
			names = append(names, s.Name())
		}
		if len(args) > 0 {
			return usageErrorf("unknown subcommand %q; the subcommands are %s (e.g. '%s %s --help')", args[0], strings.Join(names, ", "), cmd.CommandPath(), names[0])
		}
		return usageErrorf("name a subcommand: %s (e.g. '%s %s --help')", strings.Join(names, ", "), cmd.CommandPath(), names[0])
	}
	cmd.RunE = func(*cobra.Command, []string) error { return nil }
	return cmd
}

// noArgs refuses positional arguments: every option of these commands is a flag.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q; all options are flags (see '%s --help')", args[0], cmd.CommandPath())
	}
	return nil
}

// fromEnvAnnotation marks a flag whose value came from its environment
// variable, so that a flag given on the command line wins over an alias
// given through the environment.
const fromEnvAnnotation = "ocm-gitops/from-env"

// bindEnv fills every flag not given on the command line from its
// environment variable OCM_GITOPS_<NAME> (upper case, '-' as '_').
func bindEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		env := EnvName(f.Name)
		v, ok := os.LookupEnv(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q is not a valid value for --%s: %w", env, v, f.Name, err))
			return
		}
		if f.Annotations == nil {
			f.Annotations = map[string][]string{}
		}
		f.Annotations[fromEnvAnnotation] = []string{env}
	})
	if len(errs) > 0 {
		return usageError{errors.Join(errs...)}
	}
	return nil
}

// givenOnCommandLine reports whether the flag was typed, not read from the
// environment.
func givenOnCommandLine(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed && f.Annotations[fromEnvAnnotation] == nil
}

// EnvName is the environment variable that doubles a flag.
func EnvName(flagName string) string {
	return "OCM_GITOPS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// normalizeArgs turns the one-dash long flags Go's flag package accepted
// (-hub-kubeconfig) into their two-dash form, so scripts written for earlier
// releases keep working; one-letter flags and everything after "--" stay.
func normalizeArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && cmd.Flags().Lookup(name) != nil {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}
