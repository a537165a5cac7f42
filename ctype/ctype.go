// Package ctype is the project's model of the target kernel's C types:
// structs and unions with their members and bitfields, enumerations,
// typedefs, qualifiers, pointers, arrays, function types and base types.
//
// Layer: a leaf of the model (docs/ARCHITECTURE.md). It imports nothing of
// the project and no file reader: the types are made by symbols from DWARF
// (converted from debug/dwarf's, dwarfconv.go there) or from BTF (built
// directly, btfconv.go there), and consumed by kernel, modules, cexpr and
// the views, none of which then needs a debug-information reader.
//
// What it does not do: read or decode anything, look types up by name
// (symbols.Types does), or complete declarations (symbols.Types.Complete).
//
// The shapes are those of debug/dwarf's types (same type and field names,
// same String forms) so that a type reads the same whichever source made
// it: StructField keeps both DWARF 2-4 DW_AT_bit_offset and DWARF 5
// DW_AT_data_bit_offset; symbols.FindField normalises them.
package ctype

import "strconv"

// Type is one C type. Every implementation is a pointer to one of the
// structs below.
type Type interface {
	Common() *CommonType
	String() string
	Size() int64
}

// CommonType holds what every type has; unknown fields are zero.
type CommonType struct {
	ByteSize int64  // size of a value of this type in bytes
	Name     string // the name the type is referred to by, "" if none
}

// Common returns c.
func (c *CommonType) Common() *CommonType { return c }

// Size returns the byte size.
func (c *CommonType) Size() int64 { return c.ByteSize }

// BasicType holds what every base type has. BitSize, BitOffset and
// DataBitOffset are those of a base type DIE with DW_AT_bit_size (rare);
// members' bitfields are in StructField.
type BasicType struct {
	CommonType
	BitSize       int64
	BitOffset     int64
	DataBitOffset int64
}

// Basic returns b.
func (b *BasicType) Basic() *BasicType { return b }

func (b *BasicType) String() string {
	if b.Name != "" {
		return b.Name
	}
	return "?"
}

// CharType is a signed (or plain) character type.
type CharType struct{ BasicType }

// UcharType is an unsigned character type.
type UcharType struct{ BasicType }

// IntType is a signed integer type.
type IntType struct{ BasicType }

// UintType is an unsigned integer type.
type UintType struct{ BasicType }

// FloatType is a floating-point type.
type FloatType struct{ BasicType }

// ComplexType is a complex floating-point type.
type ComplexType struct{ BasicType }

// BoolType is _Bool.
type BoolType struct{ BasicType }

// AddrType is a machine address type.
type AddrType struct{ BasicType }

// UnspecifiedType is an implicit, unknown or nonexistent type.
type UnspecifiedType struct{ BasicType }

// QualType is a const, volatile or restrict qualified type.
type QualType struct {
	CommonType
	Qual string
	Type Type
}

func (t *QualType) String() string { return t.Qual + " " + t.Type.String() }

// Size is the qualified type's.
func (t *QualType) Size() int64 { return t.Type.Size() }

// ArrayType is an array; Count -1 is an incomplete array ("char x[]").
type ArrayType struct {
	CommonType
	Type          Type
	StrideBitSize int64 // if > 0, the bits each element takes
	Count         int64
}

func (t *ArrayType) String() string {
	return "[" + strconv.FormatInt(t.Count, 10) + "]" + t.Type.String()
}

// Size is Count elements (0 for an incomplete array).
func (t *ArrayType) Size() int64 {
	if t.Count == -1 {
		return 0
	}
	return t.Count * t.Type.Size()
}

// VoidType is void.
type VoidType struct{ CommonType }

func (t *VoidType) String() string { return "void" }

// PtrType is a pointer.
type PtrType struct {
	CommonType
	Type Type
}

func (t *PtrType) String() string { return "*" + t.Type.String() }

// StructType is a struct or union (Kind "struct", "union").
type StructType struct {
	CommonType
	StructName string
	Kind       string
	Field      []*StructField
	Incomplete bool // a declaration only ("struct module;")
}

// StructField is one member. A bitfield has BitSize > 0 and its position
// in DataBitOffset (DWARF 5, BTF: bits from the start of the struct) or,
// DWARF 2-4, in ByteOffset/ByteSize/BitOffset (bits from the storage
// unit's most significant bit).
type StructField struct {
	Name          string
	Type          Type
	ByteOffset    int64
	ByteSize      int64 // usually zero; Type.Size() for normal fields
	BitOffset     int64
	DataBitOffset int64
	BitSize       int64 // zero if not a bitfield
}

func (f *StructField) bitOffset() int64 {
	if f.BitOffset != 0 {
		return f.BitOffset
	}
	return f.DataBitOffset
}

func (t *StructType) String() string {
	if t.StructName != "" {
		return t.Kind + " " + t.StructName
	}
	return t.Defn()
}

// Defn spells the definition: kind, name and every member with its type
// and byte offset ("struct {a int@0; b char@4 : 3@32}").
func (t *StructType) Defn() string {
	s := t.Kind
	if t.StructName != "" {
		s += " " + t.StructName
	}
	if t.Incomplete {
		return s + " /*incomplete*/"
	}
	s += " {"
	for i, f := range t.Field {
		if i > 0 {
			s += "; "
		}
		s += f.Name + " " + f.Type.String() + "@" + strconv.FormatInt(f.ByteOffset, 10)
		if f.BitSize > 0 {
			s += " : " + strconv.FormatInt(f.BitSize, 10) + "@" + strconv.FormatInt(f.bitOffset(), 10)
		}
	}
	return s + "}"
}

// EnumType is an enumeration; its integer width is ByteSize.
type EnumType struct {
	CommonType
	EnumName string
	Val      []*EnumValue
}

// EnumValue is one enumerator.
type EnumValue struct {
	Name string
	Val  int64
}

func (t *EnumType) String() string {
	s := "enum"
	if t.EnumName != "" {
		s += " " + t.EnumName
	}
	s += " {"
	for i, v := range t.Val {
		if i > 0 {
			s += "; "
		}
		s += v.Name + "=" + strconv.FormatInt(v.Val, 10)
	}
	return s + "}"
}

// FuncType is a function type; ReturnType nil is void.
type FuncType struct {
	CommonType
	ReturnType Type
	ParamType  []Type
}

func (t *FuncType) String() string {
	s := "func("
	for i, p := range t.ParamType {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	s += ")"
	if t.ReturnType != nil {
		s += " " + t.ReturnType.String()
	}
	return s
}

// DotDotDotType is the "..." of a variadic function.
type DotDotDotType struct{ CommonType }

func (t *DotDotDotType) String() string { return "..." }

// TypedefType is a typedef.
type TypedefType struct {
	CommonType
	Type Type
}

func (t *TypedefType) String() string { return t.Name }

// Size is the aliased type's.
func (t *TypedefType) Size() int64 { return t.Type.Size() }

// UnsupportedType stands for a type the source describes but the model
// does not (Tag says what it was, e.g. "DW_TAG_ptr_to_member_type").
type UnsupportedType struct {
	CommonType
	Tag string
}

func (t *UnsupportedType) String() string {
	if t.Name != "" {
		return t.Name
	}
	return "(unsupported type " + t.Tag + ")"
}
