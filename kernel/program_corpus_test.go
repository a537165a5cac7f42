package kernel

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// TestProgramCorpus: for every corpus directory, the dump without a
// VMCOREINFO note (vmcore.kdump / vmcore.elf.zst where present) and the one
// with it agree on what Open derives: VMCOREINFO found in memory, the
// release (truth.json dump.uts_release), the MMU (truth's
// cur_cpu_spec_mmu_features & MMU_FTR_TYPE_RADIX) and the page size, which
// the kernel's own mmu_psize_defs[mmu_virtual_psize] must give too
// (64K: the corpus README).
func TestProgramCorpus(t *testing.T) {
	for _, d := range testcorpus.Dirs {
		t.Run(d, func(t *testing.T) {
			dir := testcorpus.Dir(t, d)
			tr := testcorpus.LoadTruth(t, dir)
			dm := tr["dump"].(map[string]any)
			wantRel := dm["uts_release"].(string)
			var feat uint64
			if _, err := fmtSscan(dm["cur_cpu_spec_mmu_features"].(string), &feat); err != nil {
				t.Fatal(err)
			}
			wantMMU := ppc64.Hash
			if feat&ppc64.MMU_FTR_TYPE_RADIX != 0 {
				wantMMU = ppc64.Radix
			}
			for _, f := range testcorpus.DumpFiles(dir) {
				if filepath.Base(f) == "vmcore-d31-zlib-split.1" {
					continue // a split dump needs both parts: covered in package dump
				}
				p, err := Open([]string{f}, Options{})
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if p.Release != wantRel || p.Arch.MMU() != wantMMU.String() || p.PageSize != 65536 {
					t.Errorf("%s: release %q MMU %v page size %d; truth %q %v 65536", filepath.Base(f), p.Release, p.Arch.MMU(), p.PageSize, wantRel, wantMMU)
				}
				if p.Info == nil {
					t.Errorf("%s: no VMCOREINFO (%s)", f, p.InfoSource)
				}
				if got := ppc64.PageSizeFromKernel(archEnv{p}); got != 65536 {
					t.Errorf("%s: mmu_psize_defs gives page size %d", f, got)
				}
				p.Close()
			}
		})
	}
}

// TestMismatchedVmlinux: the buggy kernel's vmlinux against a fixed dump
// is refused, naming the file and the build-id; --force accepts it.
func TestMismatchedVmlinux(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	wrong := filepath.Join(filepath.Dir(dir), "kernels", "7.2.13-buggy", "vmlinux.zst")
	_, err := Open([]string{filepath.Join(dir, "vmcore-vmcoreinfo.kdump")}, Options{Vmlinux: wrong})
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.File != wrong || mm.What != "build-id" {
		t.Fatalf("got %v, want a build-id MismatchError naming %s", err, wrong)
	}
	p, err := Open([]string{filepath.Join(dir, "vmcore-vmcoreinfo.kdump")}, Options{Vmlinux: wrong, Force: true})
	if err != nil {
		t.Fatalf("--force: %v", err)
	}
	defer p.Close()
	if len(p.Warnings) == 0 {
		t.Error("--force gave no warning")
	}
}

func fmtSscan(s string, v *uint64) (int, error) { return fmt.Sscanf(s, "0x%x", v) }
