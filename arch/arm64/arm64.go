// Package arm64 is the arm64 (AArch64) architecture of package arch: the
// kernel's address space as arch/arm64/kernel/vmcore_info.c describes it
// in VMCOREINFO (KERNELOFFSET, NUMBER(VA_BITS), NUMBER(kimage_voffset),
// NUMBER(PHYS_OFFSET), NUMBER(TCR_EL1_T1SZ), NUMBER(KERNELPACMASK),
// NUMBER(MODULES_VADDR/END), NUMBER(VMALLOC_START/END)) and PAGESIZE; the
// linear map and the kernel image mapping by arithmetic
// (arch/arm64/include/asm/memory.h: __lm_to_phys(), __kimg_to_phys()); the
// rest by a walk of swapper_pg_dir as the MMU does it: 4K, 16K and 64K
// granules, the level count from the VA size in use (64 - T1SZ), block
// mappings, 52-bit output addresses (LPA2 for 4K/16K, LPA for 64K) and the
// TTBR1 offset of a 52-bit 64K kernel running with 48 bits.
//
// insn.go decodes instructions (golang.org/x/arch/arm64/arm64asm) and
// holds the ftrace call-site model (arch/arm64/kernel/ftrace.c) and the
// module PLT template (arch/arm64/kernel/module-plts.c).
//
// Layer: architecture (docs/ARCHITECTURE.md).
package arm64

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/dump"
)

func init() {
	arch.Register(dump.MachineAArch64, arch.Registration{Setup: Setup, EarlyFrom: EarlyFrom,
		NoEarly: "arm64 maps its kernel image at va - kimage_voffset, which only VMCOREINFO's NUMBER(kimage_voffset) says before the layout is set up, so kallsyms cannot be read without it"})
}

// earlyImageSpan bounds the early image mapping: from 2 MiB below
// SYMBOL(_stext) (_text and the image header sit below it) to 1 GiB above
// (a distro Image is some 60 MiB with its BSS).
const earlyImageSpan = 1 << 30

// EarlyFrom is the kernel image mapping from VMCOREINFO alone (arch's
// Registration.EarlyFrom): __kimg_to_phys(), va - kimage_voffset, for
// run-time addresses near SYMBOL(_stext) (the image's bounds, _text and
// _end, are symbols VMCOREINFO does not carry).
func EarlyFrom(info *dump.VMCOREINFO) (func(va uint64) (uint64, bool), error) {
	kv, ok := info.Number("kimage_voffset")
	if !ok {
		return nil, fmt.Errorf("arm64: VMCOREINFO lacks NUMBER(kimage_voffset), so the kernel image cannot be mapped before the layout is set up")
	}
	stext, ok := info.Symbol("_stext")
	if !ok {
		return nil, fmt.Errorf("arm64: VMCOREINFO lacks SYMBOL(_stext), so where the kernel image lies is unknown before the layout is set up")
	}
	lo := stext - 2<<20
	return func(va uint64) (uint64, bool) {
		if va >= lo && va-lo < earlyImageSpan {
			return va - uint64(kv), true
		}
		return 0, false
	}, nil
}

// Kernel is an arm64 kernel set up.
type Kernel struct {
	Phys  dump.Memory
	Order binary.ByteOrder

	PageShift_ uint // log2 of PAGESIZE: 12, 14 or 16
	// VABits is CONFIG_ARM64_VA_BITS (NUMBER(VA_BITS)); VABitsActual is
	// vabits_actual (64 - TCR_EL1.T1SZ), smaller when the CPU lacks
	// 52-bit support.
	VABits, VABitsActual uint
	// LPA2: 52-bit VA with a 4K or 16K granule, which needs TCR_EL1.DS
	// (FEAT_LPA2): output address bits 51:50 in descriptor bits 9:8.
	LPA2 bool
	// Levels of the walk (ARM64_HW_PGTABLE_LEVELS(vabits_actual)).
	Levels int
	// PGD is the physical address the walk starts at: __pa_symbol(
	// swapper_pg_dir), plus TTBR1_BADDR_4852_OFFSET where the kernel
	// offsets TTBR1 (offset_ttbr1).
	PGD uint64
	// pgdWidth, when set, is the first level's index width for a walk
	// whose pgd is bigger than the VA size in use needs (setTTBR1Offset).
	pgdWidth uint

	PageOffset    uint64 // PAGE_OFFSET = _PAGE_OFFSET(VA_BITS)
	PageEnd       uint64 // PAGE_END = _PAGE_END(VA_BITS_MIN)
	PhysOffset    uint64 // PHYS_OFFSET (memstart_addr; may be "negative")
	KimageVoffset uint64 // kimage_voffset: image va - pa
	Offset        uint64 // KERNELOFFSET (kaslr_offset())
	ImageStart    uint64 // runtime _text
	ImageEnd      uint64 // runtime _end
	ModulesVaddr  uint64
	ModulesEnd    uint64
	VmallocBase   uint64
	VmallocEnd    uint64
	// PACMask is NUMBER(KERNELPACMASK): the bits pointer authentication
	// uses in kernel return addresses (0 without address auth).
	PACMask uint64
}

// Constants of arch/arm64/include/asm/memory.h.
const (
	// modulesVsize is MODULES_VSIZE (SZ_2G): MODULES_END = MODULES_VADDR
	// + MODULES_VSIZE = KIMAGE_VADDR, the link-time address of _text.
	modulesVsize = 2 << 30
)

func (k *Kernel) Name() string     { return "arm64" }
func (k *Kernel) PageSize() uint64 { return 1 << k.PageShift_ }
func (k *Kernel) PageShift() uint  { return k.PageShift_ }
func (k *Kernel) MMU() string {
	s := fmt.Sprintf("%d-level", k.Levels)
	if k.LPA2 {
		s += " LPA2"
	}
	return s
}
func (k *Kernel) Geometry() string {
	s := fmt.Sprintf("%dK granule, %d-bit VA (VA_BITS %d), %d levels from swapper_pg_dir at %#x, linear map at %#x (PHYS_OFFSET %#x), kimage_voffset %#x, vmalloc at %#x",
		k.PageSize()>>10, k.VABitsActual, k.VABits, k.Levels, k.PGD, k.PageOffset, k.PhysOffset, k.KimageVoffset, k.VmallocBase)
	if k.LPA2 {
		s += ", LPA2"
	}
	if k.Offset != 0 {
		s += fmt.Sprintf(", KASLR offset %#x", k.Offset)
	}
	if k.PACMask != 0 {
		s += fmt.Sprintf(", PAC mask %#x", k.PACMask)
	}
	return s
}

// DirectMap is the virtual address of physical 0 in the linear map
// (__phys_to_virt(0) = PAGE_OFFSET - PHYS_OFFSET): DirectMap() + pa.
func (k *Kernel) DirectMap() uint64    { return k.PageOffset - k.PhysOffset }
func (k *Kernel) VmallocStart() uint64 { return k.VmallocBase }
func (k *Kernel) KernelOffset() uint64 { return k.Offset }

// Linear maps the kernel image (__kimg_to_phys(): va - kimage_voffset)
// and the linear map (__is_lm_address(), __lm_to_phys(): va - PAGE_OFFSET
// + PHYS_OFFSET) by arithmetic.
func (k *Kernel) Linear(va uint64) (uint64, bool) {
	if va >= k.ImageStart && va < k.ImageEnd {
		return va - k.KimageVoffset, true
	}
	if va-k.PageOffset < k.PageEnd-k.PageOffset {
		pa := va - k.PageOffset + k.PhysOffset
		if k.PhysOffset>>63 != 0 && pa>>63 != 0 {
			// Below memstart_addr (a "negative" PHYS_OFFSET with a
			// 48-bit VA on a 52-bit kernel): not linear-mapped memory.
			return 0, false
		}
		return pa, true
	}
	return 0, false
}

// StripPAC removes a pointer authentication code from a kernel address
// (ptrauth_strip_kernel_insn_pac(): addr | KERNELPACMASK for a kernel
// address, bit 55 set).
func (k *Kernel) StripPAC(addr uint64) uint64 { return StripPAC(addr, k.PACMask) }

// StripPAC is Kernel.StripPAC with the mask given.
func StripPAC(addr, mask uint64) uint64 {
	if addr&(1<<55) != 0 {
		return addr | mask
	}
	return addr &^ mask
}

// Fault is a failed arm64 page-table walk (arch.WalkFault).
type Fault = arch.WalkFault

// LevelsFor is ARM64_HW_PGTABLE_LEVELS(va_bits) for a granule of
// 1<<pageShift: ((va_bits) - 4) / (PAGE_SHIFT - 3).
func LevelsFor(vaBits, pageShift uint) int {
	return int((vaBits - 4) / (pageShift - 3))
}

// levelNames names the levels of an n-level walk as the kernel's folded
// page tables do (pgd, p4d, pud, pmd, pte).
func levelNames(n int) []string {
	switch n {
	case 5:
		return []string{"PGD", "P4D", "PUD", "PMD", "PTE"}
	case 4:
		return []string{"PGD", "PUD", "PMD", "PTE"}
	case 3:
		return []string{"PGD", "PMD", "PTE"}
	case 2:
		return []string{"PGD", "PTE"}
	}
	return []string{"PTE"}
}

// outputAddress is the descriptor's output address: __pte_to_phys()
// (arch/arm64/include/asm/pgtable.h, PTE_ADDR_LOW/PTE_ADDR_HIGH of
// pgtable-hwdef.h) for the granule and LPA2.
func (k *Kernel) outputAddress(e uint64) uint64 {
	g := k.PageShift_
	switch {
	case k.LPA2:
		// Bits 49:g, and 51:50 in bits 9:8.
		return e&((1<<50-1)&^(1<<g-1)) | (e>>8&3)<<50
	case g == 16:
		// Bits 47:16, and 51:48 in bits 15:12 (FEAT_LPA; RES0 without).
		return e&((1<<48-1)&^(1<<16-1)) | (e>>12&0xf)<<48
	}
	return e & ((1<<48 - 1) &^ (1<<g - 1))
}

// Translate walks swapper_pg_dir for a kernel (TTBR1) address.
func (k *Kernel) Translate(va uint64) (uint64, error) { return arch.WalkPA(k, va) }

// Walk is Translate, level by level, as the MMU walks TTBR1: a table
// descriptor (bits 1:0 = 0b11) below the last level, a block (0b01) at the
// levels that allow one, a page (0b11) at the last.
func (k *Kernel) Walk(va uint64) (arch.Walk, error) {
	w := arch.Walk{VA: va}
	top := uint64(1)<<(64-k.VABitsActual) - 1
	if va>>k.VABitsActual != top {
		return w, &Fault{Arch: "arm64", VA: va, Kind: dump.WalkNotKernel}
	}
	g := k.PageShift_
	per := g - 3
	names := levelNames(k.Levels)
	table := k.PGD
	startLevel := 4 - k.Levels // the hardware's level number of the first table
	var b [8]byte
	for i := 0; i < k.Levels; i++ {
		shift := g + per*uint(k.Levels-1-i)
		width := per
		if i == 0 {
			width = k.VABitsActual - shift
			if k.pgdWidth > width {
				width = k.pgdWidth
			}
		}
		idx := va >> shift & (1<<width - 1)
		ea := table + idx*8
		if err := dump.ReadFull(k.Phys, b[:], ea); err != nil {
			return w, &Fault{Arch: "arm64", VA: va, Level: names[i], EntryAddr: ea, Kind: dump.WalkTableUnreadable, Err: err}
		}
		e := k.Order.Uint64(b[:])
		w.Steps = append(w.Steps, arch.WalkStep{Level: names[i], Index: idx, EntryAddr: ea, Entry: e})
		if e&1 == 0 {
			return w, &Fault{Arch: "arm64", VA: va, Level: names[i], EntryAddr: ea, Entry: e, Kind: dump.WalkNotPresent}
		}
		addr := k.outputAddress(e)
		last := i == k.Levels-1
		if last {
			if e&2 == 0 { // 0b01 at the last level is reserved
				return w, &Fault{Arch: "arm64", VA: va, Level: names[i], EntryAddr: ea, Entry: e, Kind: dump.WalkBadEntry}
			}
			w.PA, w.LeafSize = addr|va&(1<<g-1), 1<<g
			return w, nil
		}
		if e&2 == 0 {
			// A block: levels 1 and 2 (0 with LPA2 on 4K, and 1 on 16K
			// only with LPA2).
			hw := startLevel + i
			ok := hw == 2 || hw == 1 && (g != 14 || k.LPA2) || hw == 0 && g == 12 && k.LPA2
			if !ok {
				return w, &Fault{Arch: "arm64", VA: va, Level: names[i], EntryAddr: ea, Entry: e, Kind: dump.WalkBadEntry}
			}
			size := uint64(1) << shift
			w.PA, w.LeafSize = addr&^(size-1)|va&(size-1), size
			return w, nil
		}
		table = addr
	}
	return w, nil
}

// Setup reads the layout from VMCOREINFO (the kernel image can be read
// only once kimage_voffset is known), and swapper_pg_dir's address.
func Setup(env arch.Env) (arch.Kernel, error) {
	info := env.Info()
	if info == nil {
		return nil, fmt.Errorf("arm64: no VMCOREINFO: kimage_voffset, PHYS_OFFSET and the VA size are unknown (QEMU: -device vmcoreinfo; kdump writes it)")
	}
	k := &Kernel{Phys: env.Phys(), Order: env.Order()}
	if k.Order == nil {
		k.Order = binary.LittleEndian
	}
	ps, ok := info.PageSize()
	switch {
	case !ok:
		return nil, fmt.Errorf("arm64: VMCOREINFO lacks PAGESIZE")
	case ps == 4096:
		k.PageShift_ = 12
	case ps == 16384:
		k.PageShift_ = 14
	case ps == 65536:
		k.PageShift_ = 16
	default:
		return nil, fmt.Errorf("arm64: PAGESIZE %d is not a granule (4K, 16K, 64K)", ps)
	}
	num := func(name string) (uint64, error) {
		v, ok := info.Number(name)
		if !ok {
			return 0, fmt.Errorf("arm64: VMCOREINFO lacks NUMBER(%s)", name)
		}
		return uint64(v), nil
	}
	va, err := num("VA_BITS")
	if err != nil {
		return nil, err
	}
	if va < 36 || va > 52 {
		return nil, fmt.Errorf("arm64: NUMBER(VA_BITS) %d out of range (36..52)", va)
	}
	k.VABits, k.VABitsActual = uint(va), uint(va)
	if t1sz, ok := info.Number("TCR_EL1_T1SZ"); ok && t1sz > 0 {
		if t1sz < 12 || t1sz > 28 || 64-uint(t1sz) > k.VABits {
			return nil, fmt.Errorf("arm64: NUMBER(TCR_EL1_T1SZ) %#x does not fit VA_BITS %d", t1sz, k.VABits)
		}
		k.VABitsActual = 64 - uint(t1sz)
	}
	k.LPA2 = k.VABitsActual == 52 && k.PageShift_ != 16
	k.Levels = LevelsFor(k.VABitsActual, k.PageShift_)
	if k.KimageVoffset, err = num("kimage_voffset"); err != nil {
		return nil, err
	}
	if k.PhysOffset, err = num("PHYS_OFFSET"); err != nil {
		return nil, err
	}
	if v, ok := info.KernelOffset(); ok {
		k.Offset = v
	}
	if v, ok := info.Number("KERNELPACMASK"); ok {
		k.PACMask = uint64(v)
	}
	// memory.h: PAGE_OFFSET = _PAGE_OFFSET(VA_BITS); PAGE_END =
	// _PAGE_END(VA_BITS_MIN) (47 for 16K and 48 otherwise when VA_BITS >
	// 48). A KASAN kernel's PAGE_END is lower; the walk covers the rest.
	k.PageOffset = -(uint64(1) << k.VABits)
	vaMin := k.VABits
	if vaMin > 48 {
		vaMin = 48
		if k.PageShift_ == 14 {
			vaMin = 47
		}
	}
	k.PageEnd = -(uint64(1) << (vaMin - 1))
	k.ModulesVaddr, k.ModulesEnd = k.PageEnd, k.PageEnd+modulesVsize
	if v, ok := info.Number("MODULES_VADDR"); ok {
		k.ModulesVaddr = uint64(v)
	}
	if v, ok := info.Number("MODULES_END"); ok {
		k.ModulesEnd = uint64(v)
	}
	k.VmallocBase = k.ModulesEnd
	if v, ok := info.Number("VMALLOC_START"); ok {
		k.VmallocBase = uint64(v)
	}
	if v, ok := info.Number("VMALLOC_END"); ok {
		k.VmallocEnd = uint64(v)
	}
	// The image: [_text, _end) at their link-time addresses plus
	// KERNELOFFSET (kallsyms' run-time addresses as they are).
	slide := arch.Slide(env, k.Offset)
	text, err := env.Symbol("_text")
	if err != nil {
		return nil, fmt.Errorf("arm64: %v", err)
	}
	end, err := env.Symbol("_end")
	if err != nil || end <= text {
		return nil, fmt.Errorf("arm64: no _end after _text in the vmlinux (%v)", err)
	}
	k.ImageStart, k.ImageEnd = text+slide, end+slide
	pgdVA, err := arch.SymbolVA(env, info, "swapper_pg_dir", slide)
	if err != nil {
		return nil, fmt.Errorf("arm64: %v", err)
	}
	pgd, ok := k.Linear(pgdVA)
	if !ok {
		return nil, fmt.Errorf("arm64: swapper_pg_dir at %#x is outside the kernel image [%#x, %#x)", pgdVA, k.ImageStart, k.ImageEnd)
	}
	k.PGD = pgd
	k.setTTBR1Offset()
	return k, nil
}

// setTTBR1Offset: a 52-bit VA kernel without LPA2 (64K pages) running with
// 48 bits offsets TTBR1 by TTBR1_BADDR_4852_OFFSET (offset_ttbr1 in
// arch/arm64/include/asm/assembler.h), so that the MMU indexes the last
// PTRS_PER_PGD_48_VA entries of the 52-bit pgd. Indexing the whole pgd
// with the 52-bit width is the same, kernel addresses having those upper
// bits set; the walk does that (pgdWidth).
func (k *Kernel) setTTBR1Offset() {
	if k.VABits > k.VABitsActual && LevelsFor(k.VABits, k.PageShift_) == k.Levels {
		shift := k.PageShift_ + (k.PageShift_-3)*uint(k.Levels-1) // PGDIR_SHIFT
		k.pgdWidth = k.VABits - shift
	}
}

// Unwind: frame records (x29/x30).
func (k *Kernel) Unwind() arch.Unwind { return arch.UnwindFrameRecords }

var (
	_ arch.InsnWords = (*Kernel)(nil)
	_ arch.Unwinding = (*Kernel)(nil)
)
