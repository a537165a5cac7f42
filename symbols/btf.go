package symbols

// BTF, the BPF Type Format (include/uapi/linux/btf.h; semantics from
// kernel/bpf/btf.c, which verifies it, and tools/lib/bpf/btf.c, which
// reads either byte order): this file reads a blob — the header, the
// type records, the string section — and answers for type IDs and names;
// btfconv.go turns its types into debug/dwarf ones so that Types can be
// backed by BTF instead of DWARF.
//
// A blob is either base BTF (a vmlinux's .BTF, or the data between the
// kernel's __start_BTF and __stop_BTF) or split BTF on top of a base (a
// module's .BTF, or the struct btf of a loaded module): split type IDs
// continue from the base's count (VOID, ID 0, counted), split string
// offsets continue from the base's string-section length.
//
// Everything read is bounded by the blob: the header's sections must lie
// inside it, every type record inside the type section, every name inside
// the string section. Parsing walks the records once (their sizes follow
// from kind and vlen); kinds this reader does not know are skipped through
// the header's layout section when the blob has one (7.2's struct
// btf_layout), else refused.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// BTF magic and version (include/uapi/linux/btf.h).
const (
	BTF_MAGIC   = 0xeB9F
	BTF_VERSION = 1
)

// BTF kinds (include/uapi/linux/btf.h, enum BTF_KIND_*).
const (
	BTF_KIND_UNKN       = 0
	BTF_KIND_INT        = 1
	BTF_KIND_PTR        = 2
	BTF_KIND_ARRAY      = 3
	BTF_KIND_STRUCT     = 4
	BTF_KIND_UNION      = 5
	BTF_KIND_ENUM       = 6
	BTF_KIND_FWD        = 7
	BTF_KIND_TYPEDEF    = 8
	BTF_KIND_VOLATILE   = 9
	BTF_KIND_CONST      = 10
	BTF_KIND_RESTRICT   = 11
	BTF_KIND_FUNC       = 12
	BTF_KIND_FUNC_PROTO = 13
	BTF_KIND_VAR        = 14
	BTF_KIND_DATASEC    = 15
	BTF_KIND_FLOAT      = 16
	BTF_KIND_DECL_TAG   = 17
	BTF_KIND_TYPE_TAG   = 18
	BTF_KIND_ENUM64     = 19
)

// BTF_INT_* encoding bits of a BTF_KIND_INT.
const (
	BTF_INT_SIGNED = 1 << 0
	BTF_INT_CHAR   = 1 << 1
	BTF_INT_BOOL   = 1 << 2
)

// BTF limits (enum btf_max).
const (
	BTF_MAX_TYPE = 0x000fffff
	BTF_MAX_VLEN = 0x00ffffff
)

const (
	btfTypeRecord = 12 // sizeof(struct btf_type)
	// btfHeaderMin is the header up to str_len (the layout fields came
	// later; a shorter header has no layout section).
	btfHeaderMin = 24
	btfHeaderMax = 32 // with layout_off, layout_len
	// maxBTFBlob bounds a blob we accept (a distro vmlinux's is ~5 MB).
	maxBTFBlob = 1 << 30
)

var btfKindNames = [...]string{
	"UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
	"VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC",
	"FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64",
}

// BTFKindName names a kind as the header does ("STRUCT").
func BTFKindName(k uint8) string {
	if int(k) < len(btfKindNames) {
		return btfKindNames[k]
	}
	return fmt.Sprintf("kind %d", k)
}

// BTFError reports malformed BTF: a header field, a type record or a
// reference that does not fit the blob.
type BTFError struct {
	// Off is the byte offset in the blob of the datum at fault (-1 when
	// the fault is not at one place, e.g. a cycle).
	Off int64
	// ID is the type ID being read (0 when none).
	ID  uint32
	Msg string
}

func (e *BTFError) Error() string {
	var b strings.Builder
	b.WriteString("BTF")
	if e.Off >= 0 {
		fmt.Fprintf(&b, " at offset %#x", e.Off)
	}
	if e.ID != 0 {
		fmt.Fprintf(&b, " (type %d)", e.ID)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// BTFHeader is struct btf_header, in host order.
type BTFHeader struct {
	Magic     uint16
	Version   uint8
	Flags     uint8
	HdrLen    uint32
	TypeOff   uint32
	TypeLen   uint32
	StrOff    uint32
	StrLen    uint32
	LayoutOff uint32 // 0 when the header is shorter than 32 bytes
	LayoutLen uint32
}

// BTF is one parsed BTF blob, base or split. It keeps data (and hands
// out names that point into it): the caller must not modify data
// afterwards. Its methods are safe for concurrent use.
type BTF struct {
	Header BTFHeader
	// Order is the blob's byte order, from its magic.
	Order binary.ByteOrder

	base    *BTF
	data    []byte
	types   []byte // the type section
	strs    []byte // the string section
	layout  []byte // the layout section (4 bytes per kind), or nil
	typeOff int64  // offset of types in data, for errors
	// startID is the ID of the first record of types (1 for base BTF:
	// ID 0 is VOID, which has no record); startStr the string offset of
	// strs[0] (0 for base BTF).
	startID  uint32
	startStr uint32
	offs     []uint32 // offs[i]: offset in types of type startID+i

	root *BTF // the base-most BTF: its mu guards the conversion state of the chain

	// Name index (btfindex below), built once.
	ixOnce sync.Once
	ix     btfIndex
	enOnce sync.Once
	enums  enumTable

	// Conversion state (btfconv.go) of this blob's IDs, guarded by
	// root.mu.
	mu      sync.Mutex
	full    map[uint32]ctype.Type
	shallow map[uint32]ctype.Type
	shells  map[*ctype.StructType]uint32 // shells handed out -> type ID
	void    *ctype.VoidType
}

// ParseBTF parses a BTF blob. base is nil for base BTF (a vmlinux's) and
// the base for split BTF (a module's, over its vmlinux's).
func ParseBTF(data []byte, base *BTF) (*BTF, error) {
	if len(data) > maxBTFBlob {
		return nil, &BTFError{Off: 0, Msg: fmt.Sprintf("blob of %d bytes is larger than the %d-byte limit", len(data), maxBTFBlob)}
	}
	if len(data) < btfHeaderMin {
		return nil, &BTFError{Off: 0, Msg: fmt.Sprintf("%d bytes: shorter than a BTF header (%d)", len(data), btfHeaderMin)}
	}
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint16(data) == BTF_MAGIC:
		order = binary.LittleEndian
	case binary.BigEndian.Uint16(data) == BTF_MAGIC:
		order = binary.BigEndian
	default:
		return nil, &BTFError{Off: 0, Msg: fmt.Sprintf("bad magic %#04x (want %#04x in either byte order)", binary.LittleEndian.Uint16(data), BTF_MAGIC)}
	}
	if base != nil && base.Order != order {
		return nil, &BTFError{Off: 0, Msg: fmt.Sprintf("split BTF is %v but its base is %v", order, base.Order)}
	}
	h := BTFHeader{
		Magic: BTF_MAGIC, Version: data[2], Flags: data[3],
		HdrLen:  order.Uint32(data[4:]),
		TypeOff: order.Uint32(data[8:]), TypeLen: order.Uint32(data[12:]),
		StrOff: order.Uint32(data[16:]), StrLen: order.Uint32(data[20:]),
	}
	if h.Version != BTF_VERSION {
		return nil, &BTFError{Off: 2, Msg: fmt.Sprintf("version %d (want %d)", h.Version, BTF_VERSION)}
	}
	if h.HdrLen < btfHeaderMin || uint64(h.HdrLen) > uint64(len(data)) {
		return nil, &BTFError{Off: 4, Msg: fmt.Sprintf("hdr_len %d outside [%d, %d]", h.HdrLen, btfHeaderMin, len(data))}
	}
	if h.HdrLen >= btfHeaderMax {
		h.LayoutOff, h.LayoutLen = order.Uint32(data[24:]), order.Uint32(data[28:])
	}
	b := &BTF{Header: h, Order: order, base: base, data: data}
	body := data[h.HdrLen:]
	sec := func(off, n uint32, field int64, what string) ([]byte, error) {
		if uint64(off)+uint64(n) > uint64(len(body)) {
			return nil, &BTFError{Off: field, Msg: fmt.Sprintf("%s section [%#x, +%#x) outside the %d bytes after the header", what, off, n, len(body))}
		}
		return body[off : off+n : off+n], nil
	}
	var err error
	if b.types, err = sec(h.TypeOff, h.TypeLen, 8, "type"); err != nil {
		return nil, err
	}
	if b.strs, err = sec(h.StrOff, h.StrLen, 16, "string"); err != nil {
		return nil, err
	}
	if h.LayoutLen > 0 {
		if b.layout, err = sec(h.LayoutOff, h.LayoutLen, 24, "layout"); err != nil {
			return nil, err
		}
	}
	b.typeOff = int64(h.HdrLen) + int64(h.TypeOff)
	if len(b.strs) > 0 && b.strs[len(b.strs)-1] != 0 {
		return nil, &BTFError{Off: int64(h.HdrLen) + int64(h.StrOff) + int64(len(b.strs)) - 1, Msg: "string section does not end with a NUL"}
	}
	if base == nil {
		b.startID, b.startStr, b.root = 1, 0, b
		if len(b.strs) > 0 && b.strs[0] != 0 {
			return nil, &BTFError{Off: int64(h.HdrLen) + int64(h.StrOff), Msg: "string section of base BTF does not start with the empty string"}
		}
	} else {
		b.startID = base.NumTypes()
		b.startStr = base.startStr + uint32(len(base.strs))
		b.root = base.root
		if uint64(base.startStr)+uint64(len(base.strs)) > 1<<32-1 {
			return nil, &BTFError{Off: 16, Msg: "string offsets of base and split BTF overflow 32 bits"}
		}
	}
	if err := b.walkTypes(); err != nil {
		return nil, err
	}
	return b, nil
}

// walkTypes records the offset of every type record, checking that each
// lies inside the type section.
func (b *BTF) walkTypes() error {
	ts := b.types
	b.offs = make([]uint32, 0, len(ts)/32)
	for off := 0; off < len(ts); {
		id := b.startID + uint32(len(b.offs))
		if uint64(id) > BTF_MAX_TYPE {
			return &BTFError{Off: b.typeOff + int64(off), ID: id, Msg: fmt.Sprintf("more than %d types", BTF_MAX_TYPE)}
		}
		if len(ts)-off < btfTypeRecord {
			return &BTFError{Off: b.typeOff + int64(off), ID: id, Msg: fmt.Sprintf("type record cut short: %d bytes left in the type section", len(ts)-off)}
		}
		info := b.Order.Uint32(ts[off+4:])
		kind, vlen := btfKind(info), btfVlen(info)
		n, err := b.extraSize(kind, vlen)
		if err != nil {
			return &BTFError{Off: b.typeOff + int64(off), ID: id, Msg: err.Error()}
		}
		if n > uint64(len(ts)-off-btfTypeRecord) {
			return &BTFError{Off: b.typeOff + int64(off), ID: id, Msg: fmt.Sprintf("%s with vlen %d needs %d bytes after its record; the type section has %d", BTFKindName(kind), vlen, n, len(ts)-off-btfTypeRecord)}
		}
		b.offs = append(b.offs, uint32(off))
		off += btfTypeRecord + int(n)
	}
	return nil
}

func btfKind(info uint32) uint8    { return uint8(info >> 24 & 0x7f) }
func btfVlen(info uint32) uint32   { return info & 0xffffff }
func btfKindFlag(info uint32) bool { return info>>31 != 0 }

// extraSize is the number of bytes that follow a type's struct btf_type.
func (b *BTF) extraSize(kind uint8, vlen uint32) (uint64, error) {
	v := uint64(vlen)
	switch kind {
	case BTF_KIND_INT, BTF_KIND_VAR, BTF_KIND_DECL_TAG:
		return 4, nil
	case BTF_KIND_PTR, BTF_KIND_FWD, BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST,
		BTF_KIND_RESTRICT, BTF_KIND_FUNC, BTF_KIND_FLOAT, BTF_KIND_TYPE_TAG:
		return 0, nil
	case BTF_KIND_ARRAY:
		return 12, nil
	case BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_DATASEC, BTF_KIND_ENUM64:
		return 12 * v, nil
	case BTF_KIND_ENUM, BTF_KIND_FUNC_PROTO:
		return 8 * v, nil
	}
	// A kind newer than this reader: the layout section, when there is
	// one, says how long its records are.
	if i := 4 * int(kind); b.layout != nil && i+4 <= len(b.layout) {
		info, elem := b.layout[i], b.layout[i+1]
		return uint64(info) + v*uint64(elem), nil
	}
	return 0, fmt.Errorf("unknown kind %d and no layout section that describes it", kind)
}

// NumTypes is the number of type IDs the blob and its bases define,
// VOID included: the first ID of BTF split on top of this one.
func (b *BTF) NumTypes() uint32 { return b.startID + uint32(len(b.offs)) }

// StartID is the ID of the blob's first type (1 for base BTF).
func (b *BTF) StartID() uint32 { return b.startID }

// Base is the BTF this one is split on top of (nil for base BTF).
func (b *BTF) Base() *BTF { return b.base }

// Size is the length of the blob.
func (b *BTF) Size() int { return len(b.data) }

// btfType is one type record, decoded header first.
type btfType struct {
	ID       uint32
	NameOff  uint32
	Info     uint32
	SizeType uint32 // size or type, by kind
	owner    *BTF
	off      int // offset of the record in owner.types
}

func (t btfType) Kind() uint8    { return btfKind(t.Info) }
func (t btfType) Vlen() int      { return int(btfVlen(t.Info)) }
func (t btfType) KindFlag() bool { return btfKindFlag(t.Info) }

// u32 reads the i-th 32-bit word after the record's header (bounds were
// checked when the blob was parsed: i < extraSize/4).
func (t btfType) u32(i int) uint32 {
	return t.owner.Order.Uint32(t.owner.types[t.off+btfTypeRecord+4*i:])
}

// blobOff is the record's offset in its blob.
func (t btfType) blobOff() int64 { return t.owner.typeOff + int64(t.off) }

// owner returns the blob that defines id, or nil.
func (b *BTF) ownerOf(id uint32) *BTF {
	for b != nil && id < b.startID {
		b = b.base
	}
	return b
}

// typ returns the record of id (not VOID, which has none).
func (b *BTF) typ(id uint32) (btfType, error) {
	o := b.ownerOf(id)
	if o == nil || id == 0 || uint64(id-o.startID) >= uint64(len(o.offs)) {
		return btfType{}, &BTFError{Off: -1, ID: id, Msg: fmt.Sprintf("type ID %d outside [1, %d)", id, b.NumTypes())}
	}
	off := int(o.offs[id-o.startID])
	ts := o.types
	return btfType{
		ID: id, NameOff: o.Order.Uint32(ts[off:]), Info: o.Order.Uint32(ts[off+4:]),
		SizeType: o.Order.Uint32(ts[off+8:]), owner: o, off: off,
	}, nil
}

// Name returns the string at a name offset (of b or of its bases).
func (b *BTF) Name(off uint32) (string, error) {
	o := b
	for o != nil && off < o.startStr {
		o = o.base
	}
	if o == nil || uint64(off-o.startStr) >= uint64(len(o.strs)) {
		return "", &BTFError{Off: -1, Msg: fmt.Sprintf("name offset %#x outside the string sections (%d bytes)", off, uint64(b.startStr)+uint64(len(b.strs)))}
	}
	s := o.strs[off-o.startStr:]
	i := bytes.IndexByte(s, 0) // the section ends in a NUL (ParseBTF)
	if i == 0 {
		return "", nil
	}
	// The blob is immutable once parsed (ParseBTF's contract): names
	// point into it instead of being copied, one allocation fewer per
	// name of the index and of every converted type.
	return unsafe.String(&s[0], i), nil
}

// btfEnumerator is one enumeration constant.
type btfEnumerator struct {
	Value int64
	Enum  uint32 // the ENUM or ENUM64 type
}

// btfIndex maps names to type IDs, namespace by namespace (C's tags
// apart from ordinary identifiers), each name to the definition with the
// lowest ID (a declaration — FWD, or an enum with no values — only when
// there is no definition), as the DWARF index prefers definitions.
type btfIndex struct {
	structs, unions, enums map[string]uint32
	// others are typedefs, integer and floating-point types, keyed as
	// the DWARF index keys them (CanonicalBaseName for integers).
	others map[string]uint32
	decl   map[uint32]bool // IDs indexed as declarations
	vars   map[string]uint32
	// ptrSize is the size of "long" (BTF has no pointer size of its
	// own; libbpf guesses it the same way), 0 when there is no long.
	ptrSize int64
	err     error
}

// index returns b's own name index (not its bases').
func (b *BTF) index() *btfIndex {
	b.ixOnce.Do(b.buildIndex)
	return &b.ix
}

func (b *BTF) buildIndex() {
	n := len(b.offs)
	ix := btfIndex{
		structs: make(map[string]uint32, n/12), unions: make(map[string]uint32, n/64),
		enums: make(map[string]uint32, n/48), others: make(map[string]uint32, n/48),
		decl: make(map[uint32]bool), vars: make(map[string]uint32),
	}
	put := func(m map[string]uint32, name string, id uint32, decl bool) {
		if name == "" {
			return
		}
		old, ok := m[name]
		if ok && (decl || !ix.decl[old]) {
			return // the first definition (lowest ID) stays
		}
		m[name] = id
		if decl {
			ix.decl[id] = true
		}
	}
	for i, off := range b.offs {
		id := b.startID + uint32(i)
		info := b.Order.Uint32(b.types[off+4:])
		switch btfKind(info) {
		case BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_FWD, BTF_KIND_ENUM, BTF_KIND_ENUM64,
			BTF_KIND_TYPEDEF, BTF_KIND_FLOAT, BTF_KIND_INT, BTF_KIND_VAR:
		default:
			continue // functions, prototypes, pointers, ... have no name to index
		}
		t, _ := b.typ(id)
		name, err := b.Name(t.NameOff)
		if err != nil {
			ix.err = &BTFError{Off: t.blobOff(), ID: id, Msg: err.(*BTFError).Msg}
			break
		}
		switch t.Kind() {
		case BTF_KIND_STRUCT:
			put(ix.structs, name, id, false)
		case BTF_KIND_UNION:
			put(ix.unions, name, id, false)
		case BTF_KIND_FWD:
			if t.KindFlag() {
				put(ix.unions, name, id, true)
			} else {
				put(ix.structs, name, id, true)
			}
		case BTF_KIND_ENUM, BTF_KIND_ENUM64:
			put(ix.enums, name, id, t.Vlen() == 0)
		case BTF_KIND_TYPEDEF, BTF_KIND_FLOAT:
			put(ix.others, name, id, false)
		case BTF_KIND_INT:
			put(ix.others, ctype.CanonicalBaseName(name), id, false)
			if ix.ptrSize == 0 && (name == "long int" || name == "long unsigned int" || name == "long" || name == "unsigned long") {
				ix.ptrSize = int64(t.SizeType)
			}
		case BTF_KIND_VAR:
			put(ix.vars, name, id, false)
		}
	}
	b.ix = ix
}

// lookupID finds a key of the DWARF index's form ("struct module",
// "union x", "enum y", "u64", "unsigned long") in b, then in its bases.
func (b *BTF) lookupID(key string) (uint32, bool, error) {
	for o := b; o != nil; o = o.base {
		ix := o.index()
		if ix.err != nil {
			return 0, false, ix.err
		}
		var m map[string]uint32
		name := key
		switch {
		case strings.HasPrefix(key, "struct "):
			m, name = ix.structs, key[len("struct "):]
		case strings.HasPrefix(key, "union "):
			m, name = ix.unions, key[len("union "):]
		case strings.HasPrefix(key, "enum "):
			m, name = ix.enums, key[len("enum "):]
		default:
			m = ix.others
		}
		if id, ok := m[name]; ok {
			// A declaration here may have its definition in a base.
			if ix.decl[id] && o.base != nil {
				if bid, ok, err := o.base.lookupID(key); err == nil && ok && !o.base.isDecl(bid) {
					return bid, true, nil
				}
			}
			return id, true, nil
		}
	}
	return 0, false, nil
}

// isDecl reports whether id was indexed as a declaration.
func (b *BTF) isDecl(id uint32) bool {
	o := b.ownerOf(id)
	return o != nil && o.index().decl[id]
}

// varID finds a VAR by name in b, then in its bases.
func (b *BTF) varID(name string) (uint32, bool, error) {
	for o := b; o != nil; o = o.base {
		ix := o.index()
		if ix.err != nil {
			return 0, false, ix.err
		}
		if id, ok := ix.vars[name]; ok {
			return id, true, nil
		}
	}
	return 0, false, nil
}

// enumerator finds an enumeration constant in b, then in its bases.
func (b *BTF) enumerator(name string) (btfEnumerator, bool) {
	for o := b; o != nil; o = o.base {
		o.enOnce.Do(o.buildEnumerators)
		if e, ok := o.enums.find(o, name); ok {
			return e, true
		}
	}
	return btfEnumerator{}, false
}

// enumTable indexes the constants of every ENUM and ENUM64 of one blob
// by name: open addressing over (type ID, constant index) pairs, the
// names read in place from the blob. A distro vmlinux has tens of
// thousands of constants and a start-up asks for a handful (the
// FTRACE_FL_* bits): a map of strings cost 2.5 MB and 13 ms to build.
type enumTable struct {
	slots []uint64 // ID<<32 | constant index+1; 0 empty
	n     int      // constants indexed
	seed  maphash.Seed
}

// constant returns constant j of enum type id: its name and value.
func (b *BTF) enumConstant(id uint32, j int) (string, int64, bool) {
	t, err := b.typ(id)
	if err != nil || j >= t.Vlen() {
		return "", 0, false
	}
	var name string
	var v int64
	if t.Kind() == BTF_KIND_ENUM {
		name, err = b.Name(t.u32(2 * j))
		v = enumValue32(t.u32(2*j+1), t.KindFlag())
	} else {
		name, err = b.Name(t.u32(3 * j))
		v = enumValue64(t.u32(3*j+1), t.u32(3*j+2))
	}
	return name, v, err == nil
}

func (e *enumTable) find(b *BTF, name string) (btfEnumerator, bool) {
	if len(e.slots) == 0 {
		return btfEnumerator{}, false
	}
	mask := uint64(len(e.slots) - 1)
	for h := maphash.String(e.seed, name) & mask; e.slots[h] != 0; h = (h + 1) & mask {
		id, j := uint32(e.slots[h]>>32), int(uint32(e.slots[h]))-1
		if n, v, ok := b.enumConstant(id, j); ok && n == name {
			return btfEnumerator{Value: v, Enum: id}, true
		}
	}
	return btfEnumerator{}, false
}

// buildEnumerators indexes the constants of every ENUM and ENUM64, the
// first enum (lowest ID) winning a name; constants whose names cannot be
// read are left out.
func (b *BTF) buildEnumerators() {
	total := 0
	for i := range b.offs {
		t, _ := b.typ(b.startID + uint32(i))
		if k := t.Kind(); k == BTF_KIND_ENUM || k == BTF_KIND_ENUM64 {
			total += t.Vlen()
		}
	}
	size := 16
	for size < 2*total {
		size *= 2
	}
	e := &b.enums
	e.slots, e.seed = make([]uint64, size), maphash.MakeSeed()
	mask := uint64(size - 1)
	for i := range b.offs {
		id := b.startID + uint32(i)
		t, _ := b.typ(id)
		if k := t.Kind(); k != BTF_KIND_ENUM && k != BTF_KIND_ENUM64 {
			continue
		}
		for j := range t.Vlen() {
			name, _, ok := b.enumConstant(id, j)
			if !ok || name == "" {
				continue
			}
			h := maphash.String(e.seed, name) & mask
			for ; e.slots[h] != 0; h = (h + 1) & mask {
				if n, _, _ := b.enumConstant(uint32(e.slots[h]>>32), int(uint32(e.slots[h]))-1); n == name {
					break // an earlier enum has it
				}
			}
			if e.slots[h] == 0 {
				e.slots[h] = uint64(id)<<32 | uint64(j+1)
				e.n++
			}
		}
	}
}

// enumValue32 is a BTF_KIND_ENUM value: kind_flag set means the enum is
// signed (kernel/bpf/btf.c btf_enum_show), else the 32 bits are unsigned.
func enumValue32(v uint32, signed bool) int64 {
	if signed {
		return int64(int32(v))
	}
	return int64(v)
}

// enumValue64 is a BTF_KIND_ENUM64 value as 64 bits; an unsigned value
// above MaxInt64 reads as negative, as debug/dwarf reads DW_FORM_data8.
func enumValue64(lo, hi uint32) int64 { return int64(uint64(hi)<<32 | uint64(lo)) }

// btfKeys returns every name of the index of b and its bases, as the
// DWARF index spells them ("struct module", "u64"), sorted.
func (b *BTF) btfKeys() []string {
	seen := make(map[string]bool)
	var keys []string
	add := func(prefix string, m map[string]uint32) {
		for k := range m {
			k = prefix + k
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	for o := b; o != nil; o = o.base {
		ix := o.index()
		add("struct ", ix.structs)
		add("union ", ix.unions)
		add("enum ", ix.enums)
		add("", ix.others)
	}
	sort.Strings(keys)
	return keys
}

// btfOwnKeys are the names b itself defines (not its bases), as btfKeys
// spells them, sorted.
func (b *BTF) btfOwnKeys() []string {
	var keys []string
	ix := b.index()
	for _, p := range []struct {
		prefix string
		m      map[string]uint32
	}{{"struct ", ix.structs}, {"union ", ix.unions}, {"enum ", ix.enums}, {"", ix.others}} {
		for k, id := range p.m {
			if !ix.decl[id] {
				keys = append(keys, p.prefix+k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// BTFStats counts a blob's types (bases not included) by kind.
type BTFStats struct {
	Types       int
	ByKind      map[string]int
	Strings     int // bytes of the string section
	Vars        int
	Enumerators int
}

// Stats counts b's own types by kind.
func (b *BTF) Stats() BTFStats {
	s := BTFStats{Types: len(b.offs), ByKind: map[string]int{}, Strings: len(b.strs)}
	for i := range b.offs {
		t, _ := b.typ(b.startID + uint32(i))
		s.ByKind[BTFKindName(t.Kind())]++
	}
	s.Vars = len(b.index().vars)
	b.enOnce.Do(b.buildEnumerators)
	s.Enumerators = b.enums.n
	return s
}
