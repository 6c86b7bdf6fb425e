package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// unitKind is how a part of the Subscription's path is rendered.
type unitKind int

const (
	unitPlain unitKind = iota
	unitKustomize
	unitHelm
)

func (k unitKind) String() string {
	switch k {
	case unitKustomize:
		return "kustomize"
	case unitHelm:
		return "helm"
	}
	return "plain"
}

// unit is one thing to render: a plain YAML file, a Kustomize root or a chart.
type unit struct {
	kind unitKind
	// path is the file (plain) or directory (Kustomize, Helm), symlinks resolved.
	path string
}

// Names OCM gives special meaning to, at the root of a Subscription's path.
const (
	kubernetesIgnoreFile = ".kubernetesignore"
	preHookDir           = "prehook"
	postHookDir          = "posthook"
)

var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// resolvePath turns the Subscription's path into a directory or file inside
// the artifact. Like OCM, a leading "/" is relative to the repository root.
func resolvePath(j *jail, subPath string) (string, error) {
	p := filepath.FromSlash(strings.TrimSpace(subPath))
	p = strings.TrimLeft(p, string(filepath.Separator))
	clean := filepath.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", &Error{File: subPath, Field: "metadata.annotations[" + gitPathAnnotation + "]",
			Err: errors.New("the path leaves the repository; give a folder inside it")}
	}
	real, err := j.resolve(filepath.Join(j.root, clean))
	if err != nil {
		var re *Error
		if errors.As(err, &re) {
			re.Field = "metadata.annotations[" + gitPathAnnotation + "]"
		}
		return "", err
	}
	if _, err := os.Stat(real); errors.Is(err, fs.ErrNotExist) {
		return "", &Error{File: filepath.ToSlash(clean), Field: "metadata.annotations[" + gitPathAnnotation + "]",
			Err: errors.New("no such folder or file at this revision; check the path and the branch")}
	} else if err != nil {
		return "", &Error{File: filepath.ToSlash(clean), Err: err}
	}
	return real, nil
}

// detect finds what to render under root, as OCM does: a folder holding
// Chart.yaml is a Helm chart; else one holding a kustomization file is a
// Kustomize root; their subfolders belong to them. Every other .yaml/.yml
// file is plain YAML. The walk is in lexical order, skips hidden folders, the
// prehook/ and posthook/ folders at the root (Ansible hooks in OCM) and what
// the root's .kubernetesignore lists.
func detect(j *jail, root string) ([]unit, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, j.fsErr(root, err)
	}
	if !st.IsDir() {
		if !isYAMLFile(root) {
			return nil, &Error{File: j.rel(root), Err: errors.New("the path names a file that is not .yaml or .yml")}
		}
		return []unit{{kind: unitPlain, path: root}}, nil
	}
	ignore, err := loadIgnore(j, root)
	if err != nil {
		return nil, err
	}
	var units []unit
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return j.fsErr(p, err)
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if p != root {
			if ignore != nil && ignore.Match(parts, d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() && (strings.HasPrefix(d.Name(), ".") ||
				(len(parts) == 1 && (d.Name() == preHookDir || d.Name() == postHookDir))) {
				return filepath.SkipDir
			}
		}
		if d.IsDir() {
			if exists(filepath.Join(p, "Chart.yaml")) {
				units = append(units, unit{kind: unitHelm, path: p})
				return filepath.SkipDir
			}
			for _, k := range kustomizationFiles {
				if exists(filepath.Join(p, k)) {
					units = append(units, unit{kind: unitKustomize, path: p})
					return filepath.SkipDir
				}
			}
			return nil
		}
		if isYAMLFile(p) {
			units = append(units, unit{kind: unitPlain, path: p})
		}
		return nil
	})
	return units, err
}

func isYAMLFile(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	return ext == ".yaml" || ext == ".yml"
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// loadIgnore reads root/.kubernetesignore (gitignore syntax, relative to root).
func loadIgnore(j *jail, root string) (gitignore.Matcher, error) {
	p := filepath.Join(root, kubernetesIgnoreFile)
	if !exists(p) {
		return nil, nil
	}
	data, err := j.readFile(p)
	if err != nil {
		return nil, err
	}
	var patterns []gitignore.Pattern
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, gitignore.ParsePattern(line, nil))
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{File: j.rel(p), Err: fmt.Errorf("read patterns: %w", err)}
	}
	return gitignore.NewMatcher(patterns), nil
}
