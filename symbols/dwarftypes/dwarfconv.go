package dwarftypes

// debug/dwarf types to the project's type model (package ctype).
//
// Types decodes DIEs with debug/dwarf (types.go, unitdwarf.go) and hands
// out ctype types, so that nothing above symbols needs a DWARF reader.
// The conversion keeps every field debug/dwarf fills, so a type converted
// here and the same type built from BTF (btfconv.go) compare and print
// alike; it is memoised per decoded type (a pointer to a struct that
// points back to it converts once and stays a cycle).

import (
	"debug/dwarf"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// dwarfConv converts decoded debug/dwarf types; the caller serialises use
// (Types.mu).
type dwarfConv struct {
	memo map[dwarf.Type]ctype.Type
}

func basic(b *dwarf.BasicType) ctype.BasicType {
	return ctype.BasicType{CommonType: common(&b.CommonType), BitSize: b.BitSize, BitOffset: b.BitOffset, DataBitOffset: b.DataBitOffset}
}

func common(c *dwarf.CommonType) ctype.CommonType {
	return ctype.CommonType{ByteSize: c.ByteSize, Name: c.Name}
}

// conv returns the ctype form of dt (nil for nil).
func (c *dwarfConv) conv(dt dwarf.Type) ctype.Type {
	if dt == nil {
		return nil
	}
	if got, ok := c.memo[dt]; ok {
		return got
	}
	if c.memo == nil {
		c.memo = make(map[dwarf.Type]ctype.Type)
	}
	var out ctype.Type
	switch x := dt.(type) {
	case *dwarf.CharType:
		out = &ctype.CharType{BasicType: basic(&x.BasicType)}
	case *dwarf.UcharType:
		out = &ctype.UcharType{BasicType: basic(&x.BasicType)}
	case *dwarf.IntType:
		out = &ctype.IntType{BasicType: basic(&x.BasicType)}
	case *dwarf.UintType:
		out = &ctype.UintType{BasicType: basic(&x.BasicType)}
	case *dwarf.FloatType:
		out = &ctype.FloatType{BasicType: basic(&x.BasicType)}
	case *dwarf.ComplexType:
		out = &ctype.ComplexType{BasicType: basic(&x.BasicType)}
	case *dwarf.BoolType:
		out = &ctype.BoolType{BasicType: basic(&x.BasicType)}
	case *dwarf.AddrType:
		out = &ctype.AddrType{BasicType: basic(&x.BasicType)}
	case *dwarf.UnspecifiedType:
		out = &ctype.UnspecifiedType{BasicType: basic(&x.BasicType)}
	case *dwarf.BasicType:
		out = &ctype.UnspecifiedType{BasicType: basic(x)}
	case *dwarf.VoidType:
		out = &ctype.VoidType{CommonType: common(&x.CommonType)}
	case *dwarf.DotDotDotType:
		out = &ctype.DotDotDotType{CommonType: common(&x.CommonType)}
	case *dwarf.UnsupportedType:
		out = &ctype.UnsupportedType{CommonType: common(&x.CommonType), Tag: x.Tag.String()}
	case *dwarf.EnumType:
		e := &ctype.EnumType{CommonType: common(&x.CommonType), EnumName: x.EnumName, Val: make([]*ctype.EnumValue, len(x.Val))}
		for i, v := range x.Val {
			e.Val[i] = &ctype.EnumValue{Name: v.Name, Val: v.Val}
		}
		out = e
	// The types below refer to others: each is memoised before what it
	// refers to is converted.
	case *dwarf.PtrType:
		p := &ctype.PtrType{CommonType: common(&x.CommonType)}
		c.memo[dt] = p
		p.Type = c.conv(x.Type)
		return p
	case *dwarf.TypedefType:
		p := &ctype.TypedefType{CommonType: common(&x.CommonType)}
		c.memo[dt] = p
		p.Type = c.conv(x.Type)
		return p
	case *dwarf.QualType:
		p := &ctype.QualType{CommonType: common(&x.CommonType), Qual: x.Qual}
		c.memo[dt] = p
		p.Type = c.conv(x.Type)
		return p
	case *dwarf.ArrayType:
		p := &ctype.ArrayType{CommonType: common(&x.CommonType), StrideBitSize: x.StrideBitSize, Count: x.Count}
		c.memo[dt] = p
		p.Type = c.conv(x.Type)
		return p
	case *dwarf.FuncType:
		p := &ctype.FuncType{CommonType: common(&x.CommonType)}
		c.memo[dt] = p
		p.ReturnType = c.conv(x.ReturnType)
		if x.ParamType != nil {
			p.ParamType = make([]ctype.Type, len(x.ParamType))
			for i, pt := range x.ParamType {
				p.ParamType[i] = c.conv(pt)
			}
		}
		return p
	case *dwarf.StructType:
		s := &ctype.StructType{CommonType: common(&x.CommonType), StructName: x.StructName, Kind: x.Kind, Incomplete: x.Incomplete}
		c.memo[dt] = s
		if x.Field != nil {
			s.Field = make([]*ctype.StructField, len(x.Field))
			for i, f := range x.Field {
				s.Field[i] = &ctype.StructField{Name: f.Name, Type: c.conv(f.Type), ByteOffset: f.ByteOffset, ByteSize: f.ByteSize,
					BitOffset: f.BitOffset, DataBitOffset: f.DataBitOffset, BitSize: f.BitSize}
			}
		}
		return s
	default:
		out = &ctype.UnsupportedType{CommonType: common(dt.Common()), Tag: fmt.Sprintf("%T", dt)}
	}
	c.memo[dt] = out
	return out
}

// FromDWARF converts one type decoded by debug/dwarf (and all it refers
// to) to the type model, for callers outside Types that read DWARF
// themselves (the example extractor, tests).
func FromDWARF(dt dwarf.Type) ctype.Type {
	var c dwarfConv
	return c.conv(dt)
}
