package render

import (
	"bytes"
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"slices"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// chartFiles reads the chart in dir the way Helm's loader.LoadDir does —
// every file .helmignore (and Helm's defaults) keep, symlinks followed, in
// lexical order, a UTF-8 byte order mark dropped — but through the jail:
// links stay inside the artifact, files are size-limited and opened through
// its os.Root, and a directory link that leads back to one of its parents is
// refused instead of walked forever.
func (j *jail) chartFiles(dir string) ([]*loader.BufferedFile, error) {
	rules := ignore.Empty()
	data, err := j.readResolved(filepath.Join(dir, ignore.HelmIgnore))
	var re *Error
	switch {
	case err == nil:
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, &Error{File: j.rel(filepath.Join(dir, ignore.HelmIgnore)), Err: err}
		}
	case !errors.As(err, &re) || !errors.Is(re.Err, fs.ErrNotExist):
		return nil, err
	}
	rules.AddDefaults()
	w := &chartWalk{j: j, rules: rules}
	err = w.dir(dir, dir, "", []string{dir})
	return w.files, err
}

type chartWalk struct {
	j     *jail
	rules *ignore.Rules
	files []*loader.BufferedFile
}

// dir reads the directory at real (resolved), reached through the path
// shown and named name in the chart; parents are the resolved directories
// above it.
func (w *chartWalk) dir(real, shown, name string, parents []string) error {
	f, err := w.j.open(real)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return w.j.fsErr(real, err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := w.entry(filepath.Join(real, n), filepath.Join(shown, n), path.Join(name, n), parents); err != nil {
			return err
		}
	}
	return nil
}

// entry reads one entry of a directory: real is its path in the resolved
// directory, p its path through any links, name its name in the chart.
// Only symlinks need resolving; everything is read through the os.Root.
func (w *chartWalk) entry(real, p, name string, parents []string) error {
	fi, err := w.j.fs.Lstat(w.j.inRoot(real))
	if err != nil {
		return w.j.openErr(p, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if real, err = w.j.resolve(p); err != nil {
			return err
		}
		if fi, err = w.j.fs.Stat(w.j.inRoot(real)); err != nil {
			return w.j.openErr(p, err)
		}
	}
	if w.rules.Ignore(name, fi) {
		return nil
	}
	if fi.IsDir() {
		if slices.Contains(parents, real) {
			return &Error{File: w.j.rel(p), Err: errors.New("symlink cycle: this directory link leads back to a folder above it")}
		}
		return w.dir(real, p, name, append(parents, real))
	}
	if !fi.Mode().IsRegular() {
		return &Error{File: w.j.rel(p), Err: errors.New("not a regular file; a chart holds files and folders only")}
	}
	if fi.Size() > w.j.maxFile {
		return w.j.tooBig(p, fi.Size())
	}
	data, err := w.j.readResolved(real)
	if err != nil {
		return err
	}
	w.files = append(w.files, &loader.BufferedFile{Name: name, Data: bytes.TrimPrefix(data, utf8BOM)})
	return nil
}
