package arm64

import (
	"fmt"
	"strings"
	"testing"
)

// Words from the distro-kaslr corpus truth (read by drgn from the dump and
// by the guest; /work/corpora/arm64/distro-kaslr/truth-summary.txt).
func TestGetPLTEntryCorpusWords(t *testing.T) {
	for _, c := range []struct {
		pc, dst uint64
		want    PLTEntry
	}{
		// md4 plt[0] -> __memmove
		{0xffffacef364c5880, 0xffffacef88651510, PLTEntry{0x90290c70, 0x91144210, 0xd61f0200}},
		// md4 plt[3] -> crypto_unregister_shash
		{0xffffacef364c58a4, 0xffffacef87ba7d88, PLTEntry{0xd028b710, 0x91362210, 0xd61f0200}},
		// crc16 ftrace_trampolines[0] -> ftrace_caller (FTRACE_ADDR)
		{0xffffacef364cb08c, 0xffffacef8744f7b8, PLTEntry{0x90287c30, 0x911ee210, 0xd61f0200}},
		// tcp_vegas plt[2] -> tcp_unregister_congestion_control
		{0xffffacef364ac418, 0xffffacef884d3fb8, PLTEntry{0xf0290130, 0x913ee210, 0xd61f0200}},
	} {
		if got := GetPLTEntry(c.dst, c.pc); got != c.want {
			t.Errorf("GetPLTEntry(%#x, %#x) = %08x, want %08x", c.dst, c.pc, got, c.want)
		}
		if got, ok := DecodePLT(c.want, c.pc); !ok || got != c.dst {
			t.Errorf("DecodePLT(%08x at %#x) = %#x %v, want %#x", c.want, c.pc, got, ok, c.dst)
		}
	}
	if _, ok := DecodePLT(PLTEntry{}, 0x1000); ok {
		t.Error("DecodePLT of zeros: ok")
	}
	// A different register in the add: not a PLT.
	if _, ok := DecodePLT(PLTEntry{0x90290c70, 0x91144211, 0xd61f0200}, 0xffffacef364c5880); ok {
		t.Error("DecodePLT with mismatched registers: ok")
	}
}

func TestBranchAndSites(t *testing.T) {
	le := func(w uint32) []byte { return Order.AppendUint32(nil, w) }
	for _, c := range []struct {
		pc     uint64
		word   uint32
		target uint64
	}{
		{0xffffacef8799812c, 0x97eadda3, 0xffffacef8744f7b8}, // vfs_read+0x4: bl ftrace_caller
		{0xffffacef364ac00c, 0x94000109, 0xffffacef364ac430}, // tcp_vegas_init+0x4: bl the module's ftrace PLT
		{0xffffacef364ac1cc, 0x94000099, 0xffffacef364ac430},
	} {
		got, call, ok := BranchTarget(le(c.word), c.pc)
		if !ok || !call || got != c.target {
			t.Errorf("BranchTarget(%08x at %#x) = %#x %v %v, want %#x call", c.word, c.pc, got, call, ok, c.target)
		}
		w, err := BranchImm(c.pc, c.target, true)
		if err != nil || w != c.word {
			t.Errorf("BranchImm(%#x, %#x) = %08x %v, want %08x", c.pc, c.target, w, err, c.word)
		}
		text, n := Disasm(le(c.word), c.pc)
		if n != 4 || !strings.HasSuffix(text, fmt.Sprintf("%#x", c.target)) || !strings.HasPrefix(text, "bl ") {
			t.Errorf("Disasm(%08x) = %q", c.word, text)
		}
	}
	// The vmlinux's vfs_read is out of BL range of a module at
	// 0xffffacef364ac00c: ftrace_find_callable_addr() uses the PLT.
	if ReachableByBL(0xffffacef8744f7b8, 0xffffacef364ac00c) {
		t.Error("ftrace_caller reachable from tcp_vegas")
	}
	if _, err := BranchImm(0xffffacef364ac00c, 0xffffacef8744f7b8, true); err == nil {
		t.Error("BranchImm out of range: no error")
	}
	for w, want := range map[uint32]string{MovX9LR: "mov x9, x30", Nop: "nop", 0xd503233f: "paciasp", 0xd50323bf: "autiasp", BrkKprobe: "brk #0x4", BrX16: "br x16"} {
		if got, _ := Disasm(le(w), 0); got != want {
			t.Errorf("Disasm(%08x) = %q, want %q", w, got, want)
		}
	}
	// Conditional branches: b.ne backwards, cbz forwards, tbnz.
	for _, c := range []struct {
		word       uint32
		pc, target uint64
	}{
		{0x54ffffe1, 0x1000, 0x0ffc}, // b.ne .-4
		{0xb4000040, 0x1000, 0x1008}, // cbz x0, .+8
		{0x37080040, 0x1000, 0x1008}, // tbnz w0, #1, .+8
		{0x17ffffff, 0x1000, 0x0ffc}, // b .-4
	} {
		got, call, ok := BranchTarget(le(c.word), c.pc)
		if !ok || call || got != c.target {
			t.Errorf("BranchTarget(%08x) = %#x %v %v, want %#x", c.word, got, call, ok, c.target)
		}
	}
	k := &Kernel{}
	if a, w := k.FtracePrefix(0xffffacef364ac00c); a != 0xffffacef364ac008 || Order.Uint32(w) != 0xaa1e03e9 {
		t.Errorf("FtracePrefix = %#x %x", a, w)
	}
	// ALIGN_DOWN(rec->ip - 12, 8): both the BTI and the non-BTI layout.
	if got := k.FtraceOpsLiteral(0xffffacef364ac00c); got != 0xffffacef364ac000 {
		t.Errorf("FtraceOpsLiteral = %#x", got)
	}
	if got := k.FtraceOpsLiteral(0xffffacef364ac010); got != 0xffffacef364ac000 {
		t.Errorf("FtraceOpsLiteral (BTI) = %#x", got)
	}
}
