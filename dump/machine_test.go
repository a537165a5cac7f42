package dump

import (
	"debug/elf"
	"testing"
)

// TestMachineFromVMCOREINFO: QEMU writes "Unknown" as the machine of some
// kdump files (bench/x86-corpus livepatch-kaslr/vmcore.kdump); the
// VMCOREINFO each architecture's vmcore_info code writes names it. The
// lines are those of the corpus dumps' VMCOREINFO (x86_64: the 7.2.13
// livepatch build; arm64: Debian's 7.2.13; ppc64: the 7.2.13 corpus).
func TestMachineFromVMCOREINFO(t *testing.T) {
	for _, c := range []struct {
		info string
		want elf.Machine
	}{
		{"OSRELEASE=7.2.13\nSYMBOL(init_top_pgt)=ffffffffa1230000\nNUMBER(phys_base)=-507510784\nKERNELOFFSET=1ec00000\n", elf.EM_X86_64},
		{"OSRELEASE=7.2.13+deb14-arm64\nNUMBER(VA_BITS)=52\nNUMBER(kimage_voffset)=0xffffacef47200000\n", elf.EM_AARCH64},
		{"OSRELEASE=7.2.13\nSYMBOL(cur_cpu_spec)=c000000002c0e3f0\nNUMBER(PAGE_OFFSET)=0xc000000000000000\n", elf.EM_PPC64},
		{"OSRELEASE=7.2.13\nPAGESIZE=4096\n", elf.EM_NONE},
	} {
		if got := machineFromVMCOREINFO([]byte(c.info)); got != c.want {
			t.Errorf("%q: %v, want %v", c.info, got, c.want)
		}
	}
}
