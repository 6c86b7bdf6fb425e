package source

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Bounds on what a chart archive may unpack to. Helm's loader buffers every
// file of an archive in memory (up to 100 MiB); checking the tar headers
// first, while streaming, keeps a small archive that expands to gigabytes
// ("zip bomb") from costing more than a read of its headers.
const (
	// MaxChartUnpackedBytes bounds the sum of a chart archive's file sizes.
	MaxChartUnpackedBytes = 64 << 20
	// MaxChartFiles bounds the number of entries of a chart archive.
	MaxChartFiles = 10000
)

// CheckChartArchive reads a gzipped tar chart archive as a stream, without
// keeping its contents, and fails when it is not one, when its entries add
// up to more than MaxChartUnpackedBytes or MaxChartFiles, or when an entry
// name is absolute or climbs out of the chart ("../"). Reading stops at the
// first entry past a limit, so the cost is bounded whatever the archive
// claims.
func CheckChartArchive(r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzipped chart archive: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("the chart archive is empty")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("chart archive entry %d: %w", n+1, err)
		}
		if n >= MaxChartFiles {
			return fmt.Errorf("the chart archive has more than %d entries", MaxChartFiles)
		}
		name := path.Clean(strings.ReplaceAll(hd.Name, `\`, "/"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("chart archive entry %q leaves the chart folder", hd.Name)
		}
		if hd.Size < 0 || hd.Size > MaxChartUnpackedBytes-total {
			return fmt.Errorf("the chart archive unpacks to more than %d MiB (at entry %q); a chart this large is refused", MaxChartUnpackedBytes>>20, hd.Name)
		}
		total += hd.Size
	}
}
