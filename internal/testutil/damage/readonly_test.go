package damage

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

func hashFile(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// openFiles returns, for every descriptor of this process open on a file
// for which keep(path) holds, its open flags (/proc/self/fdinfo).
func openFiles(t *testing.T, keep func(string) bool) map[string][]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	out := map[string][]int{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !keep(target) {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				fl, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				if err == nil {
					out[target] = append(out[target], int(fl))
				}
			}
		}
	}
	return out
}

// mappings returns the permissions of every mapping of a file for which
// keep(path) holds (/proc/self/maps).
func mappings(t *testing.T, keep func(string) bool) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && keep(f[5]) {
			out[f[5]] = append(out[f[5]], f[1])
		}
	}
	return out
}

// checkReadOnly: every descriptor open on the files is O_RDONLY, every
// mapping of them is without write permission.
func checkReadOnly(t *testing.T, keep func(string) bool, wantOpen string) {
	t.Helper()
	fds := openFiles(t, keep)
	if wantOpen != "" && len(fds[wantOpen]) == 0 {
		t.Errorf("%s is not open (fds: %v)", wantOpen, fds)
	}
	for p, fls := range fds {
		for _, fl := range fls {
			if fl&syscall.O_ACCMODE != syscall.O_RDONLY {
				t.Errorf("%s is open with flags %#o, not O_RDONLY", p, fl)
			}
		}
	}
	for p, perms := range mappings(t, keep) {
		for _, perm := range perms {
			if strings.Contains(perm, "w") {
				t.Errorf("%s is mapped %s (writable)", p, perm)
			}
		}
	}
}

// TestSyntheticDumpReadOnly: a synthetic kdump is opened O_RDONLY, mapped
// without write permission, and byte-identical after it was read.
func TestSyntheticDumpReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vmcore.kdump")
	if err := os.WriteFile(path, synthKdump(t, binary.LittleEndian, coregen.Zlib), 0o644); err != nil {
		t.Fatal(err)
	}
	elfPath := filepath.Join(dir, "vmcore.elf")
	if err := os.WriteFile(elfPath, synthELF(binary.BigEndian), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, elfPath} {
		before := hashFile(t, p)
		d, err := dump.Open([]string{p}, dump.Options{})
		if err != nil {
			t.Fatal(err)
		}
		keep := func(s string) bool { return s == p }
		checkReadOnly(t, keep, p)
		if len(mappings(t, keep)[p]) == 0 {
			t.Errorf("%s: not mapped (the dump package mmaps its input)", p)
		}
		var buf [64]byte
		for _, r := range d.Ranges {
			for a := r.Start; a+64 <= r.End; a += 4096 {
				d.Phys.ReadAt(buf[:], a)
			}
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		if fds := openFiles(t, keep); len(fds) != 0 {
			t.Errorf("%s still open after Close: %v", p, fds)
		}
		if hashFile(t, p) != before {
			t.Errorf("%s changed while it was read", p)
		}
	}
}

// TestCorpusInputsUnchanged: the corpus dump, its vmlinux and its .ko
// files are opened read-only and byte-identical after kernel.Open,
// modules.Analyze and audit.AuditDump.
func TestCorpusInputsUnchanged(t *testing.T) {
	path, opts := corpusJob(t, "buggy-radix")
	files := []string{path, opts.Vmlinux}
	kos, _ := filepath.Glob(filepath.Join(opts.ModuleDirs[0], "*.ko"))
	files = append(files, kos...)
	before := map[string][32]byte{}
	for _, f := range files {
		before[f] = hashFile(t, f)
	}
	p, err := kernel.Open([]string{path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	set := modules.Analyze(p)
	if len(set.Modules) == 0 {
		t.Fatal("no modules")
	}
	// Every file of the corpus or the decompression cache open now.
	// /proc/self/fd shows resolved paths: resolve ours too (../shared may
	// be a symbolic link).
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	root := filepath.Dir(filepath.Dir(path))
	keep := func(s string) bool {
		return strings.HasPrefix(s, root) || strings.Contains(s, "kdump-inspect") || strings.HasSuffix(s, ".ko") || strings.Contains(s, "vmlinux")
	}
	checkReadOnly(t, keep, path)
	p.Close()
	res := audit.AuditDump(audit.Job{Paths: []string{path}, Options: opts}, audit.Options{})
	if res.Failed() {
		t.Fatalf("audit: %s", res.Error)
	}
	for _, f := range files {
		if hashFile(t, f) != before[f] {
			t.Errorf("%s changed", f)
		}
	}
}
