package kernel

// A dump with no vmlinux at all (issue 20): neither crash nor drgn can
// type a kernel without its debuginfo, but a kernel built with
// CONFIG_DEBUG_INFO_BTF carries its whole type graph in its own memory
// (btf.go), and its symbols in kallsyms, whose tables VMCOREINFO names
// (SYMBOL(kallsyms_names), ..., exported for exactly this since Linux
// 6.x and backported by distributions). So, when no vmlinux is given or
// found, Open reads:
//
//   - the symbols from kallsyms (symbols.ReadKallsyms), the kallsyms_*
//     addresses from VMCOREINFO, read through the architecture's early
//     map: ppc64's linear map, or the kernel image mapping VMCOREINFO's
//     numbers give (arch.Registration.EarlyFrom: x86_64's phys_base,
//     arm64's kimage_voffset);
//   - the types from the BTF between __start_BTF and __stop_BTF (found in
//     those symbols), the variables the tool reads typed by their
//     declarations (KnownVariableTypes);
//
// and everything after that is the same program. What needs the vmlinux
// file — its text held against the dump, CFI, source lines, a variable
// whose declaration the tool does not know — says it cannot, with
// NoVmlinuxReason.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// NoVmlinuxReason is what a Program opened without a vmlinux says about
// where its symbols and types came from, and why what needs the file
// cannot be done.
const NoVmlinuxReason = "no vmlinux: types from the dump's BTF, symbols from kallsyms"

// ErrNoVmlinux is wrapped by what needs the vmlinux file on a Program
// opened without one.
var ErrNoVmlinux = errors.New(NoVmlinuxReason)

// linearMem reads kernel addresses through the architecture's early map
// (ppc64's linear map): enough for kallsyms and the vmlinux BTF, which
// live in the kernel image, before the page tables are set up.
type linearMem struct{ p *Program }

func (m linearMem) ReadAt(b []byte, addr uint64) (int, error) {
	if err := m.p.linearRead(b, addr); err != nil {
		return 0, err
	}
	return len(b), nil
}

// NoVmlinux reports whether p was opened without a vmlinux file (symbols
// from kallsyms, types from the dump's BTF).
func (p *Program) NoVmlinux() bool { return p.Vmlinux == nil }

// DebuginfoSource says where p's symbols and types come from, for `info`
// and the audit's coverage.
func (p *Program) DebuginfoSource() string {
	switch {
	case p.Vmlinux == nil:
		return NoVmlinuxReason
	case p.Types == nil:
		return "symbols from " + p.vmlinuxPath
	case p.Types.Source() == "BTF" && p.Types.HasDWARF():
		return "types from the vmlinux's BTF (its DWARF read only for what BTF lacks), symbols from its symbol table"
	case p.Types.Source() == "BTF":
		return "types from the vmlinux's BTF (it has no DWARF), symbols from its symbol table"
	}
	return "types from the vmlinux's DWARF, symbols from its symbol table"
}

// openWithoutVmlinux sets p up from the dump alone (the file's comment).
// p has its dump and physical memory; on success it is the program Open
// returns.
func (p *Program) openWithoutVmlinux(opts Options, paths []string, cacheDir string) error {
	d := p.Dump
	if d.MemoryOrder == nil {
		return errors.New("the dump does not say its memory's byte order")
	}
	reg, err := arch.For(d.Machine)
	if err != nil {
		return err
	}
	p.early = reg.Early
	if p.early == nil && reg.EarlyFrom == nil {
		why := reg.NoEarly
		if why == "" {
			why = fmt.Sprintf("%v has no early map of the kernel's addresses to read kallsyms through", d.Machine)
		}
		return errors.New(why)
	}
	p.Context = &Context{Order: d.MemoryOrder, PtrSize: 8}
	p.Info, p.InfoSource = d.VMCOREINFO, "dump note"
	if opts.IgnoreVMCOREINFONote {
		p.Info = nil
	}
	// What this start-up may remember for the next (startcache.go): not
	// when the memory is wrapped (mkexample records what is read).
	var key []byte
	if opts.PhysWrap == nil {
		key = dumpIdentity(paths, d.MemoryOrder)
	}
	if p.Info == nil || !hasKallsyms(p.Info) {
		// No note (QEMU's pseries dumps), or one without the kallsyms
		// tables: the kernel's own copy (vmcoreinfo_scan.go), at the page
		// a previous start-up found it when it did.
		var info *dump.VMCOREINFO
		var pa uint64
		if key != nil {
			info, pa = rememberedVMCOREINFO(p.Phys, p.Order, cacheDir, symbols.StampKey(key))
		}
		if info == nil {
			var err error
			info, pa, err = scanVMCOREINFO(p.Phys, d.Ranges, p.Order)
			if err != nil {
				if p.Info == nil {
					why := ""
					if reg.NoLayout != "" {
						why = "; " + reg.NoLayout
					}
					return fmt.Errorf("no VMCOREINFO in the dump or in its memory (%v), so no kallsyms to take the symbols from%s", err, why)
				}
				return fmt.Errorf("VMCOREINFO names no kallsyms tables (a kernel older than their export) and no other copy is in memory (%v)", err)
			}
			if k := symbols.StampKey(key); k != nil {
				rememberVMCOREINFO(cacheDir, k, pa)
			}
		}
		p.Info, p.InfoSource = info, fmt.Sprintf("memory (the kernel's page at physical %#x)", pa)
		if key != nil {
			key = binary.LittleEndian.AppendUint64(key, pa)
		}
	}
	if p.early == nil {
		// x86_64, arm64: the kernel image mapped from VMCOREINFO's
		// numbers; its SYMBOL()s (the kallsyms tables) are run-time
		// addresses, so no KASLR offset is needed first.
		early, err := reg.EarlyFrom(p.Info)
		if err != nil {
			why := reg.NoEarly
			if why == "" {
				why = fmt.Sprintf("%v cannot map the kernel's addresses before its layout is set up", d.Machine)
			}
			return fmt.Errorf("%s: %w", why, err)
		}
		p.early = early
	}
	p.Release = p.Info.OSRELEASE
	lin := linearMem{p}
	syms, err := kallsymsCached(lin, p.Order, p.Info.Symbol, cacheDir, key)
	if err != nil {
		return fmt.Errorf("reading kallsyms (VMCOREINFO names its tables): %w", err)
	}
	p.Syms = syms
	m, err := readVmlinuxMemoryBTFWith(lin, p.SymbolAddr, func(mem Reader, addr, n uint64) ([]byte, error) {
		return btfCached(mem, addr, n, cacheDir, key)
	})
	if err != nil {
		return fmt.Errorf("no types: %w", err)
	}
	m.Vmlinux.SetVariableDecls(knownDecls(syms))
	p.Types = m.Vmlinux
	p.Context.Types = p.Types
	p.Context.PtrSize = p.Types.PtrSize
	p.Features = DetectFeatures(p.Types)
	p.warnf("%s (no vmlinux given with -s and none beside the dump)", NoVmlinuxReason)
	k, err := reg.Setup(archEnv{p})
	if err != nil {
		return err
	}
	// kallsyms and VMCOREINFO give run-time addresses: nothing to rebase.
	p.Arch, p.PageSize, p.KernelOffset = k, k.PageSize(), k.KernelOffset()
	p.Context.Mem = dump.NewKernelSpace(p.Phys, k, d.Virt)
	p.installVmallocFallback()
	p.checkRelease()
	p.Resolver = symbols.NewResolver()
	p.Resolver.SetVmlinux(p.Syms)
	p.optModuleDirs = p.ModuleDirs
	p.SetModuleDirs(p.ModuleDirs, false)
	return nil
}

func hasKallsyms(info *dump.VMCOREINFO) bool {
	_, ok := info.Symbol("kallsyms_names")
	return ok
}
