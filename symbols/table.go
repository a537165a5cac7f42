package symbols

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// SectionRange is an address range of a named section, used by Table to
// keep size-0 symbols from reaching past their section.
type SectionRange struct {
	Name       string
	Start, End uint64 // [Start, End)
}

// Table is one symbol set sorted by address, with a name index. It is
// read-only after NewTable and safe for concurrent use.
//
// The symbols are held compactly (rec: 40 bytes, the names in one
// string, sections and modules interned) rather than as 96-byte Symbols:
// a distro vmlinux or kallsyms table has ~140 000 of them and start-up
// decodes them from the symbol cache (docs/PERFORMANCE.md). A Symbol is
// made when asked for; Symbols() makes them all, once.
type Table struct {
	recs  []rec  // sorted by addr, then preference
	names string // every rec's name, at rec.name
	secs  []string
	mods  []string
	// locals holds LocalEntry values rec.local cannot (rec.local is then
	// localFar); descs every Desc, nil when all are 0 (not ELFv1).
	locals  map[int32]uint64
	descs   []uint64
	all     *allSymbols // Symbols()'s slice, made on first use
	addrIdx []int32     // indices into recs of symbols that have an address (not U, not absolute)
	// nameOrder indexes the names: every index into recs, sorted by name
	// and then index (the symbol cache, symcache.go, stores it as is). A
	// sort of int32s rather than a map of 137 701 names: half the time to
	// make on a distro vmlinux, and no map at all once cached.
	nameOrder []int32
	sections  []SectionRange // sorted by Start; nil when unknown
	// inOrder: among aliases the first in the given order is preferred
	// (NewKallsymsTable), not the better() one.
	inOrder bool
}

// ai is the index into recs of the k-th symbol that has an address.
func (t *Table) ai(k int) int { return int(t.addrIdx[k]) }

// rec is one symbol of a Table.
type rec struct {
	addr, size    uint64
	name, nameLen uint32 // Table.names[name : name+nameLen]
	sec, mod      uint32 // indexes into Table.secs, Table.mods
	kind          byte
	suspect       SymbolProblem
	local         uint8 // LocalEntry, or localFar
}

// localFar marks a LocalEntry held in Table.locals (the ELFv2 ABI's
// largest is 64; a table built from anything else still keeps it).
const localFar = 0xff

// allSymbols is the materialised []Symbol of a Table, made once.
type allSymbols struct {
	once sync.Once
	syms []Symbol
}

// tableBuilder appends symbols to a Table, interning sections and
// modules.
type tableBuilder struct {
	t       *Table
	names   strings.Builder
	secIdx  map[string]uint32
	modIdx  map[string]uint32
	inPlace bool // names already in t.names (the symbol cache's arena)
}

func newTableBuilder(n int, nameBytes int) *tableBuilder {
	b := &tableBuilder{t: &Table{recs: make([]rec, 0, n), addrIdx: make([]int32, 0, n), all: &allSymbols{}},
		secIdx: map[string]uint32{}, modIdx: map[string]uint32{}}
	b.names.Grow(nameBytes)
	return b
}

func (b *tableBuilder) intern(m map[string]uint32, list *[]string, s string) uint32 {
	i, ok := m[s]
	if !ok {
		i = uint32(len(*list))
		m[s] = i
		*list = append(*list, s)
	}
	return i
}

// add appends s; nameAt is its name's offset in the names already given
// (inPlace), else the name is copied.
func (b *tableBuilder) add(s *Symbol, nameAt int) {
	r := rec{addr: s.Addr, size: s.Size, nameLen: uint32(len(s.Name)), kind: s.Kind, suspect: s.Suspect,
		sec: b.intern(b.secIdx, &b.t.secs, s.Section), mod: b.intern(b.modIdx, &b.t.mods, s.Module)}
	if b.inPlace {
		r.name = uint32(nameAt)
	} else {
		r.name = uint32(b.names.Len())
		b.names.WriteString(s.Name)
	}
	b.push(r, s.LocalEntry, s.Desc)
}

// push appends r, whose section and module are already interned, its
// name placed.
func (b *tableBuilder) push(r rec, local, desc uint64) {
	t := b.t
	i := int32(len(t.recs))
	if local < localFar {
		r.local = uint8(local)
	} else {
		r.local = localFar
		if t.locals == nil {
			t.locals = map[int32]uint64{}
		}
		t.locals[i] = local
	}
	if desc != 0 && t.descs == nil {
		t.descs = make([]uint64, len(t.recs), cap(t.recs))
	}
	if t.descs != nil {
		t.descs = append(t.descs, desc)
	}
	if addressableKind(r.kind) {
		t.addrIdx = append(t.addrIdx, int32(len(t.recs)))
	}
	t.recs = append(t.recs, r)
}

func (b *tableBuilder) done() *Table {
	if !b.inPlace {
		b.t.names = b.names.String()
	}
	return b.t
}

// name is the name of symbol i.
func (t *Table) name(i int) string {
	r := &t.recs[i]
	return t.names[r.name : r.name+r.nameLen]
}

// sym makes symbol i.
func (t *Table) sym(i int) Symbol {
	r := &t.recs[i]
	s := Symbol{Name: t.names[r.name : r.name+r.nameLen], Addr: r.addr, Size: r.size, Kind: r.kind, Suspect: r.suspect,
		Module: t.mods[r.mod], Section: t.secs[r.sec], LocalEntry: uint64(r.local)}
	if r.local == localFar {
		s.LocalEntry = t.locals[int32(i)]
	}
	if t.descs != nil {
		s.Desc = t.descs[i]
	}
	return s
}

// NewTable builds a Table from syms (copied).
func NewTable(syms []Symbol) *Table { return newTable(syms, false) }

// NewKallsymsTable builds a Table whose preferred alias at an address is
// the first one in syms' order, as the kernel's kallsyms lookups pick it
// (find_kallsyms_symbol() in kernel/module/kallsyms.c takes the first
// symbol-table entry at the best address; get_symbol_pos() in
// kernel/kallsyms.c the first of the sorted kallsyms table): names then
// read as /proc/kallsyms, ftrace's enabled_functions and backtraces print
// them. syms must be in the kernel's table order.
func NewKallsymsTable(syms []Symbol) *Table { return newTable(syms, true) }

func newTable(syms []Symbol, inOrder bool) *Table {
	// A stable sort by address, then better(): sorted as (address, index)
	// keys held contiguously (ties broken by better(), then by index,
	// which makes it stable) and the Symbols copied once in that order,
	// rather than sort.SliceStable moving the 100-byte Symbols with a
	// reflection swapper (95 ms per vmlinux open) or a comparator that
	// chases both Symbols for every comparison (docs/PERFORMANCE.md).
	// pre holds better()'s first two criteria (a size, then rank()), so
	// that most aliases are ordered without reaching the Symbols.
	type key struct {
		addr uint64
		pre  uint32
		i    int32
	}
	keys := make([]key, len(syms))
	nameBytes := 0
	for i := range syms {
		s := &syms[i]
		nameBytes += len(s.Name)
		var pre uint32
		if !inOrder {
			if s.Size == 0 {
				pre = 1 << 16
			}
			pre |= uint32(rank(s))
		}
		keys[i] = key{s.Addr, pre, int32(i)}
	}
	slices.SortFunc(keys, func(x, y key) int {
		switch {
		case x.addr != y.addr:
			return cmp.Compare(x.addr, y.addr)
		case inOrder:
		case x.pre != y.pre:
			return cmp.Compare(x.pre, y.pre)
		case better(&syms[x.i], &syms[y.i]):
			return -1
		case better(&syms[y.i], &syms[x.i]):
			return 1
		}
		return cmp.Compare(x.i, y.i)
	})
	b := newTableBuilder(len(syms), nameBytes)
	t := b.t
	t.inOrder = inOrder
	for _, x := range keys {
		b.add(&syms[x.i], 0)
	}
	b.done()
	t.nameOrder = make([]int32, len(t.recs))
	for i := range t.nameOrder {
		t.nameOrder[i] = int32(i)
	}
	slices.SortFunc(t.nameOrder, func(a, b int32) int {
		if c := strings.Compare(t.name(int(a)), t.name(int(b))); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return t
}

// indices returns the indices in t.syms of every symbol named name, by
// address (first: the only one, when the name is unique).
func (t *Table) indices(name string) (first int32, all []int32, ok bool) {
	o := t.nameOrder
	lo, _ := slices.BinarySearchFunc(o, name, func(i int32, n string) int { return strings.Compare(t.name(int(i)), n) })
	if lo == len(o) || t.name(int(o[lo])) != name {
		return 0, nil, false
	}
	hi := lo + 1
	for hi < len(o) && t.name(int(o[hi])) == name {
		hi++
	}
	if hi-lo > 1 {
		all = o[lo:hi:hi]
	}
	return o[lo], all, true
}

// WithSections returns t with known section ranges (for tables whose
// symbols carry Section names): a size-0 symbol then only covers
// addresses up to the end of its section.
func (t *Table) WithSections(secs []SectionRange) *Table {
	c := *t
	c.sections = append([]SectionRange(nil), secs...)
	sort.Slice(c.sections, func(i, j int) bool { return c.sections[i].Start < c.sections[j].Start })
	return &c
}

// addressable reports whether a symbol names a place in memory: not
// undefined, not absolute (file names, TOC. in module kallsyms, ...).
func addressable(s *Symbol) bool { return addressableKind(s.Kind) }

func addressableKind(kind byte) bool {
	switch kind {
	case 'U', 'u', 'w', 'v', 'a', 'A', 'N', 'n':
		// 'u' is also STB_GNU_UNIQUE in nm, but /proc/kallsyms shows the
		// kernel's undefined module symbols as 'u'; neither is wanted here.
		return false
	}
	return true
}

// rank orders aliases: lower is preferred. A weak definition (nm's W, V)
// yields to a strong one, as the kernel's kallsyms sorts aliases
// (scripts/kallsyms.c compare_symbols(): weakness first): the syscalls
// COND_SYSCALL makes weak aliases of sys_ni_syscall are named
// sys_ni_syscall, as the kernel prints them.
func rank(s *Symbol) int {
	r := 0
	switch s.Kind {
	case 'W', 'V', 'w', 'v':
		r++
	}
	if !s.Global() {
		r += 4
	}
	if !s.Func() {
		r += 2
	}
	if strings.HasPrefix(s.Name, "$") || strings.HasPrefix(s.Name, ".L") || strings.HasPrefix(s.Name, "L0") {
		r += 8
	}
	return r
}

// better is the deterministic preference among symbols at one address:
// sized over size-0, then global over local, strong over weak, function
// over data, real names over local labels, fewer leading underscores,
// then by name.
func better(a, b *Symbol) bool {
	if (a.Size > 0) != (b.Size > 0) {
		return a.Size > 0
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	if a.Module != b.Module {
		return a.Module < b.Module
	}
	// Fewer leading underscores first (compare_symbols() again).
	if ua, ub := len(a.Name)-len(strings.TrimLeft(a.Name, "_")), len(b.Name)-len(strings.TrimLeft(b.Name, "_")); ua != ub {
		return ua < ub
	}
	return a.Name < b.Name
}

// Len is the number of symbols.
func (t *Table) Len() int { return len(t.recs) }

// Symbols returns the symbols sorted by address (the caller must not
// modify them). The first call makes them (96 bytes each).
func (t *Table) Symbols() []Symbol {
	t.all.once.Do(func() {
		t.all.syms = make([]Symbol, len(t.recs))
		for i := range t.recs {
			t.all.syms[i] = t.sym(i)
		}
	})
	return t.all.syms
}

// ByName returns the preferred symbol of that name (global over local,
// function over data); several static symbols can share a name, see
// AllByName.
func (t *Table) ByName(name string) (Symbol, bool) {
	first, dups, ok := t.indices(name)
	if !ok {
		return Symbol{}, false
	}
	best := t.sym(int(first))
	for _, i := range dups {
		s := t.sym(int(i))
		// Prefer a defined symbol over an undefined reference.
		if addressable(&s) != addressable(&best) {
			if addressable(&s) {
				best = s
			}
			continue
		}
		if rank(&s) < rank(&best) {
			best = s
		}
	}
	return best, true
}

// AllByName returns every symbol of that name, by address.
func (t *Table) AllByName(name string) []Symbol {
	first, dups, ok := t.indices(name)
	switch {
	case !ok:
		return nil
	case dups == nil:
		return []Symbol{t.sym(int(first))}
	}
	out := make([]Symbol, len(dups))
	for k, i := range dups {
		out[k] = t.sym(int(i))
	}
	return out
}

// maxBackScan bounds how far ByAddr looks back for a sized symbol that
// contains an address when the nearest preceding one does not.
const maxBackScan = 64

// ByAddr returns the symbol containing addr and the offset into it: a
// sized symbol contains [Addr, Addr+Size); a size-0 symbol covers up to the
// next symbol (within its section when the table knows section ranges).
// Among aliases the preferred one is returned (sized, global, function,
// not a local label). ok is false in the gap after a sized symbol's end.
// A suspect symbol (Symbol.Suspect, symcheck.go) contains addr only up to
// its plausible end (the next symbol, its section's end): past it ByAddr
// names nothing rather than "sym+0x5370".
func (t *Table) ByAddr(addr uint64) (Symbol, uint64, bool) {
	s, off, ok, _ := t.byAddr(addr)
	return s, off, ok
}

// sizeProblems are the problems that make a symbol's extent suspect.
const sizeProblems = SymOutsideSection | SymPastSection | SymOverlaps

// byAddr is ByAddr; when no symbol is found and a suspect symbol's size
// alone reached addr, claimed is that symbol.
func (t *Table) byAddr(addr uint64) (sym Symbol, off uint64, ok bool, claimed *Symbol) {
	// Last addressable symbol with Addr <= addr.
	n := sort.Search(len(t.addrIdx), func(k int) bool { return t.recs[t.ai(k)].addr > addr }) - 1
	if n < 0 {
		return Symbol{}, 0, false, nil
	}
	nearest := t.recs[t.ai(n)].addr
	// The nearest group: all addressable symbols at address `nearest`,
	// preferred first (the sort order). Look for a containing sized symbol,
	// else a size-0 one.
	// A size-0 alias of a sized symbol (a label at a function's start)
	// does not reach past the sized symbol's end.
	unsized := -1
	sizedGroup := false
	for k := n; k >= 0 && t.recs[t.ai(k)].addr == nearest; k-- {
		r := &t.recs[t.ai(k)]
		if r.size > 0 {
			if t.contains(t.ai(k), addr, &claimed) {
				s, off, ok := t.bestAt(k, addr)
				return s, off, ok, nil
			}
			sizedGroup = true
			continue
		}
		if unsized < 0 || t.prefer(t.ai(k), unsized) {
			unsized = t.ai(k)
		}
	}
	if unsized >= 0 && !sizedGroup && t.inSameSection(unsized, addr) {
		return t.sym(unsized), addr - t.recs[unsized].addr, true, nil
	}
	// Nested or overlapping sized symbols further back.
	for k, steps := n, 0; k >= 0 && steps < maxBackScan; k, steps = k-1, steps+1 {
		if r := &t.recs[t.ai(k)]; r.size > 0 && t.contains(t.ai(k), addr, &claimed) {
			s, off, ok := t.bestAt(k, addr)
			return s, off, ok, nil
		}
	}
	return Symbol{}, 0, false, claimed
}

// contains reports whether the sized symbol i contains addr. A suspect
// symbol whose size alone reaches addr (past its plausible end) does not,
// and is left in *claimed (the first one).
func (t *Table) contains(i int, addr uint64, claimed **Symbol) bool {
	r := &t.recs[i]
	if addr-r.addr >= r.size {
		return false
	}
	if r.suspect&sizeProblems != 0 && addr >= t.plausibleEnd(i) {
		if *claimed == nil {
			s := t.sym(i)
			*claimed = &s
		}
		return false
	}
	return true
}

// plausibleEnd is where the suspect symbol i is taken to end: at its
// size, cut at the next symbol at a greater address and at the end of its
// section when the table knows section ranges.
func (t *Table) plausibleEnd(i int) uint64 {
	r := &t.recs[i]
	end := r.addr + r.size
	if end < r.addr {
		end = ^uint64(0)
	}
	if k := sort.Search(len(t.addrIdx), func(k int) bool { return t.recs[t.ai(k)].addr > r.addr }); k < len(t.addrIdx) {
		end = min(end, t.recs[t.ai(k)].addr)
	}
	for _, sr := range t.sections {
		if sr.Start <= r.addr && r.addr < sr.End {
			end = min(end, sr.End)
		}
	}
	return end
}

// bestAt returns the preferred symbol containing addr among those sharing
// the address of symbol t.ai(k).
func (t *Table) bestAt(k int, addr uint64) (Symbol, uint64, bool) {
	a := t.recs[t.ai(k)].addr
	best := -1
	var claimed *Symbol
	for j := k; j >= 0 && t.recs[t.ai(j)].addr == a; j-- {
		if r := &t.recs[t.ai(j)]; r.size > 0 && t.contains(t.ai(j), addr, &claimed) && (best < 0 || t.prefer(t.ai(j), best)) {
			best = t.ai(j)
		}
	}
	for j := k + 1; j < len(t.addrIdx) && t.recs[t.ai(j)].addr == a; j++ {
		if r := &t.recs[t.ai(j)]; r.size > 0 && t.contains(t.ai(j), addr, &claimed) && (best < 0 || t.prefer(t.ai(j), best)) {
			best = t.ai(j)
		}
	}
	return t.sym(best), addr - t.recs[best].addr, true
}

// sectionAt names the known section range holding addr ("" when none).
func (t *Table) sectionAt(addr uint64) (SectionRange, bool) {
	for _, r := range t.sections {
		if r.Start <= addr && addr < r.End {
			return r, true
		}
	}
	return SectionRange{}, false
}

// prefer reports whether symbol i is preferred to symbol j, two symbols
// at one address: better(), or for a kallsyms table the earlier in the
// kernel's order (the table is sorted stably, so the earlier index).
func (t *Table) prefer(i, j int) bool {
	if t.inOrder {
		return i < j
	}
	a, b := t.sym(i), t.sym(j)
	return better(&a, &b)
}

// Nearest returns the symbol as the kernel's kallsyms_lookup() finds it,
// without symbol sizes: the preferred symbol at the greatest address <=
// addr (within its section when the table knows section ranges), and the
// offset of addr into it. An address in the gap after a sized symbol
// (alignment padding, a following function's patchable-entry NOPs) is
// then named after the symbol before it, as the kernel prints it
// ("sys_ni_syscall+0x10"), where ByAddr names nothing.
func (t *Table) Nearest(addr uint64) (Symbol, uint64, bool) {
	n := sort.Search(len(t.addrIdx), func(k int) bool { return t.recs[t.ai(k)].addr > addr }) - 1
	if n < 0 {
		return Symbol{}, 0, false
	}
	best := t.ai(n)
	for k := n - 1; k >= 0 && t.recs[t.ai(k)].addr == t.recs[best].addr; k-- {
		if t.prefer(t.ai(k), best) {
			best = t.ai(k)
		}
	}
	if !t.inSameSection(best, addr) {
		return Symbol{}, 0, false
	}
	return t.sym(best), addr - t.recs[best].addr, true
}

// inSameSection reports whether addr lies in the section of symbol i,
// when the table knows section ranges (always true otherwise).
func (t *Table) inSameSection(i int, addr uint64) bool {
	if t.sections == nil {
		return true
	}
	r := &t.recs[i]
	sec := t.secs[r.sec]
	for _, sr := range t.sections {
		if sr.Start <= r.addr && r.addr < sr.End && (sec == "" || sec == sr.Name) {
			return addr < sr.End
		}
	}
	// The symbol is in no known allocated section (a linker-script marker
	// at a section's end, such as _etext): let it cover only itself.
	return addr == r.addr
}

// Rebase returns t with every addressable symbol (not undefined, not
// absolute) moved by off, and its section ranges with them: a KASLR
// kernel's runtime addresses from its vmlinux's link-time ones. The order
// is unchanged (all move together).
func (t *Table) Rebase(off uint64) *Table {
	if off == 0 {
		return t
	}
	c := *t
	c.recs = slices.Clone(t.recs)
	for i := range c.recs {
		if addressableKind(c.recs[i].kind) {
			c.recs[i].addr += off
		}
	}
	c.all = &allSymbols{}
	c.sections = make([]SectionRange, len(t.sections))
	for i, s := range t.sections {
		s.Start += off
		s.End += off
		c.sections[i] = s
	}
	return &c
}
