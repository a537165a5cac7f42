package reloc

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

var le = binary.LittleEndian

func words(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		le.PutUint32(b[4*i:], w)
	}
	return b
}

// The expected words below are computed by hand from the formulas of
// apply_relocate_add() in arch/powerpc/kernel/module_64.c (7.2.13).
func TestPPC64Apply(t *testing.T) {
	const text = 0xc008000000010000
	const r2 = 0xc008000000038000
	sec := &Section{Name: ".text", Addr: text, Data: words(
		0x48000001, // 0x00: bl .       (REL24 against an undefined symbol: via a stub)
		0x60000000, // 0x04: nop        (restore_r2: ld r2,24(r1))
		0x48000001, // 0x08: bl .       (REL24 against a local function with a local entry)
		0x3c620000, // 0x0c: addis r3,r2,0 (TOC16_HA)
		0x38630000, // 0x10: addi r3,r3,0  (TOC16_LO)
		0xe84c0000, // 0x14: ld r2,0(r12)  (R_PPC64_ENTRY: large-model prologue)
		0x7c426214, // 0x18: add r2,r2,r12
		0x48000000, // 0x1c: b .        (REL24 sibling call to an external: no restore)
		0x60000000, // 0x20: nop        (stays: not after a bl)
	)}
	syms := []Symbol{
		{},
		{Name: "printk", Shndx: elfobj.SHN_UNDEF, Value: 0xc000000000123450},
		{Name: "helper", Shndx: 2, Value: text + 0x100, Other: 3 << 5}, // local entry +8
		{Name: "var", Shndx: 3, Value: r2 + 0x12340},
		{Name: "kfree", Shndx: elfobj.SHN_UNDEF, Value: 0xc000000000200000},
	}
	stubs := map[uint64]uint64{0xc000000000123450: text + 0x1000, 0xc000000000200000: text + 0x1028}
	a := &PPC64{Order: le, R2: r2, Stub: func(target uint64, name string) (uint64, error) {
		if s, ok := stubs[target]; ok {
			return s, nil
		}
		return 0, errors.New("no stub")
	}}
	relas := []Rela{
		{Off: 0x00, Type: uint32(elfobj.R_PPC64_REL24), Sym: 1},
		{Off: 0x08, Type: uint32(elfobj.R_PPC64_REL24), Sym: 2},
		// Little-endian: the 16-bit field is the instruction's first
		// halfword in memory.
		{Off: 0x0c, Type: uint32(elfobj.R_PPC64_TOC16_HA), Sym: 3},
		{Off: 0x10, Type: uint32(elfobj.R_PPC64_TOC16_LO), Sym: 3},
		{Off: 0x14, Type: uint32(elfobj.R_PPC64_ENTRY), Sym: 0},
		{Off: 0x1c, Type: uint32(elfobj.R_PPC64_REL24), Sym: 4},
	}
	w, errs := a.Apply(sec, relas, syms)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	// TOC16 values: var - r2 = 0x12340: HA = (0x12340 + 0x8000) >> 16 = 1, LO = 0x2340.
	// ENTRY: r2 - (text+0x14) = 0x27fec: addis r2,r12,HA = (0x27fec+0x8000)>>16 = 2; addi r2,r2,LO = 0x7fec.
	want := []uint32{
		0x48000000 | 0x1000 | 1, // bl stub at +0x1000
		0xe8410018,              // ld r2,24(r1)
		0x48000000 | (0x100 + 8 - 0x8) | 1,
		0x3c620001,
		0x38632340,
		0x3c400000 | 12<<16 | 0x0002,
		0x38420000 | 0x7fec,
		0x48000000 | (0x1028 - 0x1c), // b stub, no link
		0x60000000,
	}
	for i, x := range want {
		if got := le.Uint32(sec.Data[4*i:]); got != x {
			t.Errorf("word %#x: %08x, want %08x", 4*i, got, x)
		}
	}
	var restore, stubbed int
	for _, x := range w {
		if x.RestoreR2 {
			restore++
		}
		if x.Stub != 0 {
			stubbed++
		}
	}
	if restore != 1 || stubbed != 2 {
		t.Errorf("%d restore_r2 writes, %d stub calls; want 1 and 2", restore, stubbed)
	}
}

// TestPPC64Refused: what the kernel refuses is an error naming the
// relocation, and nothing is written.
func TestPPC64Refused(t *testing.T) {
	a := &PPC64{Order: le, R2: 0x10000, Stub: func(uint64, string) (uint64, error) { return 0, errors.New("none") }}
	syms := []Symbol{{}, {Name: "far", Shndx: 2, Value: 0x10000000}, {Name: "ext", Shndx: elfobj.SHN_UNDEF, Value: 0x5000}, {Name: "lost", Unresolved: true}}
	for _, tc := range []struct {
		name string
		r    Rela
		data []byte
	}{
		{"REL24 out of range", Rela{Off: 0, Type: uint32(elfobj.R_PPC64_REL24), Sym: 1}, words(0x48000001)},
		{"unknown type", Rela{Off: 0, Type: 200, Sym: 1}, words(0)},
		{"past the section", Rela{Off: 2, Type: uint32(elfobj.R_PPC64_ADDR32), Sym: 1}, words(0)},
		{"symbol index", Rela{Off: 0, Type: uint32(elfobj.R_PPC64_ADDR32), Sym: 9}, words(0)},
		{"unresolved", Rela{Off: 0, Type: uint32(elfobj.R_PPC64_ADDR32), Sym: 3}, words(0)},
		{"no nop after the call", Rela{Off: 0, Type: uint32(elfobj.R_PPC64_REL24), Sym: 2}, words(0x48000001, 0x7c0802a6)},
		{"no stub", Rela{Off: 0, Type: uint32(elfobj.R_PPC64_REL24), Sym: 2}, words(0x48000001, 0x60000000)},
	} {
		sec := &Section{Name: ".text", Addr: 0x1000, Data: append([]byte(nil), tc.data...)}
		_, errs := a.Apply(sec, []Rela{tc.r}, syms)
		var re *Error
		if len(errs) != 1 || !errors.As(errs[0], &re) {
			t.Errorf("%s: errors %v, want one *Error", tc.name, errs)
			continue
		}
		if string(sec.Data) != string(tc.data) {
			t.Errorf("%s: the section was written", tc.name)
		}
	}
}

// FuzzPPC64Apply: any relocations over any bytes never panic and never
// write outside the section.
func FuzzPPC64Apply(f *testing.F) {
	f.Add([]byte{0x01, 0, 0, 0x48, 0, 0, 0, 0x60}, uint64(0), uint32(10), uint32(1), int64(0))
	f.Add(make([]byte, 16), uint64(4), uint32(118), uint32(0), int64(-8))
	f.Fuzz(func(t *testing.T, data []byte, off uint64, typ, sym uint32, add int64) {
		a := &PPC64{Order: le, R2: 0xc000000000008000, Stub: func(v uint64, _ string) (uint64, error) { return v ^ 0x40, nil }}
		syms := []Symbol{{}, {Name: "x", Shndx: elfobj.SHN_UNDEF, Value: 0xc000000000001000}, {Name: "y", Shndx: 5, Value: 0xc008000000000010}}
		buf := append(append([]byte(nil), data...), 0xaa, 0xbb)
		sec := &Section{Name: ".text", Addr: 0xc008000000000000, Data: buf[:len(data)]}
		a.Apply(sec, []Rela{{Off: off, Type: typ, Sym: sym, Addend: add}}, syms)
		if buf[len(data)] != 0xaa || buf[len(data)+1] != 0xbb {
			t.Fatal("wrote past the section")
		}
	})
}
