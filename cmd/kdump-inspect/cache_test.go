package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCacheCommand: list shows what a decompression put in the cache,
// clear removes it, and a file of this process survives neither.
func TestCacheCommand(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("KDUMP_INSPECT_CACHE", cache)
	dir := t.TempDir()
	enc, _ := zstd.NewWriter(nil)
	src := filepath.Join(dir, "notes.txt.zst")
	if err := os.WriteFile(src, enc.EncodeAll(bytes.Repeat([]byte("x"), 5000), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not opened by this process: made as another run would leave it.
	files := filepath.Join(cache, "files")
	os.MkdirAll(files, 0o755)
	os.WriteFile(filepath.Join(files, "0123456789abcdef-notes.txt"), bytes.Repeat([]byte("x"), 5000), 0o600)

	out, errb, code := runMain(t, "", "cache")
	if code != 0 || !strings.Contains(out, "0123456789abcdef-notes.txt") || !strings.Contains(out, cache+": 1 file(s)") {
		t.Fatalf("cache --list: code %d\n%s%s", code, out, errb)
	}
	out, errb, code = runMain(t, "", "cache", "--clear")
	if code != 0 || !strings.HasPrefix(out, "removed 1 file(s)") {
		t.Fatalf("cache --clear: code %d\n%s%s", code, out, errb)
	}
	if ents, _ := os.ReadDir(files); len(ents) != 0 {
		t.Errorf("after --clear: %d files left", len(ents))
	}
	if _, _, code := runMain(t, "", "cache", "--list", "--clear"); code != exitBad {
		t.Errorf("cache --list --clear: code %d, want %d", code, exitBad)
	}
}
