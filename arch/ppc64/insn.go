package ppc64

import "fmt"

// Instruction words and fields, with the names of
// arch/powerpc/include/asm/ppc-opcode.h.
const (
	PPC_RAW_NOP   uint32 = 0x60000000 // PPC_RAW_NOP() = ori r0,r0,0
	PPC_RAW_BLR   uint32 = 0x4e800020 // PPC_RAW_BLR()
	PPC_RAW_BCTR  uint32 = 0x4e800420 // PPC_RAW_BCTR()
	PPC_RAW_BCTRL uint32 = 0x4e800421 // PPC_RAW_BCTRL()
	// PPC_RAW_MFLR(_R0) and PPC_RAW_MTLR(_R0): mflr r0, mtlr r0.
	PPC_RAW_MFLR_R0 uint32 = 0x7c0802a6
	PPC_RAW_MTLR_R0 uint32 = 0x7c0803a6
	// PPC_RAW_MTCTR(_R12): mtctr r12.
	PPC_RAW_MTCTR_R12 uint32 = 0x7c0903a6 | 12<<21

	PPC_INST_BRANCH      uint32 = 0x48000000 // PPC_RAW_BRANCH(0)
	PPC_INST_BRANCH_COND uint32 = 0x40800000
	PPC_LI_MASK          uint32 = 0x03fffffc
	PPC_PREFIX_MLS       uint32 = 0x06000000
	PPC_PREFIX_8LS       uint32 = 0x04000000
	PPC_INST_PADDI       uint32 = 0x38000000
	PPC_INST_PLD         uint32 = 0xe4000000

	// MCOUNT_INSN_SIZE: one instruction (asm/ftrace.h).
	MCOUNT_INSN_SIZE = 4
	// STUB_MAGIC is ppc64_stub_entry.magic, "stub" (module_64.c).
	STUB_MAGIC uint32 = 0x73747562
)

// Raw instruction builders, as the kernel's PPC_RAW_* macros.
func ppcRawADDIS(d, a uint32, i uint16) uint32 { return 0x3c000000 | d<<21 | a<<16 | uint32(i) }
func ppcRawADDI(d, a uint32, i uint16) uint32  { return 0x38000000 | d<<21 | a<<16 | uint32(i) }
func ppcRawLD(r, base uint32, i int16) uint32 {
	return 0xe8000000 | r<<21 | base<<16 | uint32(uint16(i))&0xfffc // IMM_DS
}
func ppcRawSTD(r, base uint32, i int16) uint32 {
	return 0xf8000000 | r<<21 | base<<16 | uint32(uint16(i))&0xfffc
}

// PPC_LO is the low 16 bits of v (ppc-opcode.h PPC_LO()).
func PPC_LO(v int64) uint16 { return uint16(v) }

// PPC_HA is the high-adjusted 16 bits of v: PPC_HI(v + 0x8000), so that
// addis HA followed by a sign-extending addi/ld LO yields v.
func PPC_HA(v int64) uint16 { return uint16(uint64(v+0x8000) >> 16) }

func signExtend(v uint32, bits uint) int64 {
	return int64(int32(v<<(32-bits))) >> (32 - bits)
}

// BranchTarget decodes an I-form branch (b, bl, ba, bla; primary opcode 18)
// or a B-form conditional branch (bc and its forms; opcode 16) at pc and
// returns where it goes and whether it sets the link register. ok is false
// for any other instruction. Targets wrap modulo 2^64 like the hardware's.
func BranchTarget(word uint32, pc uint64) (target uint64, link bool, ok bool) {
	aa := word&2 != 0
	link = word&1 != 0
	var off int64
	switch word >> 26 {
	case 18:
		off = signExtend(word&PPC_LI_MASK, 26)
	case 16:
		off = signExtend(word&0xfffc, 16)
	default:
		return 0, false, false
	}
	if aa {
		return uint64(off), link, true
	}
	return pc + uint64(off), link, true
}

// IsOffsetInBranchRange is is_offset_in_branch_range()
// (asm/code-patching.h): a 26-bit signed, word-aligned displacement.
func IsOffsetInBranchRange(offset int64) bool {
	return offset >= -0x2000000 && offset <= 0x1fffffc && offset&3 == 0
}

// EncodeBranch is create_branch() (lib/code-patching.c) for a relative
// branch at from to to, with BRANCH_SET_LINK when link: b or bl, within
// ±32 MiB.
func EncodeBranch(from, to uint64, link bool) (uint32, error) {
	off := int64(to - from)
	if !IsOffsetInBranchRange(off) {
		return 0, fmt.Errorf("ppc64: branch from %#x to %#x out of range (offset %#x)", from, to, off)
	}
	w := PPC_INST_BRANCH | uint32(off)&PPC_LI_MASK
	if link {
		w |= 1
	}
	return w, nil
}

// DecodeAddisAddi decodes the pair `addis rt,ra,HI` / `addi rt,rt,LO`
// (both D-form, opcodes 15 and 14, the second using the first's target)
// and returns the target register, the base register and the signed 32-bit
// offset HI<<16 + LO that the pair adds to ra. ok is false for anything
// else.
func DecodeAddisAddi(w1, w2 uint32) (rt, ra int, offset int64, ok bool) {
	if w1>>26 != 15 || w2>>26 != 14 {
		return 0, 0, 0, false
	}
	rt1, ra1 := int(w1>>21&31), int(w1>>16&31)
	rt2, ra2 := int(w2>>21&31), int(w2>>16&31)
	if ra2 != rt1 || ra2 == 0 { // addi with RA=0 is li, not an add
		return 0, 0, 0, false
	}
	hi := int64(int16(uint16(w1)))
	lo := int64(int16(uint16(w2)))
	return rt2, ra1, hi<<16 + lo, true
}

// ABI selects a module_64.c call-stub template.
type ABI int

const (
	// ELFv2 is the little-endian (and CONFIG_PPC64_ELF_ABI_V2) ABI without
	// PC-relative addressing: the corpus kernel.
	ELFv2 ABI = iota + 1
	// ELFv1 loads the callee's TOC from the function descriptor.
	ELFv1
	// PCREL is CONFIG_PPC_KERNEL_PCREL: no TOC, a prefixed pld.
	PCREL
)

func (a ABI) String() string {
	switch a {
	case ELFv2:
		return "ELFv2"
	case ELFv1:
		return "ELFv1"
	case PCREL:
		return "PCREL"
	}
	return fmt.Sprintf("ABI(%d)", int(a))
}

// Register numbers used by the stubs.
const (
	r0, r1, r2, r11, r12, r13 = 0, 1, 2, 11, 12, 13
)

// R2_STACK_OFFSET is where a caller's TOC pointer is saved in its stack
// frame: 24(r1) with ELFv2 (the seed's `std r2,24(r1)`), 40(r1) with
// ELFv1.
func r2StackOffset(abi ABI) int16 {
	if abi == ELFv1 {
		return 40
	}
	return 24
}

// Offset of ppc64_stub_entry.funcdata: jump[7] (28 bytes) + magic.
const stubFuncdataOffset = 32

// CallStubWords returns the instruction words create_stub()
// (arch/powerpc/kernel/module_64.c) writes into ppc64_stub_entry.jump[] for
// a stub at stubAddr of a module whose r2 is r2 (my_r2(): the .toc
// section's address rounded down to 256, plus 0x8000). The remaining words
// of jump[7] are left as they were (zero in a fresh .stubs).
//
//	ELFv2: addis r11,r2,HA(reladdr); addi r11,r11,LO(reladdr);
//	       std r2,24(r1); ld r12,32(r11); mtctr r12; bctr
//	ELFv1: addis r11,r2,HA; addi r11,r11,LO; std r2,40(r1);
//	       ld r12,32(r11); ld r2,40(r11); mtctr r12; bctr
//	PCREL: pld r12,32 (R=1, relative to the stub); mtctr r12; bctr
//
// with reladdr = stubAddr - r2, which must fit in a signed 32-bit value.
func CallStubWords(abi ABI, stubAddr, r2v uint64) ([]uint32, error) {
	switch abi {
	case PCREL:
		// PPC_PREFIX_8LS | __PPC_PRFX_R(1) | IMM_H18(32),
		// PPC_INST_PLD | ___PPC_RT(_R12) | IMM_L(32).
		return []uint32{
			PPC_PREFIX_8LS | 1<<20 | (stubFuncdataOffset>>16)&0x3ffff,
			PPC_INST_PLD | r12<<21 | stubFuncdataOffset&0xffff,
			PPC_RAW_MTCTR_R12,
			PPC_RAW_BCTR,
		}, nil
	case ELFv2, ELFv1:
	default:
		return nil, fmt.Errorf("ppc64: unknown ABI %v", abi)
	}
	reladdr := int64(stubAddr - r2v)
	if reladdr > 0x7fffffff || reladdr < -0x80000000 {
		return nil, fmt.Errorf("ppc64: stub at %#x out of range of r2 %#x", stubAddr, r2v)
	}
	w := []uint32{
		ppcRawADDIS(r11, r2, PPC_HA(reladdr)),
		ppcRawADDI(r11, r11, PPC_LO(reladdr)),
		ppcRawSTD(r2, r1, r2StackOffset(abi)),
		ppcRawLD(r12, r11, stubFuncdataOffset),
	}
	if abi == ELFv1 {
		w = append(w, ppcRawLD(r2, r11, stubFuncdataOffset+8))
	}
	return append(w, PPC_RAW_MTCTR_R12, PPC_RAW_BCTR), nil
}

// FtraceTrampStubWords returns the words create_ftrace_stub()
// (module_64.c, the non-PCREL branch for mprofile-kernel /
// patchable-function-entry kernels) writes for a call to ftrace_caller or
// ftrace_regs_caller at target:
//
//	ld r12,PACA_KERNEL_TOC(r13); addis r12,r12,HA(reladdr);
//	addi r12,r12,LO(reladdr); mtctr r12; bctr
//
// where pacaKernelTOC is offsetof(struct paca_struct, kernel_toc) (from the
// vmlinux's DWARF), kernelTOC is kernel_toc_addr() (the kernel's r2, the
// .TOC. symbol), and reladdr = target - kernelTOC must fit in 32 bits.
func FtraceTrampStubWords(pacaKernelTOC uint16, kernelTOC, target uint64) ([]uint32, error) {
	if pacaKernelTOC&3 != 0 || pacaKernelTOC >= 0x8000 {
		return nil, fmt.Errorf("ppc64: paca kernel_toc offset %#x not encodable in ld", pacaKernelTOC)
	}
	reladdr := int64(target - kernelTOC)
	if reladdr > 0x7fffffff || reladdr < -0x80000000 {
		return nil, fmt.Errorf("ppc64: %#x out of range of kernel_toc %#x", target, kernelTOC)
	}
	return []uint32{
		ppcRawLD(r12, r13, int16(pacaKernelTOC)),
		ppcRawADDIS(r12, r12, PPC_HA(reladdr)),
		ppcRawADDI(r12, r12, PPC_LO(reladdr)),
		PPC_RAW_MTCTR_R12,
		PPC_RAW_BCTR,
	}, nil
}

// OOLStubWords returns ftrace_ool_stub.insn[] as ftrace_init_ool_stub()
// (arch/powerpc/kernel/trace/ftrace.c) writes it for a record at ip whose
// stub's insn[0] is at stubInsnAddr, calling tramp (mod->arch.tramp for a
// module, ftrace_caller for the kernel):
//
//	mflr r0; bl tramp; mtlr r0; b ip+MCOUNT_INSN_SIZE
//
// This is the stub as initialised; enabling and disabling tracing later
// rewrites insn[1] (ftrace_modify_call()), never the others.
func OOLStubWords(stubInsnAddr, tramp, ip uint64) ([4]uint32, error) {
	var w [4]uint32
	bl, err := EncodeBranch(stubInsnAddr+MCOUNT_INSN_SIZE, tramp, true)
	if err != nil {
		return w, fmt.Errorf("ppc64: ool stub at %#x: bl: %w", stubInsnAddr, err)
	}
	b, err := EncodeBranch(stubInsnAddr+3*MCOUNT_INSN_SIZE, ip+MCOUNT_INSN_SIZE, false)
	if err != nil {
		return w, fmt.Errorf("ppc64: ool stub at %#x: b: %w", stubInsnAddr, err)
	}
	return [4]uint32{PPC_RAW_MFLR_R0, bl, PPC_RAW_MTLR_R0, b}, nil
}
