package container

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestOpenFollowsLinkFile: the corpus checks vmlinux.zst in as a 35-byte
// file holding "../kernels/7.2.13-fixed/vmlinux.zst"; naming it with -s must
// open the file it names.
func TestOpenFollowsLinkFile(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	dir := t.TempDir()
	want := bytes.Repeat([]byte("\x7fELF kernel image "), 1000)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "kernels", "vmlinux.zst")
	os.MkdirAll(filepath.Dir(real), 0o755)
	if err := os.WriteFile(real, enc.EncodeAll(want, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "fixed", "vmlinux.zst")
	os.MkdirAll(filepath.Dir(link), 0o755)
	os.WriteFile(link, []byte("../kernels/vmlinux.zst"), 0o644)

	plain, err := Open(link)
	if err != nil {
		t.Fatalf("Open(link file): %v", err)
	}
	got, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Open(link file) gave %d bytes starting %q, want the %d decompressed bytes of the file it names", len(got), got[:min(len(got), 16)], len(want))
	}

	// A small file that names nothing that exists is not a link.
	notLink := filepath.Join(dir, "note.txt")
	os.WriteFile(notLink, []byte("../kernels/missing"), 0o644)
	if p, err := Open(notLink); err != nil || p != notLink {
		t.Errorf("Open(small non-link file) = %q, %v; want the file itself", p, err)
	}
}
