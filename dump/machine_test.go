package dump

import (
	"debug/elf"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// TestMachineFromVMCOREINFO: QEMU writes "Unknown" as the machine of some
// kdump files (bench/x86-corpus livepatch-kaslr/vmcore.kdump); the
// VMCOREINFO each architecture's vmcore_info code writes names it. The
// lines are those of the corpus dumps' VMCOREINFO (x86_64: the 7.2.13
// livepatch build; arm64: Debian's 7.2.13; ppc64: the 7.2.13 corpus).
func TestMachineFromVMCOREINFO(t *testing.T) {
	for _, c := range []struct {
		info string
		want Machine
	}{
		{"OSRELEASE=7.2.13\nSYMBOL(init_top_pgt)=ffffffffa1230000\nNUMBER(phys_base)=-507510784\nKERNELOFFSET=1ec00000\n", Machine(elf.EM_X86_64)},
		{"OSRELEASE=7.2.13+deb14-arm64\nNUMBER(VA_BITS)=52\nNUMBER(kimage_voffset)=0xffffacef47200000\n", Machine(elf.EM_AARCH64)},
		{"OSRELEASE=7.2.13\nSYMBOL(cur_cpu_spec)=c000000002c0e3f0\nNUMBER(PAGE_OFFSET)=0xc000000000000000\n", Machine(elf.EM_PPC64)},
		{"OSRELEASE=7.2.13\nPAGESIZE=4096\n", Machine(elf.EM_NONE)},
	} {
		if got := machineFromVMCOREINFO([]byte(c.info)); got != c.want {
			t.Errorf("%q: %v, want %v", c.info, got, c.want)
		}
	}
}

// TestMachineNames: the dump's Machine carries e_machine values and prints
// them as debug/elf does (the info view prints it), without the readers
// needing debug/elf.
func TestMachineNames(t *testing.T) {
	for _, m := range []elf.Machine{elf.EM_NONE, elf.EM_386, elf.EM_PPC, elf.EM_PPC64, elf.EM_S390, elf.EM_ARM,
		elf.EM_X86_64, elf.EM_AARCH64, elf.EM_RISCV, elf.EM_LOONGARCH, elf.EM_MIPS, elf.EM_SPARCV9, elf.EM_IA_64} {
		if got := Machine(m).String(); got != m.String() {
			t.Errorf("Machine(%d) = %q, debug/elf says %q", m, got, m.String())
		}
	}
	for _, c := range []struct {
		m    Machine
		want elf.Machine
	}{{MachineNone, elf.EM_NONE}, {MachinePPC, elf.EM_PPC}, {MachinePPC64, elf.EM_PPC64}, {MachineS390, elf.EM_S390},
		{MachineX86_64, elf.EM_X86_64}, {MachineAArch64, elf.EM_AARCH64}} {
		if uint16(c.m) != uint16(c.want) {
			t.Errorf("%v = %d, ELF says %d", c.want, c.m, c.want)
		}
	}
	for _, c := range []elf.Class{elf.ELFCLASSNONE, elf.ELFCLASS32, elf.ELFCLASS64} {
		if got := elfobj.Class(c).String(); got != c.String() {
			t.Errorf("class %d: %q, debug/elf says %q", c, got, c)
		}
	}
	for _, c := range []elf.Type{elf.ET_NONE, elf.ET_REL, elf.ET_EXEC, elf.ET_DYN, elf.ET_CORE} {
		if got := elfobj.Type(c).String(); got != c.String() {
			t.Errorf("type %d: %q, debug/elf says %q", c, got, c)
		}
	}
	if ptLoad != int(elf.PT_LOAD) || ptNote != int(elf.PT_NOTE) || ntPRStatus != int(elf.NT_PRSTATUS) ||
		elfobj.EI_CLASS != elf.EI_CLASS || elfobj.EI_DATA != elf.EI_DATA || elfobj.ELFMAG != elf.ELFMAG {
		t.Error("an ELF constant of machine.go differs from debug/elf's")
	}
}
