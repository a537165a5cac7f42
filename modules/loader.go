package modules

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/reloc"
	"github.com/kdump-inspect/kdump-inspect/symbols"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
)

// Constants of the ppc64 loader.
const (
	// R_PPC_REL24 is the 24-bit relative branch relocation (R_PPC64_REL24).
	R_PPC_REL24 = 10

	// StubEntrySize is sizeof(struct ppc64_stub_entry) on ELFv2 (40) and
	// OOLStubSize sizeof(struct ftrace_ool_stub) (24). The reader takes both
	// from DWARF; the model takes them from its input, defaulting to these.
	StubEntrySize = 40
	OOLStubSize   = 24

	// STUB_MAGIC is ppc64_stub_entry.magic ("stub"), module_64.c.
	STUB_MAGIC = 0x73747562
)

// LoaderFeatures are the kernel configuration facts the loader model needs,
// feature-detected from the vmlinux (DWARF members and symbols), never from
// a version string.
type LoaderFeatures struct {
	DynamicFtrace bool // mod_arch_specific has tramp
	WithRegs      bool // ftrace_regs_caller exists: a second trampoline stub
	OutOfLine     bool // mod_arch_specific has ool_stubs (PPC_FTRACE_OUT_OF_LINE)
	StubCount     bool // mod_arch_specific has stub_count (appending loader)
	PCREL         bool // mod_arch_specific has got_section
	ELFv1         bool // the vmlinux is ELFv1 (kernel.Program.ELFv1)
	StubEntrySize int  // sizeof(struct ppc64_stub_entry), 40 when zero
	OOLStubSize   int  // sizeof(struct ftrace_ool_stub), 24 when zero
	PacaKernelTOC int  // offsetof(struct paca_struct, kernel_toc)
	NoTerminator  bool // get_stubs_size() adds no zero terminator slot (7.x)
}

func (f LoaderFeatures) stubSize() int {
	if f.StubEntrySize > 0 {
		return f.StubEntrySize
	}
	return StubEntrySize
}

func (f LoaderFeatures) oolSize() int {
	if f.OOLStubSize > 0 {
		return f.OOLStubSize
	}
	return OOLStubSize
}

// KoSymbol is a symbol of the .ko as the loader sees it.
type KoSymbol struct {
	Index   int
	Name    string
	Shndx   elfobj.SectionIndex
	Value   uint64
	Binding elfobj.SymBind
	Other   uint8 // st_other (ppc64 ELFv2: the local entry offset)
}

// Rela is one relocation of a RELA section.
type Rela struct {
	Off    uint64
	Info   uint64 // r_info: symbol index << 32 | type
	Addend int64
}

func (r Rela) Sym() uint32  { return uint32(r.Info >> 32) }
func (r Rela) Type() uint32 { return uint32(r.Info) }

// RelaSection is one SHT_RELA section of the .ko, relocations sorted the way
// get_stubs_size() leaves them.
type RelaSection struct {
	Index     int
	Name      string
	Target    int    // sh_info
	TargetSec string // name of the section it relocates
	Flags     elfobj.SectionFlag
	Livepatch bool   // SHF_RELA_LIVEPATCH
	Object    string // for .klp.rela.OBJ.SEC: OBJ ("vmlinux" or a module)
	Relas     []Rela // sorted as relacmp() sorts
	// Rel24Count is count_relocs(R_PPC_REL24) over the sorted section.
	Rel24Count int
	// Syms, when set, is the symbol table these relocations index (for
	// sections read from the dump); else KoImage.Symbols.
	Syms       []KoSymbol
	FromMemory bool
}

// KoImage is what the loader model reads from a module's .ko: its RELA
// sections, symbols and the size of __patchable_function_entries.
type KoImage struct {
	Name          string
	ByteOrder     binary.ByteOrder
	Sections      []KoSection
	Relas         []RelaSection
	Symbols       []KoSymbol // index 0 is the null symbol
	PatchableSize uint64     // sh_size of __patchable_function_entries, 0 if none
	HasToc        bool
	// Warnings: facts about the file that make it differ from what a kernel
	// loaded, e.g. R_PPC_REL24 relocations against the null symbol: a
	// livepatch .ko taken before klp-convert turned them into
	// .klp.rela.OBJ.SECTION sections (the loaded module then had more
	// relocations, and a larger .stubs, than this file says).
	Warnings []string
}

// hasSection reports whether the .ko has a section of that name.
func (k *KoImage) hasSection(name string) bool {
	for _, s := range k.Sections {
		if s.Name == name {
			return true
		}
	}
	return false
}

// KoSection is one section header of the .ko.
type KoSection struct {
	Index int
	Name  string
	Type  elfobj.SectionType
	Flags elfobj.SectionFlag
	Size  uint64
	Info  uint32
}

// maxRelas bounds how many relocations one section may hold before the .ko
// is refused (a hostile file could claim billions).
const maxRelas = 1 << 22

// ReadKo extracts a KoImage from an opened .ko.
func ReadKo(name string, ef *symbols.ELFFile) (*KoImage, error) {
	f := ef.File
	if f.Class != elfobj.ELFCLASS64 {
		return nil, fmt.Errorf("%s: not an ELF64 object", name)
	}
	img := &KoImage{Name: name, ByteOrder: f.ByteOrder}
	for i, s := range f.Sections {
		img.Sections = append(img.Sections, KoSection{Index: i, Name: s.Name, Type: s.Type, Flags: s.Flags, Size: s.Size, Info: s.Info})
		switch s.Name {
		case "__patchable_function_entries":
			if img.PatchableSize == 0 {
				img.PatchableSize = s.Size
			}
		case ".toc":
			img.HasToc = true
		}
	}
	syms, err := ef.ReadRawSymbols()
	if err != nil {
		return nil, fmt.Errorf("%s: reading symbols: %w", name, err)
	}
	img.Symbols = make([]KoSymbol, 0, max(len(syms), 1))
	img.Symbols = append(img.Symbols, KoSymbol{})
	for _, s := range syms[min(1, len(syms)):] { // index 0 is the null symbol
		img.Symbols = append(img.Symbols, KoSymbol{Index: s.Index, Name: s.Name, Shndx: s.Shndx, Value: s.Value, Binding: s.Bind(), Other: s.Other})
	}
	for i, s := range f.Sections {
		if i == 0 || s.Type != elfobj.SHT_RELA {
			continue
		}
		if s.Size/24 > maxRelas {
			return nil, fmt.Errorf("%s: section %s claims %d relocations (limit %d)", name, s.Name, s.Size/24, maxRelas)
		}
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: reading %s at offset %#x: %w", name, s.Name, s.Offset, err)
		}
		rs := RelaSection{Index: i, Name: s.Name, Target: int(s.Info), Flags: s.Flags, Livepatch: s.Flags&elfobj.SHF_RELA_LIVEPATCH != 0}
		if int(s.Info) < len(f.Sections) {
			rs.TargetSec = f.Sections[s.Info].Name
		}
		if rs.Livepatch {
			rs.Object = klpRelaObject(s.Name)
		}
		for off := 0; off+24 <= len(data); off += 24 {
			rs.Relas = append(rs.Relas, Rela{
				Off:    f.ByteOrder.Uint64(data[off:]),
				Info:   f.ByteOrder.Uint64(data[off+8:]),
				Addend: int64(f.ByteOrder.Uint64(data[off+16:])),
			})
		}
		sortRelas(rs.Relas)
		for _, r := range rs.Relas {
			if r.Type() == R_PPC_REL24 && r.Sym() == 0 && int(s.Info) < len(f.Sections) && f.Sections[s.Info].Flags&elfobj.SHF_ALLOC != 0 {
				img.Warnings = append(img.Warnings, fmt.Sprintf("%s: R_PPC_REL24 at %s+%#x against the null symbol: an unconverted livepatch relocation? (klp-convert output differs from this file)", name, rs.TargetSec, r.Off))
			}
		}
		rs.Rel24Count = countRelocs(rs.Relas, R_PPC_REL24)
		img.Relas = append(img.Relas, rs)
	}
	return img, nil
}

// klpRelaObject returns OBJ of ".klp.rela.OBJ.SECTION", as
// klp_write_section_relocs() scans it ("%55[^.]").
func klpRelaObject(secname string) string {
	rest, ok := strings.CutPrefix(secname, ".klp.rela.")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// ParseKlpSym splits ".klp.sym.OBJ.NAME,POS" the way klp_resolve_symbols()
// does ("%55[^.].%511[^,],%lu").
func ParseKlpSym(name string) (obj, sym string, pos uint64, ok bool) {
	rest, found := strings.CutPrefix(name, ".klp.sym.")
	if !found {
		return "", "", 0, false
	}
	dot := strings.IndexByte(rest, '.')
	comma := strings.LastIndexByte(rest, ',')
	if dot <= 0 || comma <= dot+1 {
		return "", "", 0, false
	}
	p, err := strconv.ParseUint(rest[comma+1:], 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	return rest[:dot], rest[dot+1 : comma], p, true
}

// sortRelas sorts as get_stubs_size() does with relacmp(): relacmp swaps its
// arguments, so the order is descending by the whole r_info, then by addend.
func sortRelas(r []Rela) {
	order := func(a, b Rela) int {
		if a.Info != b.Info {
			return cmp.Compare(b.Info, a.Info)
		}
		return cmp.Compare(b.Addend, a.Addend)
	}
	if slices.IsSortedFunc(r, order) {
		return
	}
	// A stable sort done as pdqsort of indices with ties broken by index
	// and one copy: sort.SliceStable's reflection swapper cost 74 ms per
	// audited dump and slices.SortStableFunc's in-place merges still 18 ms
	// (docs/PERFORMANCE.md).
	perm := make([]int32, len(r))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(i, j int32) int {
		if c := order(r[i], r[j]); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	sorted := make([]Rela, len(r))
	for k, i := range perm {
		sorted[k] = r[i]
	}
	copy(r, sorted)
}

// countRelocs mirrors count_relocs(): consecutive R_TYPE relocations with a
// different (symbol, addend) than the previous counted one. Its state is an
// unsigned int symbol and an unsigned int addend that start at zero, so a
// relocation against symbol 0 with addend 0 is never counted, and an addend
// that does not fit 32 bits never compares equal: both kept as the kernel
// has them.
func countRelocs(r []Rela, rtype uint32) int {
	n := 0
	var symState, addState uint32
	for _, x := range r {
		if x.Type() != rtype {
			continue
		}
		if symState != x.Sym() || int64(addState) != x.Addend {
			n++
			symState = x.Sym()
			addState = uint32(x.Addend)
		}
	}
	return n
}

// StubsSize is get_stubs_size()'s arithmetic for one .ko.
type StubsSize struct {
	PerRelaSection  map[string]int // count_relocs(R_PPC_REL24) per RELA section with any
	Rel24Candidates int
	TrampSlots      int // DYNAMIC_FTRACE + DYNAMIC_FTRACE_WITH_REGS
	Patchable       int // __patchable_function_entries entries
	OOLSlots        int // roundup(Patchable * sizeof(ool stub), sizeof(stub)) / sizeof(stub)
	TotalSlots      int
	Size            uint64
}

// ComputeStubsSize mirrors get_stubs_size() (module_64.c): per RELA section,
// sorted, the distinct (symbol, addend) pairs of all R_PPC_REL24 relocations
// (internal calls and .klp.rela.* sections included), plus the trampoline
// slots, plus the OOL area. 7.2 adds no terminator slot.
func ComputeStubsSize(ko *KoImage, f LoaderFeatures) StubsSize {
	s := StubsSize{PerRelaSection: map[string]int{}}
	for _, r := range ko.Relas {
		if r.Rel24Count > 0 {
			s.PerRelaSection[r.Name] = r.Rel24Count
		}
		s.Rel24Candidates += r.Rel24Count
	}
	if f.DynamicFtrace {
		s.TrampSlots++
	}
	if f.WithRegs {
		s.TrampSlots++
	}
	if f.OutOfLine && ko.PatchableSize > 0 {
		s.Patchable = int(ko.PatchableSize / 8)
		s.OOLSlots = oolSlots(s.Patchable, f)
	}
	s.TotalSlots = s.Rel24Candidates + s.TrampSlots + s.OOLSlots
	if !f.NoTerminator {
		s.TotalSlots++
	}
	s.Size = uint64(s.TotalSlots * f.stubSize())
	return s
}

func oolSlots(n int, f LoaderFeatures) int {
	b := n * f.oolSize()
	st := f.stubSize()
	return (b + st - 1) / st
}

// SlotKind classifies one ppc64_stub_entry-sized slot of .stubs.
type SlotKind int

const (
	SlotFree      SlotKind = iota // all zero
	SlotCall                      // a call stub (create_stub)
	SlotTramp                     // mod->arch.tramp (create_ftrace_stub to ftrace_caller)
	SlotTrampRegs                 // mod->arch.tramp_regs (to ftrace_regs_caller)
	SlotOOL                       // part of the ftrace_ool_stub array
	SlotKlp                       // a call stub made later by a .klp.rela.MODULE relocation
	SlotGarbage                   // none of the above
	// SlotFtrace is create_ftrace_stub()'s kernel-TOC stub for another
	// mprofile ftrace target than the two trampolines: the _mcount stub
	// recordmcount kernels make for each module's `bl _mcount` calls.
	SlotFtrace
)

func (k SlotKind) String() string {
	return [...]string{"free", "call", "tramp", "tramp_regs", "ool", "klp-call", "garbage", "ftrace"}[k]
}

// IsStub says whether the slot holds a stub the loader wrote (a call,
// livepatch call or trampoline stub), as opposed to free, OOL or garbage
// words.
func (k SlotKind) IsStub() bool {
	return k == SlotCall || k == SlotKlp || k == SlotTramp || k == SlotTrampRegs || k == SlotFtrace
}

// isMprofileFtraceCall mirrors is_mprofile_ftrace_call() (module_64.c):
// stubs to these targets use the kernel TOC from the PACA
// (create_ftrace_stub()), because r2 may not hold the module's TOC at a
// profiling call.
func isMprofileFtraceCall(name string) bool { return reloc.IsMprofileFtraceCall(name) }

// ExpectedStub is one stub the correct loader writes.
type ExpectedStub struct {
	Slot       int
	Addr       uint64
	Kind       SlotKind
	Target     uint64 // funcdata: the function's address (ELFv2 func_desc)
	TargetName string // symbol name as the relocation names it
	Object     string // "vmlinux", a module name, or "" for an undefined symbol
	Section    string // the RELA section whose relocation made it ("" for trampolines)
	Words      []uint32
	// WordMask[i] false: the loader does not write jump[i] (ELFv2 jump[6],
	// create_ftrace_stub's jump[5..6]): whatever was there stays.
	WordMask [7]bool
}

// LoaderInput is what the model needs besides the .ko.
type LoaderInput struct {
	Ko       *KoImage
	Features LoaderFeatures
	// Sections: addresses of the loaded module's sections (mod->sect_attrs).
	Sections map[string]uint64
	// Resolve returns the address an undefined symbol resolves to for this
	// module (resolve_symbol(): exported by vmlinux or another module).
	Resolve func(name string) (uint64, bool)
	// ResolveKlp returns the address of NAME in OBJ ("vmlinux" or a module)
	// at position POS (klp_find_object_symbol()); ok false when the object
	// is not loaded.
	ResolveKlp func(obj, name string, pos uint64) (uint64, bool)
	// KlpObjectsApplied: the .klp.rela.MODULE sections whose relocations were
	// applied (the patch is enabled and MODULE is loaded), in the order
	// klp_init_object_loaded() ran for them (patch object order).
	KlpObjectsApplied []string
	FtraceCaller      uint64
	FtraceRegsCaller  uint64
	KernelTOC         uint64 // kernel_toc_addr(): the kernel's r2
}

// LoaderModel is what the fixed module_64.c puts in .stubs.
type LoaderModel struct {
	Size StubsSize
	R2   uint64 // my_r2(): (.toc or .stubs address & ~0xff) + 0x8000
	Base uint64 // .stubs address
	// Stubs in slot order: call stubs, tramp, tramp_regs, (OOL area), klp stubs.
	Stubs []ExpectedStub
	// StubCountAtOOL is stub_count when setup_ftrace_ool_stubs() ran.
	StubCountAtOOL int
	OOLStart       uint64 // stubs + StubCountAtOOL * sizeof(stub)
	OOLSlots       int    // slots the OOL array reserves
	OOLStubCount   int    // ool_stub_count
	StubCount      int    // final stub_count
	Unresolved     []string
}

// ModelLoader computes what the correct (fixed) 7.2 loader writes into a
// module's .stubs, mirroring, in order: apply_relocations()
// (kernel/module/main.c: RELA sections in index order, .klp.rela.vmlinux.*
// among them via klp_apply_section_relocs()) with apply_relocate_add()'s
// R_PPC_REL24 case (stub_for_addr() for SHN_UNDEF and SHN_LIVEPATCH
// symbols, one stub per distinct target); module_finalize_ftrace()
// (tramp, tramp_regs, setup_ftrace_ool_stubs() with the fix that counts the
// OOL array in stub_count); then klp_init_object_loaded() applying
// .klp.rela.MODULE.* sections, whose stubs append at stub_count.
func ModelLoader(in LoaderInput) (*LoaderModel, error) {
	l, err := newLoaderRun(in)
	if err != nil {
		return nil, err
	}
	if err := l.applyRelocations(); err != nil {
		return nil, err
	}
	if err := l.finalizeFtrace(); err != nil {
		return nil, err
	}
	if err := l.klpObjectsLoaded(); err != nil {
		return nil, err
	}
	m := l.m
	if uint64(m.StubCount)*l.stubSz > m.Size.Size {
		return m, fmt.Errorf("%s: model needs %d stubs but get_stubs_size() reserves %d", l.ko.Name, m.StubCount, m.Size.TotalSlots)
	}
	return m, nil
}

// loaderRun is one run of the loader model: its input and the model as
// it grows.
type loaderRun struct {
	in     LoaderInput
	ko     *KoImage
	f      LoaderFeatures
	m      *LoaderModel
	base   uint64 // .stubs address
	stubSz uint64
}

// newLoaderRun checks the input (an ELFv2 non-PCREL .ko with a .stubs
// address) and sets the model's size, base and my_r2().
func newLoaderRun(in LoaderInput) (*loaderRun, error) {
	ko := in.Ko
	if ko == nil {
		return nil, fmt.Errorf("loader model needs the module's .ko")
	}
	f := in.Features
	if f.PCREL || f.ELFv1 {
		return nil, fmt.Errorf("%s: loader model covers ELFv2 non-PCREL kernels only", ko.Name)
	}
	m := &LoaderModel{Size: ComputeStubsSize(ko, f)}
	base, ok := in.Sections[".stubs"]
	if !ok {
		return nil, fmt.Errorf("%s: no .stubs section address", ko.Name)
	}
	m.Base = base
	toc := base
	if t, ok := in.Sections[".toc"]; ok && ko.HasToc {
		toc = t
	}
	m.R2 = (toc &^ 0xff) + 0x8000
	return &loaderRun{in: in, ko: ko, f: f, m: m, base: base, stubSz: uint64(f.stubSize())}, nil
}

// stubForAddr mirrors stub_for_addr(): reuse a stub among the first
// stub_count with the same target, else create one at stub_count.
func (l *loaderRun) stubForAddr(kind SlotKind, addr uint64, name, obj, sec string) error {
	for _, s := range l.m.Stubs {
		if s.Slot < l.m.StubCount && s.Target == addr {
			return nil
		}
	}
	slot := l.m.StubCount
	if l.f.OutOfLine && l.m.OOLSlots > 0 && slot < l.m.StubCountAtOOL+l.m.OOLSlots && slot >= l.m.StubCountAtOOL {
		// Cannot happen in the fixed loader: stub_count already counts the array.
		return fmt.Errorf("%s: model error: stub %d inside OOL area", l.ko.Name, slot)
	}
	addrSlot := l.base + uint64(slot)*l.stubSz
	es := ExpectedStub{Slot: slot, Addr: addrSlot, Kind: kind, Target: addr, TargetName: name, Object: obj, Section: sec}
	var err error
	switch {
	case kind == SlotTramp || kind == SlotTrampRegs || isMprofileFtraceCall(name):
		if kind != SlotTramp && kind != SlotTrampRegs {
			es.Kind = SlotFtrace
		}
		es.Words, err = ppc64.FtraceTrampStubWords(uint16(l.f.PacaKernelTOC), l.in.KernelTOC, addr)
	default:
		es.Words, err = ppc64.CallStubWords(ppc64.ELFv2, addrSlot, l.m.R2)
	}
	for i := range es.Words {
		es.WordMask[i] = true
	}
	if err != nil {
		return fmt.Errorf("%s: slot %d (%s): %w", l.ko.Name, slot, name, err)
	}
	l.m.Stubs = append(l.m.Stubs, es)
	l.m.StubCount++
	return nil
}

// rel24 makes the stubs of a RELA section's R_PPC_REL24 relocations
// (apply_relocate_add()): to SHN_UNDEF symbols (resolve_symbol(),
// dedotified) and SHN_LIVEPATCH ones (klp_find_object_symbol()); an
// internal call needs none, an unresolved symbol is recorded.
func (l *loaderRun) rel24(rs RelaSection, kind SlotKind) error {
	for _, r := range rs.Relas {
		if r.Type() != R_PPC_REL24 {
			continue
		}
		symtab := l.ko.Symbols
		if rs.Syms != nil {
			symtab = rs.Syms
		}
		si := int(r.Sym())
		if si >= len(symtab) {
			return fmt.Errorf("%s: %s: relocation at %#x names symbol %d of %d", l.ko.Name, rs.Name, r.Off, si, len(symtab))
		}
		sym := symtab[si]
		var addr uint64
		var obj string
		name := sym.Name
		switch {
		case si == 0:
			// The null symbol: a .ko whose klp relocations were not
			// converted (see KoImage.Warnings). The kernel would make a
			// stub to address 0; the model records it as unresolved.
			l.m.Unresolved = append(l.m.Unresolved, fmt.Sprintf("%s+%#x: symbol 0", rs.Name, r.Off))
			continue
		case sym.Shndx == elfobj.SHN_UNDEF:
			// dedotify(): ".name" calls "name"
			name = strings.TrimPrefix(name, ".")
			a, ok := l.in.Resolve(name)
			if !ok {
				l.m.Unresolved = append(l.m.Unresolved, name)
				continue
			}
			addr = a
		case sym.Shndx == elfobj.SHN_LIVEPATCH:
			o, n, pos, ok := ParseKlpSym(sym.Name)
			if !ok {
				return fmt.Errorf("%s: malformed livepatch symbol %q", l.ko.Name, sym.Name)
			}
			a, found := l.in.ResolveKlp(o, n, pos)
			if !found {
				l.m.Unresolved = append(l.m.Unresolved, sym.Name)
				continue
			}
			addr, name, obj = a, n, o
		default:
			continue // internal call: no stub
		}
		if err := l.stubForAddr(kind, uint64(int64(addr)+r.Addend), name, obj, rs.Name); err != nil {
			return err
		}
	}
	return nil
}

// applyRelocations is apply_relocations(): RELA sections of allocated
// sections in index order, .klp.rela.vmlinux.* among them.
func (l *loaderRun) applyRelocations() error {
	ko := l.ko
	for _, rs := range ko.Relas {
		if rs.Target <= 0 || rs.Target >= len(ko.Sections) || ko.Sections[rs.Target].Flags&elfobj.SHF_ALLOC == 0 {
			continue
		}
		if rs.Livepatch && rs.Object != "vmlinux" {
			continue
		}
		kind := SlotCall
		if rs.Livepatch {
			kind = SlotKlp
		}
		if err := l.rel24(rs, kind); err != nil {
			return err
		}
	}
	return nil
}

// finalizeFtrace is module_finalize_ftrace(): the tramp and tramp_regs
// stubs, then setup_ftrace_ool_stubs() with the fix that counts the OOL
// array in stub_count.
func (l *loaderRun) finalizeFtrace() error {
	f, m, in := l.f, l.m, l.in
	if f.DynamicFtrace {
		if err := l.stubForAddr(SlotTramp, in.FtraceCaller, "ftrace_caller", "vmlinux", ""); err != nil {
			return err
		}
		if f.WithRegs {
			if err := l.stubForAddr(SlotTrampRegs, in.FtraceRegsCaller, "ftrace_regs_caller", "vmlinux", ""); err != nil {
				return err
			}
		}
	}
	m.StubCountAtOOL = m.StubCount
	m.OOLStart = l.base + uint64(m.StubCount)*l.stubSz
	if f.OutOfLine {
		m.OOLStubCount = m.Size.Patchable
		m.OOLSlots = m.Size.OOLSlots
		m.StubCount += m.OOLSlots // the fix: "powerpc64/modules: correctly iterate over stubs in setup_ftrace_ool_stubs"
	}
	return nil
}

// klpObjectsLoaded is klp_init_object_loaded(): .klp.rela.MODULE.* of
// each loaded object in patch object order, their stubs appended at
// stub_count.
func (l *loaderRun) klpObjectsLoaded() error {
	for _, obj := range l.in.KlpObjectsApplied {
		for _, rs := range l.ko.Relas {
			if !rs.Livepatch || rs.Object != obj || obj == "vmlinux" {
				continue
			}
			if err := l.rel24(rs, SlotKlp); err != nil {
				return err
			}
		}
	}
	return nil
}
