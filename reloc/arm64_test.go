package reloc

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// TestARM64Apply: apply_relocate_add() of arch/arm64/kernel/module.c for
// each kind of relocation the distro modules use and the ones the brief
// names, the words checked against hand-assembled encodings (objdump of
// the same instruction at the same place): data (ABS64/32/16,
// PREL64/32/16), the 4K-page ADRP and its :lo12: partners, ADR, b.cond,
// tbz, MOVW with MOVN/MOVZ switching, and CALL26 in range, out of range
// through module_emit_plt_entry() and refused without a PLT; overflows
// refused as the kernel refuses the module.
func TestARM64Apply(t *testing.T) {
	const base uint64 = 0xffff800080010000 // the section's address
	S := uint64(0xffff800080123458)
	far := uint64(0xffffba3fb944f7b8) // a kernel function, out of BL range
	syms := []Symbol{{}, {Name: "f", Shndx: elfobj.SHN_UNDEF, Value: S}, {Name: "far", Shndx: elfobj.SHN_UNDEF, Value: far}, {Name: "small", Shndx: elfobj.SHN_ABS, Value: 0x1234}}
	le := binary.LittleEndian
	for _, c := range []struct {
		typ  elfobj.R_AARCH64
		sym  uint32
		add  int64
		insn uint32 // the word in the .ko
		want uint64
		size int
	}{
		{elfobj.R_AARCH64_ABS64, 1, 8, 0, S + 8, 8},
		{elfobj.R_AARCH64_PREL64, 1, 0, 0, S - (base + 16), 8},
		{elfobj.R_AARCH64_PREL32, 1, 0, 0, uint64(uint32(S - (base + 16))), 4},
		{elfobj.R_AARCH64_ABS32, 3, 0, 0, 0x1234, 4},
		{elfobj.R_AARCH64_ABS16, 3, 0, 0, 0x1234, 2},
		{elfobj.R_AARCH64_PREL16, 1, int64(base + 16 - S + 0x10), 0, 0x10, 2},
		// adrp x0, S (page diff 0x113): immlo 3, immhi 0x44
		{elfobj.R_AARCH64_ADR_PREL_PG_HI21, 1, 0, 0x90000000, 0x90000000 | 3<<29 | 0x44<<5, 4},
		// add x0, x0, #0x458
		{elfobj.R_AARCH64_ADD_ABS_LO12_NC, 1, 0, 0x91000000, 0x91000000 | 0x458<<10, 4},
		// ldr x1, [x0, #0x458] (imm12 = 0x458/8)
		{elfobj.R_AARCH64_LDST64_ABS_LO12_NC, 1, 0, 0xf9400001, 0xf9400001 | 0x8b<<10, 4},
		{elfobj.R_AARCH64_LDST32_ABS_LO12_NC, 1, 0, 0xb9400001, 0xb9400001 | 0x116<<10, 4},
		{elfobj.R_AARCH64_LDST8_ABS_LO12_NC, 1, 0, 0x39400001, 0x39400001 | 0x458<<10, 4},
		{elfobj.R_AARCH64_LDST16_ABS_LO12_NC, 1, 0, 0x79400001, 0x79400001 | 0x22c<<10, 4},
		{elfobj.R_AARCH64_LDST128_ABS_LO12_NC, 1, -8, 0x3dc00000, 0x3dc00000 | 0x45<<10, 4},
		// adr x0, .+0x40
		{elfobj.R_AARCH64_ADR_PREL_LO21, 1, int64(base + 16 + 0x40 - S), 0x10000000, 0x10000000 | 0x10<<5, 4},
		// b.eq .+0x20, tbz w0, #0, .+0x20
		{elfobj.R_AARCH64_CONDBR19, 1, int64(base + 16 + 0x20 - S), 0x54000000, 0x54000000 | 8<<5, 4},
		{elfobj.R_AARCH64_TSTBR14, 1, int64(base + 16 + 0x20 - S), 0x36000000, 0x36000000 | 8<<5, 4},
		// bl .+0x113448 (S - place)
		{elfobj.R_AARCH64_CALL26, 1, 0, 0x94000000, uint64(0x94000000 | uint32((S-(base+16))>>2)&0x3ffffff), 4},
		// movz x0, #0x1234 (MOVW_SABS_G0 of a positive value: MOVZ)
		{elfobj.R_AARCH64_MOVW_SABS_G0, 3, 0, 0x92800000, 0xd2800000 | 0x1234<<5, 4},
		// movn x0, #0x1233 (MOVW_SABS_G0 of -0x1234: MOVN of ~value)
		{elfobj.R_AARCH64_MOVW_SABS_G0, 3, -0x2468, 0xd2800000, 0x92800000 | 0x1233<<5, 4},
		// movk x0, #0xffff, lsl #48 (UABS_G3 of S)
		{elfobj.R_AARCH64_MOVW_UABS_G3, 1, 0, 0xf2e00000, 0xf2e00000 | 0xffff<<5, 4},
		{elfobj.R_AARCH64_MOVW_UABS_G1_NC, 1, 0, 0xf2a00000, 0xf2a00000 | 0x8012<<5, 4},
	} {
		sec := &Section{Name: ".text", Addr: base, Data: make([]byte, 32)}
		le.PutUint32(sec.Data[16:], c.insn)
		a := &ARM64{Order: le}
		_, errs := a.Apply(sec, []Rela{{Off: 16, Type: uint32(c.typ), Sym: c.sym, Addend: c.add}}, syms)
		if len(errs) > 0 {
			t.Errorf("%v: %v", c.typ, errs)
			continue
		}
		var got uint64
		switch c.size {
		case 8:
			got = le.Uint64(sec.Data[16:])
		case 4:
			got = uint64(le.Uint32(sec.Data[16:]))
		case 2:
			got = uint64(le.Uint16(sec.Data[16:]))
		}
		if got != c.want {
			t.Errorf("%v: wrote %#x, want %#x", c.typ, got, c.want)
		}
	}

	// CALL26 out of range: through the PLT entry module_emit_plt_entry()
	// gives; without one the relocation is not applied.
	sec := &Section{Name: ".text", Addr: base, Data: make([]byte, 8)}
	le.PutUint32(sec.Data, 0x94000000)
	plt := uint64(base + 0x4000)
	a := &ARM64{PLT: func(loc, val uint64) (uint64, error) {
		if loc != base || val != far {
			return 0, fmt.Errorf("PLT asked for %#x at %#x", val, loc)
		}
		return plt, nil
	}}
	w, errs := a.Apply(sec, []Rela{{Off: 0, Type: uint32(elfobj.R_AARCH64_CALL26), Sym: 2}}, syms)
	if len(errs) > 0 || len(w) != 1 || w[0].Stub != plt || le.Uint32(sec.Data) != 0x94000000|0x1000 {
		t.Errorf("CALL26 through a PLT: %#x %+v %v, want bl %#x", le.Uint32(sec.Data), w, errs, plt)
	}
	if _, errs := (&ARM64{}).Apply(sec, []Rela{{Off: 0, Type: uint32(elfobj.R_AARCH64_CALL26), Sym: 2}}, syms); len(errs) != 1 {
		t.Errorf("CALL26 out of range without a PLT applied: %v", errs)
	}
	// Overflows the kernel refuses: ABS32 and PREL32 of a kernel address.
	for _, typ := range []elfobj.R_AARCH64{elfobj.R_AARCH64_ABS32, elfobj.R_AARCH64_PREL32, elfobj.R_AARCH64_ADR_PREL_PG_HI21} {
		sec := &Section{Name: ".text", Addr: base, Data: make([]byte, 8)}
		if _, errs := (&ARM64{}).Apply(sec, []Rela{{Off: 0, Type: uint32(typ), Sym: 2}}, syms); len(errs) != 1 {
			t.Errorf("%v of %#x from %#x applied", typ, far, base)
		}
	}
	// Unknown types are refused.
	if _, errs := (&ARM64{}).Apply(&Section{Name: ".text", Addr: base, Data: make([]byte, 8)}, []Rela{{Type: 1024, Sym: 1}}, syms); len(errs) != 1 {
		t.Error("R_AARCH64 1024 applied")
	}
}

// TestARM64Erratum843419: reloc_insn_adrp() with the workaround: an ADRP
// at a page offset >= 0xff8 becomes ADR when the page is within ±1M, else
// a b to module_emit_veneer_for_adrp()'s veneer.
func TestARM64Erratum843419(t *testing.T) {
	le := binary.LittleEndian
	const base uint64 = 0xffff800080010000
	place := uint64(base + 0xff8)
	near := Symbol{Name: "near", Shndx: 1, Value: base + 0x3456}
	farS := Symbol{Name: "far", Shndx: elfobj.SHN_UNDEF, Value: 0xffffba3fb944f7b8}
	syms := []Symbol{{}, near, farS}
	forbidden := func(loc uint64) bool { return loc&0xfff >= 0xff8 }
	sec := &Section{Name: ".text", Addr: base, Data: make([]byte, 0x1000)}
	le.PutUint32(sec.Data[0xff8:], 0x90000003) // adrp x3
	a := &ARM64{Forbidden: forbidden}
	if _, errs := a.Apply(sec, []Rela{{Off: 0xff8, Type: uint32(elfobj.R_AARCH64_ADR_PREL_PG_HI21), Sym: 1}}, syms); len(errs) > 0 {
		t.Fatal(errs)
	}
	// adr x3, base+0x3000: offset 0x2008 = immhi 0x802, immlo 0
	if got, want := le.Uint32(sec.Data[0xff8:]), uint32(0x10000003|0x802<<5); got != want {
		t.Errorf("ADRP at a forbidden offset: %#x, want adr %#x", got, want)
	}
	le.PutUint32(sec.Data[0xff8:], 0x90000003)
	veneer := uint64(base + 0x8000)
	a.Veneer = func(loc, page uint64, rd uint32) (uint64, error) {
		if loc != place || page != farS.Value&^0xfff || rd != 3 {
			t.Errorf("veneer asked for %#x %#x x%d", loc, page, rd)
		}
		return veneer, nil
	}
	w, errs := a.Apply(sec, []Rela{{Off: 0xff8, Type: uint32(elfobj.R_AARCH64_ADR_PREL_PG_HI21), Sym: 2}}, syms)
	if len(errs) > 0 || len(w) != 1 || w[0].Stub != veneer {
		t.Fatalf("%+v %v", w, errs)
	}
	if got, want := le.Uint32(sec.Data[0xff8:]), uint32(0x14000000|(veneer-place)>>2); got != want {
		t.Errorf("ADRP out of ADR range: %#x, want b %#x", got, want)
	}
}

// TestARM64Order: partition_branch_plt_relas() then cmp_rela sort, with the
// kernel's quirk — the element where i meets j is never tested, so a
// branch left there stays after the sorted part.
func TestARM64Order(t *testing.T) {
	syms := []Symbol{{}, {Name: "a", Shndx: elfobj.SHN_UNDEF}, {Name: "b", Shndx: elfobj.SHN_UNDEF}, {Name: "local", Shndx: 5}}
	call, abs := uint32(elfobj.R_AARCH64_CALL26), uint32(elfobj.R_AARCH64_ABS64)
	in := []Rela{{Off: 0, Type: call, Sym: 2}, {Off: 4, Type: abs, Sym: 1}, {Off: 8, Type: call, Sym: 3}, {Off: 12, Type: call, Sym: 1}, {Off: 16, Type: call, Sym: 2}}
	got := ARM64Order(in, syms, 5)
	// i=0 b (needs) -> i=1; [1] abs, [4] b needs: swap -> [1]=b@16,[4]=abs; i=2;
	// [2] local no, [4] abs no: j=3; [2] no, [3] a needs: swap -> [2]=a@12,[3]=local; i=3 == j:
	// stop, nents 3 sorted by (type, sym): a@12, b@0, b@16; then local@8, abs@4.
	want := []uint64{12, 0, 16, 8, 4}
	for i, r := range got {
		if r.Off != want[i] {
			t.Fatalf("order %v, want offsets %v", got, want)
		}
	}
	// All four branches need a PLT: the last one is left unsorted.
	in = []Rela{{Off: 0, Type: call, Sym: 2}, {Off: 4, Type: call, Sym: 1}, {Off: 8, Type: call, Sym: 2}, {Off: 12, Type: call, Sym: 1}}
	got = ARM64Order(in, syms, 5)
	want = []uint64{4, 0, 8, 12}
	for i, r := range got {
		if r.Off != want[i] {
			t.Fatalf("order %v, want offsets %v", got, want)
		}
	}
}

// FuzzARM64Apply: any relocation applies or fails without a panic and
// never writes outside the section.
func FuzzARM64Apply(f *testing.F) {
	f.Add(make([]byte, 16), uint64(4), uint32(elfobj.R_AARCH64_CALL26), uint32(1), int64(0), uint64(0xff8))
	f.Add(make([]byte, 16), uint64(0), uint32(elfobj.R_AARCH64_ADR_PREL_PG_HI21), uint32(2), int64(-4), uint64(0xff8))
	f.Add(make([]byte, 16), uint64(8), uint32(elfobj.R_AARCH64_ABS64), uint32(2), int64(8), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, off uint64, typ, sym uint32, add int64, addrLo uint64) {
		syms := []Symbol{{}, {Name: "x", Shndx: elfobj.SHN_UNDEF, Value: 0xffffba3fb944f7b8}, {Name: "y", Shndx: 5, Value: 0xffff800080010010}}
		buf := append(append([]byte(nil), data...), 0xaa, 0xbb)
		sec := &Section{Name: ".text", Addr: 0xffff800080010000 + addrLo&0xffc, Data: buf[:len(data)]}
		a := &ARM64{Forbidden: func(loc uint64) bool { return loc&0xfff >= 0xff8 },
			PLT:    func(loc, val uint64) (uint64, error) { return loc + 0x1000, nil },
			Veneer: func(loc, page uint64, rd uint32) (uint64, error) { return loc + 0x2000, nil }}
		a.Apply(sec, []Rela{{Off: off, Type: typ, Sym: sym, Addend: add}}, syms)
		ARM64Order([]Rela{{Off: off, Type: typ, Sym: sym}, {Type: typ, Sym: 1}}, syms, 5)
		if buf[len(data)] != 0xaa || buf[len(data)+1] != 0xbb {
			t.Fatal("wrote past the section")
		}
	})
}
