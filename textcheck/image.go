package textcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/reloc"
)

// maxImageBytes bounds the section bytes one module's image materialises
// (a hostile .ko could claim gigabytes).
const maxImageBytes = 256 << 20

// ImageSection is one section of the expected image.
type ImageSection struct {
	Index int
	Name  string
	Addr  uint64
	Orig  []byte // as in the .ko
	Want  []byte // with the relocations applied
	Exec  bool
	// Compare: an executable section that stays in memory; Skip says why
	// another is not compared.
	Compare bool
	Skip    string
}

// CallSite is a call the loader routes through a .stubs stub (R_PPC_REL24
// against an undefined or livepatch symbol).
type CallSite struct {
	Section *ImageSection
	Off     uint64
	Target  uint64
	Name    string
	// Stub is the loader model's stub; 0 when the model could not place
	// it (no model, or a relocation whose object is not loaded).
	Stub uint64
	// RestoreR2: the instruction after the call is (or, pending, would
	// be) restore_r2()'s ld r2.
	RestoreR2 bool
	// Pending: a livepatch relocation against Object, which is not loaded
	// now: the bytes are the .ko's, or what an earlier load left.
	Pending bool
	Object  string
}

// PendingWrite is a relocation not applied because its livepatch object is
// not loaded now.
type PendingWrite struct {
	Section *ImageSection
	Off     uint64
	Type    uint32
	Size    int
	Object  string
	Sym     string
}

// Image is what a module's text must hold.
type Image struct {
	Owner    string
	Order    binary.ByteOrder
	Sections []*ImageSection
	Calls    []CallSite
	Pending  []PendingWrite
	// Unapplied lists relocations the model could not apply (their bytes
	// are the .ko's and are not compared as if applied).
	Unapplied []*reloc.Error
	Problems  []string
	// Machine is the .ko's e_machine (EM_PPC64 or EM_X86_64).
	Machine elfobj.Machine
}

// Section returns the image's section by name (the first of that name).
func (img *Image) Section(name string) *ImageSection {
	for _, s := range img.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SectionAt returns the section holding addr.
func (img *Image) SectionAt(addr uint64) *ImageSection {
	for _, s := range img.Sections {
		if addr >= s.Addr && addr-s.Addr < uint64(len(s.Want)) {
			return s
		}
	}
	return nil
}

// materialised says which sections the image needs: executable text and
// the tables that describe patches to it.
func materialised(s *elfobj.Section) (exec, need bool) {
	if s.Flags&elfobj.SHF_ALLOC == 0 || s.Type != elfobj.SHT_PROGBITS {
		return false, false
	}
	if s.Flags&elfobj.SHF_EXECINSTR != 0 {
		return true, true
	}
	switch s.Name {
	case ".altinstructions", ".retpoline_sites", ".return_sites", ".ibt_endbr_seal", ".smp_locks",
		".static_call_sites", ".call_sites", ".cfi_sites":
		return false, true // x86 module_finalize()'s tables
	case "__jump_table", "__ftr_fixup", "__mmu_ftr_fixup", "__fw_ftr_fixup", "__lwsync_fixup",
		"__patchable_function_entries", "__mcount_loc":
		return false, true
	}
	return false, strings.HasPrefix(s.Name, "__ftr_alt_")
}

// sectionAddrs maps .ko section indices to the addresses in
// mod->sect_attrs, which lists the non-empty SHF_ALLOC sections in index
// order (kernel/module/sysfs.c add_sect_attrs()): matched in order by
// name, so two sections of one name each get their own address.
func sectionAddrs(f *elfobj.File, m *modules.Module) map[int]uint64 {
	out := map[int]uint64{}
	j := 0
	for i, s := range f.Sections {
		if i == 0 || s.Flags&elfobj.SHF_ALLOC == 0 {
			continue
		}
		for k := j; k < len(m.Sections); k++ {
			if m.Sections[k].Name == s.Name {
				out[i] = m.Sections[k].Addr
				j = k + 1
				break
			}
		}
	}
	return out
}

// stubPlacer is stub_for_addr() read off the loader model: the stub among
// the first stub_count with that target.
type stubPlacer struct {
	model *modules.LoaderModel
}

var errNoModel = errors.New("no loader model for this module")

func (sp stubPlacer) stub(target uint64, _ string) (uint64, error) {
	if sp.model == nil {
		return 0, errNoModel
	}
	for _, s := range sp.model.Stubs {
		if s.Slot < sp.model.StubCount && s.Target == target {
			return s.Addr, nil
		}
	}
	return 0, fmt.Errorf("the loader model has no stub to %#x", target)
}

// BuildModuleImage rebuilds what module a's text must hold: the .ko's
// sections with apply_relocations() (kernel/module/main.c: every RELA
// section in index order, .klp.rela.vmlinux.* among them) and, for a
// livepatch module, klp_init_object_loaded()'s .klp.rela.MODULE.* for the
// objects loaded now; those of objects not loaded are Pending.
func BuildModuleImage(set *modules.Set, a *modules.Analysis) (*Image, error) {
	if a.Debuginfo == nil || a.Debuginfo.ELF == nil {
		return nil, fmt.Errorf("%s: no .ko", a.Module.Name)
	}
	f := a.Debuginfo.ELF.File
	x86 := f.Machine == elfobj.EM_X86_64
	arm := f.Machine == elfobj.EM_AARCH64
	if f.Machine != elfobj.EM_PPC64 && !x86 && !arm {
		return nil, fmt.Errorf("the text model covers ppc64, x86_64 and arm64 modules, not %v", f.Machine)
	}
	if f.Machine == elfobj.EM_PPC64 && set.Features.PCREL {
		return nil, fmt.Errorf("the text model does not cover PC-relative (CONFIG_PPC_KERNEL_PCREL) kernels")
	}
	m := a.Module
	img := &Image{Owner: m.Name, Order: f.ByteOrder, Machine: f.Machine}
	addrs := sectionAddrs(f, m)
	byIndex := map[int]*ImageSection{}
	total := uint64(0)
	for i, s := range f.Sections {
		exec, need := materialised(s)
		if !need || i == 0 {
			continue
		}
		total += s.Size
		if total > maxImageBytes {
			return nil, fmt.Errorf("%s: sections larger than %d bytes", m.Name, maxImageBytes)
		}
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: section %s at offset %#x: %w", m.Name, s.Name, s.Offset, err)
		}
		is := &ImageSection{Index: i, Name: s.Name, Orig: data, Want: append([]byte(nil), data...), Exec: exec}
		addr, ok := addrs[i]
		switch {
		case !ok:
			is.Skip = "no address in sect_attrs"
		case strings.HasPrefix(s.Name, ".init"):
			is.Addr = addr
			is.Skip = "init section, freed after the module's init ran"
		default:
			is.Addr = addr
			is.Compare = exec
		}
		if !exec && is.Skip == "" {
			is.Skip = skipTable
		}
		byIndex[i] = is
		img.Sections = append(img.Sections, is)
	}
	switch {
	case arm:
		emptySectionAddrs(f, a, arm64Layout(a), addrs)
	case x86:
		emptySectionAddrs(f, a, x86Layout, addrs)
	}
	koSyms := koSymbols(set, a, f, addrs)
	var r2 uint64
	switch {
	case x86, arm:
	case a.Model != nil:
		r2 = a.Model.R2
	default:
		toc, ok := m.SectionAddr(".toc")
		if !ok || !a.Debuginfo.Image.HasToc {
			toc, _ = m.SectionAddr(".stubs")
		}
		r2 = (toc &^ 0xff) + 0x8000
	}
	for i := range koSyms {
		if koSyms[i].Name == ".TOC." {
			koSyms[i] = reloc.Symbol{Name: ".TOC.", Shndx: elfobj.SHN_ABS, Value: r2}
		}
	}
	ko := set.KoImage(a)
	img.Problems = append(img.Problems, ko.Warnings...)
	applied := set.KlpObjectsApplied(ko)
	var arch interface {
		Apply(*reloc.Section, []reloc.Rela, []reloc.Symbol) ([]reloc.Write, []error)
	} = &reloc.PPC64{Order: f.ByteOrder, ELFv1: set.Features.ELFv1, R2: r2, Stub: stubPlacer{a.Model}.stub}
	if x86 {
		// apply_relocate_add() of arch/x86/kernel/module.c; a livepatch
		// relocation whose object is gone was cleared by
		// clear_relocate_add() (x86 alone does): Pending, the .ko's bytes.
		arch = &reloc.X86_64{}
	}
	var al *a64Loader
	if arm {
		// apply_relocate_add() of arch/arm64/kernel/module.c, PLTs and
		// veneers as module-plts.c emits them (arm64.go).
		al = newA64Loader(set, a, f, ko, koSyms)
	}
	apply := func(rs modules.RelaSection) {
		is := byIndex[rs.Target]
		if is == nil {
			return
		}
		syms := koSyms
		if rs.Syms != nil {
			syms = memorySymbols(rs.Syms)
		}
		relas := make([]reloc.Rela, len(rs.Relas))
		for i, r := range rs.Relas {
			relas[i] = reloc.Rela{Off: r.Off, Type: r.Type(), Sym: r.Sym(), Addend: r.Addend}
		}
		sec := &reloc.Section{Name: is.Name, Addr: is.Addr, Data: is.Want}
		if arm {
			writes, errs := al.applier(f.ByteOrder, is.Name).Apply(sec, a64Relas(f, rs, syms, is.Exec), syms)
			_ = writes
			for _, e := range errs {
				var re *reloc.Error
				if errors.As(e, &re) {
					img.Unapplied = append(img.Unapplied, re)
				}
			}
			return
		}
		writes, errs := arch.Apply(sec, relas, syms)
		for _, w := range writes {
			if w.Stub != 0 {
				cs := CallSite{Section: is, Off: w.Off, Target: w.Value, Name: w.SymName, Stub: w.Stub, Object: rs.Object}
				img.Calls = append(img.Calls, cs)
			}
			if w.RestoreR2 && len(img.Calls) > 0 {
				img.Calls[len(img.Calls)-1].RestoreR2 = true
			}
		}
		for _, e := range errs {
			var re *reloc.Error
			if errors.As(e, &re) {
				if re.NoStub {
					img.Calls = append(img.Calls, CallSite{Section: is, Off: re.Off, Target: re.Value, Name: re.Sym, Object: rs.Object,
						RestoreR2: followsLinkBranch(is.Orig, re.Off, f.ByteOrder, re.Sym)})
				}
				img.Unapplied = append(img.Unapplied, re)
			}
		}
	}
	pending := func(rs modules.RelaSection) {
		is := byIndex[rs.Target]
		if is == nil {
			return
		}
		syms := rs.Syms
		for _, r := range rs.Relas {
			name := ""
			if syms != nil && int(r.Sym()) < len(syms) {
				name = syms[r.Sym()].Name
			} else if int(r.Sym()) < len(ko.Symbols) {
				name = ko.Symbols[r.Sym()].Name
			}
			size := relocSize(r.Type())
			if x86 {
				size = reloc.X86Size(r.Type())
			} else if arm {
				size = reloc.ARM64Size(r.Type())
			}
			img.Pending = append(img.Pending, PendingWrite{Section: is, Off: r.Off, Type: r.Type(), Size: size, Object: rs.Object, Sym: name})
			if !x86 && !arm && r.Type() == uint32(elfobj.R_PPC64_REL24) {
				img.Calls = append(img.Calls, CallSite{Section: is, Off: r.Off, Name: name, Pending: true, Object: rs.Object,
					RestoreR2: followsLinkBranch(is.Orig, r.Off, f.ByteOrder, name)})
			}
		}
	}
	for _, rs := range ko.Relas {
		if rs.Livepatch && rs.Object != "vmlinux" {
			continue
		}
		apply(rs)
	}
	for _, obj := range applied {
		for _, rs := range ko.Relas {
			if rs.Livepatch && rs.Object == obj {
				apply(rs)
			}
		}
	}
	for _, rs := range ko.Relas {
		if rs.Livepatch && rs.Object != "vmlinux" && !contains(applied, rs.Object) {
			pending(rs)
		}
	}
	if al != nil {
		al.finish(set, a, img)
	}
	sort.Slice(img.Calls, func(i, j int) bool {
		a, b := img.Calls[i], img.Calls[j]
		return a.Section.Addr+a.Off < b.Section.Addr+b.Off
	})
	return img, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// followsLinkBranch says whether restore_r2() would patch the word after
// the call at off: a bl (not a sibling call), not an mprofile ftrace call.
func followsLinkBranch(orig []byte, off uint64, o binary.ByteOrder, name string) bool {
	if reloc.IsMprofileFtraceCall(name) || off+8 > uint64(len(orig)) {
		return false
	}
	w := o.Uint32(orig[off:])
	op := w >> 26
	return (op == 18 || op == 16) && w&3 == 1
}

func relocSize(t uint32) int {
	switch elfobj.R_PPC64(t) {
	case elfobj.R_PPC64_ADDR64, elfobj.R_PPC64_TOC, elfobj.R_PPC64_REL64, elfobj.R_PPC64_ENTRY:
		return 8
	case elfobj.R_PPC64_TOC16, elfobj.R_PPC64_TOC16_LO, elfobj.R_PPC64_TOC16_DS, elfobj.R_PPC64_TOC16_LO_DS,
		elfobj.R_PPC64_TOC16_HA, elfobj.R_PPC64_REL16_HA, elfobj.R_PPC64_REL16_LO:
		return 2
	}
	return 4
}

// koSymbols is simplify_symbols() (kernel/module/main.c) over the .ko's
// symbol table: st_value made absolute (section address, or mod->percpu
// for the per-CPU section), undefined symbols resolved as resolve_symbol()
// does (a weak one not found is 0), livepatch symbols as
// klp_resolve_symbols() does.
func koSymbols(set *modules.Set, a *modules.Analysis, f *elfobj.File, addrs map[int]uint64) []reloc.Symbol {
	ko := a.Debuginfo.Image
	percpuIdx := -1
	for i, s := range f.Sections {
		if s.Name == ".data..percpu" {
			percpuIdx = i
		}
	}
	percpu, _ := a.Module.Obj.Member("percpu")
	percpuBase, _ := percpu.Uint()
	out := make([]reloc.Symbol, len(ko.Symbols))
	for i, s := range ko.Symbols {
		rs := reloc.Symbol{Name: s.Name, Shndx: s.Shndx, Value: s.Value, Other: s.Other}
		switch {
		case i == 0:
			// The null symbol: st_value 0 (R_PPC64_ENTRY and R_PPC64_TOC
			// name it; R_PPC_REL24 against it is an unconverted klp
			// relocation, which finds no stub).
		case s.Shndx == elfobj.SHN_UNDEF:
			name := s.Name
			if set.Features.ELFv1 {
				name = strings.TrimPrefix(name, ".") // dedotify()
			}
			if name == ".TOC." {
				break // my_r2(), set by the caller
			}
			v, ok, _ := set.Resolve(a, name)
			switch {
			case ok:
				rs.Value = v
			case s.Binding == elfobj.STB_WEAK:
				rs.Value = 0
			default:
				rs.Unresolved = true
			}
		case s.Shndx == reloc.SHN_LIVEPATCH:
			obj, n, pos, ok := modules.ParseKlpSym(s.Name)
			if !ok {
				rs.Unresolved = true
				break
			}
			v, found := set.ResolveKlp(obj, n, pos)
			rs.Value, rs.Unresolved = v, !found
		case s.Shndx == elfobj.SHN_ABS:
		case s.Shndx == elfobj.SHN_COMMON:
			rs.Unresolved = true
		case int(s.Shndx) == percpuIdx:
			rs.Value = percpuBase + s.Value
		default:
			base, ok := addrs[int(s.Shndx)]
			if !ok {
				rs.Unresolved = true
				break
			}
			rs.Value = base + s.Value
		}
		out[i] = rs
	}
	return out
}

// memorySymbols is the symbol table a livepatch module keeps in memory
// (klp_info): its st_value are final (simplify_symbols() and
// klp_resolve_symbols() wrote them, the latter possibly for an object
// since unloaded).
func memorySymbols(syms []modules.KoSymbol) []reloc.Symbol {
	out := make([]reloc.Symbol, len(syms))
	for i, s := range syms {
		out[i] = reloc.Symbol{Name: s.Name, Shndx: s.Shndx, Value: s.Value, Other: s.Other}
	}
	return out
}
