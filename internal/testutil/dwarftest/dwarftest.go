// Package dwarftest builds small synthetic DWARF for tests, on top of
// delve's dwarfbuilder: base types, typedefs, structs and unions with
// members and bitfields (DWARF 5 DW_AT_data_bit_offset and the DWARF 2-4
// form), pointers and arrays; and Mem, a byte slice at a base address that
// faults like a dump outside it. It is for tests only.
//
// Layer: test support (docs/ARCHITECTURE.md).
package dwarftest

import (
	"debug/dwarf"
	"iter"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// Builder wraps a dwarfbuilder.Builder with the entries tests need.
type Builder struct{ *dwarfbuilder.Builder }

// New starts a compile unit.
func New() Builder { return Builder{dwarfbuilder.New()} }

// num encodes v in the smallest unsigned form that holds it.
func num(v int) any {
	switch {
	case v >= 0 && v < 1<<8:
		return uint8(v)
	case v >= 0 && v < 1<<16:
		return uint16(v)
	}
	return uint32(v)
}

// Base adds a base type.
func (s Builder) Base(name string, enc dwarfbuilder.Encoding, size int) dwarf.Offset {
	off := s.TagOpen(dwarf.TagBaseType, name)
	s.Attr(dwarf.AttrEncoding, uint8(enc))
	s.Attr(dwarf.AttrByteSize, num(size))
	s.TagClose()
	return off
}

// Typedef adds a typedef of t.
func (s Builder) Typedef(name string, t dwarf.Offset) dwarf.Offset {
	off := s.TagOpen(dwarf.TagTypedef, name)
	s.Attr(dwarf.AttrType, t)
	s.TagClose()
	return off
}

// Open opens a struct, union or enum of size bytes; close it with TagClose.
func (s Builder) Open(tag dwarf.Tag, name string, size int) dwarf.Offset {
	off := s.TagOpen(tag, name)
	s.Attr(dwarf.AttrByteSize, num(size))
	return off
}

// Member adds a member of type t at byte offset off.
func (s Builder) Member(name string, t dwarf.Offset, off int) {
	s.TagOpen(dwarf.TagMember, name)
	s.Attr(dwarf.AttrType, t)
	s.Attr(dwarf.AttrDataMemberLoc, num(off))
	s.TagClose()
}

// F is one member of a Struct or Union: its name, type and byte offset.
type F struct {
	Name string
	Type dwarf.Offset
	Off  int
}

// M is the member F{name, t, off}.
func M(name string, t dwarf.Offset, off int) F { return F{Name: name, Type: t, Off: off} }

// Struct adds struct name of size bytes with the members fs.
func (s Builder) Struct(name string, size int, fs ...F) dwarf.Offset {
	return s.aggregate(dwarf.TagStructType, name, size, fs)
}

// Union adds union name ("" for an anonymous one) with the members fs.
func (s Builder) Union(name string, size int, fs ...F) dwarf.Offset {
	return s.aggregate(dwarf.TagUnionType, name, size, fs)
}

func (s Builder) aggregate(tag dwarf.Tag, name string, size int, fs []F) dwarf.Offset {
	off := s.Open(tag, name, size)
	for _, f := range fs {
		s.Member(f.Name, f.Type, f.Off)
	}
	s.TagClose()
	return off
}

// Enum adds enum name of size bytes whose enumerators are names, valued
// 0, 1, ... in order; under is its DW_AT_type (0: none, as GCC before 12).
func (s Builder) Enum(name string, size int, under dwarf.Offset, names ...string) dwarf.Offset {
	off := s.Open(dwarf.TagEnumerationType, name, size)
	if under != 0 {
		s.Attr(dwarf.AttrType, under)
	}
	for i, n := range names {
		s.TagOpen(dwarf.TagEnumerator, n)
		s.Attr(dwarf.AttrConstValue, num(i))
		s.TagClose()
	}
	s.TagClose()
	return off
}

// Kernel are the C base types of a 64-bit kernel as GCC names them, and
// the kernel structs that the tests' synthetic kernels share.
type Kernel struct {
	Int, Uint, Ushort, Ulong, Char, Bool, VoidP, CharP dwarf.Offset
}

// KernelBases adds the base types of Kernel.
func (s Builder) KernelBases() Kernel {
	k := Kernel{
		Int:    s.Base("int", dwarfbuilder.DW_ATE_signed, 4),
		Uint:   s.Base("unsigned int", dwarfbuilder.DW_ATE_unsigned, 4),
		Ushort: s.Base("short unsigned int", dwarfbuilder.DW_ATE_unsigned, 2),
		Ulong:  s.Base("long unsigned int", dwarfbuilder.DW_ATE_unsigned, 8),
		Char:   s.Base("char", dwarfbuilder.DW_ATE_signed_char, 1),
		Bool:   s.Base("_Bool", dwarfbuilder.DW_ATE_boolean, 1),
	}
	k.VoidP, k.CharP = s.Ptr(0), s.Ptr(k.Char)
	return k
}

// ListHead adds struct list_head { struct list_head *next, *prev; }
// (include/linux/types.h), its members pointing at itself.
func (s Builder) ListHead() dwarf.Offset {
	lh := s.Open(dwarf.TagStructType, "list_head", 16)
	nextAt := s.MemberFwd("next", 0)
	prevAt := s.MemberFwd("prev", 8)
	s.TagClose()
	lhp := s.Ptr(lh)
	s.PatchOffset(nextAt, lhp)
	s.PatchOffset(prevAt, lhp)
	return lh
}

// ModuleMemory adds struct module_memory { void *base; unsigned int size;
// } (include/linux/module.h), with bool is_rox at 12 when rox (7.x).
func (s Builder) ModuleMemory(k Kernel, rox bool) dwarf.Offset {
	fs := []F{M("base", k.VoidP, 0), M("size", k.Uint, 8)}
	if rox {
		fs = append(fs, M("is_rox", k.Bool, 12))
	}
	return s.Struct("module_memory", 16, fs...)
}

// MemberFwd adds a member whose type is patched later (for self-referential
// structs); it returns where to patch.
func (s Builder) MemberFwd(name string, off int) dwarf.Offset {
	s.TagOpen(dwarf.TagMember, name)
	at := s.Attr(dwarf.AttrType, dwarf.Offset(0))
	s.Attr(dwarf.AttrDataMemberLoc, num(off))
	s.TagClose()
	return at
}

// Bits5 is a DWARF 5 bitfield: DW_AT_data_bit_offset, no byte size.
func (s Builder) Bits5(name string, t dwarf.Offset, dataBitOff, bitSize int) {
	s.TagOpen(dwarf.TagMember, name)
	s.Attr(dwarf.AttrType, t)
	s.Attr(dwarf.AttrBitSize, num(bitSize))
	s.Attr(dwarf.AttrDataBitOffset, num(dataBitOff))
	s.TagClose()
}

// Bits4 is a DWARF 2-4 bitfield: storage unit at byteOff of unitSize
// bytes, DW_AT_bit_offset counted from the unit's most significant bit.
func (s Builder) Bits4(name string, t dwarf.Offset, byteOff, unitSize, bitOff, bitSize int) {
	s.TagOpen(dwarf.TagMember, name)
	s.Attr(dwarf.AttrType, t)
	s.Attr(dwarf.AttrByteSize, num(unitSize))
	s.Attr(dwarf.AttrBitSize, num(bitSize))
	s.Attr(dwarf.AttrBitOffset, num(bitOff))
	s.Attr(dwarf.AttrDataMemberLoc, num(byteOff))
	s.TagClose()
}

// Ptr adds an 8-byte pointer to t (t 0: void *).
func (s Builder) Ptr(t dwarf.Offset) dwarf.Offset {
	off := s.TagOpen(dwarf.TagPointerType, "")
	s.Attr(dwarf.AttrByteSize, uint8(8))
	if t != 0 {
		s.Attr(dwarf.AttrType, t)
	}
	s.TagClose()
	return off
}

// Array adds an array of count elements (count < 0: flexible, no bound).
func (s Builder) Array(elem dwarf.Offset, count int) dwarf.Offset {
	off := s.TagOpen(dwarf.TagArrayType, "")
	s.Attr(dwarf.AttrType, elem)
	s.TagOpen(dwarf.TagSubrangeType, "")
	if count >= 0 {
		s.Attr(dwarf.AttrUpperBound, num(count-1))
	}
	s.TagClose()
	s.TagClose()
	return off
}

// Mem is memory holding B at Base; reads outside it fault as a dump does
// for memory it does not hold.
type Mem struct {
	Base uint64
	B    []byte
}

// ReadAt implements dump.Memory.
func (m Mem) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.Base || addr-m.Base >= uint64(len(m.B)) {
		return 0, &dump.Fault{Addr: addr, Reason: dump.NotInDump}
	}
	n := copy(p, m.B[addr-m.Base:])
	if n < len(p) {
		return n, &dump.Fault{Addr: addr + uint64(n), Reason: dump.NotInDump}
	}
	return n, nil
}

// Data builds the unit and parses it with debug/dwarf, failing t on error.
func (s Builder) Data(t testing.TB) *dwarf.Data {
	t.Helper()
	abbrev, aranges, frame, info, line, pubnames, ranges, str, _, err := s.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := dwarf.New(abbrev, aranges, frame, info, line, pubnames, ranges, str)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Entries walks r's entries in order (SkipChildren on r still works from
// the loop's body); a read error fails t.
func Entries(t testing.TB, r *dwarf.Reader) iter.Seq[*dwarf.Entry] {
	return func(yield func(*dwarf.Entry) bool) {
		for {
			e, err := r.Next()
			if err != nil {
				t.Fatalf("DWARF entry: %v", err)
			}
			if e == nil || !yield(e) {
				return
			}
		}
	}
}
