package deploy_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// There is no container engine here to build the image, so the Dockerfile is
// checked by construction: its stages and base images, and that the build
// stage copies every file the binary's packages compile or embed, none of
// them hidden by .dockerignore.

type instruction struct {
	cmd  string // upper case
	args string
	line int
}

// parseDockerfile reads instructions, joining continued lines and dropping
// comments.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// localPackage is what `go list` says of one of the module's packages.
type localPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	EmbedFiles []string
	Imports    []string
	Module     *struct{ Path string }
}

func TestDockerfile(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	var froms []string
	copied := map[string]bool{} // repo-relative sources of COPY in the build stage
	var runtimeUser, entrypoint, builtBinary, runtimeBinary string
	env := map[string]string{}
	buildCmd := ""
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					env[k] = v
				}
			}
		case "COPY":
			fields := strings.Fields(in.args)
			if strings.HasPrefix(fields[0], "--from=") {
				builtBinary, runtimeBinary = fields[1], fields[len(fields)-1]
				continue
			}
			for _, src := range fields[:len(fields)-1] {
				copied[strings.TrimSuffix(src, "/")] = true
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("Dockerfile:%d copies %s, which does not exist", in.line, src)
				}
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				buildCmd = in.args
			}
		case "USER":
			runtimeUser = in.args
		case "ENTRYPOINT":
			var ep []string
			if err := json.Unmarshal([]byte(in.args), &ep); err != nil || len(ep) == 0 {
				t.Fatalf("Dockerfile:%d ENTRYPOINT %s is not an exec-form list", in.line, in.args)
			}
			entrypoint = ep[0]
		}
	}
	if len(froms) != 2 || !strings.Contains(froms[0], "golang:1.27") || froms[1] != "gcr.io/distroless/static:nonroot" {
		t.Errorf("stages = %v, want a golang:1.27 builder and gcr.io/distroless/static:nonroot", froms)
	}
	goVersion := goModVersion(t, filepath.Join(root, "go.mod"))
	if env["GOTOOLCHAIN"] != "go"+goVersion {
		t.Errorf("GOTOOLCHAIN = %q, want go%s as go.mod requires", env["GOTOOLCHAIN"], goVersion)
	}
	if env["CGO_ENABLED"] != "0" {
		t.Error("CGO_ENABLED must be 0: the runtime image has no C library")
	}
	if !strings.Contains(buildCmd, "./cmd/ocm-gitops") || builtBinary == "" || !strings.Contains(buildCmd, "-o "+builtBinary) {
		t.Errorf("build command %q must build ./cmd/ocm-gitops into %q, the file the runtime stage copies", buildCmd, builtBinary)
	}
	if entrypoint != "/usr/local/bin/ocm-gitops" || runtimeBinary != entrypoint {
		t.Errorf("ENTRYPOINT %q and copied binary %q must both be /usr/local/bin/ocm-gitops", entrypoint, runtimeBinary)
	}
	if runtimeUser == "" || strings.HasPrefix(runtimeUser, "0") || runtimeUser == "root" {
		t.Errorf("USER %q: the image must run as a non-root user", runtimeUser)
	}

	// Every file compiled or embedded into the binary is copied and not ignored.
	ignores := readIgnores(t, filepath.Join(root, ".dockerignore"))
	for _, pkg := range listLocalPackages(t, root, "./cmd/ocm-gitops") {
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(append([]string{}, pkg.GoFiles...), pkg.EmbedFiles...) {
			p := filepath.ToSlash(filepath.Join(rel, f))
			if !isCopied(copied, p) {
				t.Errorf("%s (package %s) is not copied into the build stage", p, pkg.ImportPath)
			}
			if pat := ignoredBy(ignores, p); pat != "" {
				t.Errorf("%s (package %s) is excluded by .dockerignore pattern %q", p, pkg.ImportPath, pat)
			}
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !copied[f] {
			t.Errorf("%s is not copied", f)
		}
	}
}

// TestImageNeedsNoGit: the image has no git binary (nor a shell), so what it
// runs, the hub and the klusterlet, must not start programs: Git is go-git in
// process. (`ocm-gitops preview` and `lab` drive the git CLI; they run in CI
// and on workstations, not from this image.)
func TestImageNeedsNoGit(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := listLocalPackages(t, root, "./pkg/hub", "./pkg/klusterlet", "./pkg/metrics")
	for _, p := range pkgs {
		if slices.Contains(p.Imports, "os/exec") {
			t.Errorf("%s imports os/exec; the hub and klusterlet image has no programs to run: use a Go library", p.ImportPath)
		}
	}
}

func goModVersion(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func listLocalPackages(t *testing.T, root string, patterns ...string) []localPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Imports,Module"}, patterns...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []localPackage
	for {
		var p localPackage
		if err := dec.Decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if p.Module != nil && p.Module.Path == "github.com/ocm-gitops/ocm-gitops" {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d local packages", len(pkgs))
	}
	return pkgs
}

func isCopied(copied map[string]bool, p string) bool {
	for src := range copied {
		if p == src || strings.HasPrefix(p, src+"/") {
			return true
		}
	}
	return false
}

func readIgnores(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// ignoredBy returns the .dockerignore pattern excluding p: a pattern matches
// the path or one of its parent folders; "**/" matches any depth.
func ignoredBy(patterns []string, p string) string {
	parts := strings.Split(p, "/")
	for _, pat := range patterns {
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			if ok, _ := filepath.Match(pat, prefix); ok {
				return pat
			}
			if rest, found := strings.CutPrefix(pat, "**/"); found {
				if ok, _ := filepath.Match(rest, parts[i-1]); ok {
					return pat
				}
			}
		}
	}
	return ""
}
