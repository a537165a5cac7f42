// Package arch is the architecture layer: what differs between ppc64,
// x86_64 and arm64 kernels behind one set of interfaces, chosen once per
// dump from its ELF machine. Each architecture package (arch/ppc64,
// arch/x86, ...) registers itself; packages dump, kernel, modules, ftrace,
// audit and the views use the interfaces and never switch on an
// architecture themselves.
//
// An architecture decides, from the kernel's own variables and
// VMCOREINFO: the page size and the address translation (the direct map
// by arithmetic, the rest by a walk of the kernel's page tables), where
// the kernel image was placed (KASLR), how instructions decode, and what
// a CPU's saved registers are. It does not read modules, ftrace or
// livepatch state (packages modules and ftrace do, with the architecture's
// instruction helpers).
//
// Layer: architecture (docs/ARCHITECTURE.md).
package arch

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

// Kernel is one dump's kernel as its architecture sees it, set up.
type Kernel interface {
	dump.Translator

	// Name is the architecture's name ("ppc64", "x86_64").
	Name() string
	PageSize() uint64
	// MMU names the translation scheme ("radix", "hash", "4-level",
	// "5-level").
	MMU() string
	// Geometry describes the page tables for info ("64K pages: PTE 5,
	// PMD 9, PUD 9, PGD 13").
	Geometry() string
	// DirectMap is the direct map of all physical memory: virtual
	// address start + pa for every pa (PAGE_OFFSET).
	DirectMap() uint64
	// VmallocStart is where vmalloc (and, on ppc64, module) space begins.
	VmallocStart() uint64
	// KernelOffset is the KASLR slide of the kernel image: runtime
	// addresses of vmlinux symbols are link-time addresses plus it.
	KernelOffset() uint64
}

// Walker is implemented by kernels that can show each level of a
// page-table walk (vtop).
type Walker interface {
	Walk(va uint64) (Walk, error)
}

// Slide is what Setup adds to a vmlinux symbol for its run-time address:
// the KASLR offset, or nothing when env's symbols are kallsyms' run-time
// addresses (a dump opened without its vmlinux).
func Slide(env Env, offset uint64) uint64 {
	if env.RuntimeSymbols() {
		return 0
	}
	return offset
}

// SymbolVA is a kernel variable's run-time address for Setup:
// VMCOREINFO's SYMBOL(name) when info (nil: none) has it, else env's
// symbol plus slide.
func SymbolVA(env Env, info *dump.VMCOREINFO, name string, slide uint64) (uint64, error) {
	if info != nil {
		if va, ok := info.Symbol(name); ok {
			return va, nil
		}
	}
	a, err := env.Symbol(name)
	if err != nil {
		return 0, fmt.Errorf("no SYMBOL(%s) in VMCOREINFO and %v", name, err)
	}
	return a + slide, nil
}

// WalkPA is Translate through a Walker: the physical address the walk
// of va reaches, or the walk's fault.
func WalkPA(w Walker, va uint64) (uint64, error) {
	r, err := w.Walk(va)
	if err != nil {
		return 0, err
	}
	return r.PA, nil
}

// Walk is one address's page-table walk, level by level.
type Walk struct {
	VA       uint64
	Steps    []WalkStep
	PA       uint64
	LeafSize uint64 // 0 when the walk did not reach a leaf
}

// WalkStep is one level of a walk.
type WalkStep struct {
	Level     string
	Index     uint64
	EntryAddr uint64 // physical
	Entry     uint64
}

// Env is what an architecture reads while setting a dump up. Addresses of
// symbols are the vmlinux's link-time addresses (the setup adds the KASLR
// offset it finds), or, when RuntimeSymbols says so, run-time addresses
// already (kallsyms read from a dump opened without its vmlinux: the
// setup must not add the offset again); Linear reads memory
// through the direct map of the link-time layout (what the kernel's own
// early code does before relocation is known), and may fail when the
// architecture needs its KernelOffset first (KernelRead then).
type Env interface {
	Symbol(name string) (uint64, error)
	// RuntimeSymbols reports whether Symbol gives run-time addresses
	// (kallsyms) rather than the vmlinux's link-time ones.
	RuntimeSymbols() bool
	Info() *dump.VMCOREINFO
	// Notes is every ELF note of the dump (QEMU's per-CPU state among
	// them), in file order.
	Notes() []dump.Note
	Phys() dump.Memory
	Order() binary.ByteOrder
	Sizeof(typeName string) (int64, error)
	Offsetof(typeName, path string) (int64, error)
	Warnf(format string, args ...any)
}

// LayoutSource is implemented by kernels that say where their layout
// (KASLR offset, physical base, paging mode) came from, for info: from
// VMCOREINFO, or found without it.
type LayoutSource interface {
	LayoutFrom() string
}

// LayoutChecker is implemented by kernels that can hold the layout they
// found against a VMCOREINFO read only afterwards (from memory): each
// disagreement described, none when they agree.
type LayoutChecker interface {
	CheckVMCOREINFO(info *dump.VMCOREINFO) []string
}

// Registration is what an architecture package registers.
type Registration struct {
	// Setup sets a dump's kernel up.
	Setup func(Env) (Kernel, error)
	// Early maps a kernel virtual address to physical before Setup, from
	// the link-time layout alone (ppc64: the linear map, va - PAGE_OFFSET),
	// so that VMCOREINFO can be found in memory and the vmlinux compared
	// with it first; nil when the architecture cannot (a relocated kernel
	// image needs VMCOREINFO's KERNELOFFSET first).
	Early func(va uint64) (pa uint64, ok bool)
	// EarlyFrom, for an architecture without Early, maps the kernel
	// image's run-time addresses before Setup from VMCOREINFO alone
	// (x86_64: va - __START_KERNEL_map + NUMBER(phys_base); arm64: va -
	// NUMBER(kimage_voffset)), enough to read kallsyms and the vmlinux BTF
	// of a dump opened without its vmlinux, whose addresses VMCOREINFO's
	// SYMBOL()s give at run time. An error says what VMCOREINFO lacks.
	EarlyFrom func(info *dump.VMCOREINFO) (early func(va uint64) (pa uint64, ok bool), err error)
	// NoEarly, when Early is nil, says why the architecture cannot map
	// the kernel's addresses before Setup without VMCOREINFO (EarlyFrom
	// needs it), so cannot read kallsyms from a dump opened without its
	// vmlinux; NoLayout why, without any VMCOREINFO (the note or the
	// kernel's copy in memory), the layout needs the vmlinux.
	NoEarly, NoLayout string
}

var (
	mu       sync.Mutex
	registry = map[dump.Machine]Registration{}
)

// Register makes r the architecture for machine m.
func Register(m dump.Machine, r Registration) {
	mu.Lock()
	defer mu.Unlock()
	registry[m] = r
}

// For returns the architecture registered for machine m.
func For(m dump.Machine) (Registration, error) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := registry[m]
	if !ok {
		var known []string
		for k := range registry {
			known = append(known, k.String())
		}
		sort.Strings(known)
		return Registration{}, fmt.Errorf("no architecture support for %v (this build reads %v)", m, known)
	}
	return s, nil
}

// ReadU64 reads one word of physical memory in order.
func ReadU64(env Env, pa uint64) (uint64, error) {
	var b [8]byte
	if err := dump.ReadFull(env.Phys(), b[:], pa); err != nil {
		return 0, err
	}
	return env.Order().Uint64(b[:]), nil
}

// ReadU32 reads a 32-bit word of physical memory in order.
func ReadU32(env Env, pa uint64) (uint32, error) {
	var b [4]byte
	if err := dump.ReadFull(env.Phys(), b[:], pa); err != nil {
		return 0, err
	}
	return env.Order().Uint32(b[:]), nil
}

// Disassembler decodes instructions for dis and the models.
type Disassembler interface {
	// Disasm decodes the instruction at b (its address pc): the text and
	// its length in bytes (at least 1, so that a caller always advances).
	Disasm(b []byte, pc uint64) (text string, size int)
	// BranchTarget decodes a direct branch or call at b: its target,
	// whether it is a call (links), and ok false for anything else.
	BranchTarget(b []byte, pc uint64) (target uint64, call bool, ok bool)
}

// FtraceCallSite is an architecture's ftrace call site of fixed size
// (MCOUNT_INSN_SIZE): what a disabled site holds (ftrace_nop_replace())
// and what an enabled one calling target holds (ftrace_call_replace()).
// Architectures whose sites depend on more (ppc64's OOL stubs and
// prologue) model them in package ftrace instead.
type FtraceCallSite interface {
	FtraceSiteSize() int
	FtraceNop(ip uint64) []byte
	FtraceCall(ip, target uint64) ([]byte, error)
}

// FtracePrefixed is implemented by architectures whose ftrace sites need
// a word before the call site once ftrace_init_nop() ran (arm64 with
// DYNAMIC_FTRACE_WITH_ARGS: mov x9, x30 at rec->ip - 4): its address and
// bytes.
type FtracePrefixed interface {
	FtracePrefix(ip uint64) (addr uint64, want []byte)
}

// FtraceCallOps is implemented by architectures with
// DYNAMIC_FTRACE_WITH_CALL_OPS sites: where the 8-byte ops literal of the
// site at ip lives (arm64: ALIGN_DOWN(rec->ip - 12, 8)). Package ftrace
// checks it when the kernel has ftrace_nop_ops (defined only with
// CALL_OPS).
type FtraceCallOps interface {
	FtraceOpsLiteral(ip uint64) uint64
}

// FtraceFarCall is implemented by architectures whose call sites reach a
// target out of branch range through a PLT of the module holding the site
// (arm64's ftrace_find_callable_addr(): an unreachable custom trampoline
// becomes FTRACE_ADDR, an unreachable FTRACE_ADDR the module's ftrace
// PLT).
type FtraceFarCall interface {
	FtraceReachable(ip, target uint64) bool
	// FtraceModulePLT names the mod->arch pointer member to the module's
	// ftrace PLT entries for its text (init false) or init text, and the
	// byte offset of the entry used from it.
	FtraceModulePLT(init bool) (member string, offset uint64)
}

// PACStripper is implemented by architectures with pointer
// authentication: a return address with its PAC removed.
type PACStripper interface {
	StripPAC(addr uint64) uint64
}

// ModulePLT is implemented by architectures whose module loader emits
// fixed-size PLT entries for out-of-range branches (arm64's
// module-plts.c): the template and its decoding, both depending on the
// entry's own address.
type ModulePLT interface {
	PLTEntrySize() int
	// PLTEntry is get_plt_entry(dst, pc): the entry at pc branching to dst.
	PLTEntry(dst, pc uint64) []byte
	// DecodePLT says where entry bytes at pc branch; ok false when they
	// are not the template's shape.
	DecodePLT(b []byte, pc uint64) (target uint64, ok bool)
}

// WalkFault is a failed page-table walk of an architecture whose kernel
// page tables the architecture package walks itself (x86_64, arm64); it
// describes itself to package dump (dump.WalkError).
type WalkFault struct {
	Arch      string // "x86_64", "arm64": the message's prefix
	VA        uint64
	Level     string
	EntryAddr uint64
	Entry     uint64
	Kind      string // one of dump's Walk* strings
	Err       error
}

func (f *WalkFault) Error() string {
	if f.Level == "" {
		return fmt.Sprintf("%s: translating %#x: %s", f.Arch, f.VA, f.Kind)
	}
	s := fmt.Sprintf("%s: translating %#x: %s entry at physical %#x = %#x: %s", f.Arch, f.VA, f.Level, f.EntryAddr, f.Entry, f.Kind)
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}
func (f *WalkFault) Unwrap() error                   { return f.Err }
func (f *WalkFault) WalkLevel() string               { return f.Level }
func (f *WalkFault) WalkEntry() (addr, value uint64) { return f.EntryAddr, f.Entry }
func (f *WalkFault) WalkKind() string                { return f.Kind }
