package ppc64

import "testing"

// TestTrapName: the TRAP value's low four bits are flags (0x701: a
// program check with the trap bit), and vectors of interrupt.h are named.
func TestTrapName(t *testing.T) {
	for _, tc := range []struct {
		trap        uint64
		short, long string
		ok          bool
	}{
		{0x300, "data storage", "data storage interrupt", true},
		{0x701, "program check", "program check (illegal instruction, trap or BUG)", true},
		{0xc01, "system call", "system call", true},
		{0x3000, "system call vectored", "system call vectored", true},
		{0x1500, "", "", false},
	} {
		s, l, ok := TrapName(tc.trap)
		if s != tc.short || l != tc.long || ok != tc.ok {
			t.Errorf("TrapName(%#x) = %q, %q, %v; want %q, %q, %v", tc.trap, s, l, ok, tc.short, tc.long, tc.ok)
		}
	}
}
