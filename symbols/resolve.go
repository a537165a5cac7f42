package symbols

import (
	"fmt"
	"sort"
	"strings"
)

// Region is one contiguous piece of a module's memory (a struct
// module_memory: MOD_TEXT, MOD_DATA, MOD_RODATA, ...).
type Region struct {
	Start, Size uint64
	Kind        string // "text", "data", "rodata", "ro_after_init", "init_text", ...
}

// ModuleLayout is what the resolver knows of one loaded module; package
// modules fills it from struct module.
type ModuleLayout struct {
	Name    string
	Regions []Region
	// Sections are the section addresses from mod->sect_attrs
	// (/sys/module/NAME/sections). When Regions are given, a section
	// outside all of them is ignored for Lookup: sect_attrs keeps the
	// load-time addresses of .symtab, .strtab and init sections, whose
	// memory is freed after init (MOD_INIT_*) and reused.
	Sections map[string]uint64
	// SectionSizes are the sizes known (from the .ko, or recomputed such
	// as .stubs); may be missing for any section.
	SectionSizes map[string]uint64
	Syms         *Table // the module's kallsyms; may be nil
}

// Location is where an address lies.
type Location struct {
	Addr       uint64
	Module     string  // "" for vmlinux
	Section    string  // "" when unknown
	Symbol     *Symbol // nil when no symbol covers the address
	Off        uint64  // offset into Symbol
	SectionOff uint64  // offset into Section
	// Region is the kind of the module memory region holding the address
	// when neither a section nor a symbol does.
	Region    string
	RegionOff uint64
	// Suspect says why the name may be wrong: the symbol found, or one
	// whose size alone reached the address, is suspect in its symbol
	// table (Symbol.Suspect, symcheck.go). "" otherwise.
	Suspect string
}

// String formats the location as crash does: "sym+0x10", "sym+0x10 [mod]",
// and "mod:.stubs+0x28" for an address inside a module section that no
// symbol covers.
func (l Location) String() string {
	if l.Suspect != "" {
		return l.plain() + " (suspect: " + l.Suspect + ")"
	}
	return l.plain()
}

func (l Location) plain() string {
	switch {
	case l.Symbol != nil && l.Module != "":
		return fmt.Sprintf("%s+%#x [%s]", l.Symbol.Name, l.Off, l.Module)
	case l.Symbol != nil:
		return fmt.Sprintf("%s+%#x", l.Symbol.Name, l.Off)
	case l.Module != "" && l.Section != "":
		return fmt.Sprintf("%s:%s+%#x", l.Module, l.Section, l.SectionOff)
	case l.Module != "" && l.Region != "":
		return fmt.Sprintf("%s:[%s]+%#x", l.Module, l.Region, l.RegionOff)
	case l.Module != "":
		return fmt.Sprintf("%#x [%s]", l.Addr, l.Module)
	case l.Section != "":
		return fmt.Sprintf("%s+%#x", l.Section, l.SectionOff)
	}
	return fmt.Sprintf("%#x", l.Addr)
}

// Resolver maps addresses to locations across vmlinux and the loaded
// modules, and names back to addresses. Build it with SetVmlinux and
// AddModule, then use it read-only.
type Resolver struct {
	vmlinux *Table
	vmEnd   uint64 // _end of vmlinux when known: no vmlinux symbol covers beyond it
	mods    []*modEntry
	byName  map[string]*modEntry
	regions []regionRef // sorted by start
}

type modEntry struct {
	layout ModuleLayout
	secs   []secRange // sorted by start, then name
}

type secRange struct {
	name       string
	start, end uint64
	sized      bool // end from a known size
}

type regionRef struct {
	start, end uint64
	kind       string
	mod        *modEntry
}

// NewResolver returns an empty resolver.
func NewResolver() *Resolver {
	return &Resolver{byName: map[string]*modEntry{}}
}

// SetVmlinux sets the kernel's own symbols.
func (r *Resolver) SetVmlinux(t *Table) {
	r.vmlinux = t
	r.vmEnd = 0
	if t != nil {
		if s, ok := t.ByName("_end"); ok {
			r.vmEnd = s.Addr
		}
	}
}

// AddModule adds one module; a later module of the same name replaces the
// earlier one for name lookups.
func (r *Resolver) AddModule(m ModuleLayout) {
	e := &modEntry{layout: m}
	for _, reg := range m.Regions {
		if reg.Size == 0 || reg.Start+reg.Size < reg.Start {
			continue
		}
		r.regions = append(r.regions, regionRef{start: reg.Start, end: reg.Start + reg.Size, kind: reg.Kind, mod: e})
	}
	sort.SliceStable(r.regions, func(i, j int) bool { return r.regions[i].start < r.regions[j].start })

	names := make([]string, 0, len(m.Sections))
	for n := range m.Sections {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := m.Sections[names[i]], m.Sections[names[j]]
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		start := m.Sections[n]
		if start == 0 {
			continue // not loaded
		}
		if len(m.Regions) > 0 && !inRegions(m.Regions, start) {
			// Stale: sect_attrs keeps the load-time addresses of
			// .symtab/.strtab and init sections, in init memory that
			// was freed after init and may now belong to another module.
			continue
		}
		s := secRange{name: n, start: start}
		if size, ok := m.SectionSizes[n]; ok {
			s.end, s.sized = start+size, true
		} else {
			// Up to the next section start in the same region, else the
			// region's end.
			regEnd, inRegion := uint64(0), false
			for _, reg := range m.Regions {
				if reg.Start <= start && start-reg.Start < reg.Size {
					regEnd, inRegion = reg.Start+reg.Size, true
					break
				}
			}
			s.end = start // empty unless bounded below
			for _, o := range names {
				if a := m.Sections[o]; a > start && (!inRegion || a < regEnd) && (s.end == start || a < s.end) {
					s.end = a
				}
			}
			if s.end == start && inRegion {
				s.end = regEnd
			}
		}
		e.secs = append(e.secs, s)
	}
	r.mods = append(r.mods, e)
	r.byName[m.Name] = e
}

func inRegions(regs []Region, addr uint64) bool {
	for _, r := range regs {
		if r.Start <= addr && addr-r.Start < r.Size {
			return true
		}
	}
	return false
}

// region returns the module region holding addr.
func (r *Resolver) region(addr uint64) (regionRef, bool) {
	i := sort.Search(len(r.regions), func(i int) bool { return r.regions[i].start > addr }) - 1
	for ; i >= 0; i-- {
		if g := r.regions[i]; addr < g.end {
			return g, true
		}
		if len(r.regions)-i > 64 { // bound the scan over overlapping regions
			break
		}
	}
	return regionRef{}, false
}

// section returns the module section holding addr: the one with the
// greatest start at or below addr whose end is above it, preferring a
// section of known size among equal starts.
func (e *modEntry) section(addr uint64) (secRange, bool) {
	var best secRange
	found := false
	for _, s := range e.secs {
		if s.start <= addr && addr < s.end {
			if !found || s.start > best.start || (s.start == best.start && s.sized && !best.sized) {
				best, found = s, true
			}
		}
	}
	return best, found
}

// LookupKallsyms is Lookup, except that a vmlinux address no sized
// symbol covers is named after the symbol before it, as the kernel's
// kallsyms_lookup() (which has no sizes) names it: ftrace records in the
// gap after a function read as the kernel's enabled_functions prints them.
func (r *Resolver) LookupKallsyms(addr uint64) Location {
	var s Symbol
	loc, found := r.lookupKallsyms(addr, &s)
	if found {
		loc.Symbol = &s
	}
	return loc
}

// KallsymsSymbol is LookupKallsyms without the Location: the symbol by
// value, for callers naming many addresses (every ftrace record) that
// need not allocate one Symbol each.
func (r *Resolver) KallsymsSymbol(addr uint64) (module string, s Symbol, off uint64, ok bool) {
	loc, ok := r.lookupKallsyms(addr, &s)
	return loc.Module, s, loc.Off, ok
}

// lookupKallsyms is LookupKallsyms with the symbol written to *sym
// (found true) instead of loc.Symbol.
func (r *Resolver) lookupKallsyms(addr uint64, sym *Symbol) (loc Location, found bool) {
	loc, found = r.lookup(addr, sym)
	if !found && loc.Module == "" && r.vmlinux != nil && (r.vmEnd == 0 || addr < r.vmEnd) {
		// Not after a suspect symbol whose size alone reached addr:
		// that is the "sym+0x5370" a damaged st_size makes.
		if s, off, ok := r.vmlinux.Nearest(addr); ok && (loc.Suspect == "" || s.Suspect&sizeProblems == 0) {
			*sym, loc.Off, found = s, off, true
			if s.Suspect != 0 {
				loc.Suspect = suspectSym(&s)
			}
		}
	}
	return loc, found
}

// Lookup returns where addr lies. Inside a module it names a symbol only
// when the symbol lies in the same section (or region) as addr and, if
// sized, covers it; an address in a section that no symbol covers — the
// .stubs of ppc64 modules always — is named by section:
// "mod:.stubs+0x28", never by the nearest function before it.
func (r *Resolver) Lookup(addr uint64) Location {
	var s Symbol
	loc, found := r.lookup(addr, &s)
	if found {
		loc.Symbol = &s
	}
	return loc
}

// lookup is Lookup with the symbol written to *sym (found true) instead
// of loc.Symbol.
func (r *Resolver) lookup(addr uint64, sym *Symbol) (loc Location, found bool) {
	loc = Location{Addr: addr}
	reg, inReg := r.region(addr)
	var e *modEntry
	if inReg {
		e = reg.mod
	} else {
		// Modules known only by sections (no regions given).
		for _, m := range r.mods {
			if len(m.layout.Regions) == 0 {
				if _, ok := m.section(addr); ok {
					e = m
					break
				}
			}
		}
	}
	if e == nil {
		if r.vmlinux != nil && (r.vmEnd == 0 || addr < r.vmEnd) {
			s, off, ok, claimed := r.vmlinux.byAddr(addr)
			switch {
			case ok:
				*sym, loc.Off, loc.Module, found = s, off, s.Module, true
				if s.Suspect != 0 {
					loc.Suspect = suspectSym(&s)
				}
			case claimed != nil:
				// Say where it is without the name a damaged size gave it.
				if sec, ok := r.vmlinux.sectionAt(addr); ok {
					loc.Section, loc.SectionOff = sec.Name, addr-sec.Start
				}
				loc.Suspect = claimedBy(claimed)
			}
		}
		return loc, found
	}
	loc.Module = e.layout.Name
	sec, inSec := e.section(addr)
	if inSec {
		loc.Section, loc.SectionOff = sec.name, addr-sec.start
	}
	if inSec && sec.name == ".stubs" {
		return loc, found
	}
	if e.layout.Syms != nil {
		s, off, ok, claimed := e.layout.Syms.byAddr(addr)
		if !ok && claimed != nil {
			loc.Suspect = claimedBy(claimed)
		}
		if ok {
			// The symbol must lie in addr's section; when addr is in no
			// known section, in no known section either (a symbol of
			// .text never covers what follows .stubs), and in the same
			// region.
			same := true
			if inSec {
				same = s.Addr >= sec.start && s.Addr < sec.end
			} else {
				if _, symInSec := e.section(s.Addr); symInSec {
					same = false
				}
				if inReg && (s.Addr < reg.start || s.Addr >= reg.end) {
					same = false
				}
			}
			if same {
				*sym, loc.Off, found = s, off, true
				if s.Suspect != 0 {
					loc.Suspect = suspectSym(&s)
				}
				return loc, found
			}
		}
	}
	if !inSec && inReg {
		loc.Region, loc.RegionOff = reg.kind, addr-reg.start
	}
	return loc, found
}

// suspectSym says why a symbol found is suspect.
func suspectSym(s *Symbol) string {
	return fmt.Sprintf("symbol %s [%#x,+%#x): %s", s.Name, s.Addr, s.Size, s.Suspect)
}

// claimedBy says which suspect symbol's size alone reached an address.
func claimedBy(s *Symbol) string {
	return fmt.Sprintf("inside %s [%#x,+%#x) only by its size, which is suspect: %s", s.Name, s.Addr, s.Size, s.Suspect)
}

// SymbolByName looks a name up: "MODULE:NAME" in that module (a symbol, or
// a section such as "mod:.stubs"), a plain name in vmlinux first, then in
// the modules in the order they were added.
func (r *Resolver) SymbolByName(name string) (Symbol, bool) {
	if mod, n, ok := strings.Cut(name, ":"); ok && mod != "" {
		if e := r.byName[mod]; e != nil {
			if e.layout.Syms != nil {
				if s, ok := e.layout.Syms.ByName(n); ok && addressable(&s) {
					return s, true
				}
			}
			if a, ok := e.layout.Sections[n]; ok {
				s := Symbol{Name: n, Addr: a, Module: mod, Section: n}
				if size, ok := e.layout.SectionSizes[n]; ok {
					s.Size = size
				}
				return s, true
			}
			return Symbol{}, false
		}
	}
	if r.vmlinux != nil {
		if s, ok := r.vmlinux.ByName(name); ok && addressable(&s) {
			return s, true
		}
	}
	for _, e := range r.mods {
		if e.layout.Syms == nil {
			continue
		}
		if s, ok := e.layout.Syms.ByName(name); ok && addressable(&s) {
			return s, true
		}
	}
	return Symbol{}, false
}

// Address returns the address of a name (see SymbolByName).
func (r *Resolver) Address(name string) (uint64, bool) {
	s, ok := r.SymbolByName(name)
	return s.Addr, ok
}

// ReturnLocation names a return address: lookup(pc), unless pc is in no
// symbol or at the very start of one, where the call it returns from was
// the last instruction of the function before (a call to a noreturn
// function, such as panic(), at the end of its caller: the return
// address then lies past that caller, in padding, a CALL_OPS literal or
// the next function). That caller is named, with pc's offset into it.
func ReturnLocation(lookup func(uint64) Location, pc uint64) Location {
	l := lookup(pc)
	if l.Symbol != nil && l.Off != 0 || pc == 0 {
		return l
	}
	p := lookup(pc - 1)
	if p.Symbol == nil || !p.Symbol.Func() {
		return l
	}
	p.Addr, p.Off, p.SectionOff = pc, p.Off+1, p.SectionOff+1
	return p
}
