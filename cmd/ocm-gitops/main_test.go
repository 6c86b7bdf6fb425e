package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelpOnStdout: every command's --help goes to standard output with exit
// status 0, so 'ocm-gitops X --help | less' shows it, and says how to call it.
func TestHelpOnStdout(t *testing.T) {
	var walk func(c *cobra.Command)
	paths := [][]string{{}}
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			paths = append(paths, strings.Fields(strings.TrimPrefix(sub.CommandPath(), "ocm-gitops ")))
			walk(sub)
		}
	}
	walk(newRootCommand())
	if len(paths) < 12 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		code, out, errOut := runCmd(t, append(p, "--help")...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage:") {
			t.Errorf("%v --help: exit %d, stderr %q, stdout %.80q; want 0, nothing, the usage", p, code, errOut, out)
		}
	}
}

// TestCompletion: completion scripts for the three shells.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runCmd(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "ocm-gitops") || len(out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
}

// TestUsageErrors: mistakes exit 2 and say what to do.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `unknown command "stauts" (did you mean "status"?)`},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus (see 'ocm-gitops status --help')"},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"clusters"}, "name a subcommand: export"},
		{[]string{"clusters", "import"}, `unknown subcommand "import"`},
		{[]string{"hub", "--channel-access", "open"}, `--channel-access "open": want "restricted"`},
	} {
		code, _, errOut := runCmd(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// TestOneDashLongFlags: '-hub-kubeconfig F', as Go's flag package took it,
// still means --hub-kubeconfig; one-letter flags and what follows "--" stay.
func TestOneDashLongFlags(t *testing.T) {
	root := newRootCommand()
	got := normalizeArgs(root, []string{"status", "-hub-kubeconfig", "f", "-o", "json", "-watch=true", "-nosuch", "--", "-interval"})
	want := []string{"status", "--hub-kubeconfig", "f", "-o", "json", "--watch=true", "-nosuch", "--", "-interval"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("normalizeArgs = %q, want %q", got, want)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	code, _, errOut := runCmd(t, "status", "-hub-kubeconfig", missing)
	if code != 2 || !strings.Contains(errOut, "--hub-kubeconfig "+missing) {
		t.Errorf("exit %d, stderr %q; want the flag understood", code, errOut)
	}
}

// TestEnvironmentDoublesFlags: OCM_GITOPS_<FLAG> sets a flag not given on the
// command line; a bad value is a usage error naming the variable.
func TestEnvironmentDoublesFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	a, b := fs.String("log-level", "info", ""), fs.Int("workers", 1, "")
	if err := fs.Parse([]string{"--workers", "3"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OCM_GITOPS_LOG_LEVEL", "debug")
	t.Setenv("OCM_GITOPS_WORKERS", "9")
	if err := bindEnv(fs); err != nil {
		t.Fatal(err)
	}
	if *a != "debug" || *b != 3 {
		t.Errorf("log-level %q workers %d; want debug from the environment, 3 from the command line", *a, *b)
	}
	if givenOnCommandLine(fs, "log-level") || !givenOnCommandLine(fs, "workers") {
		t.Error("givenOnCommandLine does not tell the environment from the command line")
	}
	t.Setenv("OCM_GITOPS_INTERVAL", "soon")
	code, _, errOut := runCmd(t, "status", "--hub-kubeconfig", "x")
	if code != 2 || !strings.Contains(errOut, `OCM_GITOPS_INTERVAL="soon" is not a valid value for --interval`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	t.Setenv("OCM_GITOPS_CHANNEL_ACCESS", "any")
	code, _, errOut = runCmd(t, "hub", "--kubeconfig", "x")
	if code != 2 || !strings.Contains(errOut, `OCM_GITOPS_CHANNEL_ACCESS="any"`) {
		t.Errorf("exit %d, stderr %q; want OCM_GITOPS_CHANNEL_ACCESS read as --channel-access", code, errOut)
	}
}

// TestHubKubeconfigResolution: as kubectl: the flag, else $KUBECONFIG;
// --context picks a context; a typed flag wins over the other spelling
// given through the environment.
func TestHubKubeconfigResolution(t *testing.T) {
	dir := t.TempDir()
	write := func(name, current string) string {
		p := filepath.Join(dir, name)
		data := `apiVersion: v1
kind: Config
current-context: ` + current + `
clusters:
- name: a
  cluster: {server: "https://a.example:6443"}
- name: b
  cluster: {server: "https://b.example:6443"}
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
users:
- name: u
  user: {token: t}
`
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	toA, toB := write("a", "a"), write("b", "b")
	host := func(env map[string]string, args ...string) string {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		var h hubFlags
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		h.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := bindEnv(fs); err != nil {
			t.Fatal(err)
		}
		cfg, err := h.config(fs)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Host
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"KUBECONFIG", map[string]string{"KUBECONFIG": toA}, nil, "https://a.example:6443"},
		{"--context", map[string]string{"KUBECONFIG": toA}, []string{"--context", "b"}, "https://b.example:6443"},
		{"--kubeconfig", map[string]string{"KUBECONFIG": toA}, []string{"--kubeconfig", toB}, "https://b.example:6443"},
		{"--hub-kubeconfig", map[string]string{"KUBECONFIG": toA}, []string{"--hub-kubeconfig", toB}, "https://b.example:6443"},
		{"typed wins over env", map[string]string{"OCM_GITOPS_HUB_KUBECONFIG": toA}, []string{"--kubeconfig", toB}, "https://b.example:6443"},
		{"env", map[string]string{"OCM_GITOPS_HUB_KUBECONFIG": toB, "KUBECONFIG": toA}, nil, "https://b.example:6443"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := host(c.env, c.args...); got != c.want {
				t.Errorf("host %q, want %q", got, c.want)
			}
		})
	}
}
