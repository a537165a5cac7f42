package textcheck

import (
	"encoding/binary"

	"github.com/kdump-inspect/kdump-inspect/arch/x86"
	"golang.org/x/arch/x86/x86asm"
)

// xinsn is what the kernel's insn_decode_kernel() tells the patching code
// about one instruction: its length, opcode bytes (after the legacy and
// REX prefixes), the relative immediate of a branch and a RIP-relative
// displacement (offset and size in the instruction).
type xinsn struct {
	n        int
	op0, op1 byte
	relOff   int // offset of the rel8/rel32 immediate or RIP-relative displacement
	relLen   int // 0: none
	isBranch bool
	nop      bool
}

func decodeX86(b []byte) (xinsn, bool) {
	if _, ok := x86.Endbr(b); ok { // not known to x86asm; 4 bytes, no branch, not a nop
		return xinsn{n: 4, op0: 0x0f, op1: 0x1e}, true
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil || inst.Len == 0 || inst.Len > len(b) {
		return xinsn{}, false
	}
	x := xinsn{n: inst.Len, relOff: inst.PCRelOff, relLen: inst.PCRel}
	i := 0
	for i < inst.Len {
		c := b[i]
		if c == 0x66 || c == 0x67 || c == 0x2e || c == 0x3e || c == 0x26 || c == 0x64 || c == 0x65 || c == 0x36 || c == 0xf0 || c == 0xf2 || c == 0xf3 {
			i++
			continue
		}
		break
	}
	if i < inst.Len && b[i]&0xf0 == 0x40 {
		i++
	}
	if i < inst.Len {
		x.op0 = b[i]
	}
	if i+1 < inst.Len {
		x.op1 = b[i+1]
	}
	switch {
	case x.op0 >= 0x70 && x.op0 <= 0x7f, x.op0 == 0xeb, x.op0 == 0xe9, x.op0 == 0xe8:
		x.isBranch = true
	case x.op0 == 0x0f && x.op1 >= 0x80 && x.op1 <= 0x8f:
		x.isBranch = true
	}
	// insn_is_nop(): nop, nopl/nopw (0f 1f), and 0x90 under prefixes
	x.nop = inst.Op == x86asm.NOP || x.op0 == 0x90 || x.op0 == 0x0f && x.op1 == 0x1f
	return x, true
}

// rel reads the instruction's relative field (sign-extended).
func (x xinsn) rel(b []byte) int64 {
	switch x.relLen {
	case 1:
		return int64(int8(b[x.relOff]))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(b[x.relOff:])))
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(b[x.relOff:])))
	}
	return 0
}

func (x xinsn) setRel(b []byte, v int64) bool {
	switch x.relLen {
	case 1:
		if v != int64(int8(v)) {
			return false
		}
		b[x.relOff] = byte(v)
	case 2:
		if v != int64(int16(v)) {
			return false
		}
		binary.LittleEndian.PutUint16(b[x.relOff:], uint16(v))
	case 4:
		if v != int64(int32(v)) {
			return false
		}
		binary.LittleEndian.PutUint32(b[x.relOff:], uint32(v))
	default:
		return false
	}
	return true
}

// x86Nops is x86_nops[] (alternative.c, BYTES_NOP1..11 of asm/nops.h on x86_64).
var x86Nops = [][]byte{
	nil,
	{0x90},
	{0x66, 0x90},
	{0x0f, 0x1f, 0x00},
	{0x0f, 0x1f, 0x40, 0x00},
	{0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
	{0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
}

// asmNopMax is ASM_NOP_MAX on x86_64 (asm/nops.h).
const asmNopMax = 11

// textGen is __text_gen_insn() for jmp8, jmp32 and call.
func textGen(buf []byte, op byte, addr, dest uint64) int {
	buf[0] = op
	switch op {
	case 0xeb:
		buf[1] = byte(int8(int64(dest - (addr + 2))))
		return 2
	default:
		binary.LittleEndian.PutUint32(buf[1:], uint32(int32(int64(dest-(addr+5)))))
		return 5
	}
}

// addNop is add_nop() (alternative.c).
func addNop(buf []byte, addr uint64, n int) {
	if n <= 0 {
		return
	}
	if n <= asmNopMax {
		copy(buf, x86Nops[n])
		return
	}
	k := 0
	if n < 128 {
		k = textGen(buf, 0xeb, addr, addr+uint64(n))
	} else {
		k = textGen(buf, 0xe9, addr, addr+uint64(n))
	}
	for ; k < n; k++ {
		buf[k] = 0xcc
	}
}

// skipNops is skip_nops().
func skipNops(buf []byte, off, n int) int {
	for off < n {
		x, ok := decodeX86(buf[off:n])
		if !ok || !x.nop {
			break
		}
		off += x.n
	}
	return off
}

// optimizeNops is optimize_nops(): each run of nops becomes one add_nop().
func optimizeNops(addr uint64, buf []byte) {
	n := len(buf)
	for i := 0; i < n; {
		x, ok := decodeX86(buf[i:n])
		if !ok {
			return
		}
		next := i + x.n
		if x.nop {
			if next == n {
				return
			}
			next = skipNops(buf, next, n)
			addNop(buf[i:], addr+uint64(i), next-i)
		}
		i = next
	}
}
