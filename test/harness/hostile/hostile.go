// Package hostile builds the hostile inputs tests throw at the hub (chart
// archives that unpack to far more than they weigh, archives whose headers
// lie) and measures what handling them cost. It imports only the standard
// library, so the tests of any package can use it.
package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"runtime"
	"testing"
)

// File is one entry of a test archive: Content, or Size zero bytes. Type is
// a tar type flag (a regular file when zero).
type File struct {
	Name    string
	Size    int64
	Content string
	Type    byte
}

// maxWritten bounds the zeros written for one entry: a larger Size is a
// lying header, and the archive ends short, as intended.
const maxWritten = 200 << 20

// Archive builds a gzipped tar of files, writing each header as given.
func Archive(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	zeros := make([]byte, 1<<20)
	lying := false
	for _, f := range files {
		size := f.Size
		if f.Content != "" {
			size = int64(len(f.Content))
		}
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o644, Size: size, Typeflag: typ}); err != nil {
			t.Fatal(err)
		}
		if f.Content != "" {
			_, _ = tw.Write([]byte(f.Content))
			continue
		}
		lying = lying || size > maxWritten
		for left := min(size, maxWritten); left > 0; left -= int64(len(zeros)) {
			if _, err := tw.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil && !lying {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// BombChart is a chart archive of a few hundred KiB that unpacks to 80 MiB.
func BombChart(t testing.TB, name, version string) []byte {
	files := []File{{Name: name + "/Chart.yaml", Content: "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n"}}
	for i := range 20 {
		files = append(files, File{Name: fmt.Sprintf("%s/files/blob%d", name, i), Size: 4 << 20})
	}
	return Archive(t, files...)
}

// Allocated returns how many bytes f allocated in all (freed or not), an
// upper bound on the memory it held at any moment.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
