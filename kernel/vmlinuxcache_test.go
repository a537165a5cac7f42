package kernel

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestSharedVmlinuxCorpus: Programs of this process that open the same
// vmlinux at the same time share one ELFFile and one Types; closing one
// leaves the others' vmlinux usable (the symbols, the file's contents and
// the DWARF types), and a dump of another kernel (buggy-radix: its own
// vmlinux, corpus README) gets its own.
func TestSharedVmlinuxCorpus(t *testing.T) {
	testcorpus.Require(t)
	radix := testcorpus.Dir(t, "fixed-radix")
	hash := testcorpus.Dir(t, "fixed-hash")
	buggy := testcorpus.Dir(t, "buggy-radix")
	dumps := []string{
		filepath.Join(radix, "vmcore-vmcoreinfo.kdump"),
		filepath.Join(radix, "vmcore.kdump"),
		filepath.Join(hash, "vmcore-vmcoreinfo.kdump"),
	}
	progs := make([]*Program, len(dumps))
	errs := make([]error, len(dumps))
	var wg sync.WaitGroup
	for i, d := range dumps {
		wg.Go(func() { progs[i], errs[i] = Open([]string{d}, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", dumps[i], err)
		}
	}
	// The corpus's fixed-hash directory links or copies the same vmlinux;
	// only the two fixed-radix dumps are certain to name one file.
	if progs[0].Types != progs[1].Types || progs[0].Vmlinux != progs[1].Vmlinux || progs[0].Syms != progs[1].Syms {
		t.Errorf("two dumps with one vmlinux got different Types/ELFFile/Table")
	}
	want, err := progs[0].Types.Sizeof("struct module")
	if err != nil {
		t.Fatal(err)
	}
	progs[0].Close()
	// The others still read through the shared vmlinux.
	for _, p := range progs[1:] {
		if got, err := p.Types.Sizeof("struct module"); err != nil || got != want {
			t.Errorf("%s after another Program's Close: sizeof(struct module) = %d, %v; want %d", p.VmlinuxPath(), got, err, want)
		}
		s, ok := p.Syms.ByName("linux_banner")
		if !ok {
			t.Fatalf("%s: no linux_banner", p.VmlinuxPath())
		}
		if _, err := p.Vmlinux.ReadAddr(s.Addr, 16); err != nil {
			t.Errorf("%s after another Program's Close: %v", p.VmlinuxPath(), err)
		}
	}
	// A second Close of the same Program must not drop another reference.
	progs[0].Close()
	users := 0
	for _, p := range progs[1:] {
		if p.Vmlinux == progs[1].Vmlinux {
			users++
		}
	}
	k, _ := fileKey(progs[1].VmlinuxPath(), filepath.Join(container.CacheDir(), "dwarf-index"), TypesAuto)
	vmlinuxCache.mu.Lock()
	v := vmlinuxCache.m[k]
	if v == nil || v.elf != progs[1].Vmlinux || v.refs != users {
		t.Errorf("after Close twice: cache entry %v, want %d references to the shared vmlinux", v, users)
	}
	vmlinuxCache.mu.Unlock()

	pb, err := Open([]string{filepath.Join(buggy, "vmcore-vmcoreinfo.kdump")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pb.Types == progs[1].Types {
		t.Error("a dump of another kernel shares the fixed kernel's Types")
	}
	pb.Close()
	for _, p := range progs[1:] {
		p.Close()
	}
}

// TestVmlinuxCacheKey: a rewritten file is a different key; the same file
// through a symlink is the same key.
func TestVmlinuxCacheKey(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(f, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	k1, ok := fileKey(f, "c", TypesAuto)
	if !ok {
		t.Fatal("no key for a regular file")
	}
	l := filepath.Join(dir, "link")
	if err := os.Symlink(f, l); err != nil {
		t.Fatal(err)
	}
	if k, _ := fileKey(l, "c", TypesAuto); k != k1 {
		t.Errorf("symlink key %+v, file key %+v", k, k1)
	}
	if k, _ := fileKey(f, "other", TypesAuto); k == k1 {
		t.Error("another cache directory gives the same key")
	}
	if k, _ := fileKey(f, "c", TypesDWARF); k == k1 {
		t.Error("types from another source give the same key")
	}
	if err := os.WriteFile(f, []byte("two!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if k, _ := fileKey(f, "c", TypesAuto); k == k1 {
		t.Error("rewritten file gives the same key")
	}
	if _, ok := fileKey(dir, "c", TypesAuto); ok {
		t.Error("a directory has a key")
	}
}

// TestVmlinuxOpenErrorNotCached: a file that is not an ELF fails, and the
// failure is not remembered: once the path holds a readable file, a later
// open reads it again (here it fails again, but through a fresh open, which
// the cache's emptiness shows).
func TestVmlinuxOpenErrorNotCached(t *testing.T) {
	f := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(f, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openVmlinux(f, t.TempDir(), TypesAuto, false); err == nil {
		t.Fatal("opening a non-ELF file succeeded")
	}
	k, _ := fileKey(f, "", TypesAuto)
	vmlinuxCache.mu.Lock()
	defer vmlinuxCache.mu.Unlock()
	for key := range vmlinuxCache.m {
		if key.path == k.path {
			t.Errorf("failed open left a cache entry %+v", key)
		}
	}
}
