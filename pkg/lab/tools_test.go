package lab

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
	"github.com/ocm-gitops/ocm-gitops/test/harness/syncbuf"
)

// makeTargets reads the Makefile's targets: prerequisites and recipe lines.
func makeTargets(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`^([a-z][a-z-]*):([^=]*)$`)
	out := map[string][]string{}
	current := ""
	for _, line := range strings.Split(string(b), "\n") {
		if m := rule.FindStringSubmatch(strings.SplitN(line, "##", 2)[0]); m != nil {
			current = m[1]
			out[current] = append(out[current], strings.Fields(m[2])...)
			continue
		}
		if current != "" && strings.HasPrefix(line, "\t") {
			out[current] = append(out[current], line)
		}
	}
	return out
}

// toolSets reads hack/tools.sh's sets (name -> packages, as written) and the
// sets it builds when given none.
func toolSets(t *testing.T, path string) (map[string]string, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*\[([a-z]+)\]="([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		sets[m[1]] = m[2]
	}
	def := regexp.MustCompile(`(?m)^\[ \$# -eq 0 \] && set -- (.*)$`).FindStringSubmatch(string(b))
	if def == nil {
		t.Fatal("hack/tools.sh: no default sets found")
	}
	return sets, strings.Fields(def[1])
}

// TestMakeTestBuildsNoKubectl: `make test` builds only what tests run; kubectl,
// for people looking around the lab, is built by `make lab` alone (issue 15
// item 12: the first `make test` built kubectl too).
func TestMakeTestBuildsNoKubectl(t *testing.T) {
	targets := makeTargets(t, "../../Makefile")
	sets, defaults := toolSets(t, "../../hack/tools.sh")
	built := func(target string) []string {
		var out []string
		seen := map[string]bool{}
		var visit func(string)
		visit = func(name string) {
			if seen[name] {
				return
			}
			seen[name] = true
			for _, item := range targets[name] {
				if !strings.HasPrefix(item, "\t") {
					visit(item) // a prerequisite
					continue
				}
				// A recipe line: hack/tools.sh calls, and targets made recursively.
				if _, args, ok := strings.Cut(item, "hack/tools.sh"); ok {
					if words := strings.Fields(strings.Split(args, ";")[0]); len(words) > 0 {
						out = append(out, words...)
					} else {
						out = append(out, defaults...)
					}
				}
				if _, rest, ok := strings.Cut(item, "$(MAKE)"); ok {
					for _, w := range strings.Fields(strings.Split(rest, ";")[0]) {
						if _, ok := targets[w]; ok {
							visit(w)
						}
					}
				}
			}
		}
		visit(target)
		return out
	}
	kubectl := func(setNames []string) []string {
		var with []string
		for _, s := range setNames {
			if strings.Contains(" "+sets[s]+" ", "/cmd/kubectl ") {
				with = append(with, s)
			}
		}
		return with
	}
	test := built("test")
	if !slices.Contains(test, "kube") || !slices.Contains(test, "etcd") {
		t.Fatalf("make test builds the sets %v; want kube and etcd among them (is the Makefile read right?)", test)
	}
	if with := kubectl(test); len(with) > 0 {
		t.Errorf("make test builds kubectl (sets %v of %v)", with, test)
	}
	if lab := built("lab"); len(kubectl(lab)) == 0 {
		t.Errorf("make lab does not build kubectl (sets %v); the README's tour uses bin/kubectl", lab)
	}
}

// fakeGo stands in for the go command in hack/tools.sh: `go list` says it
// downloads two modules and names ten packages to compile, `go build -v`
// compiles five, and each waits for the test (a file named list or build
// in $FAKE_GO_DIR) before it finishes.
const fakeGo = `#!/usr/bin/env bash
set -eu
case "$1" in
env) printf 'go1.27.3\nlinux\namd64\n' ;;
list)
  echo "go: downloading example.com/a v1.0.0" >&2
  echo "go: downloading example.com/b v1.0.0" >&2
  while [ ! -e "$FAKE_GO_DIR/list" ]; do sleep 0.05; done
  for i in 1 2 3 4 5 6 7 8 9 10; do echo "example.com/p$i"; done ;;
build)
  for i in 1 2 3 4 5; do echo "example.com/p$i" >&2; done
  while [ ! -e "$FAKE_GO_DIR/build" ]; do sleep 0.05; done
  for i in 6 7 8 9 10; do echo "example.com/p$i" >&2; done
  out=""; prev=""
  for a in "$@"; do [ "$prev" = -o ] && out="$a"; prev="$a"; done
  echo binary >"${out}etcd" ;;
*) echo "fake go: unexpected $*" >&2; exit 2 ;;
esac
`

// TestToolsBuildShowsProgress: while hack/tools.sh builds a tool set it says
// what it builds, how many modules it downloaded, how many packages of how
// many it compiled, the time so far and a rough time left; then how long the
// build took (issue 15 item 12: the first build sat for 26 minutes on
// "go: downloading ..."). The go command is a stand-in that waits for the
// test, so no line depends on timing.
func TestToolsBuildShowsProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hack/tools.sh, which looks at the build every 2 s")
	}
	root, fake := t.TempDir(), t.TempDir()
	script, err := os.ReadFile("../../hack/tools.sh")
	if err != nil {
		t.Fatal(err)
	}
	for path, content := range map[string]string{
		"hack/tools.sh":            string(script),
		"test/tools/etcd/go.mod":   "module tools\n\ngo 1.27\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.0.0\n\texample.com/c v1.0.0\n)\n",
		"test/tools/etcd/tools.go": "package main\n",
	} {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(fake, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack/tools.sh"), "etcd")
	cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"), "FAKE_GO_DIR="+fake,
		"OCM_GITOPS_TOOLS_CACHE="+filepath.Join(root, "cache"), "OCM_GITOPS_TOOLS_PROGRESS_INTERVAL=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	says := func(what string, re *regexp.Regexp) {
		t.Helper()
		poll.Eventually(t, 30*time.Second, what, func() error {
			if !re.MatchString(stderr.String()) {
				return fmt.Errorf("output so far:\n%s", stderr.String())
			}
			return nil
		})
	}
	says("what it builds", regexp.MustCompile(`(?m)^>> building tool set 'etcd': etcd \(first run only; cached in `))
	says("the downloads", regexp.MustCompile(`(?m)^   downloading modules: 2 of at most 3, \d+s$`))
	if err := os.WriteFile(filepath.Join(fake, "list"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	says("the packages compiled, the time so far and a time left",
		regexp.MustCompile(`(?m)^   compiling: 5 of 10 packages \(50%\), \d+s, about \d+s left$`))
	if err := os.WriteFile(filepath.Join(fake, "build"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("hack/tools.sh: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("hack/tools.sh did not finish:\n%s", stderr.String())
	}
	says("how long it took", regexp.MustCompile(`(?m)^>> built 'etcd' in \d+s \(10 package\(s\) compiled\)$`))
	for _, link := range []string{"bin/etcd", "bin/k8s/etcd"} {
		if _, err := os.Stat(filepath.Join(root, link)); err != nil {
			t.Errorf("the built binary is not linked: %v", err)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "go: downloading") {
			t.Errorf("the go command's own lines reach the screen: %q", sc.Text())
		}
	}
}
