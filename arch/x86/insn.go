package x86

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Instruction bytes of arch/x86/include/asm/text-patching.h and nops.h.
const (
	CallOpcode  = 0xe8 // CALL_INSN_OPCODE
	Jmp32Opcode = 0xe9 // JMP32_INSN_OPCODE
	Jmp8Opcode  = 0xeb // JMP8_INSN_OPCODE
	Int3Opcode  = 0xcc // INT3_INSN_OPCODE
	RetOpcode   = 0xc3 // RET_INSN_OPCODE
)

// Nop5 is x86_nops[5] on x86_64 (BYTES_NOP5: nopl 0x0(%rax,%rax,1)).
var Nop5 = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}

// Disasm decodes one instruction (GNU syntax, as objdump and crash show
// it), relative targets made absolute; an undecodable byte is ".byte".
func (k *Kernel) Disasm(b []byte, pc uint64) (string, int) { return Disasm(b, pc) }

// Endbr names ENDBR64 (f3 0f 1e fa) or ENDBR32 (f3 0f 1e fb) at b, the
// first instruction of every function of an IBT kernel
// (arch/x86/include/asm/ibt.h, is_endbr()). x86asm does not know them: it
// decodes a one-byte "rep" and loses the instruction boundary.
func Endbr(b []byte) (string, bool) {
	if len(b) < 4 || b[0] != 0xf3 || b[1] != 0x0f || b[2] != 0x1e {
		return "", false
	}
	switch b[3] {
	case 0xfa:
		return "endbr64", true
	case 0xfb:
		return "endbr32", true
	}
	return "", false
}

// Disasm is Kernel.Disasm without a kernel.
func Disasm(b []byte, pc uint64) (string, int) {
	if name, ok := Endbr(b); ok {
		return name, 4
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil || inst.Len == 0 {
		if len(b) == 0 {
			return "(no bytes)", 1
		}
		return fmt.Sprintf(".byte %#02x", b[0]), 1
	}
	if t, _, ok := BranchTarget(b, pc); ok {
		return fmt.Sprintf("%s %#x", mnemonic(inst), t), inst.Len
	}
	return x86asm.GNUSyntax(inst, pc, nil), inst.Len
}

func mnemonic(inst x86asm.Inst) string {
	s := x86asm.GNUSyntax(inst, 0, nil)
	for i, c := range s {
		if c == ' ' {
			return s[:i]
		}
	}
	return s
}

// BranchTarget decodes call rel32, jmp rel32/rel8 and jcc rel8/rel32.
func (k *Kernel) BranchTarget(b []byte, pc uint64) (uint64, bool, bool) { return BranchTarget(b, pc) }

// BranchTarget is Kernel.BranchTarget without a kernel.
func BranchTarget(b []byte, pc uint64) (target uint64, call, ok bool) {
	switch {
	case len(b) >= 5 && (b[0] == CallOpcode || b[0] == Jmp32Opcode):
		return pc + 5 + uint64(int64(int32(binary.LittleEndian.Uint32(b[1:])))), b[0] == CallOpcode, true
	case len(b) >= 2 && b[0] == Jmp8Opcode:
		return pc + 2 + uint64(int64(int8(b[1]))), false, true
	case len(b) >= 2 && b[0] >= 0x70 && b[0] <= 0x7f:
		return pc + 2 + uint64(int64(int8(b[1]))), false, true
	case len(b) >= 6 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f:
		return pc + 6 + uint64(int64(int32(binary.LittleEndian.Uint32(b[2:])))), false, true
	}
	return 0, false, false
}

// TextGenInsn is text_gen_insn() for the 5-byte call and jmp: opcode,
// then the rel32 from the next instruction.
func TextGenInsn(opcode byte, ip, target uint64) ([]byte, error) {
	disp := int64(target - (ip + 5))
	if disp != int64(int32(disp)) {
		return nil, fmt.Errorf("x86_64: %#x to %#x is out of rel32 range", ip, target)
	}
	b := make([]byte, 5)
	b[0] = opcode
	binary.LittleEndian.PutUint32(b[1:], uint32(int32(disp)))
	return b, nil
}

// FtraceSiteSize is MCOUNT_INSN_SIZE.
func (k *Kernel) FtraceSiteSize() int { return 5 }

// FtraceNop is ftrace_nop_replace(): x86_nops[5].
func (k *Kernel) FtraceNop(uint64) []byte { return append([]byte(nil), Nop5...) }

// FtraceCall is ftrace_call_replace() for a call (a direct jmp target,
// ftrace_is_jmp(), is the caller's to ask for with Jmp32Opcode).
func (k *Kernel) FtraceCall(ip, target uint64) ([]byte, error) {
	return TextGenInsn(CallOpcode, ip, target)
}

// FtraceJmp is ftrace_call_replace() for a direct target marked as a jump
// (ftrace_is_jmp()): jmp rel32.
func (k *Kernel) FtraceJmp(ip, target uint64) ([]byte, error) {
	return TextGenInsn(Jmp32Opcode, ip, target)
}

// RelTarget decodes the instruction at b (address pc) and, when it refers
// to memory or code relative to itself (a rel8/rel32 branch or call, a
// RIP-relative operand), returns that absolute address: what
// text_poke_apply_relocation() keeps the same when it copies code
// elsewhere. n is the instruction's length (0 when undecodable).
func RelTarget(b []byte, pc uint64) (target uint64, n int, ok bool) {
	if _, ok := Endbr(b); ok {
		return 0, 4, false
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil || inst.Len == 0 {
		return 0, 0, false
	}
	next := pc + uint64(inst.Len)
	for _, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Rel:
			return next + uint64(int64(a)), inst.Len, true
		case x86asm.Mem:
			if a.Base == x86asm.RIP {
				return next + uint64(a.Disp), inst.Len, true
			}
		}
	}
	return 0, inst.Len, false
}
