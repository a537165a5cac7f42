package dwarftypes

import (
	"bytes"
	"debug/dwarf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// indexVersion is bumped whenever the layout or meaning of the cached index
// changes; a cache file of another version is rebuilt.
const indexVersion = 4 // 3: UnitStarts; 4: own file format (indexfile.go)

// maxCacheFile bounds the size of a cache file we are willing to decode (the
// index of a 384 MB distro vmlinux is a few MB).
const maxCacheFile = 256 << 20

// Enumerator is one enumeration constant of the index.
type Enumerator struct {
	Value int64
	Enum  dwarf.Offset // the DW_TAG_enumeration_type it belongs to
}

// typeIndex is the name index of a vmlinux's DWARF: what is cached on disk.
type typeIndex struct {
	Version int
	BuildID []byte
	PtrSize int
	Units   int
	// UnitStarts are the .debug_info offsets of every unit header, in
	// order, when the index was built from mapped sections (nil
	// otherwise): Types finds a DIE's unit from them without reading
	// every unit header of the file (unitdwarf.go).
	UnitStarts []int
	// Types maps "struct X", "union X", "enum X" and bare typedef and base
	// type names to the DIE offset of the best definition.
	Types map[string]dwarf.Offset
	// Vars maps a top-level variable name to the DIE offset of its best
	// definition (DW_TAG_variable; for a definition that only carries
	// DW_AT_specification, the offset of the definition).
	Vars map[string]dwarf.Offset
	// Enumerators maps enumeration constant names to their values.
	Enumerators map[string]Enumerator

	// damaged are the units left out because they could not be read
	// (buildIndexRaw); not saved: an index with damage is not cached.
	damaged []UnitDamage
}

// candidate is one DIE for a name while the index is built.
type candidate struct {
	off  dwarf.Offset
	decl bool // DW_AT_declaration (or, for a variable, no DW_AT_location)
}

// better reports whether a should replace b: a complete definition beats a
// declaration, then the lower offset wins (so that the parallel build is
// deterministic).
func (a candidate) better(b candidate) bool {
	if a.decl != b.decl {
		return !a.decl
	}
	return a.off < b.off
}

type partial struct {
	types map[string]candidate
	vars  map[string]candidate
	enums map[string]Enumerator
	err   error
}

func put(m map[string]candidate, name string, c candidate) {
	if old, ok := m[name]; !ok || c.better(old) {
		m[name] = c
	}
}

// maxNullEntries bounds consecutive null entries between units.
const maxNullEntries = 1 << 16

// unitOffsets lists the offset of every unit's top DIE, skipping each
// unit's children (Reader.SkipChildren jumps to the next unit).
func unitOffsets(d *dwarf.Data) ([]dwarf.Offset, int, error) {
	r := d.Reader()
	var offs []dwarf.Offset
	ptrSize := 0
	nulls := 0
	for {
		e, err := r.Next()
		if err != nil {
			return nil, 0, fmt.Errorf("listing DWARF units: %w", err)
		}
		if e == nil {
			break
		}
		// On some corrupt .debug_info debug/dwarf's Reader returns null
		// entries (tag 0) without end; real DWARF has one per unit.
		if e.Tag == 0 {
			if nulls++; nulls > maxNullEntries {
				return nil, 0, fmt.Errorf("listing DWARF units: more than %d consecutive null entries after unit %d (corrupt .debug_info)", maxNullEntries, len(offs))
			}
		} else {
			nulls = 0
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			offs = append(offs, e.Offset)
			if ptrSize == 0 {
				ptrSize = r.AddressSize()
			}
		}
		r.SkipChildren()
	}
	return offs, ptrSize, nil
}

// buildIndex reads the top-level DIEs of every unit, splitting the units
// among GOMAXPROCS workers, each with its own dwarf.Reader (readers share
// only d's immutable section data). Children of a top-level DIE are skipped
// except those of enumeration types (their enumerators are indexed).
func buildIndex(d *dwarf.Data) (*typeIndex, error) {
	units, ptrSize, err := unitOffsets(d)
	if err != nil {
		return nil, err
	}
	workers := min(runtime.GOMAXPROCS(0), max(len(units), 1))
	parts := make([]partial, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[w]
			p.types = make(map[string]candidate)
			p.vars = make(map[string]candidate)
			p.enums = make(map[string]Enumerator)
			r := d.Reader()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(units) {
					return
				}
				if err := indexUnit(r, units[i], p); err != nil {
					p.err = err
					return
				}
			}
		}()
	}
	wg.Wait()
	ix := &typeIndex{
		Version:     indexVersion,
		PtrSize:     ptrSize,
		Units:       len(units),
		Types:       make(map[string]dwarf.Offset),
		Vars:        make(map[string]dwarf.Offset),
		Enumerators: make(map[string]Enumerator),
	}
	if err := mergeParts(ix, parts); err != nil {
		return nil, err
	}
	return ix, nil
}

// mergeParts folds the per-worker results of either indexer into ix: for
// each name the best candidate (put's preference: a definition over a
// declaration), and for an enumerator the one of the first enum.
func mergeParts(ix *typeIndex, parts []partial) error {
	types := make(map[string]candidate)
	vars := make(map[string]candidate)
	for i := range parts {
		p := &parts[i]
		if p.err != nil {
			return p.err
		}
		for k, c := range p.types {
			put(types, k, c)
		}
		for k, c := range p.vars {
			put(vars, k, c)
		}
		for k, e := range p.enums {
			if old, ok := ix.Enumerators[k]; !ok || e.Enum < old.Enum {
				ix.Enumerators[k] = e
			}
		}
	}
	for k, c := range types {
		ix.Types[k] = c.off
	}
	for k, c := range vars {
		ix.Vars[k] = c.off
	}
	return nil
}

// indexUnit indexes the top-level DIEs of the unit at off.
func indexUnit(r *dwarf.Reader, off dwarf.Offset, p *partial) error {
	r.Seek(off)
	cu, err := r.Next()
	if err != nil {
		return fmt.Errorf("reading DWARF unit at %#x: %w", off, err)
	}
	if cu == nil || !cu.Children {
		return nil
	}
	// Declarations of variables in this unit, by offset, for definitions
	// that name them through DW_AT_specification (GCC emits those for a
	// variable declared extern and then defined in the same file).
	var declNames map[dwarf.Offset]string
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("reading DWARF unit at %#x: %w", off, err)
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		decl := isDecl(e)
		switch e.Tag {
		case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagEnumerationType:
			if e.Tag == dwarf.TagEnumerationType && e.Children {
				if err := indexEnumerators(r, e.Offset, p); err != nil {
					return err
				}
			}
			if name != "" {
				put(p.types, tagPrefix[e.Tag]+name, candidate{e.Offset, decl})
			}
		case dwarf.TagTypedef:
			if name != "" {
				put(p.types, name, candidate{e.Offset, decl})
			}
		case dwarf.TagBaseType:
			if name != "" {
				put(p.types, ctype.CanonicalBaseName(name), candidate{e.Offset, decl})
			}
		case dwarf.TagVariable:
			if name == "" {
				if spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
					name = declNames[spec]
				}
			}
			if name == "" {
				break
			}
			if decl {
				if declNames == nil {
					declNames = make(map[dwarf.Offset]string)
				}
				declNames[e.Offset] = name
			}
			hasLoc := e.Val(dwarf.AttrLocation) != nil
			put(p.vars, name, candidate{e.Offset, decl || !hasLoc})
		}
		if e.Children && e.Tag != dwarf.TagEnumerationType {
			r.SkipChildren()
		}
	}
}

// isDecl reports DW_AT_declaration (a flag; any other form counts as set
// unless it is false).
func isDecl(e *dwarf.Entry) bool {
	v := e.Val(dwarf.AttrDeclaration)
	if v == nil {
		return false
	}
	b, ok := v.(bool)
	return !ok || b
}

var tagPrefix = map[dwarf.Tag]string{
	dwarf.TagStructType:      "struct ",
	dwarf.TagUnionType:       "union ",
	dwarf.TagEnumerationType: "enum ",
}

func indexEnumerators(r *dwarf.Reader, enum dwarf.Offset, p *partial) error {
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("reading enumerators of DIE %#x: %w", enum, err)
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		if e.Tag == dwarf.TagEnumerator {
			name, _ := e.Val(dwarf.AttrName).(string)
			v, ok := e.Val(dwarf.AttrConstValue).(int64)
			if name != "" && ok {
				if old, had := p.enums[name]; !had || enum < old.Enum {
					p.enums[name] = Enumerator{Value: v, Enum: enum}
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// IndexCachePath is where the cached name index of the vmlinux with
// buildID lives under cacheDir.
func IndexCachePath(cacheDir string, buildID []byte) string {
	return filepath.Join(cacheDir, "dwarf-index-"+hex.EncodeToString(buildID)+".idx")
}

const indexCache = "type index cache"

// loadIndex reads and verifies a cached index.
func loadIndex(path string, buildID []byte) (*typeIndex, error) {
	b, err := container.ReadCacheFile(indexCache, path, maxCacheFile)
	if err != nil {
		return nil, err
	}
	ix, err := decodeIndex(b)
	if err != nil {
		return nil, &container.CacheError{Cache: indexCache, Path: path, Msg: "decoding", Err: err}
	}
	if ix.Version != indexVersion {
		return nil, &container.CacheError{Cache: indexCache, Path: path, Msg: fmt.Sprintf("version %d, want %d", ix.Version, indexVersion)}
	}
	if !bytes.Equal(ix.BuildID, buildID) {
		return nil, &container.CacheError{Cache: indexCache, Path: path, Msg: fmt.Sprintf("build-id %x, want %x", ix.BuildID, buildID)}
	}
	if ix.Types == nil || ix.Vars == nil || ix.Enumerators == nil {
		return nil, &container.CacheError{Cache: indexCache, Path: path, Msg: "incomplete index"}
	}
	return ix, nil
}

// saveIndex writes the index atomically (temporary file, then rename).
func saveIndex(path string, ix *typeIndex) error {
	err := container.WriteAtomic(path, ".dwarf-index", func(w io.Writer) error { return encodeIndex(w, ix) })
	if err != nil {
		return errors.Join(errors.New("writing type index cache"), err)
	}
	return nil
}
