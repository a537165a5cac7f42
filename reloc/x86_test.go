package reloc

import (
	"encoding/binary"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// TestX86Apply: __write_relocate_add() for each type apply_relocate_add()
// takes (arch/x86/kernel/module.c): S + A absolute (64, 32, 32S) and
// S + A - P relative (PC32, PLT32, PC64), little-endian at the offset;
// a 32-bit value that does not fit is refused.
func TestX86Apply(t *testing.T) {
	var base, S uint64 = 0xffffffffc0400000, 0xffffffff81234560
	syms := []Symbol{{}, {Name: "f", Shndx: elfobj.SHN_UNDEF, Value: S}}
	for _, c := range []struct {
		typ  elfobj.R_X86_64
		add  int64
		want uint64
		size int
	}{
		{elfobj.R_X86_64_64, 8, S + 8, 8},
		{elfobj.R_X86_64_32S, 0, S, 4}, // sign-extends back to S
		{elfobj.R_X86_64_PC32, -4, S - 4 - (base + 16), 4},
		{elfobj.R_X86_64_PLT32, -4, S - 4 - (base + 16), 4},
		{elfobj.R_X86_64_PC64, 0, S - (base + 16), 8},
	} {
		sec := &Section{Name: ".text", Addr: base, Data: make([]byte, 32)}
		var a X86_64
		_, errs := a.Apply(sec, []Rela{{Off: 16, Type: uint32(c.typ), Sym: 1, Addend: c.add}}, syms)
		if len(errs) > 0 {
			t.Errorf("%v: %v", c.typ, errs)
			continue
		}
		got := binary.LittleEndian.Uint64(append(sec.Data[16:16+c.size], make([]byte, 8-c.size)...))
		if mask := uint64(1)<<(8*c.size) - 1; c.size == 8 && got != c.want || c.size < 8 && got != c.want&mask {
			t.Errorf("%v: wrote %#x, want %#x", c.typ, got, c.want)
		}
	}
	sec := &Section{Name: ".text", Addr: base, Data: make([]byte, 32)}
	var a X86_64
	if _, errs := a.Apply(sec, []Rela{{Off: 0, Type: uint32(elfobj.R_X86_64_32), Sym: 1}}, syms); len(errs) == 0 {
		t.Error("R_X86_64_32 of a kernel address (not a 32-bit value) was applied")
	}
}

// FuzzX86Apply: any relocation applies or fails without a panic and
// never writes outside the section.
func FuzzX86Apply(f *testing.F) {
	f.Add(make([]byte, 16), uint64(4), uint32(2), uint32(1), int64(-4))
	f.Fuzz(func(t *testing.T, data []byte, off uint64, typ, sym uint32, add int64) {
		syms := []Symbol{{}, {Name: "x", Shndx: elfobj.SHN_UNDEF, Value: 0xffffffff81000000}, {Name: "y", Shndx: 5, Value: 0xffffffffc0400010}}
		buf := append(append([]byte(nil), data...), 0xaa, 0xbb)
		sec := &Section{Name: ".text", Addr: 0xffffffffc0400000, Data: buf[:len(data)]}
		var a X86_64
		a.Apply(sec, []Rela{{Off: off, Type: typ, Sym: sym, Addend: add}}, syms)
		if buf[len(data)] != 0xaa || buf[len(data)+1] != 0xbb {
			t.Fatal("wrote past the section")
		}
	})
}
