package dump

import (
	"debug/elf"
	"encoding/binary"
	"testing"
)

// arm64PRStatus builds an NT_PRSTATUS descriptor as the kernel and QEMU
// write it for arm64: struct elf_prstatus (112 bytes before pr_reg), pr_reg
// as struct user_pt_regs (x0..x30, sp, pc, pstate), pr_fpvalid: 392 bytes.
func arm64PRStatus(pid int32, regs [34]uint64) []byte {
	b := make([]byte, 392)
	le := binary.LittleEndian
	le.PutUint32(b[32:], uint32(pid))
	for i, r := range regs {
		le.PutUint64(b[112+8*i:], r)
	}
	return b
}

func TestParsePRStatusARM64(t *testing.T) {
	// cpu0 of the distro-kaslr corpus (QEMU `info registers`,
	// cpu-registers.txt): PC, SP, X29, X30.
	var regs [34]uint64
	for i := range 31 {
		regs[i] = uint64(i)
	}
	regs[29], regs[30] = 0xffffacef89ce3d60, 0xffffacef8868cd80
	regs[31], regs[32], regs[33] = 0xffffacef89ce3d60, 0xffffacef8868cd68, 0x614020c5
	pr, err := ParsePRStatusFor(Machine(elf.EM_AARCH64), arm64PRStatus(1, regs), binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	if pr.PID != 1 || pr.PC != 0xffffacef8868cd68 || pr.SP != 0xffffacef89ce3d60 || pr.Link != 0xffffacef8868cd80 {
		t.Errorf("pid %d pc %#x sp %#x lr %#x", pr.PID, pr.PC, pr.SP, pr.Link)
	}
	if len(pr.Regs) != 34 || pr.Regs[29] != 0xffffacef89ce3d60 || pr.Regs[33] != 0x614020c5 || pr.Regs[5] != 5 {
		t.Errorf("regs %x", pr.Regs)
	}
	if _, err := ParsePRStatusFor(Machine(elf.EM_AARCH64), make([]byte, 112+33*8), binary.LittleEndian); err == nil {
		t.Error("a descriptor one register short parsed")
	}
}

func FuzzPRStatusARM64(f *testing.F) {
	var regs [34]uint64
	regs[32] = 0xffff800080001000
	f.Add(arm64PRStatus(7, regs))
	f.Add(make([]byte, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		pr, err := ParsePRStatusFor(Machine(elf.EM_AARCH64), b, binary.LittleEndian)
		if err != nil {
			return
		}
		if len(b) < 112+34*8 {
			t.Fatalf("%d bytes parsed", len(b))
		}
		if len(pr.Regs) != 34 || pr.PC != binary.LittleEndian.Uint64(b[112+32*8:]) || pr.SP != pr.Regs[31] {
			t.Fatalf("pc %#x sp %#x regs %d", pr.PC, pr.SP, len(pr.Regs))
		}
	})
}

// QEMU's arm64 kdump files leave the header's utsname empty; the NT_ARM_*
// notes name the machine.
func TestMachineFromARMNotes(t *testing.T) {
	if m := machineFromNotes([]Note{{Name: "CORE", Type: 1}, {Name: "LINUX", Type: 0x405}}); m != Machine(elf.EM_AARCH64) {
		t.Errorf("machine %v", m)
	}
	if m := machineFromNotes([]Note{{Name: "CORE", Type: 1}}); m != Machine(elf.EM_NONE) {
		t.Errorf("machine %v from PRSTATUS alone", m)
	}
}
