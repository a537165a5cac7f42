package arm64

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/arch/arm64/arm64asm"
)

// Instruction words of arch/arm64/lib/insn.c (aarch64_insn_gen_*) and
// arch/arm64/include/asm/insn.h.
const (
	// Nop is aarch64_insn_gen_nop() (hint #0).
	Nop uint32 = 0xd503201f
	// MovX9LR is aarch64_insn_gen_move_reg(x9, lr): what
	// ftrace_init_nop() writes before a DYNAMIC_FTRACE_WITH_ARGS site.
	MovX9LR uint32 = 0xaa1e03e9
	// BrX16 is aarch64_insn_gen_branch_reg(x16, NOLINK): a PLT's last word.
	BrX16 uint32 = 0xd61f0200
	// BrkKprobe is a kprobe's breakpoint (KPROBES_BRK_IMM 0x004: brk #0x4).
	BrkKprobe uint32 = 0xd4200080

	blOpcode   uint32 = 0x94000000
	bOpcode    uint32 = 0x14000000
	branchMask uint32 = 0xfc000000
	adrpOpcode uint32 = 0x90000000
	adrpMask   uint32 = 0x9f000000
	addImm64   uint32 = 0x91000000 // add xd, xn, #imm12 (no shift)
	addImmMask uint32 = 0xffc00000

	// SZ128M is the reach of b/bl (imm26 words): reachable_by_bl().
	SZ128M = 128 << 20
)

// Order is the instruction byte order: arm64 instructions are always
// little-endian, also on big-endian kernels (cpu_to_le32 in
// aarch64_insn_write()).
var Order = binary.LittleEndian

// Disasm decodes one instruction (GNU syntax as objdump shows it),
// PC-relative targets made absolute; an undecodable word is ".inst".
func (k *Kernel) Disasm(b []byte, pc uint64) (string, int) { return Disasm(b, pc) }

// Disasm is Kernel.Disasm without a kernel.
func Disasm(b []byte, pc uint64) (string, int) {
	if len(b) < 4 {
		return "(short)", max(len(b), 1)
	}
	w := Order.Uint32(b)
	inst, err := arm64asm.Decode(b[:4])
	if err != nil {
		return fmt.Sprintf(".inst %#08x", w), 4
	}
	if inst.Op == arm64asm.HINT && w>>5&0x7f != 0 {
		if name, ok := hints[w>>5&0x7f]; ok {
			return name, 4
		}
	}
	s := strings.TrimSpace(arm64asm.GNUSyntax(inst))
	for _, a := range inst.Args {
		r, ok := a.(arm64asm.PCRel)
		if !ok {
			continue
		}
		base := pc
		if inst.Op == arm64asm.ADRP {
			base = pc &^ 0xfff
		}
		s = strings.Replace(s, strings.ToLower(r.String()), fmt.Sprintf("%#x", base+uint64(int64(r))), 1)
	}
	return s, 4
}

// hints are the HINT-space instructions the kernel uses, by CRm:op2, as
// objdump names them (pointer authentication, BTI).
var hints = map[uint32]string{
	0x07: "xpaclri", 0x08: "pacia1716", 0x0a: "pacib1716", 0x0c: "autia1716", 0x0e: "autib1716",
	0x18: "paciaz", 0x19: "paciasp", 0x1a: "pacibz", 0x1b: "pacibsp",
	0x1c: "autiaz", 0x1d: "autiasp", 0x1e: "autibz", 0x1f: "autibsp",
	0x20: "bti", 0x22: "bti c", 0x24: "bti j", 0x26: "bti jc",
}

// BranchTarget decodes b, bl, b.cond, cbz/cbnz and tbz/tbnz.
func (k *Kernel) BranchTarget(b []byte, pc uint64) (uint64, bool, bool) {
	return BranchTarget(b, pc)
}

// BranchTarget is Kernel.BranchTarget without a kernel.
func BranchTarget(b []byte, pc uint64) (target uint64, call, ok bool) {
	if len(b) < 4 {
		return 0, false, false
	}
	w := Order.Uint32(b)
	sext := func(v uint32, bits uint) int64 { return int64(int32(v<<(32-bits)) >> (32 - bits)) }
	switch {
	case w&branchMask == blOpcode, w&branchMask == bOpcode:
		return pc + uint64(sext(w&0x3ffffff, 26)*4), w&branchMask == blOpcode, true
	case w&0xff000010 == 0x54000000: // b.cond
		return pc + uint64(sext(w>>5&0x7ffff, 19)*4), false, true
	case w&0x7e000000 == 0x34000000: // cbz, cbnz
		return pc + uint64(sext(w>>5&0x7ffff, 19)*4), false, true
	case w&0x7e000000 == 0x36000000: // tbz, tbnz
		return pc + uint64(sext(w>>5&0x3fff, 14)*4), false, true
	}
	return 0, false, false
}

// ReachableByBL is reachable_by_bl() of arch/arm64/kernel/ftrace.c.
func ReachableByBL(target, pc uint64) bool {
	off := int64(target - pc)
	return off >= -SZ128M && off < SZ128M
}

// BranchImm is aarch64_insn_gen_branch_imm(pc, addr, LINK or NOLINK);
// an error when the target is out of range or misaligned.
func BranchImm(pc, target uint64, link bool) (uint32, error) {
	if !ReachableByBL(target, pc) || (target-pc)&3 != 0 {
		return 0, fmt.Errorf("arm64: a branch at %#x cannot reach %#x", pc, target)
	}
	op := bOpcode
	if link {
		op = blOpcode
	}
	return op | uint32(int64(target-pc)>>2)&0x3ffffff, nil
}

// PLTEntry is struct plt_entry (arch/arm64/include/asm/module.h): adrp
// x16; add x16, x16, #lo12; br x16.
type PLTEntry [3]uint32

// PLTEntrySize is sizeof(struct plt_entry).
const PLTEntrySize = 12

// GetPLTEntry is get_plt_entry(dst, pc) (arch/arm64/kernel/module-plts.c):
// the entry at pc that branches to dst, which depends on pc's own 4K page.
func GetPLTEntry(dst, pc uint64) PLTEntry {
	return PLTEntry{Adrp(pc, dst, 16), AddImm(16, 16, uint32(dst%4096)), BrX16}
}

// Adrp is aarch64_insn_gen_adr(pc, addr, reg, ADRP): the 4K-page
// difference in immhi:immlo (21 bits, signed).
func Adrp(pc, addr uint64, reg uint32) uint32 {
	off := int64(addr>>12) - int64(pc>>12)
	imm := uint32(off) & 0x1fffff
	return adrpOpcode | (imm&3)<<29 | (imm>>2)<<5 | reg
}

// AddImm is aarch64_insn_gen_add_sub_imm(rd, rn, imm, 64BIT, ADD) for an
// unshifted 12-bit immediate.
func AddImm(rd, rn, imm uint32) uint32 { return addImm64 | (imm&0xfff)<<10 | rn<<5 | rd }

// DecodePLT says where a PLT-shaped entry at pc branches: adrp xN, page;
// add xN, xN, #lo12; br xN (the same register throughout). ok is false
// for anything else.
func DecodePLT(e PLTEntry, pc uint64) (target uint64, ok bool) {
	adrp, add, br := e[0], e[1], e[2]
	if adrp&adrpMask != adrpOpcode || add&addImmMask != addImm64 || br&0xfffffc1f != 0xd61f0000 {
		return 0, false
	}
	rd := adrp & 31
	if add&31 != rd || add>>5&31 != rd || br>>5&31 != rd {
		return 0, false
	}
	imm := (adrp>>29)&3 | (adrp>>5&0x7ffff)<<2
	off := int64(imm<<11) >> 11 // sign-extend 21 bits
	page := uint64(int64(pc>>12)+off) << 12
	return page + uint64(add>>10&0xfff), true
}

// FtraceSiteSize is AARCH64_INSN_SIZE: the site is the one word at
// rec->ip (ftrace_call_adjust() points it at the NOP that becomes the BL).
func (k *Kernel) FtraceSiteSize() int { return 4 }

// FtraceNop is ftrace_make_nop()'s aarch64_insn_gen_nop().
func (k *Kernel) FtraceNop(uint64) []byte { return Order.AppendUint32(nil, Nop) }

// FtraceCall is ftrace_make_call()'s aarch64_insn_gen_branch_imm(pc, addr,
// LINK); an out-of-range target is an error (ftrace_find_callable_addr()
// then goes through the module's ftrace PLT, FtraceFarCall).
func (k *Kernel) FtraceCall(ip, target uint64) ([]byte, error) {
	w, err := BranchImm(ip, target, true)
	if err != nil {
		return nil, err
	}
	return Order.AppendUint32(nil, w), nil
}

// FtracePrefix is the word ftrace_init_nop() writes before the site under
// DYNAMIC_FTRACE_WITH_ARGS: mov x9, x30 at rec->ip - 4.
func (k *Kernel) FtracePrefix(ip uint64) (uint64, []byte) {
	return ip - 4, Order.AppendUint32(nil, MovX9LR)
}

// FtraceOpsLiteral is where ftrace_rec_set_ops() keeps a
// DYNAMIC_FTRACE_WITH_CALL_OPS site's ops pointer: ALIGN_DOWN(rec->ip -
// 12, 8).
func (k *Kernel) FtraceOpsLiteral(ip uint64) uint64 { return (ip - 12) &^ 7 }

// FtraceReachable is reachable_by_bl().
func (k *Kernel) FtraceReachable(ip, target uint64) bool { return ReachableByBL(target, ip) }

// FtraceModulePLT names the mod->arch members holding a module's ftrace
// PLTs (get_ftrace_plt(): init_ftrace_trampolines for init text, else
// ftrace_trampolines, entry FTRACE_PLT_IDX 0).
func (k *Kernel) FtraceModulePLT(init bool) (member string, offset uint64) {
	if init {
		return "init_ftrace_trampolines", 0
	}
	return "ftrace_trampolines", 0
}

// PLTEntrySize is sizeof(struct plt_entry).
func (k *Kernel) PLTEntrySize() int { return PLTEntrySize }

// PLTEntry is get_plt_entry(dst, pc) as bytes.
func (k *Kernel) PLTEntry(dst, pc uint64) []byte {
	e := GetPLTEntry(dst, pc)
	var b []byte
	for _, w := range e {
		b = Order.AppendUint32(b, w)
	}
	return b
}

// DecodePLT decodes entry bytes at pc (DecodePLT of the words).
func (k *Kernel) DecodePLT(b []byte, pc uint64) (uint64, bool) {
	if len(b) < PLTEntrySize {
		return 0, false
	}
	return DecodePLT(PLTEntry{Order.Uint32(b), Order.Uint32(b[4:]), Order.Uint32(b[8:])}, pc)
}

// DisasmWord decodes one word alone (arch.InsnWords).
func (k *Kernel) DisasmWord(b []byte, pc uint64) string {
	t, _ := Disasm(b[:min(len(b), 4)], pc)
	return t
}
