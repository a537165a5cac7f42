package textcheck

import (
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	a64 "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// shfROAfterInit is SHF_RO_AFTER_INIT (include/uapi/linux/elf.h), the
// flag module_mark_ro_after_init() sets for the loader's layout.
const shfROAfterInit = 0x00200000

// sectionLayout is what a module's .ko says about a section's place in
// memory once the architecture's module_frob_arch_sections() and the
// generic module_mark_ro_after_init() (kernel/module/strict_rwx.c) have
// run: its size and flags as __layout_sections() sees them.
type sectionLayout struct {
	size  func(s *elfobj.Section) uint64
	flags func(s *elfobj.Section) elfobj.SectionFlag
}

// genericFlags adds SHF_RO_AFTER_INIT to the sections
// module_mark_ro_after_init() names (strict_rwx.c's ro_after_init[]).
func genericFlags(s *elfobj.Section) elfobj.SectionFlag {
	fl := s.Flags
	switch s.Name {
	case ".data..ro_after_init", "__jump_table":
		fl |= shfROAfterInit
	}
	return fl
}

// x86Layout: arch/x86 has no module_frob_arch_sections(); sizes are the
// .ko's.
var x86Layout = sectionLayout{
	size:  func(s *elfobj.Section) uint64 { return s.Size },
	flags: genericFlags,
}

// arm64Layout: module_frob_arch_sections() (arch/arm64/kernel/module-plts.c)
// sizes .plt/.init.plt to plt_max_entries + 1 entries and the ftrace
// trampoline sections to their entries, and makes them SHF_EXECINSTR |
// SHF_ALLOC.
func arm64Layout(a *modules.Analysis) sectionLayout {
	return sectionLayout{
		size: func(s *elfobj.Section) uint64 {
			switch s.Name {
			case ".text.ftrace_trampoline", ".init.text.ftrace_trampoline":
				return a64.PLTEntrySize
			case ".plt", ".init.plt":
				if a.PLT != nil {
					n := a.PLT.Core.Max
					if s.Name == ".init.plt" {
						n = a.PLT.Init.Max
					}
					return uint64(n+1) * a64.PLTEntrySize
				}
			}
			return s.Size
		},
		flags: func(s *elfobj.Section) elfobj.SectionFlag {
			fl := genericFlags(s)
			switch s.Name {
			case ".plt", ".init.plt", ".text.ftrace_trampoline", ".init.text.ftrace_trampoline":
				fl |= elfobj.SHF_EXECINSTR | elfobj.SHF_ALLOC
			}
			return fl
		},
	}
}

// emptySectionAddrs gives the SHF_ALLOC sections of size 0 — absent from
// mod->sect_attrs (add_sect_attrs() skips empty ones) but still symbols'
// sections: an empty .bss named by an R_X86_64_32S or an ADRP — the
// address layout_sections() (kernel/module/main.c) gave them: sections in
// __layout_sections()'s mask order and index order per mod_mem_type, each
// at ALIGN(end of the one before, sh_addralign); the one before is placed
// by the dump's address (sect_attrs) and the size the loader gave it. A
// section of non-zero size missing from sect_attrs stops the walk for its
// mem type: what follows it is not placed (its relocations stay
// unresolved and say so), never guessed.
func emptySectionAddrs(f *elfobj.File, a *modules.Analysis, lay sectionLayout, addrs map[int]uint64) {
	type mask struct{ req, excl elfobj.SectionFlag }
	masks := []mask{
		{elfobj.SHF_EXECINSTR | elfobj.SHF_ALLOC, 0},
		{elfobj.SHF_ALLOC, elfobj.SHF_WRITE},
		{shfROAfterInit | elfobj.SHF_ALLOC, 0},
		{elfobj.SHF_WRITE | elfobj.SHF_ALLOC, 0},
	}
	core := []string{"MOD_TEXT", "MOD_RODATA", "MOD_RO_AFTER_INIT", "MOD_DATA"}
	init := []string{"MOD_INIT_TEXT", "MOD_INIT_RODATA", "", "MOD_INIT_DATA"}
	base := map[string]uint64{}
	for _, r := range a.Module.Regions {
		base[r.Name] = r.Base
	}
	taken := map[int]bool{}
	for _, isInit := range []bool{false, true} {
		names := core
		if isInit {
			names = init
		}
		cursor := map[string]uint64{}
		known := map[string]bool{}
		for k, mk := range masks {
			typ := names[k]
			if typ == "" {
				continue
			}
			if _, ok := known[typ]; !ok {
				b, ok := base[typ]
				cursor[typ], known[typ] = b, ok
			}
			for i, s := range f.Sections {
				fl := lay.flags(s)
				if i == 0 || taken[i] || fl&mk.req != mk.req || fl&mk.excl != 0 || strings.HasPrefix(s.Name, ".init") != isInit {
					continue
				}
				taken[i] = true
				size := lay.size(s)
				if ad, ok := addrs[i]; ok {
					cursor[typ], known[typ] = ad+size, true
					continue
				}
				if !known[typ] {
					continue
				}
				al := s.Addralign
				if al == 0 {
					al = 1
				}
				ad := (cursor[typ] + al - 1) / al * al
				if size == 0 {
					addrs[i] = ad
				}
				cursor[typ] = ad + size
				if size != 0 {
					known[typ] = false // a section of that size should have been in sect_attrs
				}
			}
		}
	}
}
