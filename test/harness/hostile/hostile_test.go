package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

// entries reads an archive back: name → bytes of data, and whether it ended
// short of what its headers claim.
func entries(t *testing.T, data []byte) (map[string]int64, bool) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, false
		}
		if err != nil {
			return out, true
		}
		n, err := io.Copy(io.Discard, tr)
		out[h.Name] = n
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return out, true
		}
	}
}

func TestArchive(t *testing.T) {
	got, short := entries(t, Archive(t, File{Name: "a", Content: "hello"}, File{Name: "b", Size: 3 << 20}))
	if short || got["a"] != 5 || got["b"] != 3<<20 {
		t.Errorf("honest archive read back as %v (short %v)", got, short)
	}
	bomb := BombChart(t, "c", "1.0.0")
	if len(bomb) > 1<<20 {
		t.Errorf("bomb weighs %d bytes, want well under 1 MiB", len(bomb))
	}
	if got, _ := entries(t, bomb); len(got) != 21 || got["c/files/blob0"] != 4<<20 {
		t.Errorf("bomb read back as %d entries, blob0 %d bytes", len(got), got["c/files/blob0"])
	}
	if _, short := entries(t, Archive(t, File{Name: "liar", Size: 10 << 30})); !short {
		t.Error("an entry claiming 10 GiB did not leave the archive short")
	}
}

func TestAllocated(t *testing.T) {
	var keep []byte
	if n := Allocated(func() { keep = make([]byte, 8<<20) }); n < 8<<20 {
		t.Errorf("allocating 8 MiB counted %d bytes", n)
	}
	_ = keep
}
