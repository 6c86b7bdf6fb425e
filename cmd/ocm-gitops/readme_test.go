package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// docsWithCommands are the pages whose ocm-gitops command lines a reader
// copies: the README's tour, the example fleet's READMEs and the docs.
var docsWithCommands = []string{"../../README.md", "../../fleet-repo-example/README.md", "../../fleet-repo-example/ci/README.md",
	"../../docs/reference.md", "../../docs/migration.md", "../../docs/security.md", "../../docs/architecture.md", "../../docs/performance.md"}

// TestDocsCommandsExist checks every ocm-gitops command line the docs show
// (in shell blocks and in `inline code`) against the real command tree: the
// command exists and each flag is one it takes, so a renamed command or flag
// fails here, not in a reader's terminal.
func TestDocsCommandsExist(t *testing.T) {
	root := newRootCommand()
	checked := 0
	for _, doc := range docsWithCommands {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range docCommandLines(string(data)) {
			if err := checkCommandLine(root, line); err != "" {
				t.Errorf("%s: %q: %s", strings.TrimPrefix(doc, "../../"), line, err)
			}
			checked++
		}
	}
	t.Logf("%d command lines checked", checked)
	if checked < 20 {
		t.Errorf("checked %d command lines; the docs hold more (is the parser broken?)", checked)
	}
}

// inlineCommand is an ocm-gitops command in `inline code`, which may wrap.
var inlineCommand = regexp.MustCompile("`(?:bin/)?ocm-gitops\\s[^`]*`")

// docCommandLines returns the ocm-gitops command lines of a Markdown page:
// the lines of fenced blocks that start with it (bin/ocm-gitops, or
// ocm-gitops in shell blocks), and inline code spans.
func docCommandLines(md string) []string {
	var lines []string
	var prose strings.Builder
	fenced, shell := false, false
	for _, l := range strings.Split(md, "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "```") {
			fenced = !fenced
			lang := strings.TrimPrefix(t, "```")
			shell = lang == "sh" || lang == "bash" || lang == "shell"
			continue
		}
		if !fenced {
			prose.WriteString(l + "\n")
			continue
		}
		// Output blocks quote 'ocm-gitops lab: ...'; bin/ is a command anywhere.
		if f := strings.Fields(l); len(f) > 1 && (f[0] == "bin/ocm-gitops" || shell && f[0] == "ocm-gitops") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	for _, m := range inlineCommand.FindAllString(prose.String(), -1) {
		lines = append(lines, strings.Join(strings.Fields(strings.Trim(m, "`")), " "))
	}
	return lines
}

// checkCommandLine resolves a command line's words against root and says
// what does not exist, or "".
func checkCommandLine(root *cobra.Command, line string) string {
	var args []string
	for _, w := range strings.Fields(line)[1:] {
		if w == "#" || w == "|" || w == ">" || w == "&&" || w == ";" || strings.HasPrefix(w, ">") {
			break
		}
		if strings.ContainsAny(w, "<[") || w == "..." {
			return "" // a placeholder: <command>, [flags]
		}
		args = append(args, w)
	}
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err.Error()
	}
	// A command with subcommands takes no arguments of its own: a word
	// left after it is a subcommand that does not exist ('lab upp').
	if cmd.HasSubCommands() && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return "'" + cmd.CommandPath() + "' has no command " + rest[0]
	}
	cmd.InitDefaultHelpFlag()
	for _, a := range rest {
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
				return "'" + cmd.CommandPath() + "' has no flag --" + name
			}
		case strings.HasPrefix(a, "-") && len(a) == 2:
			if cmd.Flags().ShorthandLookup(a[1:]) == nil && cmd.InheritedFlags().ShorthandLookup(a[1:]) == nil {
				return "'" + cmd.CommandPath() + "' has no flag " + a
			}
		}
	}
	return ""
}

// TestCheckCommandLine: the checker itself tells a real command line from
// a misspelt command, subcommand or flag.
func TestCheckCommandLine(t *testing.T) {
	root := newRootCommand()
	for line, bad := range map[string]bool{
		"ocm-gitops lab up":                            false,
		"bin/ocm-gitops get subscriptions -o wide":     false,
		"ocm-gitops secrets encrypt <file> --bogus":    false, // placeholders are not checked
		"ocm-gitops nope":                              true,
		"ocm-gitops lab upp":                           true,
		"ocm-gitops get subscriptions --bogus":         true,
		"ocm-gitops get subscriptions -Z":              true,
		"bin/ocm-gitops lab up # and the rest --bogus": false,
	} {
		if got := checkCommandLine(root, line); (got != "") != bad {
			t.Errorf("%q: %q, want an error: %v", line, got, bad)
		}
	}
}
