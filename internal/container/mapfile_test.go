package container

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteAtomicAndMap: a file written by WriteAtomic maps back with its
// bytes; a write that fails leaves the old file and no temporary file; a
// mapping made before a rewrite keeps the old bytes; a file larger than
// the limit is refused.
func TestWriteAtomicAndMap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f")
	put := func(s string, fail error) error {
		return WriteAtomic(path, ".f", func(w io.Writer) error {
			io.WriteString(w, s)
			return fail
		})
	}
	if err := put("first", nil); err != nil {
		t.Fatal(err)
	}
	b, unmap, err := MapFile(path, 100)
	if err != nil || string(b) != "first" {
		t.Fatalf("MapFile = %q, %v", b, err)
	}
	defer unmap()
	boom := errors.New("boom")
	if err := put("second", boom); !errors.Is(err, boom) {
		t.Fatalf("failed write returned %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Errorf("after a failed write the file holds %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := put("third!", nil); err != nil {
		t.Fatal(err)
	}
	if string(b) != "first" {
		t.Errorf("the old mapping reads %q after a rewrite", b)
	}
	if b2, un2, err := MapFile(path, 100); err != nil || string(b2) != "third!" {
		t.Errorf("new mapping %q, %v", b2, err)
	} else {
		un2()
	}
	if _, _, err := MapFile(path, 3); err == nil {
		t.Error("a file over the limit was mapped")
	}
}
