package dwarftypes

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// A minimal DIE walker over raw .debug_info/.debug_abbrev for the name
// index: it decodes only the attributes the index needs (name, declaration,
// sibling, location presence, specification, an enumerator's constant) and
// skips every other attribute by its form, without allocating per DIE.
// debug/dwarf's Reader builds a full Entry (a []Field and a boxed value per
// attribute) for each DIE; on a distro vmlinux that was 1.2 GB of
// allocation and most of the index build's CPU (docs/PERFORMANCE.md).
// buildIndex (index.go) over debug/dwarf stays the reference:
// TestFastIndexMatchesReference checks both give the same index.
//
// Forms and unit headers follow DWARF 5 §7.5 (and DWARF 2-4 §7.5 for the
// older unit header); everything read is bounds-checked with a sticky
// error, and a unit that does not decode fails the build (LoadTypes then
// falls back to the debug/dwarf indexer, which reports it).

// DWARF forms (DWARF 5 §7.5.6, Table 7.6; GNU extensions).
const (
	formAddr          = 0x01
	formBlock2        = 0x03
	formBlock4        = 0x04
	formData2         = 0x05
	formData4         = 0x06
	formData8         = 0x07
	formString        = 0x08
	formBlock         = 0x09
	formBlock1        = 0x0a
	formData1         = 0x0b
	formFlag          = 0x0c
	formSdata         = 0x0d
	formStrp          = 0x0e
	formUdata         = 0x0f
	formRefAddr       = 0x10
	formRef1          = 0x11
	formRef2          = 0x12
	formRef4          = 0x13
	formRef8          = 0x14
	formRefUdata      = 0x15
	formIndirect      = 0x16
	formSecOffset     = 0x17
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
	formGNUAddrIndex  = 0x1f01
	formGNUStrIndex   = 0x1f02
	formGNURefAlt     = 0x1f20
	formGNUStrpAlt    = 0x1f21
)

// Attributes the index reads.
const (
	atSibling        = 0x01
	atLocation       = 0x02
	atName           = 0x03
	atConstValue     = 0x1c
	atDeclaration    = 0x3c
	atSpecification  = 0x47
	atStrOffsetsBase = 0x72
)

// maxAbbrevs bounds one abbreviation table (a vmlinux unit has a few
// hundred); maxDIEDepth bounds nesting while skipping children.
const (
	maxAbbrevs  = 1 << 20
	maxDIEDepth = 1 << 12
)

// attrSpec is one attribute of an abbreviation.
type attrSpec struct {
	attr, form uint32
	implicit   int64 // DW_FORM_implicit_const value
}

// fabbrev is one abbreviation, with the positions of the attributes the
// index reads (-1: absent) and, when every form has a fixed size, that
// total size (fixed >= 0) so that a DIE can be skipped in one step.
type fabbrev struct {
	tag                                                  dwarf.Tag
	children                                             bool
	first, n                                             int // its attributes: unitWalker.arena[first:first+n]
	name, decl, sibling, loc, spec, constVal, strOffBase int
	fixed                                                int
}

// dbuf is a sticky-error cursor over one section (debug/dwarf/buf.go's
// shape).
type dbuf struct {
	data  []byte
	off   int
	order binary.ByteOrder
	err   error
	what  string // section name, for errors
}

func (b *dbuf) fail(msg string) {
	if b.err == nil {
		b.err = fmt.Errorf("%s at offset %#x: %s", b.what, b.off, msg)
	}
	b.off = len(b.data)
}

func (b *dbuf) need(n int) bool {
	if b.err != nil {
		return false
	}
	if n < 0 || n > len(b.data)-b.off {
		b.fail("truncated")
		return false
	}
	return true
}

func (b *dbuf) skip(n int) {
	if b.need(n) {
		b.off += n
	}
}

func (b *dbuf) u8() uint8 {
	if !b.need(1) {
		return 0
	}
	v := b.data[b.off]
	b.off++
	return v
}

func (b *dbuf) u16() uint16 {
	if !b.need(2) {
		return 0
	}
	v := b.order.Uint16(b.data[b.off:])
	b.off += 2
	return v
}

func (b *dbuf) u24() uint32 {
	if !b.need(3) {
		return 0
	}
	d := b.data[b.off:]
	b.off += 3
	if b.order == binary.BigEndian {
		return uint32(d[0])<<16 | uint32(d[1])<<8 | uint32(d[2])
	}
	return uint32(d[2])<<16 | uint32(d[1])<<8 | uint32(d[0])
}

func (b *dbuf) u32() uint32 {
	if !b.need(4) {
		return 0
	}
	v := b.order.Uint32(b.data[b.off:])
	b.off += 4
	return v
}

func (b *dbuf) u64() uint64 {
	if !b.need(8) {
		return 0
	}
	v := b.order.Uint64(b.data[b.off:])
	b.off += 8
	return v
}

func (b *dbuf) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if !b.need(1) {
			return 0
		}
		c := b.data[b.off]
		b.off++
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			return v
		}
	}
}

func (b *dbuf) sleb() int64 {
	var v int64
	var shift uint
	var c byte
	for {
		if !b.need(1) {
			return 0
		}
		c = b.data[b.off]
		b.off++
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			break
		}
	}
	if shift < 64 && c&0x40 != 0 {
		v |= -1 << shift
	}
	return v
}

// ulebInt reads a ULEB128 length that must fit the remaining data.
func (b *dbuf) ulebLen() int {
	n := b.uleb()
	if n > uint64(len(b.data)) {
		b.fail("length beyond section")
		return 0
	}
	return int(n)
}

// cstr returns the NUL-terminated bytes at the cursor (without the NUL).
func (b *dbuf) cstr() []byte {
	if b.err != nil {
		return nil
	}
	i := bytes.IndexByte(b.data[b.off:], 0)
	if i < 0 {
		b.fail("unterminated string")
		return nil
	}
	s := b.data[b.off : b.off+i]
	b.off += i + 1
	return s
}

// parseAbbrevs reads the abbreviation table at off of .debug_abbrev.
//
// tab and arena are storage to reuse (the previous unit's table, which is
// dropped): every unit of a vmlinux has its own table, so keeping them
// cost 170 MB on a distro vmlinux.
func parseAbbrevs(abbrev []byte, off uint64, order binary.ByteOrder, tab []fabbrev, arena []attrSpec) ([]fabbrev, map[uint64]int, []attrSpec, error) {
	if off >= uint64(len(abbrev)) {
		return nil, nil, arena, fmt.Errorf("abbreviation table offset %#x beyond .debug_abbrev (%#x bytes)", off, len(abbrev))
	}
	b := &dbuf{data: abbrev, off: int(off), order: order, what: ".debug_abbrev"}
	tab = tab[:0]
	arena = arena[:0]
	var sparse map[uint64]int // code -> index when codes are not 1..n in order
	for len(tab) < maxAbbrevs {
		code := b.uleb()
		if b.err != nil {
			return nil, nil, arena, b.err
		}
		if code == 0 {
			return tab, sparse, arena, nil
		}
		first := len(arena)
		a := fabbrev{tag: dwarf.Tag(b.uleb()), children: b.u8() != 0,
			name: -1, decl: -1, sibling: -1, loc: -1, spec: -1, constVal: -1, strOffBase: -1}
		for {
			at, form := uint32(b.uleb()), uint32(b.uleb())
			if b.err != nil {
				return nil, nil, arena, b.err
			}
			if at == 0 && form == 0 {
				break
			}
			s := attrSpec{attr: at, form: form}
			if form == formImplicitConst {
				s.implicit = b.sleb()
			}
			i := len(arena) - first
			switch at {
			case atName:
				a.name = i
			case atDeclaration:
				a.decl = i
			case atSibling:
				a.sibling = i
			case atLocation:
				a.loc = i
			case atSpecification:
				a.spec = i
			case atConstValue:
				a.constVal = i
			case atStrOffsetsBase:
				a.strOffBase = i
			}
			arena = append(arena, s)
			if len(arena)-first > 1<<12 {
				return nil, nil, arena, fmt.Errorf(".debug_abbrev at offset %#x: abbreviation %d has too many attributes", off, code)
			}
		}
		a.first, a.n = first, len(arena)-first
		if code != uint64(len(tab)+1) && sparse == nil {
			sparse = make(map[uint64]int, len(tab)+1)
			for i := range tab {
				sparse[uint64(i+1)] = i
			}
		}
		if sparse != nil {
			sparse[code] = len(tab)
		}
		tab = append(tab, a)
	}
	return nil, nil, arena, fmt.Errorf(".debug_abbrev at offset %#x: more than %d abbreviations", off, maxAbbrevs)
}

// unitWalker walks the DIEs of one unit.
type unitWalker struct {
	raw      *rawDWARF
	b        dbuf
	start    int // offset of the unit header in .debug_info
	end      int // offset just past the unit
	vers     int
	addrSize int
	offSize  int // 4 or 8 (64-bit DWARF)
	strBase  uint64
	atCU     bool   // reading the unit's own DIE
	key      []byte // scratch for "struct NAME" keys
	tab      []fabbrev
	sparse   map[uint64]int
	arena    []attrSpec // the attributes of tab's abbreviations
	tabOff   uint64     // .debug_abbrev offset tab was read from
	haveTab  bool
}

// fixedSize returns the size of a form's value when it does not depend on
// the data (-1 otherwise).
func (w *unitWalker) fixedSize(form uint32) int {
	switch form {
	case formFlagPresent, formImplicitConst:
		return 0
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		return 1
	case formData2, formRef2, formStrx2, formAddrx2:
		return 2
	case formStrx3, formAddrx3:
		return 3
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		return 4
	case formData8, formRef8, formRefSig8, formRefSup8:
		return 8
	case formData16:
		return 16
	case formAddr:
		return w.addrSize
	case formStrp, formSecOffset, formLineStrp, formStrpSup, formGNURefAlt, formGNUStrpAlt:
		return w.offSize
	case formRefAddr:
		if w.vers <= 2 {
			return w.addrSize
		}
		return w.offSize
	}
	return -1
}

// skipForm skips one attribute value.
func (w *unitWalker) skipForm(form uint32) {
	b := &w.b
	if n := w.fixedSize(form); n >= 0 {
		b.skip(n)
		return
	}
	switch form {
	case formString:
		b.cstr()
	case formBlock1:
		b.skip(int(b.u8()))
	case formBlock2:
		b.skip(int(b.u16()))
	case formBlock4:
		b.skip(int(b.u32()))
	case formBlock, formExprloc:
		b.skip(b.ulebLen())
	case formSdata:
		b.sleb()
	case formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx, formGNUAddrIndex, formGNUStrIndex:
		b.uleb()
	case formIndirect:
		f := b.uleb()
		if f == formIndirect || f > 0xffff {
			b.fail("bad DW_FORM_indirect")
			return
		}
		w.skipForm(uint32(f))
	default:
		b.fail(fmt.Sprintf("unknown attribute form %#x", form))
	}
}

// offsetVal reads a section offset of the unit's offset size.
func (w *unitWalker) offsetVal() uint64 {
	if w.offSize == 8 {
		return w.b.u64()
	}
	return uint64(w.b.u32())
}

// str reads a string-class attribute value (nil for other classes).
func (w *unitWalker) str(form uint32) []byte {
	b := &w.b
	var sec []byte
	var off uint64
	switch form {
	case formString:
		return b.cstr()
	case formStrp:
		sec, off = w.raw.str, w.offsetVal()
	case formLineStrp:
		sec, off = w.raw.lineStr, w.offsetVal()
	case formStrx, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex:
		var idx uint64
		switch form {
		case formStrx1:
			idx = uint64(b.u8())
		case formStrx2:
			idx = uint64(b.u16())
		case formStrx3:
			idx = uint64(b.u24())
		case formStrx4:
			idx = uint64(b.u32())
		default:
			idx = b.uleb()
		}
		so := w.raw.strOffsets
		p := w.strBase + idx*uint64(w.offSize)
		if b.err != nil || p >= uint64(len(so)) || uint64(len(so))-p < uint64(w.offSize) {
			b.fail(fmt.Sprintf("string index %d beyond .debug_str_offsets", idx))
			return nil
		}
		if w.offSize == 8 {
			off = w.raw.order.Uint64(so[p:])
		} else {
			off = uint64(w.raw.order.Uint32(so[p:]))
		}
		sec = w.raw.str
	default:
		w.skipForm(form)
		return nil
	}
	if b.err != nil {
		return nil
	}
	if off >= uint64(len(sec)) {
		b.fail(fmt.Sprintf("string offset %#x beyond its section", off))
		return nil
	}
	s := sec[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	b.fail(fmt.Sprintf("unterminated string at offset %#x", off))
	return nil
}

// constant reads a constant-class value as debug/dwarf does (data1-8 and
// udata zero-extended, sdata sign-extended); ok is false for other forms.
func (w *unitWalker) constant(s attrSpec) (int64, bool) {
	b := &w.b
	switch s.form {
	case formData1:
		return int64(b.u8()), true
	case formData2:
		return int64(b.u16()), true
	case formData4:
		return int64(b.u32()), true
	case formData8:
		return int64(b.u64()), true
	case formSdata:
		return b.sleb(), true
	case formUdata:
		return int64(b.uleb()), true
	case formImplicitConst:
		return s.implicit, true
	}
	w.skipForm(s.form)
	return 0, false
}

// ref reads a reference-class value as an offset into .debug_info; ok is
// false for other forms (type signatures, supplementary files).
func (w *unitWalker) ref(form uint32) (dwarf.Offset, bool) {
	b := &w.b
	var rel uint64
	switch form {
	case formRef1:
		rel = uint64(b.u8())
	case formRef2:
		rel = uint64(b.u16())
	case formRef4:
		rel = uint64(b.u32())
	case formRef8:
		rel = b.u64()
	case formRefUdata:
		rel = b.uleb()
	case formRefAddr:
		if w.vers <= 2 && w.addrSize == 8 || w.vers > 2 && w.offSize == 8 {
			return dwarf.Offset(b.u64()), b.err == nil
		}
		return dwarf.Offset(b.u32()), b.err == nil
	default:
		w.skipForm(form)
		return 0, false
	}
	return dwarf.Offset(uint64(w.start) + rel), b.err == nil
}

// flag reads DW_AT_declaration as isDecl (index.go) sees it: DW_FORM_flag
// is set when its byte is 1 (debug/dwarf's reading), flag_present always,
// any other form counts as set.
func (w *unitWalker) flag(form uint32) bool {
	switch form {
	case formFlag:
		return w.b.u8() == 1
	case formFlagPresent:
		return true
	}
	w.skipForm(form)
	return true
}

// die is what the index needs of one DIE.
type die struct {
	off      dwarf.Offset
	tag      dwarf.Tag
	children bool
	name     []byte
	decl     bool
	hasLoc   bool
	sibling  int // offset in .debug_info, or -1
	spec     dwarf.Offset
	hasSpec  bool
	constVal int64
	hasConst bool
}

// next reads the DIE at the cursor. null is true for a null entry (end of
// a sibling list) and at the end of the unit.
func (w *unitWalker) next(d *die) (null bool) {
	b := &w.b
	if b.off >= w.end {
		return true
	}
	d.off = dwarf.Offset(b.off)
	code := b.uleb()
	if b.err != nil || code == 0 {
		return true
	}
	var a *fabbrev
	if w.sparse != nil {
		if i, ok := w.sparse[code]; ok {
			a = &w.tab[i]
		}
	} else if code <= uint64(len(w.tab)) {
		a = &w.tab[code-1]
	}
	if a == nil {
		b.fail(fmt.Sprintf("unknown abbreviation code %d", code))
		return true
	}
	d.tag, d.children = a.tag, a.children
	d.name, d.decl, d.hasLoc, d.sibling, d.hasSpec, d.hasConst = nil, false, false, -1, false, false
	if a.fixed >= 0 && a.name < 0 && a.decl < 0 && a.sibling < 0 && a.spec < 0 && a.constVal < 0 && a.strOffBase < 0 {
		d.hasLoc = a.loc >= 0
		b.skip(a.fixed)
		return false
	}
	for i, s := range w.arena[a.first : a.first+a.n] {
		switch i {
		case a.name:
			if w.atCU {
				w.skipForm(s.form) // before DW_AT_str_offsets_base, perhaps; not needed
			} else {
				d.name = w.str(s.form)
			}
		case a.decl:
			d.decl = w.flag(s.form)
		case a.loc:
			d.hasLoc = true
			w.skipForm(s.form)
		case a.sibling:
			if o, ok := w.ref(s.form); ok && int(o) > int(d.off) && int(o) <= w.end {
				d.sibling = int(o)
			}
		case a.spec:
			d.spec, d.hasSpec = w.ref(s.form)
		case a.constVal:
			d.constVal, d.hasConst = w.constant(s)
		case a.strOffBase:
			if s.form == formSecOffset {
				w.strBase = w.offsetVal()
			} else {
				w.skipForm(s.form)
			}
		default:
			w.skipForm(s.form)
		}
	}
	return false
}

// skipChildren moves past the children of d (read by next): to its
// DW_AT_sibling when it has one, else by walking them.
func (w *unitWalker) skipChildren(d *die) {
	if !d.children {
		return
	}
	if d.sibling >= 0 {
		w.b.off = d.sibling
		return
	}
	depth := 1
	var c die
	for depth > 0 && w.b.err == nil {
		if w.next(&c) {
			if w.b.off >= w.end {
				return
			}
			depth--
			continue
		}
		if c.children {
			if c.sibling >= 0 {
				w.b.off = c.sibling
			} else if depth++; depth > maxDIEDepth {
				w.b.fail("DIEs nested too deep")
			}
		}
	}
}

// unitHeader reads the header of the unit at off; it returns the offset
// of the unit's first DIE.
func (w *unitWalker) unitHeader(off int) (bool, error) {
	raw := w.raw
	w.b = dbuf{data: raw.info, off: off, order: raw.order, what: ".debug_info"}
	b := &w.b
	w.start = off
	n := uint64(b.u32())
	w.offSize = 4
	if n == 0xffffffff {
		n = b.u64()
		w.offSize = 8
	} else if n >= 0xfffffff0 {
		return false, fmt.Errorf(".debug_info at offset %#x: reserved unit length %#x", off, n)
	}
	if b.err != nil {
		return false, b.err
	}
	if n > uint64(len(raw.info)-b.off) {
		return false, fmt.Errorf(".debug_info at offset %#x: unit length %#x beyond the section", off, n)
	}
	w.end = b.off + int(n)
	w.vers = int(b.u16())
	var abbrevOff uint64
	switch {
	case w.vers >= 2 && w.vers <= 4:
		abbrevOff = w.offsetVal()
		w.addrSize = int(b.u8())
	case w.vers == 5:
		ut := b.u8()
		w.addrSize = int(b.u8())
		abbrevOff = w.offsetVal()
		switch ut {
		case 0x01, 0x03: // DW_UT_compile, DW_UT_partial
		case 0x04, 0x05: // DW_UT_skeleton, DW_UT_split_compile: dwo_id
			b.skip(8)
		case 0x02, 0x06: // DW_UT_type, DW_UT_split_type
			b.skip(8)
			w.offsetVal()
		default:
			return false, fmt.Errorf(".debug_info at offset %#x: unknown unit type %#x", off, ut)
		}
	default:
		return false, fmt.Errorf(".debug_info at offset %#x: DWARF version %d", off, w.vers)
	}
	if b.err != nil {
		return false, b.err
	}
	if b.off > w.end {
		return false, fmt.Errorf(".debug_info at offset %#x: unit header longer than the unit", off)
	}
	if !w.haveTab || abbrevOff != w.tabOff {
		tab, sparse, arena, err := parseAbbrevs(raw.abbrev, abbrevOff, raw.order, w.tab, w.arena)
		w.arena = arena
		if err != nil {
			w.haveTab = false
			return false, err
		}
		w.tab, w.sparse, w.tabOff, w.haveTab = tab, sparse, abbrevOff, true
	}
	for i := range w.tab {
		a := &w.tab[i]
		a.fixed = 0
		for _, s := range w.arena[a.first : a.first+a.n] {
			n := w.fixedSize(s.form)
			if n < 0 {
				a.fixed = -1
				break
			}
			a.fixed += n
		}
	}
	w.strBase = 0
	return true, nil
}

// UnitDamage is a unit of .debug_info that could not be read: the types
// and variables it defines are lost; every other unit is kept.
type UnitDamage struct {
	Off, End int // [Off, End) in .debug_info
	Err      error
}

func (u UnitDamage) String() string {
	return fmt.Sprintf("DWARF unit at .debug_info offset %#x (%#x bytes) unreadable, its types and variables lost: %v", u.Off, u.End-u.Off, u.Err)
}

// listUnits returns the offset of every unit in .debug_info. A unit whose
// header cannot be read (a damaged unit_length, version or address size)
// is still listed, so that offsets inside it are known to be in it, and
// returned as damaged; the walk resumes at the next plausible unit header
// (resync). err is set only when no unit at all can be read.
func listUnits(raw *rawDWARF) (offs []int, damaged []UnitDamage, err error) {
	info := raw.info
	for off := 0; off < len(info); {
		n, herr := unitLength(raw, off)
		if herr == nil {
			offs = append(offs, off)
			off = n
			continue
		}
		next := resyncUnit(raw, off+1)
		offs = append(offs, off)
		damaged = append(damaged, UnitDamage{Off: off, End: next, Err: herr})
		off = next
	}
	if len(damaged) > 0 && len(damaged) == len(offs) {
		return nil, damaged, damaged[0].Err
	}
	return offs, damaged, nil
}

// unitLength checks the header of the unit at off as far as its length,
// version and address size and returns the offset just past the unit.
func unitLength(raw *rawDWARF, off int) (int, error) {
	info := raw.info
	b := dbuf{data: info, off: off, order: raw.order, what: ".debug_info"}
	n := uint64(b.u32())
	if n == 0xffffffff {
		n = b.u64()
	} else if n >= 0xfffffff0 {
		return 0, fmt.Errorf(".debug_info at offset %#x: reserved unit length %#x", off, n)
	}
	if b.err != nil {
		return 0, b.err
	}
	if n > uint64(len(info)-b.off) {
		return 0, fmt.Errorf(".debug_info at offset %#x: unit length %#x beyond the section", off, n)
	}
	end := b.off + int(n)
	// A damaged unit_length still inside the section is seen where the
	// unit it gives ends: not at the next unit's header.
	if !plausibleUnitHeader(raw, off, true) {
		return 0, fmt.Errorf(".debug_info at offset %#x: unit header (length %#x) has an unknown version, unit type or address size, or the unit does not end where another begins", off, n)
	}
	return end, nil
}

// plausibleUnitHeader reports whether a 32-bit DWARF unit header that
// fits the section starts at q: version 2-5, a known unit type (5),
// address size 4 or 8, an abbreviation offset inside .debug_abbrev; with
// chain, the unit must also end at the section's end or at another such
// header.
func plausibleUnitHeader(raw *rawDWARF, q int, chain bool) bool {
	info, o := raw.info, raw.order
	if q < 0 || q+12 > len(info) {
		return false
	}
	n := uint64(o.Uint32(info[q:]))
	if n == 0xffffffff {
		// 64-bit DWARF: its header is checked by unitHeader; resync
		// does not look for one.
		return !chain
	}
	if n < 8 || n >= 0xfffffff0 || n > uint64(len(info)-q-4) {
		return false
	}
	var abbrev uint64
	var as byte
	switch v := o.Uint16(info[q+4:]); v {
	case 2, 3, 4:
		abbrev, as = uint64(o.Uint32(info[q+6:])), info[q+10]
	case 5:
		if ut := info[q+6]; ut < 1 || ut > 6 {
			return false
		}
		as, abbrev = info[q+7], uint64(o.Uint32(info[q+8:]))
	default:
		return false
	}
	if (as != 4 && as != 8) || abbrev >= uint64(len(raw.abbrev)) {
		return false
	}
	if !chain {
		return true
	}
	return plausibleNext(raw, q+4+int(n))
}

// plausibleNext reports whether a unit ending at end is followed by the
// section's end or by another unit: a plausible header, or one whose
// length alone leads to the section's end or a plausible header (its own
// version or address size may be the damaged bytes, and that is its
// damage, not this unit's).
func plausibleNext(raw *rawDWARF, end int) bool {
	info := raw.info
	if end == len(info) || plausibleUnitHeader(raw, end, false) {
		return true
	}
	if end+4 > len(info) {
		return false
	}
	n := uint64(raw.order.Uint32(info[end:]))
	if n < 8 || n >= 0xfffffff0 || n > uint64(len(info)-end-4) {
		return false
	}
	next := end + 4 + int(n)
	return next == len(info) || plausibleUnitHeader(raw, next, false)
}

// resyncUnit returns the first offset at or after from where a plausible
// unit header (one followed by another, or by the section's end) starts,
// or the section's end.
func resyncUnit(raw *rawDWARF, from int) int {
	for q := from; q+12 <= len(raw.info); q++ {
		if plausibleUnitHeader(raw, q, true) {
			return q
		}
	}
	return len(raw.info)
}

// fastIndexUnit indexes one unit as indexUnit (index.go) does. It returns
// whether the unit is a compile or partial unit, and its address size.
func fastIndexUnit(w *unitWalker, off int, p *partial) (isCU bool, addrSize int, err error) {
	if _, err := w.unitHeader(off); err != nil {
		return false, 0, err
	}
	var cu, e, c die
	w.atCU = true
	null := w.next(&cu)
	w.atCU = false
	if null {
		return false, 0, w.b.err
	}
	if cu.tag != dwarf.TagCompileUnit && cu.tag != dwarf.TagPartialUnit {
		return false, 0, w.b.err
	}
	if !cu.children {
		return true, w.addrSize, w.b.err
	}
	var declNames map[dwarf.Offset]string
	for w.b.err == nil {
		if w.next(&e) {
			break
		}
		switch e.tag {
		case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType:
			if e.tag == dwarf.TagEnumerationType && e.children {
				for w.b.err == nil {
					if w.next(&c) {
						break
					}
					if c.tag == dwarf.TagEnumerator && len(c.name) > 0 && c.hasConst {
						// string(c.name) in an index expression does
						// not allocate; the same enumerators recur in
						// every unit that includes their header.
						if old, had := p.enums[string(c.name)]; !had || e.off < old.Enum {
							p.enums[string(c.name)] = Enumerator{Value: c.constVal, Enum: e.off}
						}
					}
					w.skipChildren(&c)
				}
			}
			if len(e.name) > 0 {
				w.key = append(append(w.key[:0], tagPrefix[e.tag]...), e.name...)
				putBytes(p.types, w.key, candidate{e.off, e.decl})
			}
		case dwarf.TagTypedef:
			if len(e.name) > 0 {
				putBytes(p.types, e.name, candidate{e.off, e.decl})
			}
		case dwarf.TagBaseType:
			if len(e.name) > 0 {
				put(p.types, ctype.CanonicalBaseName(string(e.name)), candidate{e.off, e.decl})
			}
		case dwarf.TagVariable:
			name := e.name
			if len(name) == 0 && e.hasSpec {
				name = []byte(declNames[e.spec])
			}
			if len(name) == 0 {
				break
			}
			if e.decl {
				if declNames == nil {
					declNames = make(map[dwarf.Offset]string)
				}
				declNames[e.off] = string(name)
			}
			putBytes(p.vars, name, candidate{e.off, e.decl || !e.hasLoc})
		}
		if e.tag != dwarf.TagEnumerationType {
			w.skipChildren(&e)
		}
	}
	return true, w.addrSize, w.b.err
}

// putBytes is put (index.go) with a []byte key, allocating the string
// only when the entry is added or replaced: most names recur in thousands
// of units (every unit that includes a header declares its types again),
// and a string per occurrence was 200 MB of garbage on a distro vmlinux.
func putBytes(m map[string]candidate, key []byte, c candidate) {
	if old, ok := m[string(key)]; ok && !c.better(old) {
		return
	}
	m[string(key)] = c
}

// buildIndexRaw is buildIndex over the raw sections, units split among
// GOMAXPROCS workers. Pages of .debug_info already indexed are dropped from
// the resident set as the workers go (dropPages). A unit that cannot be
// read is left out (ix.damaged says which and why), with what the others
// define kept: one flipped byte loses one unit, not the vmlinux.
func buildIndexRaw(raw *rawDWARF) (*typeIndex, error) {
	units, damaged, err := listUnits(raw)
	if err != nil {
		return nil, err
	}
	skip := make(map[int]bool, len(damaged))
	for _, d := range damaged {
		skip[d.Off] = true
	}
	results, parts := indexUnits(raw, units, skip)
	var failed []UnitDamage
	for i, r := range results {
		if r.err != nil {
			end := len(raw.info)
			if i+1 < len(units) {
				end = units[i+1]
			}
			failed = append(failed, UnitDamage{Off: units[i], End: end, Err: r.err})
			skip[units[i]] = true
		}
	}
	if len(failed) > 0 {
		// What a failed unit put in the index before its error may be
		// garbage and may have displaced a good definition: index again
		// without the failed units.
		damaged = append(damaged, failed...)
		sort.Slice(damaged, func(i, j int) bool { return damaged[i].Off < damaged[j].Off })
		results, parts = indexUnits(raw, units, skip)
	}
	if len(units) > 0 && len(skip) == len(units) {
		return nil, fmt.Errorf("no DWARF unit could be read: %v", damaged[0])
	}
	ix := &typeIndex{
		Version:     indexVersion,
		UnitStarts:  units,
		Types:       make(map[string]dwarf.Offset),
		Vars:        make(map[string]dwarf.Offset),
		Enumerators: make(map[string]Enumerator),
		damaged:     damaged,
	}
	for _, r := range results {
		if r.isCU {
			if ix.PtrSize == 0 {
				ix.PtrSize = r.addrSize
			}
			ix.Units++
		}
	}
	if err := mergeParts(ix, parts); err != nil {
		return nil, err
	}
	return ix, nil
}

// unitResult is what indexing one unit gave.
type unitResult struct {
	isCU     bool
	addrSize int
	err      error
}

// indexUnits indexes every unit not in skip, in parallel.
func indexUnits(raw *rawDWARF, units []int, skip map[int]bool) ([]unitResult, []partial) {
	results := make([]unitResult, len(units))
	workers := min(runtime.GOMAXPROCS(0), max(len(units), 1))
	parts := make([]partial, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[wk]
			p.types = make(map[string]candidate)
			p.vars = make(map[string]candidate)
			p.enums = make(map[string]Enumerator)
			w := &unitWalker{raw: raw}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(units) {
					return
				}
				if skip[units[i]] {
					continue
				}
				isCU, as, err := fastIndexUnit(w, units[i], p)
				if err != nil {
					results[i].err = fmt.Errorf("indexing DWARF unit at %#x: %w", units[i], err)
					w = &unitWalker{raw: raw} // no state of the bad unit carried on
					continue
				}
				results[i] = unitResult{isCU: isCU, addrSize: as}
				end := len(raw.info)
				if i+1 < len(units) {
					end = units[i+1]
				}
				dropPages(raw.mapping, raw.info[units[i]:end])
			}
		}()
	}
	wg.Wait()
	return results, parts
}
