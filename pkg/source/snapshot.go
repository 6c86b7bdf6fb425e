package source

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// exportLimits bound one snapshot: Git trees can repeat subtrees, so a
// handful of objects can name millions of files ("Git bomb").
type exportLimits struct {
	files int
	bytes int64
}

// Default export limits.
const (
	DefaultMaxExportFiles = 25000
	DefaultMaxExportBytes = 1 << 30
)

// checkTree counts the files of tree and adds up their sizes from the
// object headers, without reading any content, stopping at the first limit
// passed.
func checkTree(repo *git.Repository, tree *object.Tree, l exportLimits) error {
	files, total := 0, int64(0)
	errStop := fmt.Errorf("stop")
	var over error
	err := walkFiles(tree, func(name string, e object.TreeEntry) error {
		if e.Mode == filemode.Submodule {
			return nil
		}
		files++
		if files > l.files {
			over = fail(KindInvalid, nil, "the commit has more than %d files; the hub exports at most that many (narrow the repository, or raise the hub's limit)", l.files)
			return errStop
		}
		size, err := repo.Storer.EncodedObjectSize(e.Hash)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if total += size; total > l.bytes {
			over = fail(KindInvalid, nil, "the commit's files add up to more than %d MiB; the hub exports at most that much (narrow the repository, or raise the hub's limit)", l.bytes>>20)
			return errStop
		}
		return nil
	})
	if over != nil {
		return over
	}
	return err
}

// exportCommit writes the tree of a commit into dir, atomically: it appears
// complete or not at all, and only when it is within the limits. Files are
// read-only. Files unchanged since base (an
// earlier commit whose snapshot is at baseDir) are hard-linked from that
// snapshot instead of written again, which makes exporting the next commit
// of a big repository cheap. Symbolic links that would point outside the
// snapshot are left out, so a repository cannot make the hub read its own
// files.
func exportCommit(repo *git.Repository, hash plumbing.Hash, dir string, base plumbing.Hash, baseDir string, limits exportLimits) error {
	c, err := repo.CommitObject(hash)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	if err := checkTree(repo, tree, limits); err != nil {
		return err
	}
	x := &exporter{repo: repo, reuse: baseFiles(repo, base, baseDir), baseDir: baseDir, made: map[string]bool{}}
	return writeSnapshot(dir, func(tmp string) error {
		x.root = tmp
		defer func() { dropEscapingLinks(tmp, x.links) }()
		return walkFiles(tree, x.write)
	})
}

// baseFiles maps the regular files of the base commit to their blobs, when
// its snapshot can seed the export; nil otherwise.
func baseFiles(repo *git.Repository, base plumbing.Hash, baseDir string) map[string]plumbing.Hash {
	if base.IsZero() || baseDir == "" {
		return nil
	}
	bc, err := repo.CommitObject(base)
	if err != nil {
		return nil
	}
	bt, err := bc.Tree()
	if err != nil {
		return nil
	}
	reuse := map[string]plumbing.Hash{}
	_ = walkFiles(bt, func(name string, e object.TreeEntry) error {
		if e.Mode == filemode.Regular || e.Mode == filemode.Executable {
			reuse[name] = e.Hash
		}
		return nil
	})
	return reuse
}

// exporter writes one commit's files under root.
type exporter struct {
	repo    *git.Repository
	root    string
	reuse   map[string]plumbing.Hash // files of the base snapshot
	baseDir string
	made    map[string]bool // folders created
	links   []string        // symbolic links written
}

// write writes one tree entry: a hard link to the base snapshot's file when
// unchanged, else the blob; symbolic links only when they stay inside.
func (x *exporter) write(name string, e object.TreeEntry) error {
	if e.Mode == filemode.Submodule || e.Mode == filemode.Dir {
		return nil
	}
	target, err := safeJoin(x.root, name)
	if err != nil {
		return err
	}
	if parent := filepath.Dir(target); !x.made[parent] {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		x.made[parent] = true
	}
	if h, ok := x.reuse[name]; ok && h == e.Hash && e.Mode != filemode.Symlink {
		if src, err := safeJoin(x.baseDir, name); err == nil && os.Link(src, target) == nil {
			return nil
		}
	}
	blob, err := x.repo.BlobObject(e.Hash)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	if e.Mode != filemode.Symlink {
		return writeFileFrom(target, r)
	}
	link, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil || !symlinkInside(name, string(link)) {
		return err
	}
	x.links = append(x.links, target)
	return os.Symlink(string(link), target)
}

// walkFiles calls fn for every non-tree entry under tree, with its
// slash-separated path, without reading any blob.
func walkFiles(tree *object.Tree, fn func(name string, e object.TreeEntry) error) error {
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Mode == filemode.Dir {
			continue
		}
		if err := fn(name, e); err != nil {
			return err
		}
	}
}

// writeSnapshot builds a snapshot in a temporary folder next to dir, makes
// it read-only and renames it into place.
func writeSnapshot(dir string, fill func(tmp string) error) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
	if err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		removeTree(tmp)
		return err
	}
	if err := makeReadOnly(tmp); err != nil {
		removeTree(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		removeTree(tmp)
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // someone else finished the same snapshot first
		}
		return err
	}
	return nil
}

// makeReadOnly clears every write bit under root: an exported snapshot is
// shared by every render of its revision and must not change.
func makeReadOnly(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			dirs = append(dirs, p)
		case d.Type().IsRegular():
			return os.Chmod(p, 0o444)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Folders last, deepest first, so the walk could still read them.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return err
		}
	}
	return nil
}

// removeTree deletes a possibly read-only snapshot: its folders are made
// writable first (which a non-root hub needs to delete their entries).
func removeTree(root string) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(root)
}

func writeFileFrom(target string, r io.Reader) error {
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// safeJoin joins a slash-separated relative name under root, refusing names
// that climb out of it.
func safeJoin(root, name string) (string, error) {
	clean := path.Clean("/" + name)
	if clean == "/" || strings.Contains(name, "\x00") {
		return "", fmt.Errorf("invalid path %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q climbs out of the snapshot", name)
		}
	}
	return filepath.Join(root, filepath.FromSlash(clean[1:])), nil
}

// symlinkInside reports whether a link at name pointing to target stays
// within the snapshot.
func symlinkInside(name, target string) bool {
	if target == "" || path.IsAbs(target) || strings.Contains(target, "\x00") {
		return false
	}
	var stack []string
	for _, part := range strings.Split(path.Dir(name), "/") {
		if part != "" && part != "." {
			stack = append(stack, part)
		}
	}
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if len(stack) == 0 {
				return false
			}
			stack = stack[:len(stack)-1]
		default:
			stack = append(stack, part)
		}
	}
	return len(stack) > 0
}

// dropEscapingLinks removes links that, followed through every other link
// in the tree, end outside root or nowhere.
func dropEscapingLinks(root string, links []string) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return
	}
	for _, l := range links {
		resolved, err := filepath.EvalSymlinks(l)
		if err != nil || (resolved != realRoot && !strings.HasPrefix(resolved, realRoot+string(filepath.Separator))) {
			_ = os.Remove(l)
		}
	}
}

// sweepDir deletes entries of dir not named in keep whose modification time
// is before cutoff: leftovers of an earlier process or of failed writes.
func sweepDir(dir string, cutoff time.Time, keep map[string]bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if keep[e.Name()] || !e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
