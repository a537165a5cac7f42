package modules

import (
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// The symbols one module exports to others, as the loader finds them.
//
// When a module is loaded, an undefined symbol is resolved by
// find_symbol() (kernel/module/main.c): vmlinux's __ksymtab first, then
// the exported-symbol table of every live module, mod->syms[0..num_syms)
// of struct kernel_symbol. A module's kallsyms are no guide to what it
// exports: its core_kallsyms.typetab holds elf_type()'s letters
// (kernel/module/kallsyms.c), lowercase for every defined symbol —
// /proc/kallsyms prints 'T' only because s_show() uppercases what
// is_exported() finds in mod->syms. So the loader model resolves another
// module's symbol through that module's mod->syms, read from the dump.

// maxExports bounds the exported-symbol table read from one module.
const maxExports = 1 << 16

// moduleExports is what every module of the set exports, read once.
type moduleExports struct {
	once   sync.Once
	byName map[string]export
	warns  []string
}

type export struct {
	addr  uint64
	owner *Analysis
}

// exported returns the address of name as another module than self
// exports it (the first such module in module-list order, as
// find_symbol() searches; exported names are unique, the loader refuses a
// duplicate).
func (set *Set) exported(self *Analysis, name string) (uint64, bool) {
	set.exports.once.Do(func() {
		set.exports.byName = map[string]export{}
		for _, a := range set.Modules {
			if a.Module.State == "MODULE_STATE_UNFORMED" {
				continue
			}
			syms, err := ReadExports(a.Module)
			if err != nil {
				set.exports.warns = append(set.exports.warns, err.Error())
			}
			for _, s := range syms {
				if _, dup := set.exports.byName[s.Name]; !dup {
					set.exports.byName[s.Name] = export{addr: s.Value, owner: a}
				}
			}
		}
	})
	e, ok := set.exports.byName[name]
	if !ok || e.owner == self {
		return 0, false
	}
	return e.addr, true
}

// KernelSymbol is one entry of an exported-symbol table.
type KernelSymbol struct {
	Name  string
	Value uint64
}

// ReadExports reads m's exported-symbol table, mod->syms[0..num_syms),
// and on kernels that keep GPL-only exports apart, mod->gpl_syms too. A
// struct kernel_symbol holds either self-relative offsets (value_offset,
// name_offset: CONFIG_HAVE_ARCH_PREL32_RELOCATIONS, as ppc64 has) or
// pointers (value, name); which one is read from the DWARF.
func ReadExports(m *Module) ([]KernelSymbol, error) {
	var out []KernelSymbol
	for _, tab := range [][2]string{{"syms", "num_syms"}, {"gpl_syms", "num_gpl_syms"}} {
		base, err := m.Obj.Member(tab[0])
		if err != nil {
			if tab[0] == "syms" {
				return nil, fmt.Errorf("%s: exported symbols: %w", m.Name, err)
			}
			continue // a kernel with one table (flagstab marks GPL-only)
		}
		n := memberUint(m.Obj, tab[1])
		if n > maxExports {
			return out, fmt.Errorf("%s: %s = %d, more than %d", m.Name, tab[1], n, maxExports)
		}
		for i := range int64(n) {
			ks, err := base.Index(i) // mod->syms[i]: the type through the object's context
			if err != nil {
				return out, fmt.Errorf("%s: exported symbols: %w", m.Name, err)
			}
			s, err := readKernelSymbol(ks)
			if err != nil {
				return out, fmt.Errorf("%s: %s[%d] at %#x: %w", m.Name, tab[0], i, ks.Addr, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// readKernelSymbol is kernel_symbol_value() and kernel_symbol_name().
func readKernelSymbol(ks kernel.Object) (KernelSymbol, error) {
	if vo, err := ks.Member("value_offset"); err == nil {
		no, err := ks.Member("name_offset")
		if err != nil {
			return KernelSymbol{}, err
		}
		v, err := vo.Int()
		if err != nil {
			return KernelSymbol{}, err
		}
		n, err := no.Int()
		if err != nil {
			return KernelSymbol{}, err
		}
		// offset_to_ptr(&sym->name_offset): the member's own address
		// plus the offset it holds.
		name, err := ks.Ctx.CStringAt(uint64(int64(no.Addr)+n), maxExportName)
		if err != nil {
			return KernelSymbol{}, err
		}
		return KernelSymbol{Name: name, Value: uint64(int64(vo.Addr) + v)}, nil
	}
	v, err := ks.Member("value")
	if err != nil {
		return KernelSymbol{}, err
	}
	val, err := v.Uint()
	if err != nil {
		return KernelSymbol{}, err
	}
	n, err := ks.Member("name")
	if err != nil {
		return KernelSymbol{}, err
	}
	name, err := n.CString(maxExportName)
	return KernelSymbol{Name: name, Value: val}, err
}

// maxExportName bounds an exported symbol's name (KSYM_NAME_LEN is 512).
const maxExportName = 512
