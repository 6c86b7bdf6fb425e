package preview

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// repo is a local Git repository read through the git CLI, with each commit
// it is asked for written once into a folder under dir.
type repo struct {
	path string
	dir  string
	// trees maps a commit to the folder holding its tree.
	trees map[string]string
	// maxBytes bounds the size of one exported tree.
	maxBytes int64
}

// git runs the git CLI on the repository and returns its standard output.
func (r *repo) git(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", r.path}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// commit resolves a revision (branch, tag, SHA, HEAD~1...) to a commit.
func (r *repo) commit(ctx context.Context, rev string) (string, error) {
	if strings.TrimSpace(rev) == "" || strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("revision %q is not a branch, tag or commit", rev)
	}
	out, err := r.git(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("revision %q is not a commit of %s; fetch it first (a CI checkout needs the full history, e.g. actions/checkout with fetch-depth: 0)", rev, r.path)
	}
	return strings.TrimSpace(string(out)), nil
}

// remotes returns the fetch URLs of the repository's remotes.
func (r *repo) remotes(ctx context.Context) ([]string, error) {
	out, err := r.git(ctx, "remote", "-v")
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "(fetch)" {
			urls = append(urls, f[1])
		}
	}
	return urls, nil
}

// tree writes the commit's files into a folder and returns it. Blobs are
// written as stored, like the hub's clone sees them: no export-ignore, no
// end-of-line or filter conversion. Submodules are left out.
func (r *repo) tree(ctx context.Context, commit string) (string, error) {
	if dir, ok := r.trees[commit]; ok {
		return dir, nil
	}
	list, err := r.git(ctx, "ls-tree", "-r", "-z", "--full-tree", commit)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(r.dir, commit)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", r.path, "cat-file", "--batch")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("git cat-file: %w", err)
	}
	werr := writeTree(dir, list, in, bufio.NewReader(outPipe), r.maxBytes)
	in.Close()
	if werr != nil {
		_, _ = io.Copy(io.Discard, outPipe)
	}
	if err := cmd.Wait(); err != nil && werr == nil {
		werr = fmt.Errorf("git cat-file: %s", strings.TrimSpace(stderr.String()+" "+err.Error()))
	}
	if werr != nil {
		return "", fmt.Errorf("export commit %s: %w", commit, werr)
	}
	r.trees[commit] = dir
	return dir, nil
}

// writeTree writes the blobs of an `ls-tree -r -z` listing under dir,
// reading each from a `cat-file --batch` process.
func writeTree(dir string, list []byte, req io.Writer, resp *bufio.Reader, maxBytes int64) error {
	var total int64
	for _, entry := range bytes.Split(list, []byte{0}) {
		if len(entry) == 0 {
			continue
		}
		e, err := parseTreeEntry(entry)
		if err != nil || e.typ != "blob" {
			return err // nil for submodules, which are left out
		}
		left := int64(math.MaxInt64)
		if maxBytes > 0 {
			left = maxBytes - total
		}
		data, err := readBlob(req, resp, e, left)
		if errors.Is(err, errTreeTooLarge) {
			return fmt.Errorf("the tree is larger than %d bytes", maxBytes)
		}
		if err != nil {
			return err
		}
		total += int64(len(data))
		if err := writeEntry(dir, e, data); err != nil {
			return err
		}
	}
	return nil
}

var errTreeTooLarge = errors.New("the tree is too large")

// treeEntry is one line of git ls-tree -r -z.
type treeEntry struct {
	mode, typ, sha, name, clean string
}

func parseTreeEntry(entry []byte) (treeEntry, error) {
	meta, name, ok := strings.Cut(string(entry), "\t")
	f := strings.Fields(meta)
	if !ok || len(f) != 3 {
		return treeEntry{}, fmt.Errorf("unexpected ls-tree entry %q", entry)
	}
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return treeEntry{}, fmt.Errorf("path %q leaves the tree", name)
	}
	return treeEntry{mode: f[0], typ: f[1], sha: f[2], name: name, clean: clean}, nil
}

// readBlob asks git cat-file --batch for one blob, refusing one larger
// than left bytes (when maxBytes was set, left is what remains of it).
func readBlob(req io.Writer, resp *bufio.Reader, e treeEntry, left int64) ([]byte, error) {
	if _, err := io.WriteString(req, e.sha+"\n"); err != nil {
		return nil, err
	}
	header, err := resp.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.name, err)
	}
	h := strings.Fields(header)
	if len(h) != 3 || h[0] != e.sha {
		return nil, fmt.Errorf("read %s: unexpected answer %q", e.name, strings.TrimSpace(header))
	}
	size, err := strconv.ParseInt(h[2], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.name, err)
	}
	if size > left {
		return nil, errTreeTooLarge
	}
	data := make([]byte, size+1) // the content and a newline
	if _, err := io.ReadFull(resp, data); err != nil {
		return nil, fmt.Errorf("read %s: %w", e.name, err)
	}
	return data[:size], nil
}

// writeEntry writes a blob as a file, an executable or a symbolic link
// (kept: the renderer confines what it reads to the tree).
func writeEntry(dir string, e treeEntry, data []byte) error {
	target := filepath.Join(dir, e.clean)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	switch e.mode {
	case "120000":
		return os.Symlink(string(data), target)
	case "100755":
		return os.WriteFile(target, data, 0o755)
	}
	return os.WriteFile(target, data, 0o644)
}
