package audit

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// seed000 is the memory of seed 000's `crash> dis 0xc008000007d70dd0 42`
// listing (../shared/seeds/000_*.txt), one word per listed line, starting at
// mod->arch.ool_stubs. The text after each word is what the seed's listing
// shows for it; TestSeed000Words checks that the words decode to exactly
// that, so the table is the seed's and not this code's.
var seed000 = []struct {
	word uint32
	text string
}{
	{0x00000000, ".long 0x0"},
	{0x00000000, ".long 0x0"},
	{0x7c0802a6, "mflr r0"},
	{0x4bffffa5, "bl 0xc008000007d70d80"},
	{0x7c0803a6, "mtlr r0"},
	{0x4bfff230, "b 0xc008000007d70014"},
	{0x00000000, ".long 0x0"},
	{0x00000000, ".long 0x0"},
	{0x7c0802a6, "mflr r0"},
	{0x4bffff8d, "bl 0xc008000007d70d80"},
	{0x3d620004, "addis r11,r2,4"},
	{0x396b8cf8, "addi r11,r11,-29448"},
	{0xf8410018, "std r2,24(r1)"},
	{0xe98b0020, "ld r12,32(r11)"},
	{0x7d8903a6, "mtctr r12"},
	{0x4e800420, "bctr"},
	{0x7c0803a6, "mtlr r0"},
	{0x73747562, "andi. r20,r27,30050"},
	{0x054e92b8, ".long 0x54e92b8"},
	{0xc0080000, "lfs f0,0(r8)"},
	{0x7c0802a6, "mflr r0"},
	{0x4bffff5d, "bl 0xc008000007d70d80"},
	{0x7c0803a6, "mtlr r0"},
	{0x4bfff550, "b 0xc008000007d7037c"},
	{0x00000000, ".long 0x0"},
	{0x00000000, ".long 0x0"},
}

const seedOOL uint64 = 0xc008000007d70dd0

func TestSeed000Words(t *testing.T) {
	for i, w := range seed000 {
		pc := seedOOL + 4*uint64(i)
		if got := ppc64.Disasm(w.word, pc); got != w.text {
			t.Errorf("%#x: %#08x decodes as %q, the seed shows %q", pc, w.word, got, w.text)
		}
	}
}

// seedStubs rebuilds the seed's .stubs window as the tool sees it: the
// listing's words from ool_stubs, then zeros to the end of the third slot
// (beyond the listing: not asserted on). The seed's kernel scans for a zero
// funcdata (no stub_count); ool_stub_count 4 covers the listed entries.
func seedStubs(t *testing.T) (*modules.Module, *modules.Stubs) {
	raw := make([]byte, 3*modules.StubEntrySize)
	for i, w := range seed000 {
		binary.LittleEndian.PutUint32(raw[4*i:], w.word)
	}
	m := &modules.Module{Name: "livepatch_module", Arch: modules.Arch{
		HasOOL: true, OOLStubs: seedOOL, OOLStubCount: 4, OOLStubIndex: 4,
		HasTramp: true, Tramp: 0xc008000007d70d80,
	}}
	// r2 as the stub's own addis/addi say: the stub at ool_stubs+0x28 loads
	// r2 + (4 << 16) - 29448.
	r2 := seedOOL + 0x28 - (4<<16 - 29448)
	s := modules.NewStubs(m, seedOOL, raw, binary.LittleEndian, modules.StubsInput{R2: r2})
	return m, s
}

// TestSeed000Overlay: the overlay marks ppc64[ ] rows at 0x0, 0x28 and 0x50
// and ftrace[N] rows every 24 bytes, as the seed's listing does.
func TestSeed000Overlay(t *testing.T) {
	_, s := seedStubs(t)
	rows := s.Overlay()
	want := map[uint64][2]string{
		0x00: {"ppc64[0].jump[0]", "ftrace[0].ftrace_op"},
		0x28: {"ppc64[1].jump[0]", "ftrace[1].insn[2]"},
		0x30: {"ppc64[1].jump[2]", "ftrace[2].ftrace_op"},
		0x40: {"ppc64[1].jump[6]", "ftrace[2].insn[2]"},
		0x44: {"ppc64[1].magic", "ftrace[2].insn[3]"},
		0x48: {"ppc64[1].funcdata", "ftrace[3].ftrace_op"},
		0x50: {"ppc64[2].jump[0]", "ftrace[3].insn[0]"},
	}
	for _, r := range rows {
		w, ok := want[r.Off]
		if !ok {
			continue
		}
		got := [2]string{fmtField("ppc64", r.StubIndex, r.StubField), fmtField("ftrace", r.OOLIndex, r.OOLField)}
		if got != w {
			t.Errorf("+%#x: %v, want %v", r.Off, got, w)
		}
		delete(want, r.Off)
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v", want)
	}
}

func fmtField(kind string, i int, f string) string {
	if i < 0 {
		return ""
	}
	return kind + "[" + itoa(i) + "]." + f
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSeed000Audit: the overlap finding names the call stub at
// ool_stubs+0x28 covering ftrace[1].insn[2..3], all of ftrace[2] and
// ftrace[3].ftrace_op, with funcdata 0xc0080000054e92b8; its jump[6] still
// holds the old mtlr r0 and its magic decodes as andi. r20,r27,30050.
func TestSeed000Audit(t *testing.T) {
	m, s := seedStubs(t)
	set := &modules.Set{Resolver: symbols.NewResolver(), Modules: []*modules.Analysis{{Module: m, Stubs: s}}}
	r := RunModules(set, Options{})
	var ov *Finding
	for i := range r.Findings {
		if r.Findings[i].Rule == "OOL-OVERLAP" {
			if ov != nil {
				t.Fatalf("two overlap findings")
			}
			ov = &r.Findings[i]
		}
	}
	if ov == nil {
		t.Fatalf("no OOL-OVERLAP finding; findings: %+v", r.Findings)
	}
	wantSlots := []string{"ppc64[1]", "ftrace[1].insn[2..3] (8 of 24 bytes)", "ftrace[2] (all 24 bytes)", "ftrace[3].ftrace_op (8 of 24 bytes)"}
	if strings.Join(ov.Slots(), "|") != strings.Join(wantSlots, "|") {
		t.Errorf("slots %q, want %q", ov.Slots(), wantSlots)
	}
	if !strings.Contains(ov.Message, "0xc0080000054e92b8") || !strings.Contains(ov.Message, "ool_stubs+0x28") {
		t.Errorf("message %q lacks the funcdata or the offset", ov.Message)
	}
	for _, w := range ov.Words {
		switch w.Label {
		case "ppc64[1].jump[6] = ftrace[2].insn[2]":
			if w.FoundAsm != "mtlr r0" {
				t.Errorf("jump[6] %q", w.FoundAsm)
			}
		case "ppc64[1].magic = ftrace[2].insn[3]":
			if w.FoundAsm != "andi. r20,r27,30050" {
				t.Errorf("magic %q", w.FoundAsm)
			}
		}
	}
	// Sentinel scan: slot 1 was handed out because its funcdata position
	// (ftrace[3].ftrace_op) read as zero before; slot 0's (ftrace[1].insn[0..1])
	// was mflr/bl. Now the stub fills it, so slot 1 is not reported again.
	for _, f := range r.Findings {
		if f.Rule == "OOL-SENTINEL" {
			for _, sl := range f.Slots() {
				if sl == "ppc64[0]" || sl == "ppc64[1]" {
					t.Errorf("sentinel finding names %s", sl)
				}
			}
		}
	}
}
