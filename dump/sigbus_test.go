package dump

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// TestTruncatedUnderMapping: a dump file cut short after it was opened
// (another process rewriting it, a full disk) makes the mapping's pages
// past the new end raise SIGBUS; reads must fail with a typed error that
// names the file, and the process must live. Without the guard this test
// dies with "unexpected fault address".
func TestTruncatedUnderMapping(t *testing.T) {
	const page = 4096
	e := coregen.ELF{Order: binary.LittleEndian, Segments: []coregen.Segment{
		{Paddr: 0, Data: make([]byte, 16*page)},
		{Paddr: 1 << 20, Data: pattern(7, 16*page)},
	}, Notes: cpuNotes(binary.LittleEndian, 1)}
	path := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(path, e.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, 64)
	if _, err := d.Phys.ReadAt(buf, 1<<20+8*page); err != nil {
		t.Fatalf("before truncation: %v", err)
	}
	if err := os.Truncate(path, 8*page); err != nil {
		t.Fatal(err)
	}
	_, err = d.Phys.ReadAt(buf, 1<<20+12*page)
	var fc *FileChangedError
	if !errors.As(err, &fc) || fc.File != path {
		t.Fatalf("read past the new end: %v, want a *FileChangedError naming %s", err, path)
	}
	if f, ok := IsFault(err); !ok || f.Reason != Truncated {
		t.Errorf("read past the new end: %v, want a Truncated fault", err)
	}
	// Reads before the new end still work.
	if _, err := d.Phys.ReadAt(buf, 4*page); err != nil {
		t.Errorf("read before the new end: %v", err)
	}
}
