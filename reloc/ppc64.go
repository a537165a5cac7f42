package reloc

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// PPC64 is apply_relocate_add() of arch/powerpc/kernel/module_64.c for
// kernels without CONFIG_PPC_KERNEL_PCREL.
type PPC64 struct {
	Order binary.ByteOrder
	// ELFv1: local_entry_offset() is 0 and R2_STACK_OFFSET is 40.
	ELFv1 bool
	// R2 is my_r2(): the module's TOC pointer (.toc, else .stubs, rounded
	// down to 256 bytes, plus 0x8000).
	R2 uint64
	// Stub is stub_for_addr(): the .stubs address of the stub calling
	// target for a branch against the external or livepatch symbol name.
	Stub func(target uint64, name string) (uint64, error)
}

const (
	ppcNop     = 0x60000000
	ppcLIMask  = 0x03fffffc
	ppcLdR2R12 = 0xe84c0000 // PPC_RAW_LD(_R2, _R12, 0)
	ppcAddR2   = 0x7c426214 // PPC_RAW_ADD(_R2, _R2, _R12)
)

// ldTOC is PPC_INST_LD_TOC: ld r2,R2_STACK_OFFSET(r1).
func (a *PPC64) ldTOC() uint32 {
	if a.ELFv1 {
		return 0xe8410028
	}
	return 0xe8410018
}

// IsMprofileFtraceCall is is_mprofile_ftrace_call() (module_64.c): calls to
// these go through a stub but need no r2 restore.
func IsMprofileFtraceCall(name string) bool {
	return name == "_mcount" || name == "ftrace_caller" || name == "ftrace_regs_caller"
}

// localEntryOffset is PPC64_LOCAL_ENTRY_OFFSET(st_other).
func (a *PPC64) localEntryOffset(other uint8) uint64 {
	if a.ELFv1 {
		return 0
	}
	return ((1 << ((other & 0xe0) >> 5)) >> 2) << 2
}

// isRelativeLinkBranch is instr_is_relative_link_branch(): b/bc with LK=1
// and AA=0.
func isRelativeLinkBranch(w uint32) bool {
	op := w >> 26
	return (op == 18 || op == 16) && w&3 == 1
}

// Apply applies relocs to sec in order, as apply_relocate_add() does for
// one RELA section. Relocations that fail are returned as *Error; the
// others are applied.
func (a *PPC64) Apply(sec *Section, relas []Rela, syms []Symbol) ([]Write, []error) {
	var writes []Write
	var errs []error
	o := a.Order
	for _, r := range relas {
		w, err := a.apply(sec, r, syms, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		writes = append(writes, w...)
	}
	return writes, errs
}

func typeName(t uint32) string { return elfobj.R_PPC64(t).String() }

func (a *PPC64) apply(sec *Section, r Rela, syms []Symbol, o binary.ByteOrder) ([]Write, error) {
	fail := func(sym, format string, args ...any) error {
		return &Error{Section: sec.Name, Off: r.Off, Type: typeName(r.Type), Sym: sym, Msg: fmt.Sprintf(format, args...)}
	}
	if int(r.Sym) >= len(syms) {
		return nil, fail("", "symbol index %d of %d", r.Sym, len(syms))
	}
	sym := syms[r.Sym]
	if sym.Unresolved {
		return nil, fail(sym.Name, "symbol not resolved")
	}
	size := 0
	switch elfobj.R_PPC64(r.Type) {
	case elfobj.R_PPC64_ADDR64, elfobj.R_PPC64_TOC, elfobj.R_PPC64_REL64, elfobj.R_PPC64_ENTRY:
		size = 8
	case elfobj.R_PPC64_ADDR32, elfobj.R_PPC64_REL32, elfobj.R_PPC64_REL24:
		size = 4
	case elfobj.R_PPC64_TOC16, elfobj.R_PPC64_TOC16_LO, elfobj.R_PPC64_TOC16_DS, elfobj.R_PPC64_TOC16_LO_DS,
		elfobj.R_PPC64_TOC16_HA, elfobj.R_PPC64_REL16_HA, elfobj.R_PPC64_REL16_LO:
		size = 2
	case elfobj.R_PPC64_TOCSAVE:
		return nil, nil // a marker: "we don't have to save r2"; ignored
	default:
		return nil, fail(sym.Name, "unknown ADD relocation (the kernel refuses the module)")
	}
	if r.Off > uint64(len(sec.Data)) || uint64(len(sec.Data))-r.Off < uint64(size) {
		return nil, fail(sym.Name, "offset past the section's %d bytes", len(sec.Data))
	}
	d := sec.Data[r.Off:]
	loc := sec.Addr + r.Off
	value := sym.Value + uint64(r.Addend)
	w := Write{Off: r.Off, Len: size, Type: r.Type, Sym: r.Sym, SymName: sym.Name, Value: value}
	put16 := func(mask uint16, v uint64) {
		o.PutUint16(d, o.Uint16(d)&^mask|uint16(v)&mask)
	}
	switch elfobj.R_PPC64(r.Type) {
	case elfobj.R_PPC64_ADDR32:
		o.PutUint32(d, uint32(value))
	case elfobj.R_PPC64_ADDR64:
		o.PutUint64(d, value)
	case elfobj.R_PPC64_TOC:
		o.PutUint64(d, a.R2)
	case elfobj.R_PPC64_TOC16:
		v := value - a.R2
		if v+0x8000 > 0xffff {
			return nil, fail(sym.Name, "bad TOC16 relocation (%#x)", v)
		}
		put16(0xffff, v)
	case elfobj.R_PPC64_TOC16_LO:
		put16(0xffff, value-a.R2)
	case elfobj.R_PPC64_TOC16_DS:
		v := value - a.R2
		if v&3 != 0 || v+0x8000 > 0xffff {
			return nil, fail(sym.Name, "bad TOC16_DS relocation (%#x)", v)
		}
		put16(0xfffc, v)
	case elfobj.R_PPC64_TOC16_LO_DS:
		v := value - a.R2
		if v&3 != 0 {
			return nil, fail(sym.Name, "bad TOC16_LO_DS relocation (%#x)", v)
		}
		put16(0xfffc, v)
	case elfobj.R_PPC64_TOC16_HA:
		put16(0xffff, (value-a.R2+0x8000)>>16)
	case elfobj.R_PPC64_REL24:
		var extra []Write
		if sym.Shndx == elfobj.SHN_UNDEF || sym.Shndx == SHN_LIVEPATCH {
			if a.Stub == nil {
				return nil, fail(sym.Name, "a call through a stub, and no stub model")
			}
			stub, err := a.Stub(value, sym.Name)
			if err != nil {
				e := fail(sym.Name, "stub_for_addr(%#x): %v", value, err).(*Error)
				e.NoStub, e.Value = true, value
				return nil, e
			}
			w.Stub = stub
			rw, err := a.restoreR2(sec, r.Off, sym.Name, o)
			if err != nil {
				return nil, fail(sym.Name, "%v", err)
			}
			extra = rw
			value = stub
		} else {
			value += a.localEntryOffset(sym.Other)
		}
		v := value - loc
		if v+0x2000000 > 0x3ffffff || v&3 != 0 {
			return nil, fail(sym.Name, "REL24 %d out of range", int64(v))
		}
		o.PutUint32(d, o.Uint32(d)&^ppcLIMask|uint32(v)&ppcLIMask)
		return append([]Write{w}, extra...), nil
	case elfobj.R_PPC64_REL64:
		o.PutUint64(d, value-loc)
	case elfobj.R_PPC64_REL32:
		v := value - loc
		if v+0x80000000 > 0xffffffff {
			return nil, fail(sym.Name, "REL32 %d out of range", int64(v))
		}
		o.PutUint32(d, uint32(v))
	case elfobj.R_PPC64_ENTRY:
		v := a.R2 - loc
		if v+0x80008000 > 0xffffffff {
			return nil, nil
		}
		if o.Uint32(d)&^0xfffc != ppcLdR2R12 || o.Uint32(d[4:]) != ppcAddR2 {
			return nil, nil
		}
		hi := uint32(uint16((v + 0x8000) >> 16))
		lo := uint32(uint16(v))
		o.PutUint32(d, 0x3c000000|2<<21|12<<16|hi)    // addis r2,r12,HA
		o.PutUint32(d[4:], 0x38000000|2<<21|2<<16|lo) // addi r2,r2,LO
	case elfobj.R_PPC64_REL16_HA:
		put16(0xffff, (value-loc+0x8000)>>16)
	case elfobj.R_PPC64_REL16_LO:
		put16(0xffff, value-loc)
	}
	return []Write{w}, nil
}

// restoreR2 is restore_r2() (7.2): after a `bl` through a stub, the nop
// that follows becomes `ld r2,R2_STACK_OFFSET(r1)`; not after a sibling
// call (a branch without link) or an mprofile ftrace call; an `ld r2`
// already there (a livepatch relocation applied again) stays.
func (a *PPC64) restoreR2(sec *Section, off uint64, name string, o binary.ByteOrder) ([]Write, error) {
	if IsMprofileFtraceCall(name) {
		return nil, nil
	}
	if !isRelativeLinkBranch(o.Uint32(sec.Data[off:])) {
		return nil, nil
	}
	if off+8 > uint64(len(sec.Data)) {
		return nil, fmt.Errorf("call at the section's end: no instruction after it")
	}
	next := o.Uint32(sec.Data[off+4:])
	switch next {
	case a.ldTOC():
		return nil, nil
	case ppcNop:
		o.PutUint32(sec.Data[off+4:], a.ldTOC())
		return []Write{{Off: off + 4, Len: 4, Type: uint32(elfobj.R_PPC64_REL24), SymName: name, RestoreR2: true}}, nil
	}
	return nil, fmt.Errorf("expected nop after call, got %08x (the kernel refuses the module)", next)
}
