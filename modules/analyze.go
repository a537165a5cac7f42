package modules

import (
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Analysis is one module with everything read and modelled about it.
type Analysis struct {
	Module    *Module
	Debuginfo *Debuginfo // nil when no usable .ko was found
	// DebuginfoErr says why Debuginfo is nil (a *DebuginfoError).
	DebuginfoErr error
	Syms         *symbols.Table
	Model        *LoaderModel // nil without a .ko (or on unmodelled kernels)
	ModelErr     error
	// ModelSkipped says why the model did not run with a .ko at hand.
	ModelSkipped string
	Stubs        *Stubs
	StubsErr     error
	// PLT is the module's PLTs on architectures whose loader makes them
	// (plt.go: arm64); nil elsewhere.
	PLT      *PLTs
	PLTErr   error
	Warnings []string
}

// Set is every module of a dump, analysed, with the resolver that knows
// them all.
type Set struct {
	Prog     *kernel.Program
	Modules  []*Analysis
	Resolver *symbols.Resolver
	ListErr  error
	Features LoaderFeatures

	exports moduleExports // read on first need (exports.go)
}

// Find returns the named module's analysis.
func (s *Set) Find(name string) *Analysis {
	for _, a := range s.Modules {
		if a.Module.Name == name {
			return a
		}
	}
	return nil
}

// StubsAt returns the module whose .stubs section holds addr (its slots
// and, on ppc64 with out-of-line ftrace stubs, the OOL array inside it),
// nil when none does.
func (s *Set) StubsAt(addr uint64) *Analysis {
	for _, a := range s.Modules {
		if st := a.Stubs; st != nil && addr >= st.Base && addr-st.Base < st.Size {
			return a
		}
	}
	return nil
}

// ByAddr returns the module whose memory holds addr.
func (s *Set) ByAddr(addr uint64) *Analysis {
	for _, a := range s.Modules {
		if a.Module.Contains(addr) {
			return a
		}
	}
	return nil
}

// DetectLoaderFeatures derives the model's features from the vmlinux:
// DWARF members (kernel.Features) and symbols (ftrace_regs_caller exists
// only with DYNAMIC_FTRACE_WITH_REGS), sizes from DWARF.
func DetectLoaderFeatures(p *kernel.Program) LoaderFeatures {
	f := LoaderFeatures{
		DynamicFtrace: p.Features.Tramp,
		OutOfLine:     p.Features.OOLStubs,
		StubCount:     p.Features.StubCount,
		PCREL:         p.Features.GOTSection,
		ELFv1:         p.ELFv1(),
		// No terminator slot: get_stubs_size() in kernels that count stubs
		// with stub_count (the "powerpc/module_64: Fix livepatching for
		// RO modules"-era appending loader) reserves none.
		NoTerminator: p.Features.StubCount,
	}
	if _, err := p.SymbolAddr("ftrace_regs_caller"); err == nil && f.DynamicFtrace {
		f.WithRegs = true
	}
	if n, err := p.Types.Sizeof("struct ppc64_stub_entry"); err == nil {
		f.StubEntrySize = int(n)
	}
	if n, err := p.Types.Sizeof("struct ftrace_ool_stub"); err == nil {
		f.OOLStubSize = int(n)
	}
	if off, err := p.Types.Offsetof("struct paca_struct", "kernel_toc"); err == nil {
		f.PacaKernelTOC = int(off)
	}
	return f
}

// kernelTOC is kernel_toc_addr(): the kernel's r2, the .TOC. symbol.
func kernelTOC(p *kernel.Program) uint64 {
	if a, err := p.SymbolAddr(".TOC."); err == nil {
		return a
	}
	if a, err := p.SymbolAddr("__toc_start"); err == nil {
		return a + 0x8000
	}
	return 0
}

// Analyze lists the modules and, for each, finds its .ko, runs the loader
// model and reads .stubs. Modules are analysed in parallel; errors stay
// per module.
func Analyze(p *kernel.Program) *Set {
	set := &Set{Prog: p, Features: DetectLoaderFeatures(p)}
	mods, err := List(p)
	set.ListErr = err
	set.Resolver = symbols.NewResolver()
	set.Resolver.SetVmlinux(p.Syms)
	for _, m := range mods {
		a := &Analysis{Module: m}
		a.Syms = moduleSyms(p, m)
		set.Modules = append(set.Modules, a)
	}
	for _, a := range set.Modules {
		set.Resolver.AddModule(layout(a))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, a := range set.Modules {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			set.analyzeOne(a)
			a.PLT, a.PLTErr = ReadPLTs(p, a.Module)
		}()
	}
	wg.Wait()
	p.Debuginfo.Flush()
	// Refresh .stubs sizes in the resolver now that they are known.
	set.Resolver = symbols.NewResolver()
	set.Resolver.SetVmlinux(p.Syms)
	for _, a := range set.Modules {
		set.Resolver.AddModule(layout(a))
	}
	return set
}

func layout(a *Analysis) symbols.ModuleLayout {
	m := a.Module
	l := symbols.ModuleLayout{Name: m.Name, Sections: m.SectionMap(), SectionSizes: map[string]uint64{}, Syms: a.Syms}
	for _, r := range m.Regions {
		if r.Size > 0 {
			l.Regions = append(l.Regions, symbols.Region{Start: r.Base, Size: r.Size, Kind: r.Name})
		}
	}
	if a.Stubs != nil {
		l.SectionSizes[".stubs"] = a.Stubs.Size
	}
	if pl := a.PLT; pl != nil {
		// as module_frob_arch_sections() sized them: plt_max_entries + 1
		// entries, NR_FTRACE_PLTS for the ftrace trampoline (the .ko's
		// sh_size is a placeholder)
		for _, sec := range []*PLTSection{&pl.Core, &pl.Init} {
			if sec.Max >= 0 && sec.Max < maxPLTEntries {
				l.SectionSizes[sec.Name] = uint64(sec.Max+1) * uint64(pl.EntrySize)
			}
		}
		l.SectionSizes[".text.ftrace_trampoline"] = nrFtracePLTs * uint64(pl.EntrySize)
	}
	for _, h := range m.KlpSechdrs {
		if h.Addr != 0 && h.Size != 0 {
			l.SectionSizes[h.Name] = h.Size
		}
	}
	if a.Debuginfo != nil {
		for _, s := range a.Debuginfo.Image.Sections {
			if _, ok := l.SectionSizes[s.Name]; !ok && s.Name != ".stubs" {
				l.SectionSizes[s.Name] = s.Size
			}
		}
	}
	// Without a .ko, the one section whose size the types give: the
	// struct module itself (so that what follows it, the module's
	// core_kallsyms symtab and strtab, is not named as inside it).
	const thisModule = ".gnu.linkonce.this_module"
	if _, ok := l.SectionSizes[thisModule]; !ok && l.Sections[thisModule] == m.Addr && m.Obj.Type != nil {
		if n := m.Obj.Size(); n > 0 {
			l.SectionSizes[thisModule] = uint64(n)
		}
	}
	return l
}

// moduleSyms reads mod->core_kallsyms: the module's symbols as the kernel
// keeps them, so they exist without a .ko.
func moduleSyms(p *kernel.Program, m *Module) *symbols.Table {
	ck, err := m.Obj.Member("core_kallsyms")
	if err != nil {
		m.warnf("core_kallsyms: %v", err)
		return nil
	}
	t, err := symbols.ModuleKallsyms(p.Context.Mem, p.Order,
		memberUint(ck, "symtab"), memberUint(ck, "num_symtab"), memberUint(ck, "strtab"), memberUint(ck, "typetab"), m.Name)
	if err != nil {
		m.warnf("module kallsyms: %v", err)
		return nil
	}
	return t
}

func (set *Set) analyzeOne(a *Analysis) {
	p, m := set.Prog, a.Module
	di, err := OpenDebuginfo(p, m)
	if err != nil {
		a.DebuginfoErr = err
	} else {
		a.Debuginfo = di
		a.Warnings = append(a.Warnings, di.Notes...)
	}
	set.runModel(a)
	a.Stubs, a.StubsErr = ReadStubs(p, m, set.stubsInput(a))
}

// runModel runs the loader model when the .ko is at hand, has the .stubs
// section that module_frob_arch_sections() (arch/powerpc/kernel/
// module_64.c) sizes, and this kernel's
// loader and the module agree on having OOL stubs (a module built for
// another configuration cannot have been loaded by this loader as-is).
func (set *Set) runModel(a *Analysis) {
	a.Model, a.ModelErr, a.ModelSkipped = nil, nil, ""
	switch m := a.Module; {
	case a.Debuginfo == nil:
		a.ModelSkipped = "no .ko"
	case a.Debuginfo.Image == nil || !a.Debuginfo.Image.hasSection(".stubs"):
		// an x86_64 or arm64 module: no module_frob_arch_sections()
		// reserved a .stubs area, so there is no stub loader to model
		a.ModelSkipped = "the .ko has no .stubs section (no out-of-line stub area to model)"
	case set.Features.OutOfLine != m.Arch.HasOOL:
		a.ModelSkipped = fmt.Sprintf("the kernel's loader has out-of-line ftrace stubs = %v but the module's mod_arch_specific says %v", set.Features.OutOfLine, m.Arch.HasOOL)
	default:
		a.Model, a.ModelErr = set.model(a)
	}
}

// stubsInput is what ReadStubs needs for a module of this set.
func (set *Set) stubsInput(a *Analysis) StubsInput {
	p := set.Prog
	return StubsInput{Model: a.Model, Name: set.name, FtraceCaller: symAddr(p, "ftrace_caller"), FtraceRegsCaller: symAddr(p, "ftrace_regs_caller"),
		KernelTOC: kernelTOC(p), PacaKernelTOC: set.Features.PacaKernelTOC}
}

func symAddr(p *kernel.Program, n string) uint64 {
	a, _ := p.SymbolAddr(n)
	return a
}

// name resolves an address for slot targets. The resolver is being rebuilt
// while modules are analysed; callers then read only.
func (set *Set) name(addr uint64) string {
	loc := set.Resolver.Lookup(addr)
	if loc.Symbol == nil {
		if loc.Module != "" {
			return loc.String()
		}
		return ""
	}
	return loc.String()
}

// KoImage returns the module's .ko image as the loader saw it: for a
// livepatch module, with the .klp.rela sections the kernel kept in memory
// merged in (an unconverted .ko lacks them). Nil without a .ko.
func (set *Set) KoImage(a *Analysis) *KoImage {
	if a.Debuginfo == nil {
		return nil
	}
	img := *a.Debuginfo.Image
	if a.Module.Livepatch {
		mem, err := KlpRelasFromMemory(set.Prog, a.Module)
		if err != nil {
			img.Warnings = append(img.Warnings[:len(img.Warnings):len(img.Warnings)], err.Error())
		}
		img.MergeKlp(mem)
	}
	return &img
}

// Resolve is resolve_symbol() for module a: the address an undefined
// symbol of a resolves to. find_symbol()'s order: vmlinux's exports (each
// has a __ksymtab_NAME symbol), then other modules' (exports.go); then,
// for symbol tables without __ksymtab_ symbols, the vmlinux symbol of that
// name. askedExports reports whether other modules' exports were read.
func (set *Set) Resolve(a *Analysis, name string) (addr uint64, ok bool, askedExports bool) {
	p := set.Prog
	s, inVmlinux := p.Syms.ByName(name)
	if _, exp := p.Syms.ByName("__ksymtab_" + name); exp && inVmlinux {
		return s.Addr, true, false
	}
	if addr, ok := set.exported(a, name); ok {
		return addr, true, true
	}
	return s.Addr, inVmlinux, true
}

// ResolveKlp is klp_find_object_symbol(): NAME in OBJ ("vmlinux" or a
// loaded module) at position POS (0: the only one); ok false when the
// object is not loaded or has no such symbol.
func (set *Set) ResolveKlp(obj, name string, pos uint64) (uint64, bool) {
	var t *symbols.Table
	if obj == "vmlinux" {
		t = set.Prog.Syms
	} else if o := set.Find(obj); o != nil {
		t = o.Syms
	}
	if t == nil {
		return 0, false
	}
	all := t.AllByName(name)
	switch {
	case len(all) == 0:
		return 0, false
	case pos == 0 || len(all) == 1:
		return all[0].Addr, true
	case int(pos) <= len(all):
		return all[pos-1].Addr, true
	}
	return 0, false
}

// KlpObjectsApplied lists the .klp.rela.MODULE objects of img whose
// relocations klp_init_object_loaded() applied: every target module loaded
// now (in the order the image names them).
func (set *Set) KlpObjectsApplied(img *KoImage) []string {
	var out []string
	for _, r := range img.Relas {
		if r.Livepatch && r.Object != "vmlinux" && set.Find(r.Object) != nil {
			out = appendOnce(out, r.Object)
		}
	}
	return out
}

// model builds the loader model's input from the dump and runs it.
func (set *Set) model(a *Analysis) (*LoaderModel, error) {
	p, m := set.Prog, a.Module
	img := set.KoImage(a)
	a.Warnings = append(a.Warnings, img.Warnings...)
	askedExports := false
	in := LoaderInput{
		Ko: img, Features: set.Features, Sections: m.SectionMap(),
		Resolve: func(name string) (uint64, bool) {
			addr, ok, asked := set.Resolve(a, name)
			askedExports = askedExports || asked
			return addr, ok
		},
		ResolveKlp:        set.ResolveKlp,
		FtraceCaller:      symAddr(p, "ftrace_caller"),
		FtraceRegsCaller:  symAddr(p, "ftrace_regs_caller"),
		KernelTOC:         kernelTOC(p),
		KlpObjectsApplied: set.KlpObjectsApplied(img),
	}
	model, err := ModelLoader(in)
	if askedExports {
		a.Warnings = append(a.Warnings, set.exports.warns...) // complete once exported() returned
	}
	if err == nil && len(model.Unresolved) > 0 {
		err = fmt.Errorf("%s: %d relocation target(s) not found in this dump: %v", m.Name, len(model.Unresolved), model.Unresolved)
	}
	return model, err
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
