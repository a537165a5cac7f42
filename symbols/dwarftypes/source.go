package dwarftypes

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// Source is the DWARF type information of one vmlinux (or module): the
// name index of top-level types, variables and enumeration constants, and
// types decoded when first asked for and handed out as ctype types. Its
// methods are safe for concurrent use. symbols.Types stands in front of it
// (symbols.NewDWARFTypes); symbols/dwarfread makes that connection.
type Source struct {
	// BuildID keys the index cache.
	BuildID []byte
	// PtrSize is the address size of the first compilation unit.
	PtrSize int64
	// FromCache says whether the index was loaded from the cache directory.
	FromCache bool
	// CacheWarning says why an existing cache file was not used or why the
	// index could not be saved ("" when neither happened).
	CacheWarning string
	// Damaged are the DWARF units that could not be read: what they
	// define is not in the index (Warnings says so); every other unit is.
	Damaged []UnitDamage

	ix *typeIndex

	// raw are the mapped sections (nil when the Source was made from a
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
	// goroutine-safe), units and conv.
	mu    sync.Mutex
	units map[int]unitData
	// conv turns what debug/dwarf decodes into ctype types (dwarfconv.go).
	conv dwarfConv
}

// Load indexes d. With a non-empty cacheDir and build-id, the index is
// read from cacheDir/dwarf-index-<hex build-id>.idx when that file exists
// and verifies (version and build-id), else built and saved there; any
// cache problem falls back to building and is reported in CacheWarning,
// never as an error.
func Load(d *dwarf.Data, buildID []byte, cacheDir string) (*Source, error) {
	if d == nil {
		return nil, errors.New("LoadTypes: no DWARF data")
	}
	return load(func() (*dwarf.Data, *rawDWARF, error) { return d, nil, nil }, buildID, cacheDir)
}

// File is an ELF file to read DWARF from: the parsed headers, the open
// file itself (nil when the bytes do not come from a file of our own, e.g.
// a decompressed or in-memory image), and its name for messages.
type File struct {
	ELF  *elf.File
	OS   *os.File
	Path string
}

// LoadFile is Load over f's DWARF, the cache keyed by key. When the DWARF
// sections can be mapped from the file (a plain vmlinux, see mapDWARF),
// the index is built by a minimal DIE walker over the raw sections
// (fastindex.go) rather than by debug/dwarf's Reader (both build the same
// index), types are decoded through a Data of their own unit
// (unitdwarf.go), and the whole-file Data is made only when Data is
// called.
func LoadFile(f File, key []byte, cacheDir string) (*Source, error) {
	return load(func() (*dwarf.Data, *rawDWARF, error) {
		raw, err := mapDWARF(f)
		if err != nil || raw != nil {
			return nil, raw, err
		}
		d, err := stdDWARF(f)
		return d, nil, err
	}, key, cacheDir)
}

// FileData returns f's whole-file DWARF Data: debug/elf decompresses
// SHF_COMPRESSED (zlib and zstd) sections and applies a .ko's relocations
// to them; a plain vmlinux of our own is not copied but read from a
// read-only mapping of the file (dwarfmap.go). Each call parses afresh (a
// fresh debug/dwarf type cache each).
func FileData(f File) (*dwarf.Data, error) {
	raw, err := mapDWARF(f)
	if err != nil {
		return nil, err
	}
	if raw != nil {
		return raw.whole()
	}
	return stdDWARF(f)
}

// stdDWARF is debug/elf's File.DWARF, its panics turned into errors.
func stdDWARF(f File) (d *dwarf.Data, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("%s: malformed DWARF (debug/elf panicked: %v)", f.Path, p)
		}
	}()
	d, err = f.ELF.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return d, nil
}

// load reads the cached index, then asks get for the DWARF: a whole-file
// Data, or mapped sections.
func load(get func() (*dwarf.Data, *rawDWARF, error), buildID []byte, cacheDir string) (*Source, error) {
	t := &Source{BuildID: buildID, units: make(map[int]unitData)}
	useCache := cacheDir != "" && len(buildID) > 0
	if useCache {
		path := IndexCachePath(cacheDir, buildID)
		ix, err := loadIndex(path, buildID)
		switch {
		case err == nil:
			t.ix, t.FromCache = ix, true
		case errors.Is(err, errors.ErrUnsupported), errors.Is(err, fs.ErrNotExist):
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
func (t *Source) Warnings() []string {
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
// constants and units.
func (t *Source) Stats() (types, vars, enumerators, units int) {
	return len(t.ix.Types), len(t.ix.Vars), len(t.ix.Enumerators), t.ix.Units
}

// TypeKeys returns the index's type names ("struct module", "u64"), in
// no order.
func (t *Source) TypeKeys() []string {
	keys := make([]string, 0, len(t.ix.Types))
	for k := range t.ix.Types {
		keys = append(keys, k)
	}
	return keys
}

// Info returns what the index was loaded from and with: its key, the
// address size, whether it came from the cache and why not.
func (t *Source) Info() (buildID []byte, ptrSize int64, fromCache bool, cacheWarning string) {
	return t.BuildID, t.PtrSize, t.FromCache, t.CacheWarning
}

// typeAt decodes the type DIE at off after checking that the DIE there is
// what the index says (a stale or corrupt cache must not yield a wrong type).
func (t *Source) typeAt(key string, off dwarf.Offset) (ctype.Type, error) {
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

// Named returns the type indexed under key ("struct module", "u64"):
// found false when the index has no such name, an error when the DIE it
// names cannot be decoded. (symbols.Types caches the answers.)
func (t *Source) Named(key string) (ctype.Type, bool, error) {
	off, ok := t.ix.Types[key]
	if !ok {
		return nil, false, nil
	}
	ty, err := t.typeAt(key, off)
	if err != nil {
		return nil, true, err
	}
	return ty, true, nil
}

// VariableType returns the type of a top-level variable (a definition when
// the DWARF has one, which completes arrays declared as "extern T x[]"):
// found false when the index has no such variable.
func (t *Source) VariableType(name string) (ctype.Type, bool, error) {
	off, ok := t.ix.Vars[name]
	if !ok {
		return nil, false, nil
	}
	u, err := t.dataFor(off)
	if err != nil {
		return nil, true, err
	}
	r := u.d.Reader()
	// Follow DW_AT_specification (at most a few hops) to find DW_AT_type;
	// offsets within u.d are relative to u.base.
	rel := off - u.base
	for range 4 {
		r.Seek(rel)
		e, err := r.Next()
		if err != nil || e == nil || e.Tag != dwarf.TagVariable {
			return nil, true, fmt.Errorf("no variable DIE at %#x (%v)", rel+u.base, err)
		}
		if to, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
			t.mu.Lock()
			defer t.mu.Unlock()
			dt, err := u.d.Type(to)
			if err != nil {
				return nil, true, err
			}
			return t.conv.conv(dt), true, nil
		}
		spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		if !ok {
			break
		}
		rel = spec
	}
	return nil, true, errors.New("DIE has no type")
}

// EnumConstant returns the value of an enumeration constant ("MOD_TEXT").
func (t *Source) EnumConstant(name string) (int64, bool) {
	e, ok := t.ix.Enumerators[name]
	return e.Value, ok
}

// DIEOffset returns the .debug_info offset the index holds for a type
// ("type", its key as in Named) or a variable ("variable"): the DIE
// Named and VariableType decode.
func (t *Source) DIEOffset(kind, name string) (dwarf.Offset, bool) {
	var off dwarf.Offset
	var ok bool
	switch kind {
	case "type":
		off, ok = t.ix.Types[name]
	case "variable":
		off, ok = t.ix.Vars[name]
	}
	return off, ok
}

// Over returns a Source with t's index over another whole-file Data of
// the same DWARF (a fresh decoding cache: benchmarks of the first
// lookup).
func (t *Source) Over(d *dwarf.Data) *Source {
	return &Source{BuildID: t.BuildID, PtrSize: t.PtrSize, ix: t.ix, whole: d, units: make(map[int]unitData)}
}
