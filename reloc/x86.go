package reloc

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// X86_64 is apply_relocate_add() of arch/x86/kernel/module.c (x86_64):
// __write_relocate_add() with apply set. The kernel refuses a relocation
// whose target is not zero in the .ko (the module would not have loaded);
// that check is the caller's (the .ko's bytes), Apply only writes.
type X86_64 struct{}

var x86le = binary.LittleEndian

// X86Size is the number of bytes a relocation of type t writes (0 for
// R_X86_64_NONE, -1 for a type apply_relocate_add() refuses).
func X86Size(t uint32) int {
	switch elfobj.R_X86_64(t) {
	case elfobj.R_X86_64_NONE:
		return 0
	case elfobj.R_X86_64_64, elfobj.R_X86_64_PC64:
		return 8
	case elfobj.R_X86_64_32, elfobj.R_X86_64_32S, elfobj.R_X86_64_PC32, elfobj.R_X86_64_PLT32:
		return 4
	}
	return -1
}

// X86Value is the value __write_relocate_add() writes for relocation type
// t with S + A = val at loc, and whether it fits (the overflow checks of
// R_X86_64_32 and R_X86_64_32S).
func X86Value(t uint32, val, loc uint64) (uint64, bool) {
	switch elfobj.R_X86_64(t) {
	case elfobj.R_X86_64_32:
		return val, val == uint64(uint32(val))
	case elfobj.R_X86_64_32S:
		return val, int64(val) == int64(int32(val))
	case elfobj.R_X86_64_PC32, elfobj.R_X86_64_PLT32, elfobj.R_X86_64_PC64:
		return val - loc, true
	}
	return val, true
}

// Apply applies relocs to sec in order, as apply_relocate_add() does for
// one RELA section.
func (a *X86_64) Apply(sec *Section, relas []Rela, syms []Symbol) ([]Write, []error) {
	var writes []Write
	var errs []error
	for _, r := range relas {
		fail := func(sym, format string, args ...any) {
			errs = append(errs, &Error{Section: sec.Name, Off: r.Off, Type: elfobj.R_X86_64(r.Type).String(), Sym: sym, Msg: fmt.Sprintf(format, args...)})
		}
		size := X86Size(r.Type)
		sym, loc, val, ok := relaTarget(sec, r, syms, size, elfobj.R_X86_64(r.Type).String(), &errs)
		if !ok {
			continue
		}
		v, ok := X86Value(r.Type, val, loc)
		if !ok {
			fail(sym.Name, "overflow in relocation (value %#x; the kernel refuses the module)", val)
			continue
		}
		d := sec.Data[r.Off:]
		if size == 8 {
			x86le.PutUint64(d, v)
		} else {
			x86le.PutUint32(d, uint32(v))
		}
		writes = append(writes, Write{Off: r.Off, Len: size, Type: r.Type, Sym: r.Sym, SymName: sym.Name, Value: val})
	}
	return writes, errs
}
