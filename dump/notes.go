package dump

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxNotes bounds the number of notes decoded from one note area.
const maxNotes = 1 << 16

// parseNotes decodes ELF notes (Elf64_Nhdr: namesz, descsz, type, each
// 4 bytes, name and desc padded to 4 bytes, as the kernel's
// append_elf_note() writes them). base is the file offset of data[0]. It
// returns the notes decoded before the first malformed one and an error
// naming that one.
func parseNotes(data []byte, base int64, order binary.ByteOrder, file string) ([]Note, error) {
	var out []Note
	off := 0
	for off < len(data) {
		if len(out) >= maxNotes {
			return out, &FormatError{File: file, Off: base + int64(off), Msg: "too many notes", Val: len(out)}
		}
		if len(data)-off < 12 {
			// Trailing padding shorter than a note header.
			if allZero(data[off:]) {
				return out, nil
			}
			return out, &FormatError{File: file, Off: base + int64(off), Msg: "truncated note header"}
		}
		namesz := uint64(order.Uint32(data[off:]))
		descsz := uint64(order.Uint32(data[off+4:]))
		typ := order.Uint32(data[off+8:])
		if namesz == 0 && descsz == 0 && typ == 0 {
			// final_note(): the terminating empty note.
			return out, nil
		}
		p := uint64(off) + 12
		nameEnd := p + namesz
		descStart := align4(nameEnd)
		descEnd := descStart + descsz
		if nameEnd > uint64(len(data)) || descEnd > uint64(len(data)) || descStart < nameEnd {
			return out, &FormatError{File: file, Off: base + int64(off), Msg: "note extends beyond its segment", Val: fmt.Sprintf("namesz %d descsz %d", namesz, descsz)}
		}
		name := string(bytes.TrimRight(data[p:nameEnd], "\x00"))
		desc := make([]byte, descsz)
		copy(desc, data[descStart:descEnd])
		out = append(out, Note{Name: name, Type: uint32(typ), Desc: desc, Off: base + int64(off)})
		next := align4(descEnd)
		if next > uint64(len(data)) {
			next = uint64(len(data))
		}
		off = int(next)
	}
	return out, nil
}

func align4(x uint64) uint64 { return (x + 3) &^ 3 }

// PRStatus is one NT_PRSTATUS note of a 64-bit ppc64 kernel: the
// elf_prstatus header (include/linux/elfcore.h, struct elf_prstatus_common)
// and pr_reg, a struct pt_regs (arch/powerpc/include/uapi/asm/ptrace.h).
// Field names follow the kernel's members.
type PRStatus struct {
	Signo, Code, Errno int32 // pr_info
	Cursig             int16
	Sigpend, Sighold   uint64
	PID, PPID, PGRP    int32
	SID                int32

	// Regs is pr_reg as stored (the architecture's ELF_NGREG words);
	// PC and SP are its program counter and stack pointer, for every
	// architecture. The named fields below are ppc64's pt_regs, set for
	// EM_PPC64 notes only (and Link, x30, for EM_AARCH64).
	Regs   []uint64
	PC, SP uint64

	GPR      [32]uint64
	NIP      uint64
	MSR      uint64
	OrigGPR3 uint64
	CTR      uint64
	Link     uint64 // LR
	XER      uint64
	CCR      uint64
	SoftE    uint64
	Trap     uint64
	DAR      uint64
	DSISR    uint64
	Result   uint64
}

// Offsets in the 64-bit struct elf_prstatus: elf_siginfo (3 ints, 12),
// pr_cursig (short, 12), pad to 16, pr_sigpend (16), pr_sighold (24),
// pr_pid/ppid/pgrp/sid (32..48), four __kernel_old_timeval (16 bytes each,
// 48..112), then pr_reg (ELF_NGREG = 48 unsigned longs), pr_fpvalid.
const (
	prstatusRegOff = 112
	ppc64NGReg     = 48
	// PRStatusSize64 is sizeof(struct elf_prstatus) for 64-bit ppc64.
	PRStatusSize64 = prstatusRegOff + ppc64NGReg*8 + 8
	// msrLE is MSR_LE (arch/powerpc/include/asm/reg.h: MSR_LE_LG 0).
	msrLE = 1 << 0
)

// x86_64's pr_reg is struct user_regs_struct
// (arch/x86/include/asm/user_64.h): r15, r14, r13, r12, rbp, rbx, r11, r10,
// r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss,
// fs_base, gs_base, ds, es, fs, gs.
const (
	x86NGReg = 27
	x86RIP   = 16
	x86RSP   = 19
)

// arm64's pr_reg is struct user_pt_regs
// (arch/arm64/include/uapi/asm/ptrace.h): regs[31] (x0..x30), sp, pc,
// pstate.
const (
	arm64NGReg  = 34
	arm64LR     = 30
	arm64SP     = 31
	arm64PC     = 32
	arm64PState = 33
)

// ParsePRStatusFor decodes a 64-bit NT_PRSTATUS descriptor of machine m
// (ppc64 and x86_64 layouts; others keep Regs only, with the register
// count the descriptor's size implies).
func ParsePRStatusFor(m Machine, desc []byte, order binary.ByteOrder) (PRStatus, error) {
	switch m {
	case MachineX86_64:
		pr, err := parsePRRegs(desc, order, x86NGReg, "x86_64")
		if err == nil {
			pr.PC, pr.SP = pr.Regs[x86RIP], pr.Regs[x86RSP]
		}
		return pr, err
	case MachineAArch64:
		pr, err := parsePRRegs(desc, order, arm64NGReg, "arm64")
		if err == nil {
			// Link is x30 (the link register) on arm64 too.
			pr.PC, pr.SP, pr.Link = pr.Regs[arm64PC], pr.Regs[arm64SP], pr.Regs[arm64LR]
		}
		return pr, err
	case MachinePPC64, MachineNone:
		return ParsePRStatus(desc, order)
	}
	var pr PRStatus
	if len(desc) < prstatusRegOff+8 {
		return pr, fmt.Errorf("NT_PRSTATUS descriptor of %d bytes is too short", len(desc))
	}
	parsePRHeader(&pr, desc, order)
	n := (len(desc) - prstatusRegOff - 8) / 8
	for i := 0; i < n; i++ {
		pr.Regs = append(pr.Regs, order.Uint64(desc[prstatusRegOff+8*i:]))
	}
	return pr, nil
}

// parsePRRegs decodes the header and the ngreg registers of pr_reg of an
// NT_PRSTATUS descriptor of the named architecture.
func parsePRRegs(desc []byte, order binary.ByteOrder, ngreg int, arch string) (PRStatus, error) {
	var pr PRStatus
	if len(desc) < prstatusRegOff+ngreg*8 {
		return pr, fmt.Errorf("NT_PRSTATUS descriptor of %d bytes is too short for %s (want %d)", len(desc), arch, prstatusRegOff+ngreg*8+8)
	}
	parsePRHeader(&pr, desc, order)
	pr.Regs = make([]uint64, ngreg)
	for i := range pr.Regs {
		pr.Regs[i] = order.Uint64(desc[prstatusRegOff+8*i:])
	}
	return pr, nil
}

func parsePRHeader(pr *PRStatus, desc []byte, order binary.ByteOrder) {
	pr.Signo = int32(order.Uint32(desc[0:]))
	pr.Code = int32(order.Uint32(desc[4:]))
	pr.Errno = int32(order.Uint32(desc[8:]))
	pr.Cursig = int16(order.Uint16(desc[12:]))
	pr.Sigpend = order.Uint64(desc[16:])
	pr.Sighold = order.Uint64(desc[24:])
	pr.PID = int32(order.Uint32(desc[32:]))
	pr.PPID = int32(order.Uint32(desc[36:]))
	pr.PGRP = int32(order.Uint32(desc[40:]))
	pr.SID = int32(order.Uint32(desc[44:]))
}

// ParsePRStatus decodes a 64-bit ppc64 NT_PRSTATUS descriptor.
func ParsePRStatus(desc []byte, order binary.ByteOrder) (PRStatus, error) {
	var pr PRStatus
	if len(desc) < prstatusRegOff+44*8 {
		return pr, fmt.Errorf("NT_PRSTATUS descriptor of %d bytes is too short for ppc64 (want %d)", len(desc), PRStatusSize64)
	}
	parsePRHeader(&pr, desc, order)
	r := func(i int) uint64 { return order.Uint64(desc[prstatusRegOff+8*i:]) }
	for i := range pr.GPR {
		pr.GPR[i] = r(i)
	}
	pr.NIP, pr.MSR, pr.OrigGPR3, pr.CTR = r(32), r(33), r(34), r(35)
	pr.Link, pr.XER, pr.CCR, pr.SoftE = r(36), r(37), r(38), r(39)
	pr.Trap, pr.DAR, pr.DSISR, pr.Result = r(40), r(41), r(42), r(43)
	for i := range 44 {
		pr.Regs = append(pr.Regs, r(i))
	}
	pr.PC, pr.SP = pr.NIP, pr.GPR[1]
	return pr, nil
}

// LittleEndian reports whether the CPU ran little-endian (MSR_LE).
func (pr *PRStatus) LittleEndian() bool { return pr.MSR&msrLE != 0 }
