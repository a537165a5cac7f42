package symbols

// BTF types as debug/dwarf types, so that Types can hand out the same
// values whether it is backed by DWARF or by BTF and no consumer changes.
//
// The shapes are those debug/dwarf gives for GCC's DWARF 5 (what the
// kernel is built with), checked member by member against the DWARF of
// the same kernel (btf_distro_test.go): ByteSize -1 for arrays,
// qualifiers and function types, a typedef's size its target's, a
// bitfield as DW_AT_data_bit_offset (DataBitOffset from the start of the
// struct, ByteOffset 0) with its BitSize, a flexible array as Count 0
// (debug/dwarf's own zeroArray fix-up gives trailing ones that), an int
// as IntType/UintType/CharType/UcharType/BoolType by its encoding and
// name, VOID as VoidType, a variadic prototype's last parameter as
// DotDotDotType. TYPE_TAG (btf_type_tag: __user, __rcu, ...), which GCC's
// DWARF does not carry, is looked through.
//
// Conversion is lazy and memoised per type ID, and lazy through pointers:
// a pointer to a named struct or union points to a declaration-shaped
// shell (Incomplete, with the struct's real size) that Types.Complete —
// which every consumer already calls on declaration-only structs, as the
// per-unit DWARF has them too — turns into the definition of exactly that
// type ID. Resolving `struct module` therefore converts its members and
// what they hold by value, not every type reachable through a pointer
// (which in vmlinux is most of the graph).
//
// Hostile input: every reference is range-checked, a conversion that
// re-enters a type it is converting (a cycle not broken by a pointer to a
// named struct or union: impossible in C) or nests deeper than
// maxConvDepth is a *BTFError, never a panic or an infinite String().

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// maxConvDepth bounds how deeply one conversion nests (by-value members,
// arrays, typedefs, qualifiers, prototypes; pointers to named structs and
// unions end a path): tens in the kernel.
const maxConvDepth = 512

// maxTypeBytes bounds an array's size (a corrupt nelems times a large
// element must not wrap int64).
const maxTypeBytes = 1 << 40

// Type converts the type with ID id (0 is void) to a debug/dwarf type.
func (b *BTF) Type(id uint32) (ctype.Type, error) {
	b.root.mu.Lock()
	defer b.root.mu.Unlock()
	c := btfConv{b: b}
	return c.conv(id, false)
}

// shellID returns the type ID behind a shell this BTF (or a base) handed
// out.
func (b *BTF) shellID(s *ctype.StructType) (uint32, bool) {
	b.root.mu.Lock()
	defer b.root.mu.Unlock()
	for o := b; o != nil; o = o.base {
		if id, ok := o.shells[s]; ok {
			return id, true
		}
	}
	return 0, false
}

// PtrSize is the size of a pointer: the size of "long" in the base BTF,
// 8 when it has none.
func (b *BTF) PtrSize() int64 {
	if n := b.root.index().ptrSize; n > 0 {
		return n
	}
	return 8
}

// btfConv is one conversion, under root.mu.
type btfConv struct {
	b     *BTF
	busy  map[uint64]bool // (id, shallow) being converted
	depth int
}

// modeMatters says whether a kind converts differently through a pointer
// (shallow): named structs and unions become shells, and the typedefs and
// qualifiers over them follow.
func modeMatters(kind uint8) bool {
	switch kind {
	case BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE,
		BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG:
		return true
	}
	return false
}

func (c *btfConv) conv(id uint32, shallow bool) (ctype.Type, error) {
	if id == 0 {
		r := c.b.root
		if r.void == nil {
			r.void = &ctype.VoidType{}
		}
		return r.void, nil
	}
	t, err := c.b.typ(id)
	if err != nil {
		return nil, err
	}
	o := t.owner
	if shallow && !modeMatters(t.Kind()) {
		shallow = false
	}
	memo := &o.full
	if shallow {
		memo = &o.shallow
	}
	if ty, ok := (*memo)[id]; ok {
		return ty, nil
	}
	key := uint64(id) << 1
	if shallow {
		key |= 1
	}
	if c.busy[key] {
		return nil, &BTFError{Off: t.blobOff(), ID: id, Msg: fmt.Sprintf("%s refers to itself other than through a pointer to a named struct or union", BTFKindName(t.Kind()))}
	}
	if c.depth >= maxConvDepth {
		return nil, &BTFError{Off: t.blobOff(), ID: id, Msg: fmt.Sprintf("types nest deeper than %d", maxConvDepth)}
	}
	if c.busy == nil {
		c.busy = make(map[uint64]bool)
	}
	c.busy[key] = true
	c.depth++
	ty, err := c.make(t, shallow)
	c.depth--
	delete(c.busy, key)
	if err != nil {
		return nil, err
	}
	if *memo == nil {
		*memo = make(map[uint32]ctype.Type)
	}
	(*memo)[id] = ty
	return ty, nil
}

// errAt is a *BTFError at t's record.
func errAt(t btfType, format string, args ...any) error {
	return &BTFError{Off: t.blobOff(), ID: t.ID, Msg: fmt.Sprintf(format, args...)}
}

// name reads t's name, an error naming t when the offset is bad.
func (c *btfConv) name(t btfType) (string, error) {
	s, err := c.b.Name(t.NameOff)
	if err != nil {
		return "", errAt(t, "%s name: %s", BTFKindName(t.Kind()), err.(*BTFError).Msg)
	}
	return s, nil
}

func (c *btfConv) make(t btfType, shallow bool) (ctype.Type, error) {
	name, err := c.name(t)
	if err != nil {
		return nil, err
	}
	switch k := t.Kind(); k {
	case BTF_KIND_INT:
		return c.intType(t, name)
	case BTF_KIND_FLOAT:
		ft := &ctype.FloatType{}
		ft.Name, ft.ByteSize = name, int64(t.SizeType)
		return ft, nil
	case BTF_KIND_PTR:
		to, err := c.conv(t.SizeType, true)
		if err != nil {
			return nil, err
		}
		return &ctype.PtrType{CommonType: ctype.CommonType{ByteSize: c.b.PtrSize()}, Type: to}, nil
	case BTF_KIND_ARRAY:
		elem, err := c.conv(t.u32(0), false)
		if err != nil {
			return nil, err
		}
		n := int64(t.u32(2))
		if es := elem.Size(); es > 0 && n > maxTypeBytes/es {
			return nil, errAt(t, "array of %d elements of %d bytes is larger than %d bytes", n, es, int64(maxTypeBytes))
		}
		return &ctype.ArrayType{CommonType: ctype.CommonType{ByteSize: -1}, Type: elem, Count: n}, nil
	case BTF_KIND_STRUCT, BTF_KIND_UNION:
		kind := "struct"
		if k == BTF_KIND_UNION {
			kind = "union"
		}
		if shallow && name != "" {
			s := &ctype.StructType{CommonType: ctype.CommonType{ByteSize: int64(t.SizeType)}, StructName: name, Kind: kind, Incomplete: true}
			if t.owner.shells == nil {
				t.owner.shells = make(map[*ctype.StructType]uint32)
			}
			t.owner.shells[s] = t.ID
			return s, nil
		}
		return c.structType(t, kind, name)
	case BTF_KIND_ENUM, BTF_KIND_ENUM64:
		e := &ctype.EnumType{CommonType: ctype.CommonType{ByteSize: int64(t.SizeType)}, EnumName: name}
		vals := make([]ctype.EnumValue, t.Vlen())
		e.Val = make([]*ctype.EnumValue, len(vals))
		for j := range vals {
			var off uint32
			if k == BTF_KIND_ENUM {
				off, vals[j].Val = t.u32(2*j), enumValue32(t.u32(2*j+1), t.KindFlag())
			} else {
				off, vals[j].Val = t.u32(3*j), enumValue64(t.u32(3*j+1), t.u32(3*j+2))
			}
			if vals[j].Name, err = c.b.Name(off); err != nil {
				return nil, errAt(t, "enumerator %d of enum %q: %s", j, name, err.(*BTFError).Msg)
			}
			e.Val[j] = &vals[j]
		}
		return e, nil
	case BTF_KIND_FWD:
		kind := "struct"
		if t.KindFlag() {
			kind = "union"
		}
		return &ctype.StructType{CommonType: ctype.CommonType{ByteSize: -1}, StructName: name, Kind: kind, Incomplete: true}, nil
	case BTF_KIND_TYPEDEF:
		to, err := c.conv(t.SizeType, shallow)
		if err != nil {
			return nil, err
		}
		return &ctype.TypedefType{CommonType: ctype.CommonType{ByteSize: to.Size(), Name: name}, Type: to}, nil
	case BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT:
		to, err := c.conv(t.SizeType, shallow)
		if err != nil {
			return nil, err
		}
		q := map[uint8]string{BTF_KIND_VOLATILE: "volatile", BTF_KIND_CONST: "const", BTF_KIND_RESTRICT: "restrict"}[k]
		return &ctype.QualType{CommonType: ctype.CommonType{ByteSize: -1}, Qual: q, Type: to}, nil
	case BTF_KIND_TYPE_TAG:
		return c.conv(t.SizeType, shallow)
	case BTF_KIND_FUNC:
		return c.conv(t.SizeType, false)
	case BTF_KIND_FUNC_PROTO:
		return c.funcProto(t)
	case BTF_KIND_VAR, BTF_KIND_DATASEC, BTF_KIND_DECL_TAG:
		return nil, errAt(t, "a %s is not a type", BTFKindName(k))
	default:
		// A kind the layout section let the parser skip.
		u := &ctype.UnsupportedType{}
		u.Name, u.ByteSize = name, -1
		return u, nil
	}
}

// intType converts a BTF_KIND_INT: the encoding picks bool, char (by the
// CHAR bit, or a one-byte int named as a char: pahole sets only SIGNED
// and BOOL), signed or unsigned; an int of fewer bits than its size or at
// a bit offset (the bitfield encoding of BTF without kind_flag) keeps
// them as BitSize and DataBitOffset.
func (c *btfConv) intType(t btfType, name string) (ctype.Type, error) {
	w := t.u32(0)
	enc, off, bits := w>>24&0xf, w>>16&0xff, w&0xff
	size := t.SizeType
	switch size {
	case 1, 2, 4, 8, 16:
	default:
		return nil, errAt(t, "INT %q of %d bytes", name, size)
	}
	if bits == 0 || off+bits > 8*size {
		return nil, errAt(t, "INT %q: %d bits at offset %d do not fit %d bytes", name, bits, off, size)
	}
	var ty ctype.Type
	var basic *ctype.BasicType
	switch {
	case enc&BTF_INT_BOOL != 0:
		x := &ctype.BoolType{}
		ty, basic = x, &x.BasicType
	case enc&BTF_INT_CHAR != 0 || size == 1 && strings.Contains(name, "char"):
		if enc&BTF_INT_SIGNED != 0 {
			x := &ctype.CharType{}
			ty, basic = x, &x.BasicType
		} else {
			x := &ctype.UcharType{}
			ty, basic = x, &x.BasicType
		}
	case enc&BTF_INT_SIGNED != 0:
		x := &ctype.IntType{}
		ty, basic = x, &x.BasicType
	default:
		x := &ctype.UintType{}
		ty, basic = x, &x.BasicType
	}
	basic.Name, basic.ByteSize = name, int64(size)
	if bits != 8*size || off != 0 {
		basic.BitSize, basic.DataBitOffset = int64(bits), int64(off)
	}
	return ty, nil
}

// intBits returns the bit size and offset of a member type that is an
// irregular INT (fewer bits than its size, or an offset), as
// kernel/bpf/btf.c btf_type_int_is_regular decides; ok is false for any
// other type.
func (c *btfConv) intBits(id uint32) (bits, off uint32, ok bool) {
	if id == 0 {
		return 0, 0, false
	}
	t, err := c.b.typ(id)
	if err != nil || t.Kind() != BTF_KIND_INT {
		return 0, 0, false
	}
	w := t.u32(0)
	bits, off = w&0xff, w>>16&0xff
	if bits == 8*t.SizeType && off == 0 {
		return 0, 0, false
	}
	return bits, off, true
}

// structType converts a struct or union with its members. With kind_flag
// a member's offset holds the bitfield size in its top 8 bits and the bit
// offset in the low 24; without, it is the bit offset, and a member of an
// irregular INT type is a bitfield of that INT's bits.
func (c *btfConv) structType(t btfType, kind, name string) (ctype.Type, error) {
	st := &ctype.StructType{CommonType: ctype.CommonType{ByteSize: int64(t.SizeType)}, StructName: name, Kind: kind}
	n := t.Vlen()
	fields := make([]ctype.StructField, n)
	st.Field = make([]*ctype.StructField, n)
	for j := range n {
		f := &fields[j]
		nameOff, typ, off := t.u32(3*j), t.u32(3*j+1), t.u32(3*j+2)
		var err error
		if f.Name, err = c.b.Name(nameOff); err != nil {
			return nil, errAt(t, "member %d of %s %q: %s", j, kind, name, err.(*BTFError).Msg)
		}
		if f.Type, err = c.conv(typ, false); err != nil {
			return nil, err
		}
		bitOff, bitSize := int64(off), int64(0)
		if t.KindFlag() {
			bitOff, bitSize = int64(off&0xffffff), int64(off>>24)
		} else if bits, ioff, ok := c.intBits(typ); ok {
			bitOff, bitSize = bitOff+int64(ioff), int64(bits)
		}
		if bitSize == 0 {
			if bitOff%8 != 0 {
				return nil, errAt(t, "member %q of %s %q at bit %d is not byte-aligned and not a bitfield", f.Name, kind, name, bitOff)
			}
			f.ByteOffset = bitOff / 8
		} else {
			f.DataBitOffset, f.BitSize = bitOff, bitSize
		}
		st.Field[j] = f
	}
	return st, nil
}

// funcProto converts a BTF_KIND_FUNC_PROTO: return type (0: void) and
// parameter types, a last parameter of type 0 being "...".
func (c *btfConv) funcProto(t btfType) (ctype.Type, error) {
	ret, err := c.conv(t.SizeType, false)
	if err != nil {
		return nil, err
	}
	ft := &ctype.FuncType{CommonType: ctype.CommonType{ByteSize: -1}, ReturnType: ret, ParamType: make([]ctype.Type, t.Vlen())}
	for j := range ft.ParamType {
		typ := t.u32(2*j + 1)
		if typ == 0 {
			if j != len(ft.ParamType)-1 {
				return nil, errAt(t, "FUNC_PROTO parameter %d of %d is void", j, len(ft.ParamType))
			}
			ft.ParamType[j] = &ctype.DotDotDotType{}
			continue
		}
		if ft.ParamType[j], err = c.conv(typ, false); err != nil {
			return nil, err
		}
	}
	return ft, nil
}
