package reloc

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// ARM64 is apply_relocate_add() of arch/arm64/kernel/module.c: do_reloc(),
// reloc_data(), reloc_insn_movw(), reloc_insn_imm() and
// reloc_insn_adrp(), with the overflow checks that make the kernel refuse
// a module. Instructions are little-endian whatever the data byte order
// (le32_to_cpu of the place).
type ARM64 struct {
	// Order is the data byte order (ABS/PREL data relocations).
	Order binary.ByteOrder
	// PLT is module_emit_plt_entry(): for a CALL26/JUMP26 at loc whose
	// S + A = val is out of branch range, the PLT entry's address.
	PLT func(loc, val uint64) (uint64, error)
	// Forbidden is is_forbidden_offset_for_adrp(loc):
	// ARM64_WORKAROUND_843419 and (loc & 0xfff) >= 0xff8.
	Forbidden func(loc uint64) bool
	// Veneer is module_emit_veneer_for_adrp(): the veneer an ADRP at loc
	// (destination register rd) to page goes through when ADR cannot
	// reach it.
	Veneer func(loc, page uint64, rd uint32) (uint64, error)
}

var insnLE = binary.LittleEndian

// Relocation numbers of arch/arm64/include/asm/elf.h that debug/elf does
// not name (its R_AARCH64_NONE is R_ARM_NONE's 0).
const (
	r_AARCH64_NONE            elfobj.R_AARCH64 = 256
	r_AARCH64_MOVW_PREL_G0    elfobj.R_AARCH64 = 287
	r_AARCH64_MOVW_PREL_G0_NC elfobj.R_AARCH64 = 288
	r_AARCH64_MOVW_PREL_G1    elfobj.R_AARCH64 = 289
	r_AARCH64_MOVW_PREL_G1_NC elfobj.R_AARCH64 = 290
	r_AARCH64_MOVW_PREL_G2    elfobj.R_AARCH64 = 291
	r_AARCH64_MOVW_PREL_G2_NC elfobj.R_AARCH64 = 292
	r_AARCH64_MOVW_PREL_G3    elfobj.R_AARCH64 = 293
)

type a64op int

const (
	a64Abs a64op = iota
	a64Prel
	a64Page
)

// doReloc is do_reloc().
func doReloc(op a64op, place, val uint64) int64 {
	switch op {
	case a64Prel:
		return int64(val - place)
	case a64Page:
		return int64((val &^ 0xfff) - (place &^ 0xfff))
	}
	return int64(val)
}

// immType is enum aarch64_insn_imm_type as aarch64_insn_encode_immediate()
// places it: mask and shift (ADR splits immlo/immhi).
type immType int

const (
	imm26 immType = iota
	imm19
	imm16
	imm14
	imm12
	immADR
)

// EncodeImm is aarch64_insn_encode_immediate().
func encodeImm(t immType, insn uint32, imm uint64) uint32 {
	var mask, shift uint32
	switch t {
	case imm26:
		mask, shift = 0x3ffffff, 0
	case imm19:
		mask, shift = 0x7ffff, 5
	case imm16:
		mask, shift = 0xffff, 5
	case imm14:
		mask, shift = 0x3fff, 5
	case imm12:
		mask, shift = 0xfff, 10
	case immADR:
		lo, hi := uint32(imm)&3, uint32(imm>>2)&0x7ffff
		insn &^= 3<<29 | 0x7ffff<<5
		return insn | lo<<29 | hi<<5
	}
	insn &^= mask << shift
	return insn | (uint32(imm)&mask)<<shift
}

// relocInsnImm is reloc_insn_imm(): the new word and whether it overflowed.
func relocInsnImm(op a64op, insn uint32, place, val uint64, lsb, length uint, t immType) (uint32, bool) {
	sval := doReloc(op, place, val)
	sval >>= lsb
	immMask := (uint64(1)<<(lsb+length) - 1) >> lsb
	insn = encodeImm(t, insn, uint64(sval)&immMask)
	sval = int64(uint64(sval)&^(immMask>>1)) >> (length - 1)
	return insn, uint64(sval+1) >= 2
}

// relocInsnMovw is reloc_insn_movw(): movnz switches MOVN/MOVZ by sign.
func relocInsnMovw(op a64op, insn uint32, place, val uint64, lsb uint, movnz bool) (uint32, bool) {
	sval := doReloc(op, place, val)
	imm := uint64(sval >> lsb)
	if movnz {
		insn &^= 3 << 29
		if sval >= 0 {
			insn |= 2 << 29
		} else {
			imm = ^imm
		}
	}
	insn = encodeImm(imm16, insn, imm)
	return insn, imm > 0xffff
}

// ARM64Size is the number of bytes a relocation of type t writes (0 for
// NONE, -1 for a type apply_relocate_add() refuses).
func ARM64Size(t uint32) int {
	switch elfobj.R_AARCH64(t) {
	case elfobj.R_AARCH64(0), r_AARCH64_NONE: // R_ARM_NONE, R_AARCH64_NONE
		return 0
	case elfobj.R_AARCH64_ABS64, elfobj.R_AARCH64_PREL64:
		return 8
	case elfobj.R_AARCH64_ABS16, elfobj.R_AARCH64_PREL16:
		return 2
	case elfobj.R_AARCH64_ABS32, elfobj.R_AARCH64_PREL32,
		elfobj.R_AARCH64_MOVW_UABS_G0_NC, elfobj.R_AARCH64_MOVW_UABS_G0, elfobj.R_AARCH64_MOVW_UABS_G1_NC,
		elfobj.R_AARCH64_MOVW_UABS_G1, elfobj.R_AARCH64_MOVW_UABS_G2_NC, elfobj.R_AARCH64_MOVW_UABS_G2,
		elfobj.R_AARCH64_MOVW_UABS_G3, elfobj.R_AARCH64_MOVW_SABS_G0, elfobj.R_AARCH64_MOVW_SABS_G1,
		elfobj.R_AARCH64_MOVW_SABS_G2, r_AARCH64_MOVW_PREL_G0_NC, r_AARCH64_MOVW_PREL_G0,
		r_AARCH64_MOVW_PREL_G1_NC, r_AARCH64_MOVW_PREL_G1, r_AARCH64_MOVW_PREL_G2_NC,
		r_AARCH64_MOVW_PREL_G2, r_AARCH64_MOVW_PREL_G3,
		elfobj.R_AARCH64_LD_PREL_LO19, elfobj.R_AARCH64_ADR_PREL_LO21, elfobj.R_AARCH64_ADR_PREL_PG_HI21_NC,
		elfobj.R_AARCH64_ADR_PREL_PG_HI21, elfobj.R_AARCH64_ADD_ABS_LO12_NC, elfobj.R_AARCH64_LDST8_ABS_LO12_NC,
		elfobj.R_AARCH64_LDST16_ABS_LO12_NC, elfobj.R_AARCH64_LDST32_ABS_LO12_NC, elfobj.R_AARCH64_LDST64_ABS_LO12_NC,
		elfobj.R_AARCH64_LDST128_ABS_LO12_NC, elfobj.R_AARCH64_TSTBR14, elfobj.R_AARCH64_CONDBR19,
		elfobj.R_AARCH64_JUMP26, elfobj.R_AARCH64_CALL26:
		return 4
	}
	return -1
}

// ARM64NeedsPLT is branch_rela_needs_plt() (module-plts.c): a JUMP26 or
// CALL26 against a symbol outside the target section.
func ARM64NeedsPLT(t uint32, symShndx elfobj.SectionIndex, target int) bool {
	if int(symShndx) == target {
		return false
	}
	return elfobj.R_AARCH64(t) == elfobj.R_AARCH64_JUMP26 || elfobj.R_AARCH64(t) == elfobj.R_AARCH64_CALL26
}

// ARM64Order is the order module_frob_arch_sections() leaves an executable
// section's relocations in (given in the .ko's order) before
// apply_relocate_add() runs: partition_branch_plt_relas() moves the
// branches that may need a PLT to the front by swaps — and, as the kernel
// does, stops with i == j without testing that last element, which then
// stays outside the sorted part — and sort() orders the first nents by
// type, symbol and addend (cmp_rela()).
func ARM64Order(relas []Rela, syms []Symbol, target int) []Rela {
	out := append([]Rela(nil), relas...)
	needs := func(r Rela) bool {
		sh := elfobj.SHN_UNDEF
		if int(r.Sym) < len(syms) {
			sh = syms[r.Sym].Shndx
		}
		return ARM64NeedsPLT(r.Type, sh, target)
	}
	i, j := 0, len(out)-1
	for i < j {
		switch {
		case needs(out[i]):
			i++
		case needs(out[j]):
			out[i], out[j] = out[j], out[i]
		default:
			j--
		}
	}
	if i > 0 {
		sort.SliceStable(out[:i], func(x, y int) bool {
			a, b := out[x], out[y]
			if a.Type != b.Type {
				return a.Type < b.Type
			}
			if a.Sym != b.Sym {
				return a.Sym < b.Sym
			}
			return a.Addend < b.Addend
		})
	}
	return out
}

// Apply applies relocs to sec in the order given, as apply_relocate_add()
// does for one RELA section (ARM64Order gives the loader's order). A
// branch through a PLT or an ADRP veneer records the entry as Write.Stub.
func (a *ARM64) Apply(sec *Section, relas []Rela, syms []Symbol) ([]Write, []error) {
	order := a.Order
	if order == nil {
		order = binary.LittleEndian
	}
	var writes []Write
	var errs []error
	for _, r := range relas {
		tname := elfobj.R_AARCH64(r.Type).String()
		fail := func(sym, format string, args ...any) {
			errs = append(errs, &Error{Section: sec.Name, Off: r.Off, Type: tname, Sym: sym, Msg: fmt.Sprintf(format, args...)})
		}
		size := ARM64Size(r.Type)
		sym, loc, val, ok := relaTarget(sec, r, syms, size, tname, &errs)
		if !ok {
			continue
		}
		d := sec.Data[r.Off:]
		w := Write{Off: r.Off, Len: size, Type: r.Type, Sym: r.Sym, SymName: sym.Name, Value: val}
		check := true
		ovf := false
		data := func(op a64op, bits int) {
			sval := doReloc(op, loc, val)
			switch bits {
			case 16:
				order.PutUint16(d, uint16(sval))
				if op == a64Abs {
					ovf = sval < 0 || sval > 0xffff
				} else {
					ovf = sval < -0x8000 || sval > 0x7fff
				}
			case 32:
				order.PutUint32(d, uint32(sval))
				if op == a64Abs {
					ovf = sval < 0 || sval > 0xffffffff
				} else {
					ovf = sval < -0x80000000 || sval > 0x7fffffff
				}
			case 64:
				order.PutUint64(d, uint64(sval))
			}
		}
		var insn uint32
		if size == 4 {
			insn = insnLE.Uint32(d)
		}
		put := func(v uint32, o bool) { insnLE.PutUint32(d, v); ovf = o }
		movw := func(op a64op, lsb uint, movnz bool) { put(relocInsnMovw(op, insn, loc, val, lsb, movnz)) }
		imm := func(op a64op, lsb, n uint, t immType) { put(relocInsnImm(op, insn, loc, val, lsb, n, t)) }
		switch elfobj.R_AARCH64(r.Type) {
		case elfobj.R_AARCH64_ABS64:
			check = false
			data(a64Abs, 64)
		case elfobj.R_AARCH64_ABS32:
			data(a64Abs, 32)
		case elfobj.R_AARCH64_ABS16:
			data(a64Abs, 16)
		case elfobj.R_AARCH64_PREL64:
			check = false
			data(a64Prel, 64)
		case elfobj.R_AARCH64_PREL32:
			data(a64Prel, 32)
		case elfobj.R_AARCH64_PREL16:
			data(a64Prel, 16)
		case elfobj.R_AARCH64_MOVW_UABS_G0_NC:
			check = false
			movw(a64Abs, 0, false)
		case elfobj.R_AARCH64_MOVW_UABS_G0:
			movw(a64Abs, 0, false)
		case elfobj.R_AARCH64_MOVW_UABS_G1_NC:
			check = false
			movw(a64Abs, 16, false)
		case elfobj.R_AARCH64_MOVW_UABS_G1:
			movw(a64Abs, 16, false)
		case elfobj.R_AARCH64_MOVW_UABS_G2_NC:
			check = false
			movw(a64Abs, 32, false)
		case elfobj.R_AARCH64_MOVW_UABS_G2:
			movw(a64Abs, 32, false)
		case elfobj.R_AARCH64_MOVW_UABS_G3:
			check = false
			movw(a64Abs, 48, false)
		case elfobj.R_AARCH64_MOVW_SABS_G0:
			movw(a64Abs, 0, true)
		case elfobj.R_AARCH64_MOVW_SABS_G1:
			movw(a64Abs, 16, true)
		case elfobj.R_AARCH64_MOVW_SABS_G2:
			movw(a64Abs, 32, true)
		case r_AARCH64_MOVW_PREL_G0_NC:
			check = false
			movw(a64Prel, 0, false)
		case r_AARCH64_MOVW_PREL_G0:
			movw(a64Prel, 0, true)
		case r_AARCH64_MOVW_PREL_G1_NC:
			check = false
			movw(a64Prel, 16, false)
		case r_AARCH64_MOVW_PREL_G1:
			movw(a64Prel, 16, true)
		case r_AARCH64_MOVW_PREL_G2_NC:
			check = false
			movw(a64Prel, 32, false)
		case r_AARCH64_MOVW_PREL_G2:
			movw(a64Prel, 32, true)
		case r_AARCH64_MOVW_PREL_G3:
			check = false
			movw(a64Prel, 48, true)
		case elfobj.R_AARCH64_LD_PREL_LO19:
			imm(a64Prel, 2, 19, imm19)
		case elfobj.R_AARCH64_ADR_PREL_LO21:
			imm(a64Prel, 0, 21, immADR)
		case elfobj.R_AARCH64_ADR_PREL_PG_HI21_NC, elfobj.R_AARCH64_ADR_PREL_PG_HI21:
			check = elfobj.R_AARCH64(r.Type) == elfobj.R_AARCH64_ADR_PREL_PG_HI21
			if a.Forbidden == nil || !a.Forbidden(loc) {
				imm(a64Page, 12, 21, immADR)
				break
			}
			// reloc_insn_adrp(): ADRP to ADR if in range, else a veneer.
			if v, o := relocInsnImm(a64Prel, insn, loc, val&^0xfff, 0, 21, immADR); !o {
				put(v&^(1<<31), false)
				break
			}
			if a.Veneer == nil {
				errs = append(errs, &Error{Section: sec.Name, Off: r.Off, Type: tname, Sym: sym.Name, Msg: "ADRP at an erratum 843419 offset out of ADR range, and no veneer model", Value: val})
				continue
			}
			v, err := a.Veneer(loc, val&^0xfff, insn&31)
			if err != nil {
				errs = append(errs, &Error{Section: sec.Name, Off: r.Off, Type: tname, Sym: sym.Name, Msg: "veneer: " + err.Error(), Value: val})
				continue
			}
			b, o := relocInsnImm(a64Prel, 0x14000000, loc, v, 2, 26, imm26)
			if o {
				fail(sym.Name, "ADRP veneer %#x out of branch range", v)
				continue
			}
			put(b, false)
			w.Stub = v
		case elfobj.R_AARCH64_ADD_ABS_LO12_NC, elfobj.R_AARCH64_LDST8_ABS_LO12_NC:
			check = false
			imm(a64Abs, 0, 12, imm12)
		case elfobj.R_AARCH64_LDST16_ABS_LO12_NC:
			check = false
			imm(a64Abs, 1, 11, imm12)
		case elfobj.R_AARCH64_LDST32_ABS_LO12_NC:
			check = false
			imm(a64Abs, 2, 10, imm12)
		case elfobj.R_AARCH64_LDST64_ABS_LO12_NC:
			check = false
			imm(a64Abs, 3, 9, imm12)
		case elfobj.R_AARCH64_LDST128_ABS_LO12_NC:
			check = false
			imm(a64Abs, 4, 8, imm12)
		case elfobj.R_AARCH64_TSTBR14:
			imm(a64Prel, 2, 14, imm14)
		case elfobj.R_AARCH64_CONDBR19:
			imm(a64Prel, 2, 19, imm19)
		case elfobj.R_AARCH64_JUMP26, elfobj.R_AARCH64_CALL26:
			v, o := relocInsnImm(a64Prel, insn, loc, val, 2, 26, imm26)
			if o {
				if a.PLT == nil {
					errs = append(errs, &Error{Section: sec.Name, Off: r.Off, Type: tname, Sym: sym.Name, Msg: "out of branch range, and no PLT model", Value: val})
					continue
				}
				plt, err := a.PLT(loc, val)
				if err != nil {
					errs = append(errs, &Error{Section: sec.Name, Off: r.Off, Type: tname, Sym: sym.Name, Msg: "PLT: " + err.Error(), Value: val})
					continue
				}
				v, o = relocInsnImm(a64Prel, insn, loc, plt, 2, 26, imm26)
				w.Stub = plt
			}
			put(v, o)
		}
		if check && ovf {
			fail(sym.Name, "overflow in relocation (value %#x; the kernel refuses the module)", val)
			continue
		}
		writes = append(writes, w)
	}
	return writes, errs
}
