package dwarftest

import (
	"debug/dwarf"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"
)

// Synth is the synthetic DWARF of the type tests, written as C (the DIEs below
// are what GCC emits for it on a little-endian 64-bit target):
//
//	typedef unsigned int u32;
//	typedef u32 my_u32;                  // typedef chain
//	enum mod_mem_type { MOD_TEXT, MOD_DATA, MOD_RODATA };
//	struct inner { unsigned long base; unsigned int size; };      // 16 bytes
//	struct flags5 {                      // DWARF 5: DW_AT_data_bit_offset
//		unsigned int state;              // 0
//		unsigned int a:3;                // bits 32..34
//		unsigned int b:7;                // bits 35..41
//		unsigned int c:22;               // bits 42..63
//	};                                   // 8 bytes
//	struct flags4 { same members, DWARF 2-4 DW_AT_bit_offset form };
//	struct mod {
//		int state;                       // 0
//		struct inner mem[3];             // 8
//		union { unsigned long anon_a; u32 anon_b; };  // 56, anonymous
//		struct flags5 f;                 // 64
//		struct mod *next;                // 72
//		char name[16];                   // 80
//		my_u32 tail;                     // 96
//		unsigned int flex[];             // 100, flexible array
//	};                                   // 104 bytes (flex adds none)
//	extern struct mod the_mod;           // declaration, then
//	struct mod the_mod;                  // definition via DW_AT_specification

// Synth builds the DWARF described on Synth.
func Synth(t testing.TB) *dwarf.Data {
	t.Helper()
	s := New()
	uint_ := s.Base("unsigned int", dwarfbuilder.DW_ATE_unsigned, 4)
	int_ := s.Base("int", dwarfbuilder.DW_ATE_signed, 4)
	ulong := s.Base("unsigned long", dwarfbuilder.DW_ATE_unsigned, 8)
	char := s.Base("char", dwarfbuilder.DW_ATE_signed_char, 1)
	u32 := s.Typedef("u32", uint_)
	myU32 := s.Typedef("my_u32", u32)

	s.Enum("mod_mem_type", 4, uint_, "MOD_TEXT", "MOD_DATA", "MOD_RODATA")
	inner := s.Struct("inner", 16, M("base", ulong, 0), M("size", uint_, 8))

	flags5 := s.Open(dwarf.TagStructType, "flags5", 8)
	s.Member("state", uint_, 0)
	s.Bits5("a", uint_, 32, 3)
	s.Bits5("b", uint_, 35, 7)
	s.Bits5("c", uint_, 42, 22)
	s.TagClose()

	// Little-endian DW_AT_bit_offset = unit bits - (bit position in the
	// unit) - bit size: a 32-3-0=29, b 32-7-3=22, c 32-22-10=0.
	s.Open(dwarf.TagStructType, "flags4", 8)
	s.Member("state", uint_, 0)
	s.Bits4("a", uint_, 4, 4, 29, 3)
	s.Bits4("b", uint_, 4, 4, 22, 7)
	s.Bits4("c", uint_, 4, 4, 0, 22)
	s.TagClose()

	// A declaration of struct mod before its definition (as in a unit that
	// only uses pointers to it).
	s.TagOpen(dwarf.TagStructType, "mod")
	s.Attr(dwarf.AttrDeclaration, uint8(1))
	s.TagClose()

	mod := s.Open(dwarf.TagStructType, "mod", 104)
	modPtrAttr := dwarf.Offset(0)
	s.Member("state", int_, 0)
	memArr := s.Array(inner, 3)
	s.Member("mem", memArr, 8)
	s.TagOpen(dwarf.TagMember, "")
	anon := dwarf.Offset(0)
	anonAttr := s.Attr(dwarf.AttrType, dwarf.Offset(0))
	s.Attr(dwarf.AttrDataMemberLoc, uint8(56))
	s.TagClose()
	s.Member("f", flags5, 64)
	s.TagOpen(dwarf.TagMember, "next")
	modPtrAttr = s.Attr(dwarf.AttrType, dwarf.Offset(0))
	s.Attr(dwarf.AttrDataMemberLoc, uint8(72))
	s.TagClose()
	nameArr := dwarf.Offset(0)
	s.TagOpen(dwarf.TagMember, "name")
	nameAttr := s.Attr(dwarf.AttrType, dwarf.Offset(0))
	s.Attr(dwarf.AttrDataMemberLoc, uint8(80))
	s.TagClose()
	s.Member("tail", myU32, 96)
	flexAttr := dwarf.Offset(0)
	s.TagOpen(dwarf.TagMember, "flex")
	flexAttr = s.Attr(dwarf.AttrType, dwarf.Offset(0))
	s.Attr(dwarf.AttrDataMemberLoc, uint8(100))
	s.TagClose()
	s.TagClose()

	anon = s.Open(dwarf.TagUnionType, "", 8)
	s.Member("anon_a", ulong, 0)
	s.Member("anon_b", u32, 0)
	s.TagClose()
	s.PatchOffset(anonAttr, anon)

	modPtr := s.TagOpen(dwarf.TagPointerType, "")
	s.Attr(dwarf.AttrByteSize, uint8(8))
	s.Attr(dwarf.AttrType, mod)
	s.TagClose()
	s.PatchOffset(modPtrAttr, modPtr)
	nameArr = s.Array(char, 16)
	s.PatchOffset(nameAttr, nameArr)
	s.PatchOffset(flexAttr, s.Array(uint_, -1))

	decl := s.TagOpen(dwarf.TagVariable, "the_mod")
	s.Attr(dwarf.AttrType, mod)
	s.Attr(dwarf.AttrDeclaration, uint8(1))
	s.TagClose()
	s.TagOpen(dwarf.TagVariable, "")
	s.Attr(dwarf.AttrSpecification, decl)
	s.Attr(dwarf.AttrLocation, []byte{0x03, 0x60, 0x45, 0x23, 0x01, 0, 0, 0, 0xc0}) // DW_OP_addr 0xc000000001234560
	s.TagClose()

	d := s.Data(t)
	return d
}
