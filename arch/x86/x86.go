// Package x86 is the x86_64 architecture of package arch: the kernel's
// address space as arch/x86/kernel/vmcore_info_64.c describes it in
// VMCOREINFO (KERNELOFFSET, NUMBER(phys_base), SYMBOL(init_top_pgt),
// NUMBER(pgtable_l5_enabled), NUMBER(KERNEL_IMAGE_SIZE),
// NUMBER(sme_mask)) and the kernel's own variables (page_offset_base,
// vmalloc_base: randomized with CONFIG_RANDOMIZE_MEMORY); 4- and 5-level
// page tables with 2M and 1G pages; KASLR.
//
// It does not decode instructions or unwind stacks (see the sibling
// files as they come), nor read modules or ftrace state.
//
// Layer: architecture (docs/ARCHITECTURE.md).
package x86

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/dump"
)

func init() {
	arch.Register(dump.MachineX86_64, arch.Registration{Setup: Setup, EarlyFrom: EarlyFrom,
		NoEarly:  "x86_64 maps its kernel image at __START_KERNEL_map + phys_base, which only VMCOREINFO's NUMBER(phys_base) says before the layout is set up, so kallsyms cannot be read without it",
		NoLayout: "without VMCOREINFO the layout (KASLR offset, phys_base) is found from the QEMU CPU state by holding the IDT's gate handlers against the vmlinux's symbols (asm_exc_divide_error, ..., _text), which only the vmlinux has"})
}

// Constants of arch/x86/include/asm/page_64_types.h and pgtable_64_types.h.
const (
	// StartKernelMap is __START_KERNEL_map: the kernel image mapping.
	StartKernelMap uint64 = 0xffffffff80000000
	// Default direct-map and vmalloc bases without
	// CONFIG_RANDOMIZE_MEMORY (__PAGE_OFFSET_BASE_L4/L5, __VMALLOC_BASE_L4/L5).
	pageOffsetL4 uint64 = 0xffff888000000000
	pageOffsetL5 uint64 = 0xff11000000000000
	vmallocL4    uint64 = 0xffffc90000000000
	vmallocL5    uint64 = 0xffa0000000000000
	// defaultImageSize is KERNEL_IMAGE_SIZE with KASLR (1 GiB).
	defaultImageSize uint64 = 1 << 30
	// physMask is PTE_PFN_MASK for __PHYSICAL_MASK_SHIFT 52, page aligned.
	physMask    uint64 = (1<<52 - 1) &^ 0xfff
	pagePresent        = 1 << 0 // _PAGE_PRESENT
	pagePSE            = 1 << 7 // _PAGE_PSE: a 2M or 1G leaf
)

// Kernel is an x86_64 kernel set up.
type Kernel struct {
	Phys        dump.Memory
	L5          bool   // 5-level paging (LA57)
	PGD         uint64 // physical address of init_top_pgt
	PhysBase    uint64 // phys_base
	Offset      uint64 // KERNELOFFSET: runtime - link-time image address
	ImageSize   uint64
	PageOffset  uint64 // page_offset_base: the direct map
	VmallocBase uint64 // vmalloc_base
	MaxPhys     uint64 // 1 << MAX_PHYSMEM_BITS: the direct map's reach
	SMEMask     uint64 // sme_mask: the memory-encryption bit in entries
	// From says where the layout (Offset, PhysBase, L5) came from.
	From string
}

// LayoutFrom says where the kernel's layout came from (arch.LayoutSource).
func (k *Kernel) LayoutFrom() string { return k.From }

// CheckVMCOREINFO holds a layout found without VMCOREINFO against the
// VMCOREINFO read from memory afterwards (arch.LayoutChecker): every
// disagreement, described.
func (k *Kernel) CheckVMCOREINFO(info *dump.VMCOREINFO) []string {
	var out []string
	if off, ok := info.KernelOffset(); ok && off != k.Offset {
		out = append(out, fmt.Sprintf("KERNELOFFSET=%x in VMCOREINFO, %#x found", off, k.Offset))
	}
	if pb, ok := info.Number("phys_base"); ok && uint64(pb) != k.PhysBase {
		out = append(out, fmt.Sprintf("NUMBER(phys_base)=%#x in VMCOREINFO, %#x found", uint64(pb), k.PhysBase))
	}
	if v, ok := info.Number("pgtable_l5_enabled"); ok && (v != 0) != k.L5 {
		out = append(out, fmt.Sprintf("NUMBER(pgtable_l5_enabled)=%d in VMCOREINFO, %s paging found", v, k.MMU()))
	}
	return out
}

func (k *Kernel) Name() string     { return "x86_64" }
func (k *Kernel) PageSize() uint64 { return 4096 }
func (k *Kernel) PageShift() uint  { return 12 }
func (k *Kernel) MMU() string {
	if k.L5 {
		return "5-level"
	}
	return "4-level"
}
func (k *Kernel) Geometry() string {
	s := fmt.Sprintf("4K pages, %s page tables at %#x, direct map at %#x, vmalloc at %#x", k.MMU(), k.PGD, k.PageOffset, k.VmallocBase)
	if k.Offset != 0 {
		s += fmt.Sprintf(", KASLR offset %#x", k.Offset)
	}
	return s
}
func (k *Kernel) DirectMap() uint64    { return k.PageOffset }
func (k *Kernel) VmallocStart() uint64 { return k.VmallocBase }
func (k *Kernel) KernelOffset() uint64 { return k.Offset }

// Linear maps the kernel image (__START_KERNEL_map + phys_base: __pa() of
// a kernel symbol, __phys_addr_symbol()) and the direct map (va -
// page_offset_base) by arithmetic.
func (k *Kernel) Linear(va uint64) (uint64, bool) {
	if va >= StartKernelMap && va-StartKernelMap < k.ImageSize {
		return va - StartKernelMap + k.PhysBase, true
	}
	if k.PageOffset != 0 && va >= k.PageOffset && va-k.PageOffset < k.MaxPhys {
		return va - k.PageOffset, true
	}
	return 0, false
}

// Fault is a failed x86_64 page-table walk (arch.WalkFault).
type Fault = arch.WalkFault

// Translate walks init_top_pgt (pgd_offset_k(), p4d_offset(),
// pud_offset(), pmd_offset(), pte_offset_kernel()) for a kernel address.
func (k *Kernel) Translate(va uint64) (uint64, error) { return arch.WalkPA(k, va) }

// Walk is Translate, level by level.
func (k *Kernel) Walk(va uint64) (arch.Walk, error) {
	w := arch.Walk{VA: va}
	// A kernel address is canonical with bit 63 set.
	if va>>63 == 0 {
		return w, &Fault{Arch: "x86_64", VA: va, Kind: dump.WalkNotKernel}
	}
	type level struct {
		name  string
		shift uint
	}
	levels := []level{{"PGD", 39}, {"PUD", 30}, {"PMD", 21}, {"PTE", 12}}
	if k.L5 {
		levels = []level{{"PGD", 48}, {"P4D", 39}, {"PUD", 30}, {"PMD", 21}, {"PTE", 12}}
	}
	table := k.PGD
	var b [8]byte
	for i, lv := range levels {
		idx := va >> lv.shift & 511
		ea := table + idx*8
		if err := dump.ReadFull(k.Phys, b[:], ea); err != nil {
			return w, &Fault{Arch: "x86_64", VA: va, Level: lv.name, EntryAddr: ea, Kind: dump.WalkTableUnreadable, Err: err}
		}
		e := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		w.Steps = append(w.Steps, arch.WalkStep{Level: lv.name, Index: idx, EntryAddr: ea, Entry: e})
		if e&pagePresent == 0 {
			return w, &Fault{Arch: "x86_64", VA: va, Level: lv.name, EntryAddr: ea, Entry: e, Kind: dump.WalkNotPresent}
		}
		addr := e & physMask &^ k.SMEMask
		last := i == len(levels)-1
		if !last && e&pagePSE != 0 {
			size := uint64(1) << lv.shift
			if lv.name != "PUD" && lv.name != "PMD" {
				return w, &Fault{Arch: "x86_64", VA: va, Level: lv.name, EntryAddr: ea, Entry: e, Kind: dump.WalkBadEntry}
			}
			w.PA, w.LeafSize = addr&^(size-1)|va&(size-1), size
			return w, nil
		}
		if last {
			w.PA, w.LeafSize = addr|va&0xfff, 4096
			return w, nil
		}
		table = addr
	}
	return w, nil
}

// EarlyFrom is the kernel image mapping from VMCOREINFO alone (arch's
// Registration.EarlyFrom): __phys_addr_symbol(), va - __START_KERNEL_map +
// phys_base, for run-time addresses within KERNEL_IMAGE_SIZE of
// __START_KERNEL_map. The KASLR slide is in the addresses already.
func EarlyFrom(info *dump.VMCOREINFO) (func(va uint64) (uint64, bool), error) {
	pb, ok := info.Number("phys_base")
	if !ok {
		return nil, fmt.Errorf("x86_64: VMCOREINFO lacks NUMBER(phys_base), so the kernel image cannot be mapped before the layout is set up")
	}
	size := uint64(defaultImageSize)
	if v, ok := info.Number("KERNEL_IMAGE_SIZE"); ok && v > 0 {
		size = uint64(v)
	}
	return func(va uint64) (uint64, bool) {
		if va >= StartKernelMap && va-StartKernelMap < size {
			return va - StartKernelMap + uint64(pb), true
		}
		return 0, false
	}, nil
}

// Setup reads the layout: KERNELOFFSET and phys_base from VMCOREINFO (the
// image mapping needs both before anything can be read), 4 or 5 levels,
// init_top_pgt, then page_offset_base and vmalloc_base from memory.
func Setup(env arch.Env) (arch.Kernel, error) {
	info := env.Info()
	k := &Kernel{Phys: env.Phys(), ImageSize: defaultImageSize}
	if info == nil {
		// QEMU without -device vmcoreinfo: the CPUs' state (cpustate.go).
		l, err := layoutFromCPUs(env.Phys(), env.Order(), env.Notes(), env.Symbol, env.Warnf)
		if err != nil {
			return nil, fmt.Errorf("x86_64: %w", err)
		}
		k.Offset, k.PhysBase, k.L5 = l.offset, l.physBase, l.l5
		k.From = fmt.Sprintf("KASLR offset %#x, phys_base %s, %s paging: from the QEMU CPU state; no VMCOREINFO (%s)", k.Offset, signedHex(k.PhysBase), k.MMU(), l.how)
	} else {
		if off, ok := info.KernelOffset(); ok {
			k.Offset = off
		}
		pb, ok := info.Number("phys_base")
		if !ok {
			return nil, fmt.Errorf("x86_64: VMCOREINFO lacks NUMBER(phys_base)")
		}
		k.PhysBase = uint64(pb)
		if v, ok := info.Number("KERNEL_IMAGE_SIZE"); ok && v > 0 {
			k.ImageSize = uint64(v)
		}
		if v, ok := info.Number("pgtable_l5_enabled"); ok {
			k.L5 = v != 0
		}
		if v, ok := info.Number("sme_mask"); ok {
			k.SMEMask = uint64(v)
		}
		k.From = "KASLR offset, phys_base, paging levels: from VMCOREINFO"
		if env.RuntimeSymbols() {
			k.From += k.crossCheckCPUs(env)
		}
	}
	k.MaxPhys = 1 << 46
	k.PageOffset, k.VmallocBase = pageOffsetL4, vmallocL4
	if k.L5 {
		k.MaxPhys = 1 << 52
		k.PageOffset, k.VmallocBase = pageOffsetL5, vmallocL5
	}
	// What to add to a symbol for its run-time address: nothing when the
	// symbols are kallsyms' (a dump opened without its vmlinux).
	slide := arch.Slide(env, k.Offset)
	pgtVA, err := arch.SymbolVA(env, info, "init_top_pgt", slide)
	if err != nil {
		return nil, fmt.Errorf("x86_64: %v", err)
	}
	pgd, ok := k.Linear(pgtVA)
	if !ok {
		return nil, fmt.Errorf("x86_64: init_top_pgt at %#x is outside the kernel image mapping", pgtVA)
	}
	k.PGD = pgd
	// page_offset_base, vmalloc_base: variables in the image with
	// CONFIG_RANDOMIZE_MEMORY, else the defaults above.
	read := func(name string) (uint64, bool, error) {
		a, err := env.Symbol(name)
		if err != nil {
			return 0, false, nil
		}
		pa, ok := k.Linear(a + slide)
		if !ok {
			return 0, false, fmt.Errorf("x86_64: %s at %#x outside the image mapping", name, a+slide)
		}
		v, err := arch.ReadU64(env, pa)
		if err != nil {
			return 0, false, fmt.Errorf("x86_64: reading %s: %w", name, err)
		}
		return v, true, nil
	}
	if v, ok, err := read("page_offset_base"); err != nil {
		return nil, err
	} else if ok {
		k.PageOffset = v
	}
	if v, ok, err := read("vmalloc_base"); err != nil {
		return nil, err
	} else if ok {
		k.VmallocBase = v
	}
	return k, nil
}

// crossCheckCPUs holds a layout read from VMCOREINFO against the one the
// QEMU CPU state gives (cpustate.go), for a dump opened without its
// vmlinux: kallsyms' run-time addresses minus KERNELOFFSET stand for the
// vmlinux's link-time symbols. Without a vmlinux nothing else confirms a
// VMCOREINFO (one found in memory may be another kernel's); what it says
// is appended to the layout's source ("" for a dump without CPU state).
func (k *Kernel) crossCheckCPUs(env arch.Env) string {
	link := func(name string) (uint64, error) {
		a, err := env.Symbol(name)
		return a - k.Offset, err
	}
	l, err := layoutFromCPUs(env.Phys(), env.Order(), env.Notes(), link, env.Warnf)
	switch {
	case errors.Is(err, errNoCPUState):
		return ""
	case err != nil:
		return fmt.Sprintf("; the QEMU CPU state gives no layout to compare (%v)", err)
	case l.offset != k.Offset || l.physBase != k.PhysBase || l.l5 != k.L5:
		env.Warnf("x86_64: VMCOREINFO's layout (KASLR offset %#x, phys_base %s, LA57 %s) disagrees with the QEMU CPU state's (%#x, %s, %s: %s)",
			k.Offset, signedHex(k.PhysBase), onOff(k.L5), l.offset, signedHex(l.physBase), onOff(l.l5), l.how)
		return "; the QEMU CPU state disagrees (see the warning)"
	}
	return fmt.Sprintf("; the QEMU CPU state agrees (%s)", l.how)
}

// Has: x86_64's int3 text-poke batches, ftrace_ops trampolines copied
// from ftrace_caller, and ITS thunks.
func (k *Kernel) Has(f arch.Feature) bool {
	switch f {
	case arch.TextPokeBatch, arch.OpsTrampolines, arch.ITSThunks:
		return true
	}
	return false
}

// Unwind: ORC.
func (k *Kernel) Unwind() arch.Unwind { return arch.UnwindORC }

var (
	_ arch.Disassembler = (*Kernel)(nil)
	_ arch.Features     = (*Kernel)(nil)
	_ arch.Unwinding    = (*Kernel)(nil)
)

// signedHex prints phys_base as the kernel's signed long (VMCOREINFO
// prints NUMBER(phys_base) in decimal, negative when the image sits below
// LOAD_PHYSICAL_ADDR's slot).
func signedHex(v uint64) string {
	if int64(v) < 0 {
		return fmt.Sprintf("-%#x", -v)
	}
	return fmt.Sprintf("%#x", v)
}
