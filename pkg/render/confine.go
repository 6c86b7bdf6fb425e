package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// jail keeps every read inside one artifact: paths are resolved through
// symlinks and must stay under root (which names the file in messages), and
// files are size-limited. Files are opened through an os.Root on the
// artifact, so a path checked here cannot be turned into an escape between
// the check and the open.
type jail struct {
	// root is the artifact directory with symlinks resolved.
	root string
	// fs opens files beneath root only.
	fs *os.Root
	// maxFile is the largest file that may be read, in bytes.
	maxFile int64
}

// newJail opens the artifact at dir; close it when done.
func newJail(dir string, maxFile int64) (*jail, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artifact directory %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("artifact directory %q: %w", dir, err)
	}
	fs, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("artifact directory %q: %w", dir, err)
	}
	return &jail{root: real, fs: fs, maxFile: maxFile}, nil
}

func (j *jail) close() { j.fs.Close() }

// inRoot is the name of real (a resolved path inside the artifact) for j.fs.
func (j *jail) inRoot(real string) string {
	if real == j.root {
		return "."
	}
	return strings.TrimPrefix(real, j.root+string(filepath.Separator))
}

// open opens a resolved path through the artifact's os.Root.
func (j *jail) open(real string) (*os.File, error) {
	f, err := j.fs.Open(j.inRoot(real))
	if err != nil {
		return nil, j.openErr(real, err)
	}
	return f, nil
}

// openErr names the file of a failed open; os.Root's refusal to follow a
// path out of the artifact reads like resolve's.
func (j *jail) openErr(p string, err error) error {
	if strings.Contains(err.Error(), "path escapes") { // os.Root's unexported errPathEscapes
		return &Error{File: j.rel(p), Err: errors.New("leads outside the repository: symlinks and paths must stay inside it")}
	}
	return j.fsErr(p, err)
}

// rel is p relative to the artifact root, with forward slashes, for
// messages: a path outside the artifact shows as ../..., never as one of the
// hub's absolute paths.
func (j *jail) rel(p string) string {
	if !filepath.IsAbs(p) {
		return filepath.ToSlash(p)
	}
	r, err := filepath.Rel(j.root, p)
	if err != nil {
		return filepath.Base(p)
	}
	return filepath.ToSlash(r)
}

// fsErr is a file system error about p, naming p relative to the artifact:
// the error's own text would show the hub's absolute path.
func (j *jail) fsErr(p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return &Error{File: j.rel(p), Err: err}
}

func (j *jail) contains(p string) bool {
	return p == j.root || strings.HasPrefix(p, j.root+string(filepath.Separator))
}

// resolve returns p with symlinks resolved, or an *Error when p leads out of
// the artifact. A path that does not exist is checked lexically.
func (j *jail) resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", j.fsErr(p, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		// Resolve the deepest existing parent, so a symlinked parent that
		// leaves the artifact is still caught.
		parent, base := filepath.Split(abs)
		parent = filepath.Clean(parent)
		if parent == abs {
			return "", j.fsErr(p, err)
		}
		rp, perr := j.resolve(parent)
		if perr != nil {
			return "", perr
		}
		real = filepath.Join(rp, base)
	} else if err != nil {
		return "", j.fsErr(abs, err)
	}
	if !j.contains(real) {
		return "", &Error{File: j.rel(abs), Err: errors.New("leads outside the repository: symlinks and paths must stay inside it")}
	}
	return real, nil
}

// readFile reads a file inside the artifact, refusing escapes and files over
// the size limit.
func (j *jail) readFile(p string) ([]byte, error) {
	real, err := j.resolve(p)
	if err != nil {
		return nil, err
	}
	return j.readResolved(real)
}

// readResolved reads a path resolve returned.
func (j *jail) readResolved(p string) ([]byte, error) {
	f, err := j.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, j.fsErr(p, err)
	}
	if st.IsDir() {
		return nil, &Error{File: j.rel(p), Err: errors.New("is a directory, not a file")}
	}
	if st.Size() > j.maxFile {
		return nil, j.tooBig(p, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, j.maxFile+1))
	if err != nil {
		return nil, j.fsErr(p, err)
	}
	if int64(len(data)) > j.maxFile {
		return nil, j.tooBig(p, int64(len(data)))
	}
	return data, nil
}

func (j *jail) tooBig(p string, size int64) error {
	return &Error{File: j.rel(p), Err: fmt.Errorf("file is %d bytes, over the %d-byte limit per file; split it or keep large data out of the repository", size, j.maxFile)}
}

// scrub removes the artifact's absolute location from a library's error
// message, so messages name repository paths only.
func (j *jail) scrub(msg string) string {
	return strings.ReplaceAll(msg, j.root+string(filepath.Separator), "")
}
