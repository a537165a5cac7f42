package elfobj_test

import (
	"debug/elf"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestAgainstDebugELFCorpora: every plain module (.ko) and every vmlinux
// of the built corpora (Debian's x86_64, arm64 and ppc64le
// distro kernels of 6.1 to 7.2 with their -dbg modules, the livepatch
// builds; and ../shared/corpus's) reads as debug/elf reads it: header, section headers and names,
// and the bytes of every section up to 4 MiB (a vmlinux's up to 1 MiB).
func TestAgainstDebugELFCorpora(t *testing.T) {
	roots := []string{testcorpus.Corpora(t)}
	if shared, ok := testcorpus.Root(); ok {
		roots = append(roots, shared) // the ppc64le 7.2.13 corpus
	}
	var files []string
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		// Plain modules only (the .ko.xz the guests loaded are the same
		// code stripped; decompressing thousands would fill the cache);
		// every vmlinux, compressed or not.
		base := d.Name()
		for _, suf := range container.Suffixes {
			base = strings.TrimSuffix(base, suf)
		}
		if strings.HasSuffix(d.Name(), ".ko") || base == "vmlinux" {
			files = append(files, p)
		}
		return nil
	}
	for _, r := range roots {
		filepath.WalkDir(r, walk)
	}
	if len(files) == 0 {
		t.Skipf("no .ko or vmlinux under %s", roots)
	}
	n, sections := 0, 0
	for _, p := range files {
		plain, err := container.Open(p)
		if err != nil {
			t.Logf("%s: %v (not compared)", p, err)
			continue
		}
		fh, err := os.Open(plain)
		if err != nil {
			t.Fatal(err)
		}
		limit := uint64(4 << 20)
		if strings.HasPrefix(filepath.Base(p), "vmlinux") {
			limit = 1 << 20
		}
		ef, eerr := elf.NewFile(fh)
		f, err := elfobj.NewFile(fh)
		if (err == nil) != (eerr == nil) {
			t.Errorf("%s: elfobj %v, debug/elf %v", p, err, eerr)
		}
		if err == nil && eerr == nil {
			sections += same(t, p, f, ef, limit)
			n++
		}
		fh.Close()
	}
	t.Logf("%d files (%d sections) read the same by both", n, sections)
	if n == 0 {
		t.Fatal("no file compared")
	}
}
