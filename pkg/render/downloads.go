package render

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// downloads keeps chart archives fetched for dependencies on disk. A file is
// named by a hash of what identifies it, never by anything a chart says, and
// is written and read through an os.Root on the cache folder: no name can
// place a file outside it.
type downloads struct {
	dir string // "" keeps nothing
}

// name is the cache file for an archive identified by key.
func (d downloads) name(key ...string) string {
	h := sha256.New()
	for _, k := range key {
		fmt.Fprintf(h, "%d:%s\x00", len(k), k)
	}
	return hex.EncodeToString(h.Sum(nil)) + ".tgz"
}

// chart returns the cached chart for key, or nil. A file that does not match
// wantDigest (when given) or fails the archive checks is ignored.
func (d downloads) chart(ctx context.Context, wantDigest string, key ...string) *chart.Chart {
	if d.dir == "" || ctx.Err() != nil {
		return nil
	}
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return nil
	}
	defer root.Close()
	data, err := root.ReadFile(d.name(key...))
	if err != nil || !digestOK(data, wantDigest) || source.CheckChartArchive(bytes.NewReader(data)) != nil {
		return nil
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	return ch
}

// put stores data under key, atomically.
func (d downloads) put(data []byte, key ...string) error {
	if d.dir == "" {
		return nil
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tmp := ".download-" + rand.Text()
	if err := root.WriteFile(tmp, data, 0o644); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, d.name(key...)); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	return nil
}

// chartName is what Helm's documentation allows in chart names, plus the
// upper case, dots and underscores older charts use: no path separators, no
// leading dot.
var chartName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// maxChartName bounds chart and alias names (a file name's limit).
const maxChartName = 250

// checkDependencyName refuses a dependency name that is not a plain chart
// name: Chart.yaml is input, and such names end up in paths and URLs.
func checkDependencyName(name string) error {
	if len(name) > maxChartName {
		return fmt.Errorf("the name is %d characters, over the limit of %d", len(name), maxChartName)
	}
	if !chartName.MatchString(name) {
		return errors.New("not a chart name: use letters, digits, '-', '_' and '.' only, starting with a letter or digit")
	}
	return nil
}
