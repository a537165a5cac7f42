package ppc64

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/arch/ppc64/ppc64asm"
)

// ppc64asm.Decode lazily allocates a package-level coverage table on its
// first call; make that first call once so concurrent Disasm calls never
// race on it.
var warmDecoder sync.Once

func decode(b []byte) (inst ppc64asm.Inst, err error) {
	warmDecoder.Do(func() { ppc64asm.Decode([]byte{0x60, 0, 0, 0}, binary.BigEndian) })
	return ppc64asm.Decode(b, binary.BigEndian)
}

// Disasm disassembles one instruction word at pc in GNU objdump syntax
// (ppc64asm.GNUSyntax), with PC-relative branch operands printed as
// absolute targets, and `.long 0x...` for a word that does not decode (as
// crash's dis does). A prefix word alone is printed as `.long`: use
// DisasmPrefixed or DisasmBytes for ISA 3.1 prefixed instructions.
func Disasm(word uint32, pc uint64) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], word)
	if word>>26 == 1 {
		return dotLong(word)
	}
	return disasm(b[:], pc, word)
}

// DisasmPrefixed disassembles an ISA 3.1 prefixed instruction (pld,
// paddi, ...): the prefix word, at pc, then the suffix word.
func DisasmPrefixed(prefix, suffix uint32, pc uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:], prefix)
	binary.BigEndian.PutUint32(b[4:], suffix)
	s := disasm(b[:], pc, prefix)
	// 8LS and MLS prefixed D-form loads/stores/paddi with R=1 address
	// pc + the 34-bit displacement; GNUSyntax prints only the
	// displacement, so the absolute address follows as a comment, the way
	// objdump does.
	if typ := prefix >> 24 & 3; (typ == 0 || typ == 2) && prefix&(1<<20) != 0 && !strings.HasPrefix(s, ".long") {
		d := signExtend34(uint64(prefix&0x3ffff)<<16 | uint64(suffix&0xffff))
		s += fmt.Sprintf("\t# %#x", pc+uint64(d))
	}
	return s
}

func signExtend34(v uint64) int64 { return int64(v<<30) >> 30 }

// DisasmBytes disassembles the instruction at the start of b, read in
// order (the kernel's byte order), and returns its text and length: 8 for
// a prefixed instruction, else 4; 0 when b is shorter than a word.
func DisasmBytes(b []byte, pc uint64, order binary.ByteOrder) (string, int) {
	if len(b) < 4 {
		return "", 0
	}
	w := order.Uint32(b)
	if w>>26 == 1 && len(b) >= 8 {
		return DisasmPrefixed(w, order.Uint32(b[4:]), pc), 8
	}
	return Disasm(w, pc), 4
}

func dotLong(w uint32) string { return fmt.Sprintf(".long %#x", w) }

func disasm(b []byte, pc uint64, first uint32) (text string) {
	defer func() {
		// ppc64asm.GNUSyntax panics on some table inconsistencies ("wrong
		// table"); an instruction word from a dump is hostile input.
		if recover() != nil {
			text = dotLong(first)
		}
	}()
	inst, err := decode(b)
	if err != nil || inst.Op == 0 {
		return dotLong(first)
	}
	s := ppc64asm.GNUSyntax(inst, pc)
	// GNUSyntax prints a PC-relative operand as pc+offset, except a zero
	// offset, which it prints as ".+0x0": print that one absolute too.
	for _, a := range inst.Args {
		if rel, ok := a.(ppc64asm.PCRel); ok && rel == 0 {
			s = strings.Replace(s, ".+0x0", fmt.Sprintf("%#x", pc), 1)
		}
	}
	return s
}
