package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestClassify: ELF e_type (either byte order) and makedumpfile's
// signatures tell a dump from a vmlinux (elf.h: ET_EXEC 2, ET_DYN 3,
// ET_CORE 4).
func TestClassify(t *testing.T) {
	t.Parallel()
	elfHead := func(msb bool, typ byte) []byte {
		h := make([]byte, 64)
		copy(h, "\x7fELF\x02")
		h[5] = 1
		h[16] = typ
		if msb {
			h[5] = 2
			h[16], h[17] = 0, typ
		}
		return h
	}
	for _, tc := range []struct {
		name string
		head []byte
		want fileKind
	}{
		{"LE ET_CORE", elfHead(false, 4), kindDump},
		{"BE ET_CORE", elfHead(true, 4), kindDump},
		{"LE ET_EXEC", elfHead(false, 2), kindVmlinux},
		{"BE ET_DYN", elfHead(true, 3), kindVmlinux},
		{"ET_REL (a .ko)", elfHead(false, 1), kindUnknown},
		{"kdump-compressed", []byte("KDUMP   \x06\x00"), kindDump},
		{"flattened", []byte("makedumpfile\x00\x00"), kindDump},
		{"text", []byte("hello"), kindUnknown},
		{"empty", nil, kindUnknown},
	} {
		if got := classify(tc.head); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestArgumentOrder: crash's `vmlinux vmcore`, the reverse, and -s open
// the same dump; the compressed ELF dump and vmlinux are recognised
// through their zstd compression. The release is drgn's (truth.json).
func TestArgumentOrder(t *testing.T) {
	dir := testcorpus.Dir(t, "buggy-radix")
	tr := testcorpus.LoadTruth(t, dir)
	want := `init_uts_ns.name.release = "` + tr["dump"].(map[string]any)["uts_release"].(string) + `"`
	vmlinux := filepath.Join(dir, "vmlinux.zst") // a link file to the kernel's
	kdump := filepath.Join(dir, "vmcore-vmcoreinfo.kdump")
	elfDump := filepath.Join(dir, "vmcore.elf.zst")
	cmd := []string{"-c", "p init_uts_ns.name.release"}
	for _, args := range [][]string{
		{vmlinux, kdump},
		{kdump, vmlinux},
		{"-s", vmlinux, kdump},
		{vmlinux, elfDump},
		{elfDump, vmlinux},
	} {
		out, errs, code := runMain(t, "", append(args, cmd...)...)
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("%q: exit %d, out %q, stderr %q", args, code, out, errs)
		}
	}
	// one-shot commands take either order too
	out, errs, code := runMain(t, "", "p", vmlinux, kdump, "init_uts_ns.name.release")
	if code != exitOK || !strings.Contains(out, want) {
		t.Errorf("p VMLINUX DUMP: exit %d, out %q, stderr %q", code, out, errs)
	}
	_, errs, code = runMain(t, "", "-s", vmlinux, vmlinux, kdump, "-c", "sys")
	if code != exitBad || !strings.Contains(errs, "two vmlinux") {
		t.Errorf("two vmlinux files: exit %d, stderr %q", code, errs)
	}
	_, errs, code = runMain(t, "", vmlinux, "-c", "sys")
	if code != exitBad || !strings.Contains(errs, "no dump") {
		t.Errorf("a vmlinux alone: exit %d, stderr %q", code, errs)
	}
}
