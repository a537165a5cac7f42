package symbols

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
)

// Symbol is one named address: from an ELF symbol table, the kernel's
// kallsyms, or a module's kallsyms.
type Symbol struct {
	Name string
	Addr uint64 // entry address (ELFv1: the code address, not the descriptor)
	Size uint64 // 0 when unknown (kallsyms of vmlinux)
	// Kind is the nm-style type letter: T t D d B b R r A a U W w V v i u
	// C N n ? (uppercase: global binding).
	Kind byte
	// Suspect is set on a symbol of an ELF symbol table that fails the
	// file's own consistency checks (symcheck.go); 0 otherwise.
	Suspect SymbolProblem
	Module  string // "" for vmlinux
	Section string // "" when unknown (kallsyms)
	// LocalEntry is the ppc64 ELFv2 local entry offset: the local entry
	// point is Addr+LocalEntry (0 when the function has one entry point).
	LocalEntry uint64
	// Desc is the address of the ELFv1 function descriptor in .opd that
	// the symbol named (0 otherwise).
	Desc uint64
}

// Global reports whether the symbol has global (or weak) binding, as nm
// shows with an uppercase letter.
func (s Symbol) Global() bool { return s.Kind >= 'A' && s.Kind <= 'Z' }

// Func reports whether the symbol is text.
func (s Symbol) Func() bool {
	return s.Kind == 'T' || s.Kind == 't' || s.Kind == 'W' || s.Kind == 'w' || s.Kind == 'i'
}

// Section is one ELF section header.
type Section struct {
	Index int
	Name  string
	Type  elfobj.SectionType
	Flags elfobj.SectionFlag
	Addr  uint64 // 0 in a relocatable .ko
	Size  uint64
	Info  uint32 // sh_info: for SHT_RELA the index of the section relocated
	Link  uint32
}

// RawSymbol is one entry of the ELF .symtab as stored, indexed as
// relocations index it (index 0 is the null symbol).
type RawSymbol struct {
	Index int
	Name  string
	Info  byte // st_info: binding << 4 | type
	Other byte // st_other: visibility and the ppc64 local-entry bits
	// Shndx is st_shndx, special values kept: elfobj.SHN_UNDEF, SHN_ABS,
	// SHN_COMMON, SHN_LIVEPATCH (0xff20, .klp.sym.* symbols of livepatch
	// modules).
	Shndx elfobj.SectionIndex
	Value uint64
	Size  uint64
}

// Bind returns the symbol's binding.
func (r RawSymbol) Bind() elfobj.SymBind { return elfobj.ST_BIND(r.Info) }

// Type returns the symbol's type.
func (r RawSymbol) Type() elfobj.SymType { return elfobj.ST_TYPE(r.Info) }

// Rela is one Elf64_Rela entry.
type Rela struct {
	Off    uint64 // r_offset
	Sym    uint32 // ELF64_R_SYM(r_info): index into the symbol table (RawSymbol)
	Type   uint32 // ELF64_R_TYPE(r_info): elfobj.R_PPC64_*
	Addend int64
}

// ELFFile is an opened vmlinux or module .ko.
type ELFFile struct {
	Path      string // the path given to OpenELF
	File      *elfobj.File
	BuildID   []byte // .note.gnu.build-id descriptor; nil when absent
	ByteOrder binary.ByteOrder
	// Symbols are the named symbols of .symtab (section and file symbols
	// left out), in symbol-table order; nil when they came from the
	// symbol cache (OpenELFCached: Table has them).
	Symbols  []Symbol
	Sections []Section
	// Module is the module name (.modinfo "name=", else the file name with
	// '-' as '_'); "" for vmlinux.
	Module string
	// ABIv1 is true for a ppc64 ELFv1 object (function descriptors in .opd).
	ABIv1 bool
	// Flags is e_flags (ppc64: EF_PPC64_ABI in bits 0-1, 1 = ELFv1, 2 = ELFv2).
	Flags uint32

	// SymtabReport says which symbols of .symtab are suspect (nil when
	// none is): a warning to give once for the file.
	SymtabReport *SymtabReport
	// SymbolsFromCache: the symbol table came from the symbol cache
	// (OpenELFCached); SymbolCacheWarning says why a cache file there was
	// not used or could not be written ("" when neither happened).
	SymbolsFromCache   bool
	SymbolCacheWarning string

	raw []RawSymbol
	// rawOnce reads raw (at open, or when the symbols came from the
	// cache at the first RawSymbols).
	rawOnce sync.Once
	rawErr  error
	// table is Table's result, made once.
	tableOnce sync.Once
	table     *Table
	closer    io.Closer
	r         io.ReaderAt
	osFile    *os.File // the opened file when OpenELF opened it (for mapping DWARF)
}

// maxSymbols bounds the symbol table read from one file (a distro vmlinux
// has about 200 000).
const maxSymbols = 1 << 24

// maxStrtab bounds the string table of .symtab (a distro vmlinux's is
// about 6 MB; a compressed one is checked only against its own header).
const maxStrtab = 1 << 28

// OpenELF opens a vmlinux or module .ko, decompressing a whole-file
// .zst/.xz/.gz once through internal/container.
func OpenELF(path string) (*ELFFile, error) { return openELF(path, "") }

// OpenELFCached is OpenELF with the symbol table of a linked file (a
// vmlinux) kept in cacheDir (symcache.go), keyed by the file's build-id,
// size and modification time: read from there when a valid cache file
// is, else read from .symtab, checked, built and saved. Table and
// SymtabReport are the same either way; Symbols is nil when the table
// came from the cache (Table has them, in address order), and the raw
// symbols are read from .symtab only when asked for (RawSymbols). A
// cacheDir of "", a file without a build-id, or a relocatable .ko is not
// cached.
func OpenELFCached(path, cacheDir string) (*ELFFile, error) { return openELF(path, cacheDir) }

func openELF(path, cacheDir string) (*ELFFile, error) {
	plain, err := container.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	fh, err := os.Open(plain)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	f, err := newELF(fh, path, false)
	if err == nil {
		err = f.symbolsCached(path, cacheDir)
	}
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// symbolsCached reads the symbols of f (opened from path) from the symbol
// cache under cacheDir, else from the file (saving them there).
func (f *ELFFile) symbolsCached(path, cacheDir string) error {
	key := f.symcacheKey(path)
	if cacheDir == "" || key == nil {
		return f.readSymbols()
	}
	cpath := SymbolCachePath(cacheDir, "symtab", f.BuildID)
	t, rep, err := LoadCachedTable(cpath, key, f.Path)
	if err == nil {
		f.table, f.SymtabReport, f.SymbolsFromCache = f.withSections(t), rep, true
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		f.SymbolCacheWarning = err.Error()
	}
	if err := f.readSymbols(); err != nil {
		return err
	}
	if err := SaveCachedTable(cpath, key, f.Table(), f.SymtabReport); err != nil {
		f.SymbolCacheWarning = err.Error()
	}
	return nil
}

// symcacheKey is what the cached symbols of f depend on: its build-id,
// the size and modification time of the file at path (the compressed
// one when it is compressed: the decompressed copy's times change as the
// container cache touches it), and where .symtab and .strtab lie. nil
// when f is not to be cached (no build-id, relocatable, not a file).
func (f *ELFFile) symcacheKey(path string) []byte {
	if len(f.BuildID) == 0 || f.File.Type == elfobj.ET_REL {
		return nil
	}
	src := container.FollowLinkFile(path)
	if r, err := filepath.EvalSymlinks(src); err == nil {
		src = r
	}
	st, err := os.Stat(src)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	k := append([]byte("symtab\x00"), f.BuildID...)
	k = binary.LittleEndian.AppendUint64(k, uint64(st.Size()))
	k = binary.LittleEndian.AppendUint64(k, uint64(st.ModTime().UnixNano()))
	for _, s := range f.File.Sections {
		if s.Type == elfobj.SHT_SYMTAB || s.Type == elfobj.SHT_STRTAB {
			k = binary.LittleEndian.AppendUint64(k, s.Offset)
			k = binary.LittleEndian.AppendUint64(k, s.Size)
		}
	}
	return k
}

// NewELF reads an ELF file from r; name is used in errors and for the
// module name of a .ko.
func NewELF(r io.ReaderAt, name string) (f *ELFFile, err error) {
	f, err = newELF(r, name, true)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// newELF is NewELF; the symbols are read only with syms.
func newELF(r io.ReaderAt, name string, syms bool) (f *ELFFile, err error) {
	// elfobj and the symbol reader are fuzzed (FuzzNewFile, FuzzELF);
	// this only turns a bug left in them into an error instead of taking
	// the whole tool down on one bad file.
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("%s: malformed ELF file (reader panicked: %v)", name, p)
		}
	}()
	ef, err := elfobj.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f = &ELFFile{Path: name, File: ef, ByteOrder: ef.ByteOrder, r: r}
	if ef.Class != elfobj.ELFCLASS64 {
		return nil, fmt.Errorf("%s: %v object, want ELFCLASS64", name, ef.Class)
	}
	if osf, ok := r.(*os.File); ok {
		f.osFile = osf
	}
	for i, s := range ef.Sections {
		f.Sections = append(f.Sections, Section{
			Index: i, Name: s.Name, Type: s.Type, Flags: s.Flags,
			Addr: s.Addr, Size: s.Size, Info: s.Info, Link: s.Link,
		})
	}
	f.Flags = ef.Flags
	// ppc64 ELFv1: e_flags & EF_PPC64_ABI == 1, or an .opd section.
	if ef.Machine == elfobj.EM_PPC64 && (f.Flags&3 == 1 || ef.Section(".opd") != nil) {
		f.ABIv1 = true
	}
	if err := f.readBuildID(); err != nil {
		return nil, err
	}
	f.readModuleName()
	if syms {
		if err := f.readSymbols(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Close releases the file. DWARF data already returned stays valid (its
// mapping is released when it is unreachable).
func (f *ELFFile) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

// ReaderAt is what f was read from (the decompressed file, or the
// bytes given to NewELF), for readers that parse it again (debug/elf's
// DWARF reader in symbols/dwarfread).
func (f *ELFFile) ReaderAt() io.ReaderAt { return f.r }

// OSFile is the open file f was read from (nil when f was made from bytes
// with NewELF), for readers that map its sections (symbols/dwarftypes).
func (f *ELFFile) OSFile() *os.File { return f.osFile }

// ErrNoSection is what SectionData wraps for a section the file does not
// have, or has without contents (SHT_NOBITS).
var ErrNoSection = errors.New("no such section with contents")

// SectionData reads the bytes of the first section with that name,
// decompressed (SHF_COMPRESSED) and bounded by limit before and after
// decompression; a malformed section is an error with its name, never a
// panic.
func (f *ELFFile) SectionData(name string, limit uint64) (b []byte, err error) {
	s := f.File.Section(name)
	if s == nil || s.Type == elfobj.SHT_NOBITS {
		return nil, fmt.Errorf("%s: %s: %w", f.Path, name, ErrNoSection)
	}
	if s.Size > limit {
		return nil, fmt.Errorf("%s: %s of %d bytes is larger than the %d-byte limit", f.Path, name, s.Size, limit)
	}
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%s: reading %s (reader panicked: %v)", f.Path, name, p)
		}
	}()
	b, err = s.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s at offset %#x: %w", f.Path, name, s.Offset, err)
	}
	if uint64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %s of %d bytes decompressed is larger than the %d-byte limit", f.Path, name, len(b), limit)
	}
	return b, nil
}

// SectionByName returns the first section with that name.
func (f *ELFFile) SectionByName(name string) (Section, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// maxNoteSection bounds the note sections read for the build-id.
const maxNoteSection = 1 << 20

func (f *ELFFile) readBuildID() error {
	id, err := buildIDOfSections(f.File, f.Path)
	if err != nil {
		return err
	}
	if id != nil {
		f.BuildID = id
	}
	return nil
}

// ReadBuildID reads the GNU build-id of an ELF file through its section
// headers, without reading its symbols: what finding a debuginfo file by
// build-id needs of each candidate. nil without error when it has none.
func ReadBuildID(r io.ReaderAt, path string) (id []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, err = nil, fmt.Errorf("%s: malformed ELF file (reader panicked: %v)", path, p)
		}
	}()
	ef, err := elfobj.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return buildIDOfSections(ef, path)
}

// buildIDOfSections finds the GNU build-id note: modules have
// .note.gnu.build-id; vmlinux collects its notes in .notes. It looks at
// .note.gnu.build-id first, then every note section.
func buildIDOfSections(ef *elfobj.File, path string) ([]byte, error) {
	secs := make([]*elfobj.Section, 0, 4)
	for _, s := range ef.Sections {
		if s.Type == elfobj.SHT_NOTE && s.Name == ".note.gnu.build-id" {
			secs = append(secs, s)
		}
	}
	for _, s := range ef.Sections {
		if s.Type == elfobj.SHT_NOTE && s.Name != ".note.gnu.build-id" {
			secs = append(secs, s)
		}
	}
	for _, s := range secs {
		if s.Size > maxNoteSection {
			return nil, fmt.Errorf("%s: %s at offset %#x: size %#x too large for a note", path, s.Name, s.Offset, s.Size)
		}
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: reading %s at offset %#x: %w", path, s.Name, s.Offset, err)
		}
		id, err := ParseBuildIDNote(data, ef.ByteOrder)
		if err != nil {
			return nil, fmt.Errorf("%s: %s at offset %#x: %w", path, s.Name, s.Offset, err)
		}
		if id != nil {
			return id, nil
		}
	}
	return nil, nil
}

// ParseBuildIDNote finds the NT_GNU_BUILD_ID note (type 3, name "GNU") in a
// note section's bytes; nil when there is none.
func ParseBuildIDNote(b []byte, order binary.ByteOrder) ([]byte, error) {
	for off := 0; off+12 <= len(b); {
		namesz := int(order.Uint32(b[off:]))
		descsz := int(order.Uint32(b[off+4:]))
		typ := order.Uint32(b[off+8:])
		p := off + 12
		nameEnd := p + align4(namesz)
		if namesz < 0 || descsz < 0 || namesz > len(b) || descsz > len(b) || nameEnd > len(b) || nameEnd+descsz > len(b) {
			return nil, fmt.Errorf("note at section offset %#x overruns the section", off)
		}
		name := b[p : p+namesz]
		if typ == 3 && bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("GNU")) {
			return append([]byte(nil), b[nameEnd:nameEnd+descsz]...), nil
		}
		off = nameEnd + align4(descsz)
	}
	return nil, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

func (f *ELFFile) readModuleName() {
	if f.File.Type != elfobj.ET_REL {
		return
	}
	if s := f.File.Section(".modinfo"); s != nil && s.Type != elfobj.SHT_NOBITS && s.Size < maxNoteSection {
		if data, err := s.Data(); err == nil {
			for _, kv := range bytes.Split(data, []byte{0}) {
				if v, ok := bytes.CutPrefix(kv, []byte("name=")); ok && len(v) > 0 {
					f.Module = string(v)
					return
				}
			}
		}
	}
	base := filepath.Base(f.Path)
	for _, suf := range container.Suffixes {
		base = strings.TrimSuffix(base, suf)
	}
	base = strings.TrimSuffix(base, ".ko")
	f.Module = strings.ReplaceAll(base, "-", "_")
}

// readRaw reads .symtab into f.raw (nil when the file has none).
func (f *ELFFile) readRaw() error {
	symtab := f.File.SectionByType(elfobj.SHT_SYMTAB)
	if symtab == nil {
		return nil
	}
	if symtab.Size/elfobj.Sym64Size > maxSymbols {
		return fmt.Errorf("%s: .symtab at offset %#x holds %d symbols, more than %d", f.Path, symtab.Offset, symtab.Size/elfobj.Sym64Size, maxSymbols)
	}
	raw, err := readSymtab64(f.File, symtab)
	if err != nil {
		if errors.Is(err, elfobj.ErrNoSymbols) {
			return nil
		}
		return fmt.Errorf("%s: reading .symtab at offset %#x: %w", f.Path, symtab.Offset, err)
	}
	f.raw = raw
	return nil
}

// readSymtab64 is debug/elf's File.Symbols for an ELFCLASS64 .symtab
// (the same checks and errors, the same names: "" for an st_name outside
// the string table or not NUL-terminated in it), made straight into
// RawSymbols with the null symbol at index 0, and with the names read in
// place from the string table's bytes instead of allocated one by one
// (137 701 of them in a distro vmlinux: a third of a cold start-up).
func readSymtab64(f *elfobj.File, symtab *elfobj.Section) ([]RawSymbol, error) {
	data, err := symtab.Data()
	if err != nil {
		return nil, fmt.Errorf("cannot load symbol section: %w", err)
	}
	if len(data) == 0 {
		return nil, elfobj.ErrNoSymbols
	}
	if len(data)%elfobj.Sym64Size != 0 {
		return nil, errors.New("length of symbol section is not a multiple of Sym64Size")
	}
	if symtab.Link == 0 || uint64(symtab.Link) >= uint64(len(f.Sections)) {
		return nil, errors.New("cannot load string table section: section has invalid string table link")
	}
	if st := f.Sections[symtab.Link]; st.Size > maxStrtab {
		return nil, fmt.Errorf("cannot load string table section: %s of %d bytes, more than %d", st.Name, st.Size, maxStrtab)
	}
	strdata, err := f.Sections[symtab.Link].Data()
	if err != nil {
		return nil, fmt.Errorf("cannot load string table section: %w", err)
	}
	// The string table is never written after this: names point into it.
	name := func(off uint32) string {
		if uint64(off) >= uint64(len(strdata)) {
			return ""
		}
		end := bytes.IndexByte(strdata[off:], 0)
		if end <= 0 {
			return ""
		}
		return unsafe.String(&strdata[off], end)
	}
	o := f.ByteOrder
	n := len(data) / elfobj.Sym64Size
	raw := make([]RawSymbol, n)
	for i := 1; i < n; i++ {
		b := data[i*elfobj.Sym64Size : (i+1)*elfobj.Sym64Size]
		raw[i] = RawSymbol{Index: i, Name: name(o.Uint32(b)), Info: b[4], Other: b[5],
			Shndx: elfobj.SectionIndex(o.Uint16(b[6:])), Value: o.Uint64(b[8:]), Size: o.Uint64(b[16:])}
	}
	return raw, nil
}

func (f *ELFFile) readSymbols() error {
	f.rawOnce.Do(func() { f.rawErr = f.readRaw() })
	if f.rawErr != nil || f.raw == nil {
		return f.rawErr
	}
	opd := f.opdReader()
	f.Symbols = make([]Symbol, 0, len(f.raw)) // one allocation: 137 701 symbols in a distro vmlinux
	for _, r := range f.raw[1:] {
		switch r.Type() {
		case elfobj.STT_SECTION:
			continue
		}
		if r.Name == "" {
			continue
		}
		s := Symbol{Name: r.Name, Addr: r.Value, Size: r.Size, Kind: f.kind(r), Module: f.Module}
		if int(r.Shndx) > 0 && int(r.Shndx) < len(f.Sections) && r.Shndx < elfobj.SHN_LORESERVE {
			s.Section = f.Sections[r.Shndx].Name
		}
		if f.File.Machine == elfobj.EM_PPC64 && !f.ABIv1 {
			s.LocalEntry = LocalEntryOffset(r.Other)
		}
		if opd != nil && s.Section == ".opd" && r.Type() == elfobj.STT_FUNC {
			if entry, ok := opd(r.Value); ok {
				s.Desc = r.Value
				s.Addr = entry
				s.Section = f.sectionAt(entry)
				// The symbol now names code: type it by the entry's
				// section, as the kernel's dot-symbols were.
				if i := f.sectionIndexAt(entry); i > 0 {
					c := r
					c.Shndx = elfobj.SectionIndex(i)
					s.Kind = f.kind(c)
				}
			}
		}
		f.Symbols = append(f.Symbols, s)
	}
	f.SymtabReport = f.checkSymbols()
	return nil
}

// LocalEntryOffset decodes the ppc64 ELFv2 local entry offset from
// st_other bits 5-7, as binutils' PPC64_LOCAL_ENTRY_OFFSET (and the
// kernel's local_entry_offset() in arch/powerpc/kernel/module_64.c):
// ((1 << v) >> 2) << 2, so 0 and 1 give 0 and 2..6 give 4, 8, 16, 32, 64
// bytes.
func LocalEntryOffset(other byte) uint64 {
	v := (other & 0xe0) >> 5
	return ((1 << v) >> 2) << 2
}

// opdReader returns a function that reads the entry address of the ELFv1
// function descriptor at a virtual address, or nil when the file has no
// usable .opd (not ELFv1, or a relocatable .ko whose .opd is filled by
// relocations).
func (f *ELFFile) opdReader() func(addr uint64) (uint64, bool) {
	if !f.ABIv1 || f.File.Type == elfobj.ET_REL {
		return nil
	}
	s := f.File.Section(".opd")
	if s == nil || s.Type == elfobj.SHT_NOBITS || s.Flags&elfobj.SHF_COMPRESSED != 0 {
		return nil
	}
	return func(addr uint64) (uint64, bool) {
		if addr < s.Addr || addr-s.Addr > s.Size || s.Size-(addr-s.Addr) < 8 {
			return 0, false
		}
		var b [8]byte
		if _, err := s.ReadAt(b[:], int64(addr-s.Addr)); err != nil {
			return 0, false
		}
		return f.ByteOrder.Uint64(b[:]), true
	}
}

// sectionAt names the allocated section holding addr ("" if none).
func (f *ELFFile) sectionAt(addr uint64) string {
	if i := f.sectionIndexAt(addr); i > 0 {
		return f.Sections[i].Name
	}
	return ""
}

// sectionIndexAt returns the index of the allocated section holding addr
// (0 if none).
func (f *ELFFile) sectionIndexAt(addr uint64) int {
	for i, s := range f.Sections {
		if i > 0 && s.Flags&elfobj.SHF_ALLOC != 0 && s.Addr <= addr && addr-s.Addr < s.Size {
			return i
		}
	}
	return 0
}

// kind computes the nm-style letter of a symbol, following binutils'
// bfd_decode_symclass and, for what modules show, the kernel's elf_type()
// in kernel/module/kallsyms.c.
func (f *ELFFile) kind(r RawSymbol) byte {
	bind, typ := r.Bind(), r.Type()
	global := bind == elfobj.STB_GLOBAL || bind == elfobj.STB_WEAK || bind == elfobj.STB_GNU_UNIQUE
	up := func(c byte) byte {
		if global {
			return c - 'a' + 'A'
		}
		return c
	}
	if typ == elfobj.STT_FILE {
		return 'a'
	}
	if typ == elfobj.STT_GNU_IFUNC {
		return 'i'
	}
	if bind == elfobj.STB_GNU_UNIQUE {
		return 'u'
	}
	switch r.Shndx {
	case elfobj.SHN_UNDEF:
		if bind == elfobj.STB_WEAK {
			if typ == elfobj.STT_OBJECT {
				return 'v'
			}
			return 'w'
		}
		return 'U'
	case elfobj.SHN_COMMON:
		return 'C'
	}
	if bind == elfobj.STB_WEAK {
		if typ == elfobj.STT_OBJECT {
			return 'V'
		}
		return 'W'
	}
	if r.Shndx == elfobj.SHN_ABS {
		return up('a')
	}
	if r.Shndx >= elfobj.SHN_LORESERVE || int(r.Shndx) >= len(f.Sections) {
		return '?'
	}
	s := f.Sections[r.Shndx]
	switch {
	case s.Flags&elfobj.SHF_EXECINSTR != 0:
		return up('t')
	case s.Flags&elfobj.SHF_ALLOC != 0 && s.Type == elfobj.SHT_NOBITS:
		return up('b')
	case s.Flags&elfobj.SHF_ALLOC != 0 && s.Flags&elfobj.SHF_WRITE == 0:
		return up('r')
	case s.Flags&elfobj.SHF_ALLOC != 0:
		return up('d')
	case strings.HasPrefix(s.Name, ".debug"):
		return 'N'
	case s.Flags&elfobj.SHF_WRITE == 0:
		return up('n')
	}
	// A writable section that is not loaded (vmlinux's .data_nosave):
	// binutils shows '?'.
	return '?'
}

// NumRawSymbols is the number of .symtab entries including the null
// symbol at index 0 (0 when the file has no symbol table).
func (f *ELFFile) NumRawSymbols() int { return len(f.rawSymbols()) }

// RawSymbols returns every .symtab entry, the null symbol first (the
// caller must not modify them).
func (f *ELFFile) RawSymbols() []RawSymbol { return f.rawSymbols() }

// rawSymbols is f.raw, read from .symtab at the first call when the
// symbols came from the cache (nil when it cannot be read).
func (f *ELFFile) rawSymbols() []RawSymbol {
	f.rawOnce.Do(func() { f.rawErr = f.readRaw() })
	return f.raw
}

// ReadRawSymbols is RawSymbols with the error of reading .symtab (nil,
// nil for a file without one).
func (f *ELFFile) ReadRawSymbols() ([]RawSymbol, error) {
	raw := f.rawSymbols()
	return raw, f.rawErr
}

// RawSymbol returns .symtab entry i (as a relocation's Sym indexes it).
func (f *ELFFile) RawSymbol(i uint32) (RawSymbol, error) {
	raw := f.rawSymbols()
	if f.rawErr != nil {
		return RawSymbol{}, f.rawErr
	}
	if uint64(i) >= uint64(len(raw)) {
		return RawSymbol{}, fmt.Errorf("%s: symbol index %d out of range (%d symbols)", f.Path, i, len(raw))
	}
	return raw[i], nil
}

// maxRelaSection bounds the size of one relocation section read.
const maxRelaSection = 1 << 30

// Relocations returns the Elf64_Rela entries of the SHT_RELA section named
// name (".rela.text", ".klp.rela.klp_tgt..klptext", ...).
func (f *ELFFile) Relocations(name string) ([]Rela, error) {
	var s *elfobj.Section
	for _, c := range f.File.Sections {
		if c.Name == name {
			s = c
			break
		}
	}
	if s == nil {
		return nil, fmt.Errorf("%s: no section %s", f.Path, name)
	}
	if s.Type != elfobj.SHT_RELA {
		return nil, fmt.Errorf("%s: section %s at offset %#x is %v, not SHT_RELA", f.Path, name, s.Offset, s.Type)
	}
	const entsize = 24
	if s.Size%entsize != 0 || s.Size > maxRelaSection {
		return nil, fmt.Errorf("%s: section %s at offset %#x: size %#x is not a multiple of %d or too large", f.Path, name, s.Offset, s.Size, entsize)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s at offset %#x: %w", f.Path, name, s.Offset, err)
	}
	out := make([]Rela, 0, len(data)/entsize)
	for off := 0; off+entsize <= len(data); off += entsize {
		info := f.ByteOrder.Uint64(data[off+8:])
		out = append(out, Rela{
			Off:    f.ByteOrder.Uint64(data[off:]),
			Sym:    uint32(info >> 32),
			Type:   uint32(info),
			Addend: int64(f.ByteOrder.Uint64(data[off+16:])),
		})
	}
	return out, nil
}

// Table returns the file's symbols as a Table (section bounds known, so
// size-0 symbols do not reach past their section). It is made once (the
// sort and the name index of a distro vmlinux's 137 701 symbols cost
// ~95 ms) and shared by every caller: a Table is read-only.
func (f *ELFFile) Table() *Table {
	f.tableOnce.Do(func() {
		if f.table == nil {
			f.table = f.withSections(NewTable(f.Symbols))
		}
	})
	return f.table
}

// withSections gives t the file's allocated sections' ranges (a linked
// file's; a relocatable .ko has none).
func (f *ELFFile) withSections(t *Table) *Table {
	if f.File.Type != elfobj.ET_REL {
		var secs []SectionRange
		for _, s := range f.Sections {
			if s.Flags&elfobj.SHF_ALLOC != 0 && s.Size > 0 {
				secs = append(secs, SectionRange{Name: s.Name, Start: s.Addr, End: s.Addr + s.Size})
			}
		}
		sort.Slice(secs, func(i, j int) bool { return secs[i].Start < secs[j].Start })
		t.sections = secs
	}
	return t
}
