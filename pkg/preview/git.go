package preview

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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
		meta, name, ok := strings.Cut(string(entry), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return fmt.Errorf("unexpected ls-tree entry %q", entry)
		}
		mode, typ, sha := f[0], f[1], f[2]
		if typ != "blob" {
			continue // submodules
		}
		clean := filepath.Clean(filepath.FromSlash(name))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return fmt.Errorf("path %q leaves the tree", name)
		}
		if _, err := io.WriteString(req, sha+"\n"); err != nil {
			return err
		}
		header, err := resp.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		h := strings.Fields(header)
		if len(h) != 3 || h[0] != sha {
			return fmt.Errorf("read %s: unexpected answer %q", name, strings.TrimSpace(header))
		}
		size, err := strconv.ParseInt(h[2], 10, 64)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if total += size; maxBytes > 0 && total > maxBytes {
			return fmt.Errorf("the tree is larger than %d bytes", maxBytes)
		}
		data := make([]byte, size+1) // the content and a newline
		if _, err := io.ReadFull(resp, data); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		data = data[:size]
		target := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		switch mode {
		case "120000":
			// Symbolic links are kept; the renderer confines what it reads to the tree.
			err = os.Symlink(string(data), target)
		case "100755":
			err = os.WriteFile(target, data, 0o755)
		default:
			err = os.WriteFile(target, data, 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
