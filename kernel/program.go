// Package kernel is the program under inspection: one dump, its vmlinux
// and module debuginfo, the kernel's virtual address space read through its
// own page tables, and typed objects over that memory (Object, Member,
// ListForEachEntry — helpers named after the kernel's macros). It finds
// VMCOREINFO (in the dump or in memory), believes memory and the vmlinux
// over a VMCOREINFO note that disagrees with them (and records the
// disagreement: vmcoreinfo_check.go), decides radix or hash and the
// page-table geometry, and refuses a vmlinux that does not belong to the
// dump.
//
// It does not know what a module or an ftrace record is (packages modules
// and ftrace do), and it prints nothing.
//
// Layer: program (docs/ARCHITECTURE.md).
package kernel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"
	_ "github.com/kdump-inspect/kdump-inspect/arch/arm64" // registers arm64
	_ "github.com/kdump-inspect/kdump-inspect/arch/ppc64" // registers ppc64
	_ "github.com/kdump-inspect/kdump-inspect/arch/x86"   // registers x86_64
	"github.com/kdump-inspect/kdump-inspect/ctype"
	"github.com/kdump-inspect/kdump-inspect/debuginfo"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// Options say where the debuginfo is. Zero values mean: look beside the
// dump (a vmlinux, vmlinux.zst or vmlinux-RELEASE file, a modules/
// directory), as the corpus is laid out.
type Options struct {
	Vmlinux string
	// ModuleDirs are searched for module debuginfo first (--modules),
	// then the modules/ directory beside the dump.
	ModuleDirs []string
	// DebugRoots are system roots whose distribution debuginfo layouts
	// are searched after those (package debuginfo): the command line
	// passes "/"; nil searches none.
	DebugRoots []string
	// Force accepts a vmlinux whose build-id or release does not match the
	// dump (with a warning).
	Force bool
	// CacheDir holds the DWARF name-index cache, the vmlinux's symbol
	// table (symbols.OpenELFCached) and, for a dump opened without a
	// vmlinux, its kallsyms table and where its VMCOREINFO page is
	// (startcache.go); "" means the user's cache directory.
	CacheDir string
	Dump     dump.Options
	// PrivateVmlinux opens the vmlinux for this Program alone instead of
	// sharing one opened vmlinux (ELF file, symbols, DWARF types) with the
	// other Programs of the process that use the same file
	// (vmlinuxcache.go); for measuring a single start-up.
	PrivateVmlinux bool
	// DumpOnly looks for nothing beside the dump (no vmlinux, no
	// modules/ directory): with no Vmlinux either, the program is typed
	// by the dump's own BTF and named by its kallsyms (novmlinux.go).
	DumpOnly bool
	// Types says where the vmlinux's types come from (typesopen.go):
	// its BTF when it has one, with the DWARF opened on demand, by
	// default.
	Types TypesFrom
	// IgnoreVMCOREINFONote opens the dump as if it had no VMCOREINFO note
	// (a test hook, KDUMP_INSPECT_IGNORE_VMCOREINFO=1 in the command): the
	// architecture finds the layout without it (x86_64: from QEMU's CPU
	// state), to be held against the note's values.
	IgnoreVMCOREINFONote bool
	// PhysWrap, when set, wraps the dump's physical memory before anything
	// reads it (every kernel read goes through it: linear map and page
	// walks). cmd/mkexample records the pages a job touches this way.
	PhysWrap func(dump.Memory) dump.Memory
}

// MismatchError refuses a vmlinux that does not belong to the dump.
type MismatchError struct {
	File        string
	What        string // "build-id", "OSRELEASE"
	Dump, File2 string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s does not belong to this dump: %s is %s in the dump but %s in the file (use --force to override)", e.File, e.What, e.Dump, e.File2)
}

// Program is one dump with its vmlinux and module debuginfo: the kernel's
// memory read through its own page tables and typed by its own DWARF.
type Program struct {
	*Context
	Dump     *dump.Dump
	Phys     dump.Memory
	Vmlinux  *symbols.ELFFile
	Types    *symbols.Types
	Syms     *symbols.Table // vmlinux ELF symbols
	Resolver *symbols.Resolver
	Info     *dump.VMCOREINFO
	// InfoSource says where VMCOREINFO came from: "dump note", "memory
	// (vmcoreinfo_data)", or "" when none was found.
	InfoSource string
	Release    string
	PageSize   uint64
	// Arch is the dump's kernel as its architecture sees it: address
	// translation, MMU, KASLR (package arch).
	Arch arch.Kernel
	// KernelOffset is the KASLR slide (Arch.KernelOffset()): p.Syms holds
	// runtime addresses, the vmlinux file link-time ones (LinkAddr).
	KernelOffset uint64
	Features     Features
	ModuleDirs   []string
	// Debuginfo finds module debuginfo (ModuleDirs, the modules/
	// directory beside the dump, DebugRoots); see SetModuleDirs.
	Debuginfo *debuginfo.Index
	Warnings  []string
	// Vmalloc answers for vmalloc pages whose page-table pages the dump
	// lacks (see installVmallocFallback); its Pages counts them.
	Vmalloc *VmallocFallback

	vmlinuxPath string
	// besideModules is the modules/ directory beside the dump ("" if
	// none); debugRoots the roots of Options.DebugRoots.
	besideModules string
	debugRoots    []string
	optModuleDirs []string // Options.ModuleDirs, for ResetModuleDirs
	infoErr       error    // why VMCOREINFO was not found, when it was not
	// early maps kernel addresses before the architecture is set up
	// (arch.Registration.Early; nil when it cannot).
	early func(va uint64) (uint64, bool)
	// releaseVmlinux drops this Program's reference to the shared
	// vmlinux (nil when Open did not open it).
	releaseVmlinux func() error
	// modBTF is the loaded modules' BTF (ModuleBTF), read once.
	modBTF modBTFOnce
}

func (p *Program) warnf(format string, args ...any) {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
}

// ELFv1 reports whether the kernel is ppc64 ELFv1 (function descriptors
// in .opd), from the vmlinux's e_flags or its .opd section.
func (p *Program) ELFv1() bool { return p.Vmlinux != nil && p.Vmlinux.ABIv1 }

// LinkAddr is the vmlinux file's (link-time) address of a runtime kernel
// image address.
func (p *Program) LinkAddr(a uint64) uint64 { return a - p.KernelOffset }

// VmlinuxPath is the file the symbols and types came from.
func (p *Program) VmlinuxPath() string { return p.vmlinuxPath }

// FindBeside looks for a vmlinux and a modules directory beside a dump file.
func FindBeside(dumpPath string, release string) (vmlinux string, modules string) {
	// Beside the path given, then beside the file it links to (a dump
	// symlinked into a working directory keeps its vmlinux where it is).
	dirs := []string{filepath.Dir(dumpPath)}
	if real, err := filepath.EvalSymlinks(dumpPath); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	cands := []string{"vmlinux", "vmlinux.zst", "vmlinux.xz", "vmlinux.gz"}
	if release != "" {
		cands = append(cands, "vmlinux-"+release, "vmlinux-"+release+".zst", "vmlinux-"+release+".gz")
	}
	for _, dir := range dirs {
		for _, c := range cands {
			p := container.FollowLinkFile(filepath.Join(dir, c))
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && !isLinkFile(p) {
				vmlinux = p
				break
			}
		}
		if vmlinux != "" {
			break
		}
	}
	for _, dir := range dirs {
		m := container.FollowLinkFile(filepath.Join(dir, "modules"))
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			modules = m
			break
		}
	}
	return vmlinux, modules
}

// isLinkFile says whether p is still a link file FollowLinkFile could not
// resolve (its target missing): not a vmlinux.
func isLinkFile(p string) bool {
	st, err := os.Stat(p)
	if err != nil || st.Size() > 4096 {
		return false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	t := strings.TrimSpace(string(b))
	return t != "" && !strings.ContainsAny(t, "\x00\n") && strings.Contains(t, "/") && len(b) > 0 && b[0] != 0x7f && b[0] != 0x28
}

// Open opens a dump with its debuginfo and sets up the kernel's virtual
// address space. What cannot be found is a warning as long as memory can
// still be read; a vmlinux that does not match is an error.
func Open(dumpPaths []string, opts Options) (*Program, error) {
	d, err := dump.Open(dumpPaths, opts.Dump)
	if err != nil {
		return nil, err
	}
	p := &Program{Dump: d, Phys: d.Phys}
	p.Warnings = append(p.Warnings, d.Warnings...)
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	if d.Phys == nil {
		return nil, fmt.Errorf("%s: a process core holds no kernel physical memory", dumpPaths[0])
	}
	if opts.PhysWrap != nil {
		p.Phys = opts.PhysWrap(p.Phys)
	}
	release := ""
	if d.VMCOREINFO != nil {
		release = d.VMCOREINFO.OSRELEASE
	}
	vmlinux := opts.Vmlinux
	p.ModuleDirs = append([]string(nil), opts.ModuleDirs...)
	var v, beside string
	if !opts.DumpOnly {
		v, beside = FindBeside(dumpPaths[0], release)
	}
	if vmlinux == "" {
		vmlinux = v
	}
	p.besideModules, p.debugRoots = beside, opts.DebugRoots
	cache := opts.CacheDir
	if cache == "" {
		cache = filepath.Join(container.CacheDir(), "dwarf-index")
	}
	if vmlinux == "" {
		// The dump alone: kallsyms and its own BTF (novmlinux.go).
		if err := p.openWithoutVmlinux(opts, dumpPaths, cache); err != nil {
			return nil, fmt.Errorf("%s: no vmlinux given (-s) and none beside the dump, and %w", dumpPaths[0], err)
		}
		ok = true
		return p, nil
	}
	p.vmlinuxPath = vmlinux
	// The jobs of one process share one opened vmlinux (vmlinuxcache.go).
	vm, releaseVM, err := openVmlinux(vmlinux, cache, opts.Types, opts.PrivateVmlinux)
	if err != nil {
		return nil, err
	}
	p.releaseVmlinux = releaseVM
	defer func() {
		if !ok {
			p.releaseVmlinux()
		}
	}()
	p.Vmlinux, p.Syms, p.Types = vm.elf, vm.syms, vm.types
	if r := p.Vmlinux.SymtabReport; r != nil {
		p.warnf("%s", r)
	}
	for _, w := range vm.warnings {
		p.warnf("%s: %s", vmlinux, w)
	}
	for _, w := range p.Types.Warnings() {
		p.warnf("%s: %s", vmlinux, w)
	}
	order := p.Vmlinux.ByteOrder
	if order == nil {
		order = d.MemoryOrder
	}
	p.Context = &Context{Mem: nil, Order: order, Types: p.Types, PtrSize: 8}
	p.Features = DetectFeatures(p.Types)

	reg, err := arch.For(d.Machine)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dumpPaths[0], err)
	}
	p.early = reg.Early
	// VMCOREINFO: from the file, else from memory (through the
	// architecture's early map when it has one, else after setup).
	p.Info = d.VMCOREINFO
	if opts.IgnoreVMCOREINFONote {
		p.Info = nil
		p.warnf("the dump's VMCOREINFO note is ignored (KDUMP_INSPECT_IGNORE_VMCOREINFO)")
	}
	if p.Info != nil {
		p.InfoSource = "dump note"
	} else if p.early != nil {
		p.vmcoreinfoFromMemoryInto()
	}
	// The build-id now; linux_banner in memory too when the early map can
	// read it (else after setup).
	if err := p.checkMatch(opts.Force, p.early != nil); err != nil {
		return nil, err
	}
	k, err := reg.Setup(archEnv{p})
	if err != nil {
		// Name the dump: these errors come from its memory.
		return nil, fmt.Errorf("%s: %w", dumpPaths[0], err)
	}
	p.Arch, p.PageSize, p.KernelOffset = k, k.PageSize(), k.KernelOffset()
	if p.KernelOffset != 0 {
		p.Syms = p.Syms.Rebase(p.KernelOffset)
	}
	p.Context.Mem = dump.NewKernelSpace(p.Phys, k, p.Dump.Virt)
	p.installVmallocFallback()
	if p.early == nil {
		if err := p.checkMatch(opts.Force, true); err != nil {
			return nil, err
		}
	}
	if p.Info == nil {
		p.vmcoreinfoFromMemoryInto()
		if p.Info != nil {
			if err := p.checkMatch(opts.Force, true); err != nil {
				return nil, err
			}
			// A layout found without VMCOREINFO, held against the
			// kernel's own copy now readable.
			if c, ok := k.(arch.LayoutChecker); ok {
				if diffs := c.CheckVMCOREINFO(p.Info); len(diffs) > 0 {
					p.warnf("the layout found without VMCOREINFO disagrees with the VMCOREINFO in memory: %s", strings.Join(diffs, "; "))
				} else {
					p.InfoSource += ", read after the layout was found without it; they agree"
				}
			}
		} else {
			p.warnf("no VMCOREINFO in the dump and none found in memory: %v", p.infoErr)
		}
	}
	p.checkRelease() // vmcoreinfo_check.go
	p.Resolver = symbols.NewResolver()
	p.Resolver.SetVmlinux(p.Syms)
	p.optModuleDirs = p.ModuleDirs
	p.SetModuleDirs(p.ModuleDirs, false)
	ok = true
	return p, nil
}

// ResetModuleDirs searches the directories the program was opened with
// again (after SetModuleDirs).
func (p *Program) ResetModuleDirs() { p.SetModuleDirs(p.optModuleDirs, false) }

// SetModuleDirs replaces the directories searched for module debuginfo
// and makes a new debuginfo index: dirs first, then the modules/
// directory beside the dump, then the distribution layouts of the release
// under the debug roots. With only, dirs alone are searched (crash's
// `mod -S DIR`: that tree and nothing else).
func (p *Program) SetModuleDirs(dirs []string, only bool) {
	p.ModuleDirs = dirs
	var ds []debuginfo.Dir
	for _, d := range dirs {
		ds = append(ds, debuginfo.Dir{Path: d, Origin: debuginfo.FromOption})
	}
	roots := p.debugRoots
	if only {
		roots = nil
	} else if p.besideModules != "" {
		ds = append(ds, debuginfo.Dir{Path: p.besideModules, Origin: debuginfo.FromBeside})
	}
	p.Debuginfo = debuginfo.New(debuginfo.Options{Dirs: ds, Release: p.Release, Roots: roots,
		CacheDir: container.CacheDir()})
}

// Close releases the dump and the files.
func (p *Program) Close() error {
	var errs []error
	switch {
	case p.releaseVmlinux != nil:
		errs = append(errs, p.releaseVmlinux())
	case p.Vmlinux != nil:
		errs = append(errs, p.Vmlinux.Close())
	}
	errs = append(errs, p.Dump.Close())
	return errors.Join(errs...)
}

// linearRead reads kernel memory before or after the architecture is set
// up: through the kernel space once there is one, else through the
// architecture's early map (ppc64's linear map).
func (p *Program) linearRead(buf []byte, va uint64) error {
	if p.Context != nil && p.Context.Mem != nil {
		return dump.ReadFull(p.Context.Mem, buf, va)
	}
	if p.early == nil {
		return &dump.Fault{Addr: va, Reason: dump.Unmapped, Detail: "the kernel's address space is not set up yet"}
	}
	pa, ok := p.early(va)
	if !ok {
		return &dump.Fault{Addr: va, Reason: dump.Unmapped, Detail: "not in the early (link-time) direct map"}
	}
	return dump.ReadFull(p.Phys, buf, pa)
}

func (p *Program) linearU64(va uint64) (uint64, error) {
	var b [8]byte
	if err := p.linearRead(b[:], va); err != nil {
		return 0, err
	}
	return p.Order.Uint64(b[:]), nil
}

// SymbolAddr returns a vmlinux symbol's address.
func (p *Program) SymbolAddr(name string) (uint64, error) {
	s, ok := p.Syms.ByName(name)
	if !ok {
		if p.Vmlinux == nil {
			return 0, fmt.Errorf("symbol %s not in kallsyms", name)
		}
		return 0, fmt.Errorf("symbol %s not in %s", name, p.vmlinuxPath)
	}
	return s.Addr, nil
}

// maxVmcoreinfo bounds vmcoreinfo_size read from memory (the kernel
// allocates one page for it: VMCOREINFO_BYTES).
const maxVmcoreinfo = 1 << 16

// vmcoreinfoFromMemory follows kernel/vmcore_info.c: vmcoreinfo_data is a
// pointer to the text, vmcoreinfo_size its length.
func (p *Program) vmcoreinfoFromMemory() (*dump.VMCOREINFO, error) {
	da, err := p.SymbolAddr("vmcoreinfo_data")
	if err != nil {
		return nil, err
	}
	sa, err := p.SymbolAddr("vmcoreinfo_size")
	if err != nil {
		return nil, err
	}
	ptr, err := p.linearU64(da)
	if err != nil {
		return nil, fmt.Errorf("reading vmcoreinfo_data at %#x: %w", da, err)
	}
	size, err := p.linearU64(sa) // size_t
	if err != nil {
		return nil, fmt.Errorf("reading vmcoreinfo_size at %#x: %w", sa, err)
	}
	if size == 0 || size > maxVmcoreinfo {
		return nil, fmt.Errorf("vmcoreinfo_size at %#x is %d (limit %d)", sa, size, maxVmcoreinfo)
	}
	buf := make([]byte, size)
	if err := p.linearRead(buf, ptr); err != nil {
		return nil, fmt.Errorf("reading VMCOREINFO text at %#x: %w", ptr, err)
	}
	return dump.ParseVMCOREINFO(buf)
}

// vmcoreinfoFromMemoryInto sets p.Info from memory, or records why not.
func (p *Program) vmcoreinfoFromMemoryInto() {
	if info, err := p.vmcoreinfoFromMemory(); err == nil {
		p.Info, p.InfoSource, p.infoErr = info, "memory (vmcoreinfo_data)", nil
	} else {
		p.infoErr = err
	}
}

// checkMatch refuses a vmlinux whose build-id or release differs from the
// dump's VMCOREINFO, and, without VMCOREINFO, one whose linux_banner is not
// what memory holds at that address.
func (p *Program) checkMatch(force, banner bool) error {
	var mm *MismatchError
	if p.Info != nil {
		if id := p.Info.BuildID; len(id) > 0 && len(p.Vmlinux.BuildID) > 0 {
			// VMCOREINFO's BUILD-ID may be a prefix (it is printed from a
			// fixed-size buffer in some kernels).
			n := min(len(id), len(p.Vmlinux.BuildID))
			if !bytes.Equal(id[:n], p.Vmlinux.BuildID[:n]) && !p.vmcoreinfoBuildIDDamaged(hexID(id), hexID(p.Vmlinux.BuildID)) {
				mm = &MismatchError{File: p.vmlinuxPath, What: "build-id", Dump: hex.EncodeToString(id), File2: hex.EncodeToString(p.Vmlinux.BuildID)}
			}
		}
		p.Release = p.Info.OSRELEASE
	}
	if mm == nil && banner {
		if err := p.checkBanner(); err != nil {
			var me *MismatchError
			if errors.As(err, &me) {
				mm = me
			} else {
				p.warnf("could not compare linux_banner: %v", err)
			}
		}
	}
	if mm != nil {
		if !force {
			return mm
		}
		p.warnf("%v (forced)", mm)
	}
	return nil
}

// checkBanner compares the vmlinux's linux_banner with the bytes memory
// holds at the symbol's address: a vmlinux from another build fails here.
func (p *Program) checkBanner() error {
	s, ok := p.Syms.ByName("linux_banner")
	if !ok {
		return fmt.Errorf("no linux_banner symbol")
	}
	want, err := p.Vmlinux.ReadAddr(p.LinkAddr(s.Addr), 256)
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return fmt.Errorf("linux_banner has no file contents")
	}
	got := make([]byte, len(want))
	if err := p.linearRead(got, s.Addr); err != nil {
		return err
	}
	if i := bytes.IndexByte(want, 0); i >= 0 {
		want, got = want[:i], got[:i]
	}
	if !bytes.Equal(want, got) {
		return &MismatchError{File: p.vmlinuxPath, What: "linux_banner", Dump: fmt.Sprintf("%q", trimBanner(got)), File2: fmt.Sprintf("%q", trimBanner(want))}
	}
	if p.Release == "" {
		if f := strings.Fields(string(want)); len(f) >= 3 {
			p.Release = f[2]
		}
	}
	return nil
}

func trimBanner(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// Mem is the kernel virtual address space.
func (p *Program) Mem() dump.Memory { return p.Context.Mem }

// Read reads n bytes of kernel virtual memory.
func (p *Program) Read(addr uint64, n int) ([]byte, error) {
	if n < 0 || n > 1<<30 {
		return nil, fmt.Errorf("read of %d bytes at %#x refused", n, addr)
	}
	// Sizes come from the dump: grow the buffer as the bytes are read, so
	// that a corrupt size costs what memory holds, not what it claims.
	const chunk = 1 << 20
	b := make([]byte, 0, min(n, chunk))
	for off := 0; off < n; off += chunk {
		k := min(chunk, n-off)
		b = slices.Grow(b, k)[:off+k]
		if err := dump.ReadFull(p.Context.Mem, b[off:], addr+uint64(off)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ReadU64 reads a kernel-order 64-bit word.
func (p *Program) ReadU64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := dump.ReadFull(p.Context.Mem, b[:], addr); err != nil {
		return 0, err
	}
	return p.Order.Uint64(b[:]), nil
}

// ReadU32 reads a kernel-order 32-bit word.
func (p *Program) ReadU32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := dump.ReadFull(p.Context.Mem, b[:], addr); err != nil {
		return 0, err
	}
	return p.Order.Uint32(b[:]), nil
}

// Variable returns the typed object of a vmlinux global variable.
func (p *Program) Variable(name string) (Object, error) {
	var t ctype.Type
	var err error
	// Through Context.Types when it can (a recorder in the example
	// generator stands there).
	if vt, ok := p.Context.Types.(interface {
		VariableType(string) (ctype.Type, error)
	}); ok {
		t, err = vt.VariableType(name)
	} else {
		t, err = p.Types.VariableType(name)
	}
	if err != nil {
		return Object{}, err
	}
	a, err := p.SymbolAddr(name)
	if err != nil {
		return Object{}, err
	}
	return Object{Ctx: p.Context, Type: t, Addr: a}, nil
}

// Object returns an object of the named type at addr.
func (p *Program) Object(typeName string, addr uint64) (Object, error) {
	t, err := p.Context.Types.Lookup(typeName)
	if err != nil {
		return Object{}, err
	}
	return Object{Ctx: p.Context, Type: t, Addr: addr}, nil
}

// indexKey keys the DWARF name-index cache: the build-id, plus the size of
// .debug_info, so that two files with one build-id but different DWARF (a
// full vmlinux and a trimmed extract of it) never share an index.
func indexKey(f *symbols.ELFFile) []byte {
	key := append([]byte(nil), f.BuildID...)
	if s, ok := f.SectionByName(".debug_info"); ok {
		key = binary.BigEndian.AppendUint64(key, s.Size)
	}
	return key
}
