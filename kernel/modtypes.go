package kernel

// Types of loaded modules (issue 20). A module's own types (struct
// xfs_mount, struct vegas, ...) are in none of the vmlinux's type
// sources; the .ko's split BTF or DWARF has them, and so does the dump's
// memory, whatever files are at hand: the struct btf that
// btf_module_notify() made for each loaded module (btf.go). ModuleBTF
// reads that list once, on first use, and LookupType falls back to it
// for a name the vmlinux's types do not have — so `struct NAME` works
// for a module's type with no .ko anywhere, and with no vmlinux either.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

type modBTFOnce struct {
	once sync.Once
	m    *MemoryBTF
	err  error
}

// ModuleBTF returns the BTF the dump's memory holds for the loaded
// modules (the btf_modules list), read on first use and kept. The
// modules' split BTF is parsed over p.Types when those are the same BTF
// the kernel runs with (a vmlinux typed by its .BTF of the same size as
// __start_BTF..__stop_BTF, or the dump's own BTF when there is no
// vmlinux), so that the types the module shares with the kernel are the
// values p.Types hands out; else over the vmlinux BTF read from memory.
// An error means the kernel keeps no BTF (ErrNoMemoryBTF) or it cannot
// be read; a module's own failure is in its ModuleBTF.Err, and a walk cut
// short in MemoryBTF.ModulesErr.
func (p *Program) ModuleBTF() (*MemoryBTF, error) {
	o := &p.modBTF
	o.once.Do(func() { o.m, o.err = p.readModuleBTF() })
	return o.m, o.err
}

func (p *Program) readModuleBTF() (*MemoryBTF, error) {
	if p.Context == nil || p.Context.Mem == nil {
		return nil, errors.New("memory is not set up")
	}
	start, err1 := p.SymbolAddr("__start_BTF")
	stop, err2 := p.SymbolAddr("__stop_BTF")
	if err1 != nil || err2 != nil {
		return nil, ErrNoMemoryBTF
	}
	if base := p.Types; base != nil && base.BTF() != nil && base.BTF().Base() == nil && stop > start && uint64(base.BTF().Size()) == stop-start {
		m := &MemoryBTF{Vmlinux: base, Start: start, Size: stop - start}
		head, err := p.SymbolAddr("btf_modules")
		if err != nil {
			m.ModulesErr = ErrNoBTFModules
			return m, nil
		}
		m.Modules, m.ModulesErr = readBTFModules(&Context{Mem: p.Context.Mem, Order: p.Order, Types: base, PtrSize: base.PtrSize, MaxList: maxBTFModules}, head, base)
		return m, nil
	}
	return ReadMemoryBTF(p.Context.Mem, p.Order, p.SymbolAddr)
}

// LookupType looks name up in p.Types and, when they do not have it
// (symbols.ErrNotFound), in each loaded module's BTF (ModuleBTF), in
// btf_modules order. module is the module whose types have it ("" for
// the vmlinux's); types are the Types to complete and measure it with
// (the module's split Types, which include the vmlinux's).
func (p *Program) LookupType(name string) (t ctype.Type, types *symbols.Types, module string, err error) {
	t, err = p.Types.Lookup(name)
	if err == nil || !errors.Is(err, symbols.ErrNotFound) {
		return t, p.Types, "", err
	}
	m, merr := p.ModuleBTF()
	if merr != nil || m == nil {
		return nil, nil, "", err
	}
	for i := range m.Modules {
		mb := &m.Modules[i]
		if mb.Types == nil {
			continue
		}
		if mt, e := mb.Types.Lookup(name); e == nil {
			return mt, mb.Types, mb.Name, nil
		}
	}
	return nil, nil, "", fmt.Errorf("%w (nor in the BTF of the %d loaded modules in memory)", err, len(m.Modules))
}
