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
