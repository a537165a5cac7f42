package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

// rawDWARF are the raw sections the fast name indexer (fastindex.go)
// reads, slices of a read-only mapping of the file.
type rawDWARF struct {
	info, abbrev, str, lineStr, strOffsets []byte
	order                                  binary.ByteOrder
	// mapping is the whole mapped file (for dropping pages already read).
	mapping []byte
}

// mappedDWARF hands debug/dwarf slices of a read-only mapping of the file
// instead of copies: debug/elf's File.DWARF reads every .debug_* section
// into the heap — including .debug_loclists, .debug_frame and
// .debug_aranges, which debug/dwarf then ignores — which on a 384 MB distro
// vmlinux is about 1.5 GB of allocation and 1 GB of peak RSS (see
// docs/PERFORMANCE.md). It applies only where debug/elf would return the
// bytes unchanged: a file of our own (OpenELF), not ET_REL, no
// SHF_COMPRESSED or .zdebug_ section, no relocation section that applies to
// a debug section, every section inside the file. ok is false otherwise
// and the caller falls back to debug/elf.
//
// The mapping lives as long as the returned *dwarf.Data (it is unmapped by
// a cleanup once the Data is unreachable), not as long as f: a Types
// outliving its ELFFile's Close stays valid.
func (f *ELFFile) mappedDWARF() (d *dwarf.Data, raw *rawDWARF, ok bool, err error) {
	if f.osFile == nil || f.File.Type == elf.ET_REL {
		return nil, nil, false, nil
	}
	want := map[string]*elf.Section{}
	debugIdx := map[int]bool{}
	for i, s := range f.File.Sections {
		if strings.HasPrefix(s.Name, ".zdebug_") {
			return nil, nil, false, nil
		}
		if !strings.HasPrefix(s.Name, ".debug_") {
			continue
		}
		debugIdx[i] = true
		switch s.Name {
		case ".debug_info", ".debug_abbrev", ".debug_str", ".debug_line", ".debug_ranges",
			".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists", ".debug_types":
			if s.Flags&elf.SHF_COMPRESSED != 0 || s.Type == elf.SHT_NOBITS {
				return nil, nil, false, nil
			}
			if _, dup := want[s.Name]; dup {
				return nil, nil, false, nil
			}
			want[s.Name] = s
		}
	}
	if f.File.Type != elf.ET_EXEC { // debug/elf applies relocations except to ET_EXEC
		for _, s := range f.File.Sections {
			if (s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL) && debugIdx[int(s.Info)] {
				return nil, nil, false, nil
			}
		}
	}
	if want[".debug_info"] == nil || want[".debug_types"] != nil {
		return nil, nil, false, nil
	}
	st, err := f.osFile.Stat()
	if err != nil {
		return nil, nil, false, nil
	}
	size := st.Size()
	if size <= 0 || uint64(size) > uint64(^uint(0)>>1) {
		return nil, nil, false, nil
	}
	for _, s := range want {
		if s.Offset > uint64(size) || s.Size > uint64(size)-s.Offset {
			return nil, nil, false, nil // debug/elf reports this one properly
		}
	}
	m, err := syscall.Mmap(int(f.osFile.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, false, nil
	}
	// Random access: without this advice every fault (each of the
	// thousands of unit headers dwarf.New reads, each DIE a lookup reads)
	// maps a read-ahead window of the file, and the resident set grows
	// by tens of megabytes of DWARF nobody reads.
	syscall.Madvise(m, syscall.MADV_RANDOM)
	sec := func(name string) []byte {
		s := want[name]
		if s == nil {
			return nil
		}
		return m[s.Offset : s.Offset+s.Size : s.Offset+s.Size]
	}
	raw = &rawDWARF{
		info: sec(".debug_info"), abbrev: sec(".debug_abbrev"), str: sec(".debug_str"),
		lineStr: sec(".debug_line_str"), strOffsets: sec(".debug_str_offsets"),
		order: f.File.ByteOrder, mapping: m,
	}
	d, err = newDWARF(sec(".debug_abbrev"), sec(".debug_info"), sec(".debug_line"), sec(".debug_ranges"), sec(".debug_str"))
	if err == nil {
		for _, n := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
			if b := sec(n); b != nil {
				if err = d.AddSection(n, b); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		syscall.Munmap(m)
		return nil, nil, true, fmt.Errorf("%s: %w", f.Path, err)
	}
	runtime.AddCleanup(d, func(m []byte) { syscall.Munmap(m) }, m)
	return d, raw, true, nil
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
func dropPages(mapping, b []byte) {
	if len(b) == 0 || len(mapping) == 0 {
		return
	}
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
