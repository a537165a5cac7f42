package x86

import "testing"

// TestRelTarget: the encodings of the Intel SDM: e8 rel32 (call), eb
// rel8 (jmp), 48 8b 15 disp32 (movq disp32(%rip), %rdx — what
// create_trampoline() looks for at ftrace_caller_op_ptr), and an
// instruction with no relative operand.
func TestRelTarget(t *testing.T) {
	const pc = 0xffffffff81000000
	for _, c := range []struct {
		b      []byte
		target uint64
		n      int
		ok     bool
	}{
		{[]byte{0xe8, 0x10, 0x00, 0x00, 0x00}, pc + 5 + 0x10, 5, true},
		{[]byte{0xe8, 0xfb, 0xff, 0xff, 0xff}, pc, 5, true},
		{[]byte{0xeb, 0xfe}, pc, 2, true},
		{[]byte{0x48, 0x8b, 0x15, 0xf6, 0x00, 0x00, 0x00}, pc + 7 + 0xf6, 7, true},
		{[]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, 0, 5, false},
	} {
		got, n, ok := RelTarget(c.b, pc)
		if got != c.target || n != c.n || ok != c.ok {
			t.Errorf("% x: %#x %d %v, want %#x %d %v", c.b, got, n, ok, c.target, c.n, c.ok)
		}
	}
	if tg, call, ok := BranchTarget([]byte{0xe8, 0x10, 0, 0, 0}, pc); !ok || !call || tg != pc+0x15 {
		t.Errorf("BranchTarget call: %#x %v %v", tg, call, ok)
	}
}

// FuzzRelTarget: any bytes decode without a panic, and a length never
// past the input.
func FuzzRelTarget(f *testing.F) {
	f.Add([]byte{0x48, 0x8b, 0x15, 0xf6, 0, 0, 0}, uint64(0xffffffff81000000))
	f.Fuzz(func(t *testing.T, b []byte, pc uint64) {
		_, n, _ := RelTarget(b, pc)
		if n > len(b) {
			t.Fatalf("length %d past %d bytes", n, len(b))
		}
		Disasm(b, pc)
		BranchTarget(b, pc)
	})
}

// TestEndbr: every function of an IBT kernel starts with ENDBR64 (the
// little-endian word 0xfa1e0ff3 of arch/x86/include/asm/ibt.h,
// __is_endbr()). x86asm decodes f3 as a one-byte "rep" and the rest as
// junk; the bytes are livepatch_cmdline_proc_show's first ten in the x86
// livepatch corpus dump, which objdump shows as "endbr64" then the
// 5-byte ftrace nop.
func TestEndbr(t *testing.T) {
	b := []byte{0xf3, 0x0f, 0x1e, 0xfa, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3}
	const pc = 0xffffffffc0204060
	var got []string
	for off := 0; off < len(b); {
		s, n := Disasm(b[off:], pc+uint64(off))
		got = append(got, s)
		off += n
	}
	if len(got) != 3 || got[0] != "endbr64" || got[1] != "nopl 0(%rax,%rax,1)" && got[1] != "nopl (%rax,%rax)" || got[2] != "ret" && got[2] != "retq" {
		t.Errorf("decoded %q, want endbr64, the 5-byte nop, ret", got)
	}
	if _, n, ok := RelTarget(b, pc); n != 4 || ok {
		t.Errorf("RelTarget over endbr64: length %d ok %v, want 4 false", n, ok)
	}
	if s, ok := Endbr([]byte{0xf3, 0x0f, 0x1e, 0xfb}); !ok || s != "endbr32" {
		t.Errorf("endbr32: %q %v", s, ok)
	}
	for _, nb := range [][]byte{{0xf3, 0x0f, 0x1e}, {0xf3, 0x0f, 0x1e, 0xc8}, {0xf3, 0x90}} {
		if _, ok := Endbr(nb); ok {
			t.Errorf("% x taken for endbr", nb)
		}
	}
}
