package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabUpBadInput: mistakes are reported before anything starts or is
// written.
func TestLabUpBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no up":             {[]string{"lab"}, "name a subcommand: up"},
		"no clusters":       {[]string{"lab", "up", "--clusters", "0", "--dir", dir}, "--clusters must be at least 1"},
		"example elsewhere": {[]string{"lab", "up", "--example", "--repo-root", t.TempDir(), "--dir", dir}, "--example needs"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the lab folder was created for bad input: %v", err)
	}
}

func TestRelPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		filepath.Join(wd, ".lab", "hub.kubeconfig"): filepath.Join(".lab", "hub.kubeconfig"),
		".lab/hub.kubeconfig":                       filepath.Join(".lab", "hub.kubeconfig"),
		"/elsewhere/hub.kubeconfig":                 "/elsewhere/hub.kubeconfig",
	} {
		if got := relPath(in); got != want {
			t.Errorf("relPath(%q) = %q, want %q", in, got, want)
		}
	}
}
