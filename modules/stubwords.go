package modules

import "fmt"

// Instruction encodings of the two stub templates in module_64.c, from
// asm/ppc-opcode.h (PPC_RAW_ADDIS, PPC_RAW_ADDI, PPC_RAW_STD, PPC_RAW_LD,
// PPC_RAW_MTCTR, PPC_RAW_BCTR).
const (
	opADDIS       = 15 << 26
	opADDI        = 14 << 26
	opLD          = 58 << 26
	opSTD         = 62 << 26
	insMTCTR12    = 0x7d8903a6 // mtctr r12
	insBCTR       = 0x4e800420 // bctr
	r2StackOffset = 24         // R2_STACK_OFFSET on ELFv2
)

func dform(op uint32, rt, ra int, d int64) uint32 {
	return op | uint32(rt)<<21 | uint32(ra)<<16 | uint32(uint16(d))
}

func dsform(op uint32, rt, ra int, ds int64) uint32 {
	return op | uint32(rt)<<21 | uint32(ra)<<16 | uint32(uint16(ds))&0xfffc
}

// ha and lo are PPC_HA and PPC_LO: the high half adjusted for the sign of
// the low half.
func ha(v int64) int64 { return ((v >> 16) + ((v & 0x8000) >> 15)) & 0xffff }
func lo(v int64) int64 { return v & 0xffff }

// callStubWords is create_stub()'s ELFv2 (non-PCREL) template
// ppc64_stub_insns[] patched for a stub at stub with module TOC pointer r2:
// addis r11,r2,HA; addi r11,r11,LO; std r2,24(r1); ld r12,32(r11);
// mtctr r12; bctr. jump[6] is not written.
func callStubWords(stub, r2 uint64) ([]uint32, error) {
	rel := int64(stub - r2)
	if rel > 0x7fffffff || rel < -0x80000000 {
		return nil, fmt.Errorf("stub %#x out of range of r2 %#x", stub, r2)
	}
	return []uint32{
		dform(opADDIS, 11, 2, ha(rel)),
		dform(opADDI, 11, 11, lo(rel)),
		dsform(opSTD, 2, 1, r2StackOffset),
		dsform(opLD, 12, 11, 32),
		insMTCTR12,
		insBCTR,
	}, nil
}

// ftraceStubWords is create_ftrace_stub()'s non-PCREL template stub_insns[]:
// ld r12,PACATOC(r13); addis r12,r12,HA; addi r12,r12,LO; mtctr r12; bctr,
// relative to the kernel TOC. jump[5] and jump[6] are not written.
func ftraceStubWords(target, kernelTOC uint64, pacaTOC int) ([]uint32, error) {
	rel := int64(target - kernelTOC)
	if rel > 0x7fffffff || rel < -0x80000000 {
		return nil, fmt.Errorf("%#x out of range of kernel toc %#x", target, kernelTOC)
	}
	return []uint32{
		dsform(opLD, 12, 13, int64(pacaTOC)),
		dform(opADDIS, 12, 12, ha(rel)),
		dform(opADDI, 12, 12, lo(rel)),
		insMTCTR12,
		insBCTR,
	}, nil
}
