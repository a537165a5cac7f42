package extract

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// DWARF constants (DWARF 4, section 7) used by the writer.
const (
	tagArrayType       = 0x01
	tagEnumerationType = 0x04
	tagMember          = 0x0d
	tagPointerType     = 0x0f
	tagCompileUnit     = 0x11
	tagStructType      = 0x13
	tagSubroutineType  = 0x15
	tagTypedef         = 0x16
	tagUnionType       = 0x17
	tagSubrangeType    = 0x21
	tagBaseType        = 0x24
	tagConstType       = 0x26
	tagEnumerator      = 0x28
	tagVariable        = 0x34
	tagVolatileType    = 0x35
	tagRestrictType    = 0x37
	tagUnspecifiedType = 0x3b
	tagClassType       = 0x02

	atLocation           = 0x02
	atName               = 0x03
	atByteSize           = 0x0b
	atBitSize            = 0x0d
	atLanguage           = 0x13
	atConstValue         = 0x1c
	atProducer           = 0x25
	atPrototyped         = 0x27
	atCount              = 0x37
	atDataMemberLocation = 0x38
	atDeclaration        = 0x3c
	atEncoding           = 0x3e
	atExternal           = 0x3f
	atType               = 0x49
	atDataBitOffset      = 0x6b

	formData2         = 0x05
	formData1         = 0x0b
	formSdata         = 0x0d
	formString        = 0x08
	formUdata         = 0x0f
	formRef4          = 0x13
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	langC11           = 0x1d
	opAddr            = 0x03
	ateAddress        = 0x01
	ateBoolean        = 0x02
	ateComplexFloat   = 0x03
	ateFloat          = 0x04
	ateSigned         = 0x05
	ateSignedChar     = 0x06
	ateUnsigned       = 0x07
	ateUnsignedChar   = 0x08
	dwarfVersion      = 4
	cuHeaderSize      = 11 // unit_length 4, version 2, abbrev_offset 4, address_size 1
	producerMkexample = "kdump-inspect mkexample (types re-emitted from the vmlinux DWARF)"
)

// Variable is a global variable to emit: its name, type and address.
type Variable struct {
	Name string
	Type ctype.Type
	Addr uint64
}

// DWARFInput is what WriteDWARF emits: types by value (each with the
// transitive closure of what it holds by value; a pointer to a named struct
// or union outside that closure points to a declaration), variables, and
// whole enumerations (for their constants).
type DWARFInput struct {
	Types []ctype.Type
	Vars  []Variable
	Enums []*ctype.EnumType
}

// WriteDWARF returns .debug_abbrev and .debug_info (one DWARF 4 unit,
// little-endian, 8-byte addresses, strings inline) for in.
func WriteDWARF(in DWARFInput) (abbrev, info []byte, err error) {
	w := &dwarfWriter{
		full:    map[ctype.Type]bool{},
		off:     map[ctype.Type]uint32{},
		declOff: map[string]uint32{},
		abbrevs: map[string]uint64{},
	}
	for _, t := range in.Types {
		w.markFull(t)
	}
	for _, v := range in.Vars {
		w.markFull(v.Type)
	}
	for _, e := range in.Enums {
		w.markFull(e)
	}
	w.die(tagCompileUnit, true, []attr{{atProducer, formString, producerMkexample}, {atName, formString, "<mkexample>"}, {atLanguage, formData2, uint64(langC11)}})
	for _, t := range in.Types {
		w.ref(t, false)
	}
	for _, e := range in.Enums {
		w.ref(e, false)
	}
	for _, v := range in.Vars {
		loc := make([]byte, 9)
		loc[0] = opAddr
		binary.LittleEndian.PutUint64(loc[1:], v.Addr)
		as := []attr{{atName, formString, v.Name}}
		if r, ok := w.ref(v.Type, false); ok {
			as = append(as, r)
		}
		as = append(as, attr{atExternal, formFlagPresent, nil}, attr{atLocation, formExprloc, loc})
		w.die(tagVariable, false, as)
	}
	for len(w.queue) > 0 {
		t := w.queue[0]
		w.queue = w.queue[1:]
		if err := w.emit(t); err != nil {
			return nil, nil, err
		}
	}
	// Declarations for pointed-to structs outside the closure, sorted for
	// a reproducible file.
	names := make([]string, 0, len(w.declWant))
	for n := range w.declWant {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k := w.declWant[n]
		w.declOff[n] = uint32(cuHeaderSize + w.info.Len())
		w.die(k.tag, false, []attr{{atName, formString, k.name}, {atDeclaration, formFlagPresent, nil}})
	}
	w.info.WriteByte(0) // end of the unit's children
	for _, f := range w.fixups {
		var o uint32
		var ok bool
		if f.decl != "" {
			o, ok = w.declOff[f.decl]
		} else {
			o, ok = w.off[f.t]
		}
		if !ok {
			return nil, nil, fmt.Errorf("extract: DWARF reference to %s never emitted", describe(f.t, f.decl))
		}
		binary.LittleEndian.PutUint32(w.info.Bytes()[f.pos:], o)
	}
	w.abbrev.WriteByte(0)
	var out bytes.Buffer
	var h [cuHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(cuHeaderSize-4+w.info.Len()))
	binary.LittleEndian.PutUint16(h[4:], dwarfVersion)
	binary.LittleEndian.PutUint32(h[6:], 0)
	h[10] = 8
	out.Write(h[:])
	out.Write(w.info.Bytes())
	return w.abbrev.Bytes(), out.Bytes(), nil
}

func describe(t ctype.Type, decl string) string {
	if decl != "" {
		return "declaration of " + decl
	}
	return fmt.Sprintf("%T %s", t, t)
}

type attr struct {
	at, form uint64
	val      any // string, uint64, int64, []byte, refPlaceholder, nil
}

type refTo struct {
	t    ctype.Type
	decl string
}

type fixup struct {
	pos  int // offset in w.info (unit-relative minus the header)
	t    ctype.Type
	decl string
}

type declKind struct {
	tag  uint64
	name string
}

type dwarfWriter struct {
	abbrev   bytes.Buffer
	abbrevs  map[string]uint64
	info     bytes.Buffer
	full     map[ctype.Type]bool
	off      map[ctype.Type]uint32
	queued   map[ctype.Type]bool
	queue    []ctype.Type
	declWant map[string]declKind
	declOff  map[string]uint32
	fixups   []fixup
}

// markFull adds t and everything it holds by value to the closure.
func (w *dwarfWriter) markFull(t ctype.Type) {
	if t == nil || w.full[t] {
		return
	}
	w.full[t] = true
	switch t := t.(type) {
	case *ctype.StructType:
		for _, f := range t.Field {
			w.markFull(f.Type)
		}
	case *ctype.ArrayType:
		w.markFull(t.Type)
	case *ctype.TypedefType:
		w.markFull(t.Type)
	case *ctype.QualType:
		w.markFull(t.Type)
	case *ctype.PtrType:
		w.markPtr(t.Type, 0)
	}
}

// markPtr follows a pointer's target: named structs and unions stay out
// of the closure (they become declarations), anonymous ones are needed by
// value.
func (w *dwarfWriter) markPtr(t ctype.Type, depth int) {
	if t == nil || depth > 64 {
		return
	}
	switch t := t.(type) {
	case *ctype.StructType:
		if t.StructName == "" {
			w.markFull(t)
		}
	case *ctype.TypedefType:
		w.markPtr(t.Type, depth+1)
	case *ctype.QualType:
		w.markPtr(t.Type, depth+1)
	case *ctype.PtrType:
		w.markPtr(t.Type, depth+1)
	case *ctype.ArrayType:
		w.markPtr(t.Type, depth+1)
	case *ctype.EnumType, *ctype.CharType, *ctype.UcharType, *ctype.IntType, *ctype.UintType,
		*ctype.FloatType, *ctype.ComplexType, *ctype.BoolType, *ctype.AddrType:
		w.markFull(t)
	}
}

func isVoid(t ctype.Type) bool {
	switch t.(type) {
	case nil, *ctype.VoidType, *ctype.UnsupportedType, *ctype.DotDotDotType:
		return true
	}
	return false
}

// ref returns a DW_AT_type attribute referring to t; ok is false for void
// (no DW_AT_type). fromPtr says t is reached through a pointer.
func (w *dwarfWriter) ref(t ctype.Type, fromPtr bool) (attr, bool) {
	if isVoid(t) {
		return attr{}, false
	}
	if st, ok := t.(*ctype.StructType); ok && st.StructName != "" && (st.Incomplete || fromPtr && !w.full[t]) {
		key := st.Kind + " " + st.StructName
		if w.declWant == nil {
			w.declWant = map[string]declKind{}
		}
		tag := uint64(tagStructType)
		switch st.Kind {
		case "union":
			tag = tagUnionType
		case "class":
			tag = tagClassType
		}
		w.declWant[key] = declKind{tag, st.StructName}
		return attr{atType, formRef4, refTo{decl: key}}, true
	}
	if w.queued == nil {
		w.queued = map[ctype.Type]bool{}
	}
	if !w.queued[t] {
		w.queued[t] = true
		w.queue = append(w.queue, t)
	}
	return attr{atType, formRef4, refTo{t: t}}, true
}

func (w *dwarfWriter) withType(as []attr, t ctype.Type, fromPtr bool) []attr {
	if r, ok := w.ref(t, fromPtr); ok {
		as = append(as, r)
	}
	return as
}

func nameAttr(as []attr, n string) []attr {
	if n != "" {
		as = append(as, attr{atName, formString, n})
	}
	return as
}

// emit writes t's DIE (and its children) as a child of the unit.
func (w *dwarfWriter) emit(t ctype.Type) error {
	w.off[t] = uint32(cuHeaderSize + w.info.Len())
	ptrMode := !w.full[t]
	switch t := t.(type) {
	case *ctype.StructType:
		tag := uint64(tagStructType)
		switch t.Kind {
		case "union":
			tag = tagUnionType
		case "class":
			tag = tagClassType
		}
		as := nameAttr(nil, t.StructName)
		if t.Incomplete {
			w.die(tag, false, append(as, attr{atDeclaration, formFlagPresent, nil}))
			return nil
		}
		as = append(as, attr{atByteSize, formUdata, uint64(t.ByteSize)})
		w.die(tag, len(t.Field) > 0, as)
		for _, f := range t.Field {
			ms := w.withType(nameAttr(nil, f.Name), f.Type, false)
			if f.BitSize != 0 {
				ms = append(ms, attr{atBitSize, formUdata, uint64(f.BitSize)}, attr{atDataBitOffset, formUdata, uint64(bitOffsetLE(f))})
			} else {
				ms = append(ms, attr{atDataMemberLocation, formUdata, uint64(f.ByteOffset)})
			}
			w.die(tagMember, false, ms)
		}
		if len(t.Field) > 0 {
			w.info.WriteByte(0)
		}
	case *ctype.ArrayType:
		w.die(tagArrayType, true, w.withType(nil, t.Type, ptrMode))
		var sub []attr
		if t.Count >= 0 {
			sub = append(sub, attr{atCount, formUdata, uint64(t.Count)})
		}
		w.die(tagSubrangeType, false, sub)
		w.info.WriteByte(0)
	case *ctype.TypedefType:
		w.die(tagTypedef, false, w.withType(nameAttr(nil, t.Name), t.Type, ptrMode))
	case *ctype.QualType:
		tag := uint64(tagConstType)
		switch t.Qual {
		case "volatile":
			tag = tagVolatileType
		case "restrict":
			tag = tagRestrictType
		}
		w.die(tag, false, w.withType(nil, t.Type, ptrMode))
	case *ctype.PtrType:
		w.die(tagPointerType, false, w.withType([]attr{{atByteSize, formData1, uint64(8)}}, t.Type, true))
	case *ctype.FuncType:
		w.die(tagSubroutineType, false, []attr{{atPrototyped, formFlagPresent, nil}})
	case *ctype.EnumType:
		as := append(nameAttr(nil, t.EnumName), attr{atByteSize, formUdata, uint64(t.ByteSize)})
		w.die(tagEnumerationType, len(t.Val) > 0, as)
		for _, v := range t.Val {
			w.die(tagEnumerator, false, []attr{{atName, formString, v.Name}, {atConstValue, formSdata, v.Val}})
		}
		if len(t.Val) > 0 {
			w.info.WriteByte(0)
		}
	case *ctype.UnspecifiedType:
		w.die(tagUnspecifiedType, false, nameAttr(nil, t.Name))
	default:
		enc, ok := encoding(t)
		if !ok {
			return fmt.Errorf("extract: cannot emit DWARF for %T %s", t, t)
		}
		c := t.Common()
		w.die(tagBaseType, false, []attr{{atName, formString, c.Name}, {atByteSize, formUdata, uint64(c.ByteSize)}, {atEncoding, formData1, uint64(enc)}})
	}
	return nil
}

func encoding(t ctype.Type) (int, bool) {
	switch t.(type) {
	case *ctype.CharType:
		return ateSignedChar, true
	case *ctype.UcharType:
		return ateUnsignedChar, true
	case *ctype.IntType:
		return ateSigned, true
	case *ctype.UintType:
		return ateUnsigned, true
	case *ctype.FloatType:
		return ateFloat, true
	case *ctype.ComplexType:
		return ateComplexFloat, true
	case *ctype.BoolType:
		return ateBoolean, true
	case *ctype.AddrType:
		return ateAddress, true
	}
	return 0, false
}

// bitOffsetLE is a bitfield's DW_AT_data_bit_offset on a little-endian
// target, from whichever form the source DWARF used (as
// symbols.fieldBitOffset reads it).
func bitOffsetLE(f *ctype.StructField) int64 {
	if f.BitOffset == 0 && (f.DataBitOffset != 0 || f.ByteSize == 0) {
		return f.DataBitOffset
	}
	unit := f.ByteSize
	if unit == 0 && f.Type != nil {
		unit = f.Type.Size()
	}
	return f.ByteOffset*8 + unit*8 - f.BitOffset - f.BitSize
}

// die writes one DIE with an abbreviation made for its attribute forms.
func (w *dwarfWriter) die(tag uint64, children bool, as []attr) {
	var key bytes.Buffer
	fmt.Fprintf(&key, "%d/%v", tag, children)
	for _, a := range as {
		fmt.Fprintf(&key, "/%d:%d", a.at, a.form)
	}
	code, ok := w.abbrevs[key.String()]
	if !ok {
		code = uint64(len(w.abbrevs) + 1)
		w.abbrevs[key.String()] = code
		uleb(&w.abbrev, code)
		uleb(&w.abbrev, tag)
		if children {
			w.abbrev.WriteByte(1)
		} else {
			w.abbrev.WriteByte(0)
		}
		for _, a := range as {
			uleb(&w.abbrev, a.at)
			uleb(&w.abbrev, a.form)
		}
		w.abbrev.WriteByte(0)
		w.abbrev.WriteByte(0)
	}
	uleb(&w.info, code)
	for _, a := range as {
		switch a.form {
		case formString:
			w.info.WriteString(a.val.(string))
			w.info.WriteByte(0)
		case formUdata:
			uleb(&w.info, a.val.(uint64))
		case formSdata:
			sleb(&w.info, a.val.(int64))
		case formData1:
			w.info.WriteByte(byte(a.val.(uint64)))
		case formData2:
			var b [2]byte
			binary.LittleEndian.PutUint16(b[:], uint16(a.val.(uint64)))
			w.info.Write(b[:])
		case formRef4:
			r := a.val.(refTo)
			w.fixups = append(w.fixups, fixup{pos: w.info.Len(), t: r.t, decl: r.decl})
			w.info.Write([]byte{0, 0, 0, 0})
		case formExprloc:
			b := a.val.([]byte)
			uleb(&w.info, uint64(len(b)))
			w.info.Write(b)
		case formFlagPresent:
		}
	}
}

func uleb(b *bytes.Buffer, v uint64) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b.WriteByte(c)
		if v == 0 {
			return
		}
	}
}

func sleb(b *bytes.Buffer, v int64) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			b.WriteByte(c)
			return
		}
		b.WriteByte(c | 0x80)
	}
}
