package reloc

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// Rela is one Elf64_Rela.
type Rela struct {
	Off    uint64
	Type   uint32
	Sym    uint32
	Addend int64
}

// Symbol is one Elf64_Sym as simplify_symbols() (kernel/module/main.c)
// leaves it: Value is the resolved address for defined, undefined
// (resolve_symbol()) and livepatch (klp_resolve_symbols()) symbols.
type Symbol struct {
	Name  string
	Shndx elfobj.SectionIndex
	Value uint64
	Other uint8 // st_other: on ppc64 ELFv2, the local entry offset
	// Unresolved: no value is known (the caller could not resolve it); a
	// relocation against it is an error.
	Unresolved bool
}

// SHN_LIVEPATCH marks symbols that klp_resolve_symbols() resolves
// (include/uapi/linux/elf.h).
const SHN_LIVEPATCH elfobj.SectionIndex = 0xff20

// Section is the bytes of one section being relocated, at the address the
// module loader gave it.
type Section struct {
	Name string
	Addr uint64
	Data []byte
}

// Write is what one relocation wrote.
type Write struct {
	Off  uint64 // in the target section
	Len  int
	Type uint32
	Sym  uint32
	// SymName is the symbol's name; Value is S + A.
	SymName string
	Value   uint64
	// Stub is, for a call to an external function, the .stubs address the
	// branch goes to (stub_for_addr()).
	Stub uint64
	// RestoreR2: the write is restore_r2()'s `ld r2,R2_STACK_OFFSET(r1)` in
	// the slot after a call through a stub.
	RestoreR2 bool
}

// Error is a relocation the kernel would have refused, or one the caller's
// inputs cannot satisfy.
type Error struct {
	Section string
	Off     uint64
	Type    string
	Sym     string
	Msg     string
	// NoStub: a call to an external function whose stub the caller could
	// not place (Stub returned an error); Value is the call's target.
	NoStub bool
	Value  uint64
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s+%#x: %s against %q: %s", e.Section, e.Off, e.Type, e.Sym, e.Msg)
}

// relaTarget is what every architecture's apply_relocate_add() checks
// before it computes a value: the symbol index within the table, a type
// it knows (size > 0; 0 is R_*_NONE, skipped), a resolved symbol, and the
// field inside the section. It returns the symbol, the field's address
// (loc) and S + A (val), or !ok when there is nothing to write, the error
// (if any) appended to errs.
func relaTarget(sec *Section, r Rela, syms []Symbol, size int, typeName string, errs *[]error) (sym Symbol, loc, val uint64, ok bool) {
	fail := func(name, format string, args ...any) {
		*errs = append(*errs, &Error{Section: sec.Name, Off: r.Off, Type: typeName, Sym: name, Msg: fmt.Sprintf(format, args...)})
	}
	if int(r.Sym) >= len(syms) {
		fail("", "symbol index %d of %d", r.Sym, len(syms))
		return Symbol{}, 0, 0, false
	}
	sym = syms[r.Sym]
	switch {
	case size == 0:
		return sym, 0, 0, false
	case size < 0:
		fail(sym.Name, "unsupported RELA relocation (the kernel refuses the module)")
		return sym, 0, 0, false
	case sym.Unresolved:
		fail(sym.Name, "symbol not resolved")
		return sym, 0, 0, false
	case r.Off > uint64(len(sec.Data)) || uint64(len(sec.Data))-r.Off < uint64(size):
		fail(sym.Name, "offset past the section's %d bytes", len(sec.Data))
		return sym, 0, 0, false
	}
	return sym, sec.Addr + r.Off, sym.Value + uint64(r.Addend), true
}
