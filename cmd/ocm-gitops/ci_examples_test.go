package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestCIExamples: the example CI files are valid YAML, and every ocm-gitops
// flag they use exists.
func TestCIExamples(t *testing.T) {
	flagsOf := func(args ...string) map[string]bool {
		code, help, _ := runCmd(t, append(args, "--help")...)
		if code != 0 {
			t.Fatalf("%v --help: exit %d", args, code)
		}
		m := map[string]bool{}
		for _, match := range regexp.MustCompile(`(?m)^\s+(?:-([a-z]), )?--([a-z0-9-]+)`).FindAllStringSubmatch(help, -1) {
			m[match[2]] = true
			if match[1] != "" {
				m[match[1]] = true
			}
		}
		if len(m) < 3 {
			t.Fatalf("%v --help lists no flags:\n%s", args, help)
		}
		return m
	}
	known := map[string]map[string]bool{
		"ocm-gitops preview":         flagsOf("preview"),
		"ocm-gitops clusters export": flagsOf("clusters", "export"),
	}
	files, err := filepath.Glob("../../fleet-repo-example/ci/*.yml")
	if err != nil || len(files) != 2 {
		t.Fatalf("example CI files: %v %v, want the GitHub and the GitLab one", files, err)
	}
	flagRE := regexp.MustCompile(`(?:^|\s)--?([a-z][a-z0-9-]*)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		used := map[string]int{}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for _, x := range v {
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			case string:
				for cmd, flags := range known {
					i := strings.Index(v, cmd)
					if i < 0 {
						continue
					}
					used[cmd]++
					// The command ends at the line's end (folded YAML makes one
					// line) or at the output redirection.
					line := v[i+len(cmd):]
					if j := strings.IndexAny(line, ">\n"); j >= 0 {
						line = line[:j]
					}
					for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
						if !flags[m[1]] {
							t.Errorf("%s: %s has no flag --%s", f, cmd, m[1])
						}
					}
				}
			}
		}
		walk(doc)
		for cmd := range known {
			if used[cmd] != 1 {
				t.Errorf("%s runs %q %d times, want once", f, cmd, used[cmd])
			}
		}
		if !strings.Contains(string(data), "--post") || !strings.Contains(string(data), "--fail-on-danger") {
			t.Errorf("%s does not post the preview and fail on danger", f)
		}
	}
}
