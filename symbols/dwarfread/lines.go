package dwarfread

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/go-delve/delve/pkg/dwarf/line"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Source lines for `dis -l`, read with delve's pkg/dwarf/line from
// .debug_line: of the vmlinux, and of each module's .ko.
//
// vmlinux: the compile unit holding a pc is found with debug/dwarf's
// Reader.SeekPC (the CU's DW_AT_low_pc/high_pc/ranges), and its line
// program — at DW_AT_stmt_list in .debug_line, with DW_AT_comp_dir — parsed
// once with line.Parse and cached by offset.
//
// Module .ko (ET_REL): its .debug_line holds no addresses of its own. Each
// sequence starts with DW_LNE_set_address whose 8-byte operand is 0 in the
// file and gets its value from an R_PPC64_ADDR64 relocation in
// .rela.debug_line against a section symbol (.text, .init.text, ...) with
// the offset in the addend; DW_FORM_line_strp offsets into .debug_line_str
// are R_PPC64_ADDR32 relocations likewise. debug/elf applies a .ko's
// relocations only to the sections it hands debug/dwarf, not to
// Section.Data(), and even then with section symbols valued 0, so every
// section's code would start at 0 and .text+0x40 could not be told from
// .init.text+0x40. So we apply .rela.debug_line ourselves, as the module
// loader would have had .debug_line been loaded: S + A with S the runtime
// address of the symbol's section from mod->sect_attrs (Module.Sections)
// plus st_value, and for non-SHF_ALLOC targets (.debug_line_str) the
// offset in that section. The relocated table then speaks runtime
// addresses, and a pc is looked up directly; sequences of sections the
// dump does not place (no sect_attrs entry) keep address 0 + A and match
// no kernel address.
//
// delve's reader decodes the header and DW_LNE_set_address little-endian
// only, and can panic on malformed input: the tables of a big-endian file
// are refused, and every call into it runs under recover.

// maxDebugLine bounds the .debug_line (and .debug_line_str) read from one
// file.
const maxDebugLine = 1 << 30

// LineTable is the line information of one ELF file (a
// symbols.LineTable). Its Lookup is safe for concurrent use.
type LineTable struct {
	mu      sync.Mutex
	last    *cuLines // the CU of the previous lookup
	order   binary.ByteOrder
	data    *dwarf.Data // vmlinux: CU lookup by pc
	line    []byte      // .debug_line (relocated for a .ko)
	lineStr []byte
	// byOff caches parsed line programs by .debug_line offset.
	byOff map[int64]*cuLines
	// units: for a .ko, every CU's program (a .ko has a few).
	units []*cuLines
	notes []string
}

// cuLines is one compile unit's line program with the address ranges of
// its sequences.
type cuLines struct {
	info   *line.DebugLineInfo
	ranges [][2]uint64
}

func (c *cuLines) covers(pc uint64) bool {
	for _, r := range c.ranges {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

func readLineSections(f *symbols.ELFFile) (*LineTable, error) {
	if f == nil || f.File == nil {
		return nil, errors.New("no debuginfo file")
	}
	if f.ByteOrder != binary.LittleEndian {
		return nil, fmt.Errorf("%s: big-endian line tables are not supported (delve's pkg/dwarf/line reads little-endian only)", f.Path)
	}
	lt := &LineTable{order: f.ByteOrder, byOff: map[int64]*cuLines{}}
	var err error
	if lt.line, err = f.SectionData(".debug_line", maxDebugLine); err != nil {
		return nil, err
	}
	// DWARF 4 tables have no .debug_line_str.
	if lt.lineStr, err = f.SectionData(".debug_line_str", maxDebugLine); err != nil && !errors.Is(err, symbols.ErrNoSection) {
		return nil, err
	}
	return lt, nil
}

// LoadVmlinuxLines reads the vmlinux's line tables; a compile unit's
// program is parsed when a pc first needs it.
func LoadVmlinuxLines(f *symbols.ELFFile, types *symbols.Types) (*LineTable, error) {
	if types == nil {
		return nil, errors.New("no vmlinux DWARF")
	}
	// The whole-file Data (every unit header parsed, on first use) finds
	// the unit that holds a pc through .debug_aranges/DW_AT_ranges.
	d, err := Data(types)
	if err != nil {
		return nil, err
	}
	lt, err := readLineSections(f)
	if err != nil {
		return nil, err
	}
	lt.data = d
	return lt, nil
}

// LoadModuleLines reads a .ko's line tables, relocated to the module's
// runtime section addresses (see the comment at the top of this file):
// secAddr gives the address of an allocated section by name (the
// module's sect_attrs).
func LoadModuleLines(f *symbols.ELFFile, secAddr func(string) (uint64, bool)) (*LineTable, error) {
	lt, err := readLineSections(f)
	if err != nil {
		return nil, err
	}
	if f.File.Type == elfobj.ET_REL {
		lt.line = append([]byte(nil), lt.line...) // Data() may share a cache; we write into it
		lt.notes = relocateDebugLine(f, lt.line, lt.lineStr != nil, secAddr)
	}
	d, err := FileData(f)
	if err != nil {
		return nil, err
	}
	r := d.Reader()
	for range 1 << 16 { // a .ko has a handful of CUs; bound the walk anyway
		e, err := r.Next()
		if err != nil {
			return lt, fmt.Errorf("%s: .debug_info: %w", f.Path, err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			if off, ok := e.Val(dwarf.AttrStmtList).(int64); ok {
				dir, _ := e.Val(dwarf.AttrCompDir).(string)
				if cu := lt.parse(off, dir); cu != nil {
					lt.units = append(lt.units, cu)
				}
			}
		}
		r.SkipChildren()
	}
	if len(lt.units) == 0 {
		return lt, fmt.Errorf("%s: no compile unit with a line table", f.Path)
	}
	return lt, nil
}

// debugRelocs are the relocation types a .ko's .rela.debug_line uses on
// each machine: one 64-bit absolute (DW_LNE_set_address) and one 32-bit
// (DW_FORM_line_strp offsets), as each architecture's apply_relocate_add
// would write them.
var debugRelocs = map[elfobj.Machine]struct{ abs64, abs32 uint32 }{
	elfobj.EM_PPC64:   {uint32(elfobj.R_PPC64_ADDR64), uint32(elfobj.R_PPC64_ADDR32)},
	elfobj.EM_X86_64:  {uint32(elfobj.R_X86_64_64), uint32(elfobj.R_X86_64_32)},
	elfobj.EM_AARCH64: {uint32(elfobj.R_AARCH64_ABS64), uint32(elfobj.R_AARCH64_ABS32)},
}

// relocateDebugLine applies .rela.debug_line to data in place: S + A, S
// being the runtime address of the symbol's section (secAddr) plus
// st_value for SHF_ALLOC sections, the section offset for the others. It
// returns notes on what it could not apply.
func relocateDebugLine(f *symbols.ELFFile, data []byte, haveLineStr bool, secAddr func(string) (uint64, bool)) (notes []string) {
	rels, err := f.Relocations(".rela.debug_line")
	if err != nil {
		return []string{err.Error()}
	}
	kinds, ok := debugRelocs[f.File.Machine]
	if !ok {
		return []string{fmt.Sprintf(".rela.debug_line: relocations of %v are not modelled", f.File.Machine)}
	}
	missing := map[string]bool{}
	unknown := map[uint32]int{}
	for _, r := range rels {
		sym, err := f.RawSymbol(r.Sym)
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		var s uint64
		switch {
		case sym.Shndx == elfobj.SHN_ABS:
			s = sym.Value
		case sym.Shndx > 0 && int(sym.Shndx) < len(f.File.Sections):
			sec := f.File.Sections[sym.Shndx]
			if sec.Flags&elfobj.SHF_ALLOC == 0 {
				s = sym.Value
				break
			}
			base, ok := secAddr(sec.Name)
			if !ok {
				missing[sec.Name] = true
				continue // leave 0 + A: matches no kernel address
			}
			s = base + sym.Value
		default:
			notes = append(notes, fmt.Sprintf(".rela.debug_line offset %#x: symbol %q in section %d", r.Off, sym.Name, sym.Shndx))
			continue
		}
		v := s + uint64(r.Addend)
		switch r.Type {
		case kinds.abs64:
			if r.Off > uint64(len(data)) || uint64(len(data))-r.Off < 8 {
				notes = append(notes, fmt.Sprintf(".rela.debug_line: offset %#x outside .debug_line (%#x bytes)", r.Off, len(data)))
				continue
			}
			f.ByteOrder.PutUint64(data[r.Off:], v)
		case kinds.abs32:
			if r.Off > uint64(len(data)) || uint64(len(data))-r.Off < 4 || v > 0xffffffff {
				notes = append(notes, fmt.Sprintf(".rela.debug_line: ADDR32 at offset %#x does not fit (value %#x)", r.Off, v))
				continue
			}
			f.ByteOrder.PutUint32(data[r.Off:], uint32(v))
		default:
			unknown[r.Type]++
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(unknown)) {
		notes = append(notes, fmt.Sprintf(".rela.debug_line: %d relocations of type %d not applied", unknown[typ], typ))
	}
	for _, n := range slices.Sorted(maps.Keys(missing)) {
		notes = append(notes, fmt.Sprintf("section %s not in the module's sect_attrs: its lines are not placed", n))
	}
	return notes
}

// parse parses the line program at off (cached); nil when it cannot be
// read.
func (lt *LineTable) parse(off int64, compDir string) (cu *cuLines) {
	if c, ok := lt.byOff[off]; ok {
		return c
	}
	defer func() {
		if r := recover(); r != nil {
			lt.notes = append(lt.notes, fmt.Sprintf(".debug_line at offset %#x: malformed (%v)", off, r))
			lt.byOff[off] = nil
			cu = nil
		}
	}()
	if off < 0 || off >= int64(len(lt.line)) {
		lt.notes = append(lt.notes, fmt.Sprintf("DW_AT_stmt_list %#x outside .debug_line (%#x bytes)", off, len(lt.line)))
		lt.byOff[off] = nil
		return nil
	}
	if err := checkLineHeader(lt.line[off:]); err != nil {
		lt.notes = append(lt.notes, fmt.Sprintf(".debug_line at offset %#x: %v", off, err))
		lt.byOff[off] = nil
		return nil
	}
	info := line.Parse(compDir, bytes.NewBuffer(lt.line[off:]), lt.lineStr, nil, 0, false, 8)
	if info == nil || info.Prologue == nil {
		lt.byOff[off] = nil
		return nil
	}
	rs, err := sequenceRanges(lt.line[off:])
	if err != nil {
		lt.notes = append(lt.notes, fmt.Sprintf(".debug_line at offset %#x: %v", off, err))
	}
	cu = &cuLines{info: info, ranges: rs}
	lt.byOff[off] = cu
	return cu
}

// Lookup returns the source position of pc; fn is the start of the
// function holding it (0 if unknown), used as delve's cache key. ok is
// false when the table does not cover pc.
func (lt *LineTable) Lookup(pc, fn uint64) (symbols.SourceLine, bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.lookup(pc, fn, &lt.last)
}

// Notes says what could not be read or placed while loading the table
// (relocations not applied, sections the module does not place, malformed
// programs).
func (lt *LineTable) Notes() []string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return slices.Clone(lt.notes)
}

// lookup finds pc's source position. last remembers the CU of the previous
// lookup (a disassembly stays in one CU).
func (lt *LineTable) lookup(pc, fn uint64, last **cuLines) (symbols.SourceLine, bool) {
	if fn > pc {
		fn = 0
	}
	if c := *last; c != nil && c.covers(pc) {
		if sl, ok := pcToLine(c, fn, pc); ok {
			return sl, true
		}
	}
	if lt.data != nil {
		cu := lt.cuFor(pc)
		if cu == nil || !cu.covers(pc) {
			return symbols.SourceLine{}, false
		}
		*last = cu
		return pcToLine(cu, fn, pc)
	}
	// A .ko has a few CUs: ask each (its relocated table knows its
	// runtime addresses).
	for _, cu := range lt.units {
		if !cu.covers(pc) {
			continue
		}
		if sl, ok := pcToLine(cu, fn, pc); ok {
			*last = cu
			return sl, true
		}
	}
	return symbols.SourceLine{}, false
}

// cuFor finds the vmlinux CU holding pc.
func (lt *LineTable) cuFor(pc uint64) *cuLines {
	r := lt.data.Reader()
	e, err := r.SeekPC(pc)
	if err != nil || e == nil {
		return nil
	}
	off, ok := e.Val(dwarf.AttrStmtList).(int64)
	if !ok {
		return nil
	}
	dir, _ := e.Val(dwarf.AttrCompDir).(string)
	return lt.parse(off, dir)
}

// pcToLine asks delve's state machine, under recover; with fn (the
// function start) as its cache key, and from the start of the program when
// that finds nothing.
func pcToLine(cu *cuLines, fn, pc uint64) (sl symbols.SourceLine, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			sl, ok = symbols.SourceLine{}, false
		}
	}()
	file, ln := cu.info.PCToLine(fn, pc)
	if ln == 0 && fn != 0 {
		file, ln = cu.info.PCToLine(0, pc)
	}
	if ln == 0 || file == "" {
		return symbols.SourceLine{}, false
	}
	return symbols.SourceLine{File: file, Line: ln}, true
}
