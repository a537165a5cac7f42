package dwarftypes

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// rawDWARF are the DWARF sections of a vmlinux as slices of a read-only
// mapping of the file: what the fast name indexer (fastindex.go) walks,
// and what whole-file and per-unit dwarf.Data (unitdwarf.go) are made of.
type rawDWARF struct {
	info, abbrev, str, lineStr, strOffsets []byte
	line, ranges, addr, rnglists           []byte
	order                                  binary.ByteOrder
	path                                   string // for errors
	// mapping is the whole mapped file; it is unmapped once raw and
	// every dwarf.Data made from it are unreachable.
	mapping *fileMapping
}

// fileMapping is a read-only file mapping shared by the values that hold
// slices of it, each registered with hold; the last one to become
// unreachable unmaps it.
type fileMapping struct {
	b    []byte
	refs atomic.Int64
}

// hold keeps m mapped at least as long as obj is reachable.
func hold[T any](m *fileMapping, obj *T) {
	if m == nil { // sections not from a mapping (tests, fuzzing)
		return
	}
	m.refs.Add(1)
	runtime.AddCleanup(obj, func(m *fileMapping) {
		if m.refs.Add(-1) == 0 {
			syscall.Munmap(m.b)
		}
	}, m)
}

// mapDWARF maps the file read-only and returns its DWARF sections as
// slices of the mapping, instead of debug/elf's copies: debug/elf's
// File.DWARF reads every .debug_* section into the heap — including
// .debug_loclists, .debug_frame and .debug_aranges, which debug/dwarf then
// ignores — which on a 384 MB distro vmlinux is about 1.5 GB of allocation
// and 1 GB of peak RSS (see docs/PERFORMANCE.md). It applies only where
// debug/elf would return the bytes unchanged: a file of our own (File.OS set),
// not ET_REL, no SHF_COMPRESSED or .zdebug_ section, no relocation section
// that applies to a debug section, every section inside the file. It
// returns nil, nil otherwise and the caller falls back to debug/elf.
//
// Nothing is parsed here: the whole-file dwarf.Data (raw.whole) and the
// per-unit ones (unitdwarf.go) are made when first needed.
func mapDWARF(f File) (*rawDWARF, error) {
	if f.OS == nil || f.ELF.Type == elf.ET_REL {
		return nil, nil
	}
	want := map[string]*elf.Section{}
	debugIdx := map[int]bool{}
	for i, s := range f.ELF.Sections {
		if strings.HasPrefix(s.Name, ".zdebug_") {
			return nil, nil
		}
		if !strings.HasPrefix(s.Name, ".debug_") {
			continue
		}
		debugIdx[i] = true
		switch s.Name {
		case ".debug_info", ".debug_abbrev", ".debug_str", ".debug_line", ".debug_ranges",
			".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists", ".debug_types":
			if s.Flags&elf.SHF_COMPRESSED != 0 || s.Type == elf.SHT_NOBITS {
				return nil, nil
			}
			if _, dup := want[s.Name]; dup {
				return nil, nil
			}
			want[s.Name] = s
		}
	}
	if f.ELF.Type != elf.ET_EXEC { // debug/elf applies relocations except to ET_EXEC
		for _, s := range f.ELF.Sections {
			if (s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL) && debugIdx[int(s.Info)] {
				return nil, nil
			}
		}
	}
	if want[".debug_info"] == nil || want[".debug_types"] != nil {
		return nil, nil
	}
	st, err := f.OS.Stat()
	if err != nil {
		return nil, nil
	}
	size := st.Size()
	if size <= 0 || uint64(size) > uint64(^uint(0)>>1) {
		return nil, nil
	}
	for _, s := range want {
		if s.Offset > uint64(size) || s.Size > uint64(size)-s.Offset {
			return nil, nil // debug/elf reports this one properly
		}
	}
	m, err := syscall.Mmap(int(f.OS.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	// Random access: without this advice every fault (each unit header,
	// each DIE a lookup reads) maps a read-ahead window of the file, and
	// the resident set grows by tens of megabytes of DWARF nobody reads.
	syscall.Madvise(m, syscall.MADV_RANDOM)
	sec := func(name string) []byte {
		s := want[name]
		if s == nil {
			return nil
		}
		return m[s.Offset : s.Offset+s.Size : s.Offset+s.Size]
	}
	raw := &rawDWARF{
		info: sec(".debug_info"), abbrev: sec(".debug_abbrev"), str: sec(".debug_str"),
		lineStr: sec(".debug_line_str"), strOffsets: sec(".debug_str_offsets"),
		line: sec(".debug_line"), ranges: sec(".debug_ranges"),
		addr: sec(".debug_addr"), rnglists: sec(".debug_rnglists"),
		order: f.ELF.ByteOrder, path: f.Path, mapping: &fileMapping{b: m},
	}
	hold(raw.mapping, raw)
	return raw, nil
}

// whole is a debug/dwarf Data over every unit: dwarf.New parses the
// header and abbreviation table of each (131 ms on a distro vmlinux of
// 2176 units). The mapping stays as long as the Data is reachable.
func (raw *rawDWARF) whole() (*dwarf.Data, error) {
	return raw.newData(raw.info)
}

// newData is dwarf.New over info (all of .debug_info or one unit of it)
// with raw's other sections.
func (raw *rawDWARF) newData(info []byte) (*dwarf.Data, error) {
	d, err := newDWARF(raw.abbrev, info, raw.line, raw.ranges, raw.str)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", raw.path, err)
	}
	for _, s := range []struct {
		name string
		b    []byte
	}{{".debug_addr", raw.addr}, {".debug_line_str", raw.lineStr}, {".debug_str_offsets", raw.strOffsets}, {".debug_rnglists", raw.rnglists}} {
		if s.b != nil {
			if err := d.AddSection(s.name, s.b); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", raw.path, s.name, err)
			}
		}
	}
	hold(raw.mapping, d)
	return d, nil
}

// newDWARF is dwarf.New with a panic in debug/dwarf turned into an error
// (the sections come from a file we do not trust).
func newDWARF(abbrev, info, line, ranges, str []byte) (d *dwarf.Data, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("malformed DWARF (debug/dwarf panicked: %v)", p)
		}
	}()
	return dwarf.New(abbrev, nil, nil, info, line, nil, ranges, str)
}

// dropPages tells the kernel that the process no longer needs the pages of
// b (a part of a read-only shared file mapping): they leave the process's
// resident set and are read again from the page cache if touched. The
// index builder calls it for each unit it has read, so that indexing a
// 240 MB .debug_info does not leave all of it resident. Errors are ignored:
// this is advice.
func dropPages(m *fileMapping, b []byte) {
	if m == nil || len(b) == 0 || len(m.b) == 0 {
		return
	}
	mapping := m.b
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mapping)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b))) - base
	end := start + uintptr(len(b))
	start = (start + page - 1) &^ (page - 1)
	end &^= page - 1
	if end <= start || end > uintptr(len(mapping)) {
		return
	}
	syscall.Madvise(mapping[start:end], syscall.MADV_DONTNEED)
}
