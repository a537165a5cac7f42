// DWARF types (this file, index.go, dwarf.go).
//
// Types are read with the standard library's debug/dwarf, not with delve's
// github.com/go-delve/delve/pkg/dwarf/godwarf: godwarf's StructField keeps
// only DW_AT_bit_offset (the DWARF 2-4 attribute) and drops
// DW_AT_data_bit_offset, which GCC and Clang emit for every bitfield under
// DWARF 5, so with godwarf a DWARF 5 bitfield reads at the wrong bits (its
// BitOffset is 0, i.e. the start of the struct). debug/dwarf keeps both
// (StructField.DataBitOffset and BitOffset, with BitSize); Field below
// normalises them to one bit offset for either byte order. The test
// TestGodwarfDropsDataBitOffset demonstrates the trap on synthetic DWARF.
//
// Delve's pkg/dwarf is still the better tool where it goes beyond the
// standard library: line tables (pkg/dwarf/line, for `dis -l`), call frame
// information (pkg/dwarf/frame), location expressions (pkg/dwarf/op), and
// pkg/dwarf/dwarfbuilder, which the tests use to build synthetic DWARF.

package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

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
// through debug/dwarf (LoadTypes, LoadELFTypes; dwarfconv.go) or from BTF
// (LoadBTFTypes, LoadSplitBTFTypes; btfconv.go). Its methods are safe for concurrent use.
type Types struct {
	BuildID []byte
	// PtrSize is the address size of the first compilation unit.
	PtrSize int64
	// FromCache says whether the index was loaded from cacheDir.
	FromCache bool
	// CacheWarning says why an existing cache file was not used or why the
	// index could not be saved ("" when neither happened).
	CacheWarning string
	// Damaged are the DWARF units that could not be read: what they
	// define is not in the index (Warnings says so); every other unit is.
	Damaged []UnitDamage

	ix *typeIndex
	// btf, when not nil, is where the types come from (btftypes.go); the
	// DWARF fields are then unused.
	btf *BTF
	// fb is what BTF-backed Types fall back to (btfdwarf.go), nil when
	// nothing.
	fb *btfFallback

	// raw are the mapped sections (nil when the Types was made from a
	// dwarf.Data): types are then decoded unit by unit (unitdwarf.go).
	raw        *rawDWARF
	unitsOnce  sync.Once
	unitStarts []int
	unitsErr   error

	// whole is the whole-file Data (see Data).
	wholeOnce sync.Once
	whole     *dwarf.Data
	wholeErr  error

	// mu guards the type caches of every Data (debug/dwarf's is not
	// goroutine-safe), byName and units.
	mu     sync.Mutex
	byName map[string]ctype.Type
	units  map[int]unitData
	// conv turns what debug/dwarf decodes into ctype types (dwarfconv.go).
	conv dwarfConv
}

// LoadTypes indexes d. With a non-empty cacheDir and build-id, the index is
// read from cacheDir/dwarf-index-<hex build-id>.idx when that file exists
// and verifies (version and build-id), else built and saved there; any cache
// problem falls back to building and is reported in CacheWarning, never as
// an error.
//
// (docs/ARCHITECTURE.md has LoadTypes(f *ELFFile, cacheDir); this form takes
// f.DWARF() and f.BuildID so as not to depend on the ELF reader.)
func LoadTypes(d *dwarf.Data, buildID []byte, cacheDir string) (*Types, error) {
	if d == nil {
		return nil, errors.New("LoadTypes: no DWARF data")
	}
	return loadTypes(func() (*dwarf.Data, *rawDWARF, error) { return d, nil, nil }, buildID, cacheDir)
}

// LoadELFTypes is LoadTypes over f's DWARF (f.DWARF()), with the cache
// keyed by key (nil: f.BuildID). When the DWARF sections are mapped from
// the file (a plain vmlinux, see ELFFile.DWARF), the index is built by a
// minimal DIE walker over the raw sections (fastindex.go) rather than by
// debug/dwarf's Reader (both build the same index), types are decoded
// through a Data of their own unit (unitdwarf.go), and the whole-file
// Data is made only when Data is called.
func LoadELFTypes(f *ELFFile, key []byte, cacheDir string) (*Types, error) {
	if key == nil {
		key = f.BuildID
	}
	return loadTypes(func() (*dwarf.Data, *rawDWARF, error) {
		raw, err := f.mapDWARF()
		if err != nil || raw != nil {
			return nil, raw, err
		}
		d, err := f.stdDWARF()
		return d, nil, err
	}, key, cacheDir)
}

// loadTypes reads the cached index, then asks get for the DWARF: a
// whole-file Data, or mapped sections.
func loadTypes(get func() (*dwarf.Data, *rawDWARF, error), buildID []byte, cacheDir string) (*Types, error) {
	t := &Types{BuildID: buildID, byName: make(map[string]ctype.Type), units: make(map[int]unitData)}
	useCache := cacheDir != "" && len(buildID) > 0
	if useCache {
		path := IndexCachePath(cacheDir, buildID)
		ix, err := loadIndex(path, buildID)
		switch {
		case err == nil:
			t.ix, t.FromCache = ix, true
		case errors.Is(err, errors.ErrUnsupported), isNotExist(err):
		default:
			t.CacheWarning = err.Error()
		}
	}
	d, raw, err := get()
	if err != nil {
		return nil, err
	}
	if d == nil && raw == nil {
		return nil, errors.New("LoadTypes: no DWARF data")
	}
	t.whole, t.raw = d, raw
	if t.ix == nil {
		var ix *typeIndex
		err := errors.ErrUnsupported
		if raw != nil {
			// On a unit the walker cannot read, the reference indexer
			// below decides (and reports what debug/dwarf says).
			ix, err = buildIndexRaw(raw)
		}
		if err != nil {
			if d, err = t.Data(); err != nil {
				return nil, err
			}
			if ix, err = buildIndex(d); err != nil {
				return nil, err
			}
		}
		ix.BuildID = buildID
		t.ix = ix
		t.Damaged = ix.damaged
		// An index with units left out is not cached: the next run says
		// again what was lost.
		if useCache && len(ix.damaged) == 0 {
			if err := saveIndex(IndexCachePath(cacheDir, buildID), ix); err != nil {
				t.CacheWarning = err.Error()
			}
		}
	}
	t.PtrSize = int64(t.ix.PtrSize)
	if t.PtrSize == 0 {
		t.PtrSize = 8
	}
	return t, nil
}

// Warnings says what the DWARF lost: one line per damaged unit (at most
// 8, then a count).
func (t *Types) Warnings() []string {
	var out []string
	for i, d := range t.Damaged {
		if i == 8 {
			out = append(out, fmt.Sprintf("... and %d more damaged DWARF units", len(t.Damaged)-8))
			break
		}
		out = append(out, d.String())
	}
	return out
}

// Stats returns the number of indexed type names, variables, enumeration
// constants and units (0 for BTF).
func (t *Types) Stats() (types, vars, enumerators, units int) {
	if t.btf != nil {
		return t.btfStats()
	}
	return len(t.ix.Types), len(t.ix.Vars), len(t.ix.Enumerators), t.ix.Units
}

// typeAt decodes the type DIE at off after checking that the DIE there is
// what the index says (a stale or corrupt cache must not yield a wrong type).
func (t *Types) typeAt(key string, off dwarf.Offset) (ctype.Type, error) {
	u, err := t.dataFor(off)
	if err != nil {
		return nil, fmt.Errorf("DIE at %#x: %w", off, err)
	}
	r := u.d.Reader()
	r.Seek(off - u.base)
	e, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("DIE at %#x: %w", off, err)
	}
	if e == nil {
		return nil, fmt.Errorf("no DIE at %#x", off)
	}
	name, _ := e.Val(dwarf.AttrName).(string)
	ok := tagPrefix[e.Tag] != "" && tagPrefix[e.Tag]+name == key ||
		e.Tag == dwarf.TagTypedef && name == key ||
		e.Tag == dwarf.TagBaseType && ctype.CanonicalBaseName(name) == key
	if !ok {
		return nil, fmt.Errorf("index names DIE %#x %q but it is %v %q (stale cache?)", off, key, e.Tag, name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	dt, err := u.d.Type(off - u.base)
	if err != nil {
		return nil, err
	}
	return t.conv.conv(dt), nil
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
	off, ok := t.ix.Types[key]
	if !ok {
		return nil, false, nil
	}
	ty, err := t.typeAt(key, off)
	if err != nil {
		return nil, true, err
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
	off, ok := t.ix.Vars[name]
	if !ok {
		return nil, &LookupError{Kind: "variable", Name: name, Err: ErrNotFound}
	}
	u, err := t.dataFor(off)
	if err != nil {
		return nil, &LookupError{Kind: "variable", Name: name, Err: err}
	}
	r := u.d.Reader()
	// Follow DW_AT_specification (at most a few hops) to find DW_AT_type;
	// offsets within u.d are relative to u.base.
	rel := off - u.base
	for range 4 {
		r.Seek(rel)
		e, err := r.Next()
		if err != nil || e == nil || e.Tag != dwarf.TagVariable {
			return nil, &LookupError{Kind: "variable", Name: name, Err: fmt.Errorf("no variable DIE at %#x (%v)", rel+u.base, err)}
		}
		if to, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
			t.mu.Lock()
			defer t.mu.Unlock()
			dt, err := u.d.Type(to)
			if err != nil {
				return nil, &LookupError{Kind: "variable", Name: name, Err: err}
			}
			return t.conv.conv(dt), nil
		}
		spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		if !ok {
			break
		}
		rel = spec
	}
	return nil, &LookupError{Kind: "variable", Name: name, Err: errors.New("DIE has no type")}
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
	e, ok := t.ix.Enumerators[name]
	if !ok {
		return 0, &LookupError{Kind: "enumerator", Name: name, Err: ErrNotFound}
	}
	return e.Value, nil
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

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}

// IsBigEndian reports whether order is big-endian (binary.BigEndian or any
// order that names itself so).
func IsBigEndian(order binary.ByteOrder) bool {
	return order != nil && order.String() == binary.BigEndian.String()
}
