// Types: the one front of the kernel's C types, whichever source they
// come from (a DWARFSource, or BTF), and the member-path arithmetic over
// them (Offsetof, FindField, Fields; bitfields normalised to one bit
// offset for either byte order and either DWARF bitfield form).

package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// ErrNotFound is wrapped by every LookupError of a name that is not there.
var ErrNotFound = errors.New("not found")

// ErrNotInBTF is what VariableType of BTF-backed Types wraps for a
// variable the BTF does not describe: BTF has VAR records for per-CPU
// variables only (pahole's default), so the caller should fall back to
// DWARF, or to the symbol's address and a type it knows by name. It
// wraps ErrNotFound.
var ErrNotInBTF = fmt.Errorf("%w in BTF (BTF describes per-CPU variables only)", ErrNotFound)

// LookupError reports a type, variable or enumeration constant that the
// name index does not hold, or one whose DIE or BTF record cannot be
// decoded.
type LookupError struct {
	Kind string // "type", "variable", "enumerator"
	Name string
	Err  error // ErrNotFound, ErrNotInBTF, or the decoding error
	// Source is where the types come from, "DWARF" or "BTF" ("" reads
	// as DWARF).
	Source string
}

func (e *LookupError) Error() string {
	if errors.Is(e.Err, ErrNotInBTF) {
		return fmt.Sprintf("%s %q: %v", e.Kind, e.Name, e.Err)
	}
	if errors.Is(e.Err, ErrNotFound) {
		src := e.Source
		if src == "" {
			src = "DWARF"
		}
		return fmt.Sprintf("%s %q not found in %s", e.Kind, e.Name, src)
	}
	return fmt.Sprintf("%s %q: %v", e.Kind, e.Name, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }

// MemberError reports a member path that does not fit a type: no such
// member, a bitfield where a byte offset is needed, an index on a
// non-array.
type MemberError struct {
	Type   string // the type searched, e.g. "struct mod_arch_specific"
	Member string // the path element that failed
	Msg    string // "no such member", ...
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("%s: member %q: %s", e.Type, e.Member, e.Msg)
}

// Types is the type information of one vmlinux (or module): a name
// index of top-level types, variables and enumeration constants, and lazy
// type decoding into the project's type model (package ctype), from DWARF
// (a DWARFSource: symbols/dwarftypes, connected by symbols/dwarfread) or
// from BTF (LoadBTFTypes, LoadSplitBTFTypes; btfconv.go). Its methods are
// safe for concurrent use.
type Types struct {
	BuildID []byte
	// PtrSize is the address size of the first compilation unit.
	PtrSize int64
	// FromCache says whether the DWARF index was loaded from a cache.
	FromCache bool
	// CacheWarning says why an existing cache file was not used or why the
	// index could not be saved ("" when neither happened).
	CacheWarning string

	// dw, when not nil, is where the types come from (DWARF).
	dw DWARFSource
	// btf, when not nil, is where the types come from (btftypes.go).
	btf *BTF
	// fb is what BTF-backed Types fall back to (btfdwarf.go), nil when
	// nothing.
	fb *btfFallback

	// mu guards byName.
	mu     sync.Mutex
	byName map[string]ctype.Type
}

// DWARFSource is DWARF type information as Types uses it; package
// symbols/dwarftypes implements it (a name index over debug/dwarf, types
// converted to ctype). Implementations are safe for concurrent use.
type DWARFSource interface {
	// Named returns the type indexed under key ("struct module", "u64"):
	// found false when the index has no such name.
	Named(key string) (ty ctype.Type, found bool, err error)
	// VariableType returns a top-level variable's type.
	VariableType(name string) (ty ctype.Type, found bool, err error)
	// EnumConstant returns an enumeration constant's value.
	EnumConstant(name string) (int64, bool)
	// Stats counts the indexed types, variables, enumerators and units.
	Stats() (types, vars, enumerators, units int)
	// TypeKeys lists the indexed type names.
	TypeKeys() []string
	// Warnings: one line per damaged unit the index left out.
	Warnings() []string
	// Info says what the index was loaded with.
	Info() (buildID []byte, ptrSize int64, fromCache bool, cacheWarning string)
}

// NewDWARFTypes puts Types in front of a DWARF source.
func NewDWARFTypes(src DWARFSource) *Types {
	t := &Types{dw: src, byName: make(map[string]ctype.Type)}
	t.BuildID, t.PtrSize, t.FromCache, t.CacheWarning = src.Info()
	if t.PtrSize == 0 {
		t.PtrSize = 8
	}
	return t
}

// DWARFSource returns the DWARF source of DWARF-backed Types (nil for
// BTF-backed ones: see DWARF for what stands behind those).
func (t *Types) DWARFSource() DWARFSource { return t.dw }

// DWARFLoader reads the DWARF types of an ELF file, the index cached
// under cacheDir keyed by key; symbols/dwarfread registers the tool's.
type DWARFLoader func(f *ELFFile, key []byte, cacheDir string) (DWARFSource, error)

var dwarfLoader atomic.Pointer[DWARFLoader]

// RegisterDWARFLoader makes l the loader LoadELFTypes uses.
func RegisterDWARFLoader(l DWARFLoader) { dwarfLoader.Store(&l) }

// ErrNoDWARFReader is what LoadELFTypes returns in a program that links
// no DWARF type reader (no import of symbols/dwarfread).
var ErrNoDWARFReader = errors.New("no DWARF type reader in this program (symbols/dwarfread not linked in)")

// LoadELFTypes reads f's DWARF types through the registered loader, the
// name index cached under cacheDir keyed by key (nil: f.BuildID).
func LoadELFTypes(f *ELFFile, key []byte, cacheDir string) (*Types, error) {
	l := dwarfLoader.Load()
	if l == nil {
		return nil, ErrNoDWARFReader
	}
	if key == nil {
		key = f.BuildID
	}
	src, err := (*l)(f, key, cacheDir)
	if err != nil {
		return nil, err
	}
	return NewDWARFTypes(src), nil
}

// Warnings says what the DWARF lost: one line per damaged unit (at most
// 8, then a count); nothing for BTF.
func (t *Types) Warnings() []string {
	if t.dw == nil {
		return nil
	}
	return t.dw.Warnings()
}

// Stats returns the number of indexed type names, variables, enumeration
// constants and units (0 for BTF).
func (t *Types) Stats() (types, vars, enumerators, units int) {
	if t.btf != nil {
		return t.btfStats()
	}
	return t.dw.Stats()
}

// named returns the type indexed under key ("struct module", "u64").
func (t *Types) named(key string) (ctype.Type, bool, error) {
	if t.btf != nil {
		return t.btfNamed(key)
	}
	t.mu.Lock()
	ty, ok := t.byName[key]
	t.mu.Unlock()
	if ok {
		return ty, true, nil
	}
	ty, found, err := t.dw.Named(key)
	if !found || err != nil {
		return nil, found, err
	}
	t.mu.Lock()
	t.byName[key] = ty
	t.mu.Unlock()
	return ty, true, nil
}

// Lookup returns a type by its C name: "struct module", "union x",
// "enum mod_mem_type", a typedef or base type name ("u64", "unsigned
// long"), or a bare tag name ("module"; tried as struct, union, enum, then
// typedef or base type). A trailing "*" makes pointers and trailing "[N]"
// arrays ("struct module *", "char [16]"); leading "const"/"volatile" are
// ignored.
func (t *Types) Lookup(name string) (ctype.Type, error) {
	s := strings.TrimSpace(name)
	var dims []int64
	for strings.HasSuffix(s, "]") {
		i := strings.LastIndexByte(s, '[')
		if i < 0 {
			return nil, &LookupError{Kind: "type", Name: name, Err: errors.New("unbalanced [")}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s[i+1:len(s)-1]), 0, 64)
		if err != nil || n < 0 {
			return nil, &LookupError{Kind: "type", Name: name, Err: fmt.Errorf("bad array length %q", s[i+1:len(s)-1])}
		}
		dims = append(dims, n)
		s = strings.TrimSpace(s[:i])
	}
	ptrs := 0
	for strings.HasSuffix(s, "*") {
		ptrs++
		s = strings.TrimSpace(s[:len(s)-1])
	}
	for _, q := range []string{"const ", "volatile "} {
		s = strings.TrimPrefix(s, q)
	}
	s = ctype.CanonicalBaseName(strings.Join(strings.Fields(s), " "))
	keys := []string{s}
	if !strings.HasPrefix(s, "struct ") && !strings.HasPrefix(s, "union ") && !strings.HasPrefix(s, "enum ") {
		keys = []string{"struct " + s, "union " + s, "enum " + s, s}
	}
	var ty ctype.Type
	for _, k := range keys {
		got, ok, err := t.named(k)
		if err != nil {
			return nil, &LookupError{Kind: "type", Name: name, Err: err, Source: t.Source()}
		}
		if ok {
			ty = got
			break
		}
	}
	if ty == nil {
		return nil, &LookupError{Kind: "type", Name: name, Err: ErrNotFound, Source: t.Source()}
	}
	for range ptrs {
		ty = &ctype.PtrType{CommonType: ctype.CommonType{ByteSize: t.PtrSize}, Type: ty}
	}
	// "T [2][3]": the last dimension binds tightest.
	for _, n := range dims {
		ty = &ctype.ArrayType{CommonType: ctype.CommonType{ByteSize: n * ty.Size()}, Type: ty, Count: n}
	}
	return ty, nil
}

// VariableType returns the type of a top-level variable (a definition when
// the DWARF has one, which completes arrays declared as "extern T x[]").
//
// Over BTF only per-CPU variables have a type (VAR records); any other
// name is answered by the declarations and the DWARF the Types were given
// (SetVariableDecls, SetDWARF; btfdwarf.go), else is a *LookupError
// wrapping ErrNotInBTF.
func (t *Types) VariableType(name string) (ctype.Type, error) {
	if t.btf != nil {
		ty, err := t.btfVariableType(name)
		if err != nil && errors.Is(err, ErrNotInBTF) {
			return t.btfVariableFallback(name, err)
		}
		return ty, err
	}
	ty, found, err := t.dw.VariableType(name)
	switch {
	case !found:
		return nil, &LookupError{Kind: "variable", Name: name, Err: ErrNotFound}
	case err != nil:
		return nil, &LookupError{Kind: "variable", Name: name, Err: err}
	}
	return ty, nil
}

// EnumConstant returns the value of an enumeration constant ("MOD_TEXT").
func (t *Types) EnumConstant(name string) (int64, error) {
	if t.btf != nil {
		e, ok := t.btf.enumerator(name)
		if !ok {
			return 0, &LookupError{Kind: "enumerator", Name: name, Err: ErrNotFound, Source: "BTF"}
		}
		return e.Value, nil
	}
	v, ok := t.dw.EnumConstant(name)
	if !ok {
		return 0, &LookupError{Kind: "enumerator", Name: name, Err: ErrNotFound}
	}
	return v, nil
}

// Sizeof returns the size in bytes of a type named as for Lookup.
func (t *Types) Sizeof(typeName string) (int64, error) {
	ty, err := t.Lookup(typeName)
	if err != nil {
		return 0, err
	}
	ty = t.Complete(ty)
	if ty.Size() < 0 {
		return 0, &LookupError{Kind: "type", Name: typeName, Err: errors.New("incomplete type has no size"), Source: t.Source()}
	}
	return ty.Size(), nil
}

// Complete strips typedefs and qualifiers and replaces a declaration-only
// struct, union or enum ("struct module;" in a unit that never defines it)
// with its definition from the index when there is one. Over BTF, the
// struct a pointer points to is such a declaration until completed (see
// btfconv.go), and completes to the definition of exactly that type.
func (t *Types) Complete(ty ctype.Type) ctype.Type {
	ty = Underlying(ty)
	switch s := ty.(type) {
	case *ctype.StructType:
		if s.Incomplete && t.btf != nil {
			if def, ok := t.btfComplete(s); ok {
				return def
			}
		}
		if s.Incomplete && s.StructName != "" {
			if def, ok, err := t.named(s.Kind + " " + s.StructName); ok && err == nil {
				return Underlying(def)
			}
		}
	}
	return ty
}

// Offsetof returns the byte offset of a member path within a type, as C's
// offsetof: "arch.ool_stubs", "mem[1].base", "mem[MOD_DATA]" (an index may
// be an enumeration constant). Members of anonymous structs and unions are
// found transparently. A bitfield has no byte offset and is an error.
func (t *Types) Offsetof(typeName, path string) (int64, error) {
	ty, err := t.Lookup(typeName)
	if err != nil {
		return 0, err
	}
	var off int64
	cur := typeName
	for _, el := range strings.Split(path, ".") {
		name, idx, hasIdx, err := splitIndex(el, t.EnumConstant)
		if err != nil {
			return 0, &MemberError{Type: cur, Member: el, Msg: err.Error()}
		}
		ty = t.Complete(ty)
		f, ok := FindField(ty, name, nil)
		if !ok {
			return 0, &MemberError{Type: typeString(ty), Member: name, Msg: "no such member"}
		}
		if f.BitSize != 0 {
			return 0, &MemberError{Type: typeString(ty), Member: name, Msg: "is a bitfield"}
		}
		off += f.BitOffset / 8
		ty = f.Type
		cur = typeString(ty)
		if hasIdx {
			at, ok := t.Complete(ty).(*ctype.ArrayType)
			if !ok {
				return 0, &MemberError{Type: cur, Member: el, Msg: "not an array"}
			}
			if at.Count > 0 && (idx < 0 || idx >= at.Count) {
				return 0, &MemberError{Type: cur, Member: el, Msg: fmt.Sprintf("index %d out of bounds [0,%d)", idx, at.Count)}
			}
			off += idx * t.Complete(at.Type).Size()
			ty = at.Type
			cur = typeString(ty)
		}
	}
	return off, nil
}

// splitIndex splits "mem[MOD_TEXT]" into "mem" and the index value.
func splitIndex(el string, enum func(string) (int64, error)) (name string, idx int64, ok bool, err error) {
	i := strings.IndexByte(el, '[')
	if i < 0 {
		return el, 0, false, nil
	}
	if !strings.HasSuffix(el, "]") {
		return "", 0, false, errors.New("unbalanced [")
	}
	name, s := el[:i], strings.TrimSpace(el[i+1:len(el)-1])
	idx, err = ParseIndex(s, enum)
	return name, idx, true, err
}

// ParseIndex parses an array index: a number (decimal, 0x hex) or, when
// enum is not nil, an enumeration constant name.
func ParseIndex(s string, enum func(string) (int64, error)) (int64, error) {
	if v, err := strconv.ParseInt(s, 0, 64); err == nil {
		return v, nil
	}
	if enum == nil || s == "" {
		return 0, fmt.Errorf("bad index %q", s)
	}
	return enum(s)
}

// Underlying strips typedefs and const/volatile/restrict qualifiers.
func Underlying(t ctype.Type) ctype.Type {
	for range 64 { // a typedef cycle in corrupt DWARF must not loop forever
		switch x := t.(type) {
		case *ctype.TypedefType:
			t = x.Type
		case *ctype.QualType:
			t = x.Type
		default:
			return t
		}
	}
	return t
}

// typeString names a type for messages; unnamed types print their
// definition, which can be long, so it is bounded.
func typeString(t ctype.Type) string {
	if t == nil {
		return "void"
	}
	s := t.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// TypeString names a type for messages (bounded length).
func TypeString(t ctype.Type) string { return typeString(t) }

// Field is a member found by FindField, its position normalised to a bit
// offset from the start of the struct searched (DW_AT_data_bit_offset
// semantics: for a little-endian target bit 0 is the least significant bit
// of byte 0, for big-endian the most significant).
type Field struct {
	Name      string
	Type      ctype.Type
	BitOffset int64 // from the start of the struct searched
	BitSize   int64 // 0 unless a bitfield
}

// FindField finds a member of a struct or union by name, searching the
// members of anonymous struct and union members transparently (C11). order
// is the target byte order, needed only to convert DWARF 2-4
// DW_AT_bit_offset bitfields; nil means little-endian.
func FindField(t ctype.Type, name string, order binary.ByteOrder) (Field, bool) {
	return findField(t, name, order, 0)
}

func findField(t ctype.Type, name string, order binary.ByteOrder, depth int) (Field, bool) {
	st, ok := Underlying(t).(*ctype.StructType)
	if !ok || depth > 16 {
		return Field{}, false
	}
	for _, f := range st.Field {
		if f.Name == name && name != "" {
			return Field{Name: f.Name, Type: f.Type, BitOffset: fieldBitOffset(f, order), BitSize: f.BitSize}, true
		}
	}
	for _, f := range st.Field {
		if f.Name != "" {
			continue
		}
		if inner, ok := findField(f.Type, name, order, depth+1); ok {
			inner.BitOffset += fieldBitOffset(f, order)
			return inner, true
		}
	}
	return Field{}, false
}

// Fields returns the members of a struct or union in declaration order,
// anonymous members included as they are (Name ""), positions normalised as
// in FindField.
func Fields(t ctype.Type, order binary.ByteOrder) []Field {
	st, ok := Underlying(t).(*ctype.StructType)
	if !ok {
		return nil
	}
	out := make([]Field, 0, len(st.Field))
	for _, f := range st.Field {
		out = append(out, Field{Name: f.Name, Type: f.Type, BitOffset: fieldBitOffset(f, order), BitSize: f.BitSize})
	}
	return out
}

// fieldBitOffset converts a debug/dwarf StructField to a bit offset from
// the start of its struct.
//
// DWARF 5 (and DWARF 4 from GCC ≥ 11 in some modes) describes a bitfield
// with DW_AT_data_bit_offset: bits from the start of the struct, already in
// the normalised form, and no member DW_AT_byte_size. DWARF 2-4 use
// DW_AT_data_member_location (the storage unit's byte offset),
// DW_AT_byte_size (the unit's size) and DW_AT_bit_offset, counted from the
// unit's most significant bit: on big-endian that is bits from the unit's
// first byte, on little-endian the field starts unitBits-BitOffset-BitSize
// bits into the unit. debug/dwarf cannot tell "DW_AT_data_bit_offset 0"
// from "absent"; a member with DW_AT_byte_size and no data bit offset is
// taken as the DWARF 2-4 form.
func fieldBitOffset(f *ctype.StructField, order binary.ByteOrder) int64 {
	if f.BitSize == 0 {
		return f.ByteOffset * 8
	}
	if f.BitOffset == 0 && (f.DataBitOffset != 0 || f.ByteSize == 0) {
		return f.DataBitOffset
	}
	unit := f.ByteSize
	if unit == 0 && f.Type != nil {
		unit = f.Type.Size()
	}
	if IsBigEndian(order) {
		return f.ByteOffset*8 + f.BitOffset
	}
	return f.ByteOffset*8 + unit*8 - f.BitOffset - f.BitSize
}

// IsBigEndian reports whether order is big-endian (binary.BigEndian or any
// order that names itself so).
func IsBigEndian(order binary.ByteOrder) bool {
	return order != nil && order.String() == binary.BigEndian.String()
}
