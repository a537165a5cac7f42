package dump

import (
	"errors"
	"fmt"
	"sync"
)

// Translator is an architecture's kernel address translation (package
// arch's implementations): the direct map by arithmetic (Linear), every
// other kernel address by a walk of the kernel's own page tables
// (Translate). Its errors may describe the failed entry (WalkError).
type Translator interface {
	Linear(va uint64) (pa uint64, ok bool)
	Translate(va uint64) (pa uint64, err error)
	// PageShift is log2 of the base page size (the TLB's granule).
	PageShift() uint
}

// WalkError is what a translator's error says about a failed page-table
// walk: the level, the entry (its physical address and value), and the
// kind of failure, one of the Walk* strings.
type WalkError interface {
	error
	WalkLevel() string
	WalkEntry() (addr, value uint64)
	WalkKind() string
}

// The kinds of page-table walk failure.
const (
	WalkNotPresent      = "not present"
	WalkBadEntry        = "bad entry"
	WalkTableUnreadable = "page table unreadable"
	WalkNotKernel       = "not a kernel address"
)

// overlayGranule is the unit in which the file's own virtual segments are
// consulted: a virtual segment that begins inside a 4 KiB block is seen
// from the next block on. ELF PT_LOAD virtual addresses of kernel dumps are
// page aligned, so in practice nothing is lost.
const overlayGranule = 4096

// tlbEntries bounds the translation cache of a kernel space.
const tlbEntries = 1 << 14

// kernelSpace is the kernel virtual address space of a dump: see
// NewKernelSpace.
type kernelSpace struct {
	phys      Memory
	t         Translator
	virt      Memory
	pageShift uint

	mu  sync.Mutex
	tlb map[uint64]uint64 // va >> pageShift -> pa of the page

	// fallback, when set, is asked for the physical address of a page
	// whose page-table walk failed on an unreadable page-table page (see
	// WithTranslateFallback).
	fallback func(va uint64) (pa uint64, ok bool)
}

// WithTranslateFallback returns a copy of the kernel space m (made by
// NewKernelSpace) that, when the page-table walk of an address fails
// because a page-table page is not in the dump, asks fb for the physical
// address instead. fb is handed raw, the space without the fallback, to
// read what it needs (so it never recurses into itself). Faults fb cannot
// answer (ok false) stay the walk's fault. The copy has its own TLB.
//
// The case this is for: makedumpfile 1.7.8 at dump level 8 or above
// excludes, as "user" pages, the tail pages of a kernel's order-1 and
// larger slab folios (a 7.x folio keeps its mapcount words where
// makedumpfile reads page->mapping, and its low bit reads as
// PAGE_MAPPING_ANON), and ppc64 page-table caches are slab caches: the
// module area's page-table pages can be lost that way while the pages they
// map are in the dump. Package kernel answers from vm_struct->pages.
func WithTranslateFallback(m Memory, fb func(va uint64, raw Memory) (pa uint64, ok bool)) (Memory, bool) {
	ks, ok := m.(*kernelSpace)
	if !ok || fb == nil {
		return m, false
	}
	c := &kernelSpace{phys: ks.phys, t: ks.t, virt: ks.virt, pageShift: ks.pageShift, tlb: map[uint64]uint64{}}
	c.fallback = func(va uint64) (uint64, bool) { return fb(va, ks) }
	return c, true
}

// NewKernelSpace returns the kernel virtual address space of a dump
// (drgn's program memory shape, "overlay segments, later wins"):
//
//   - the direct map (and, where the architecture has one, the kernel
//     image mapping) by arithmetic: t.Linear;
//   - every other kernel address (vmalloc and module space, I/O, vmemmap)
//     by a walk of the kernel's page tables, t.Translate, each page on its
//     own, so a read that spans pages may span physical frames;
//   - virt, the file's own virtual PT_LOADs (nil if none), laid over both:
//     where it holds the bytes, it wins.
//
// A nil t gives virt alone: everything else faults.
//
// Reads fault with *Fault naming the virtual address: Reason Unmapped when
// the page tables have no valid entry (Detail names the level), Corrupt for
// a bad entry or a table outside memory, and the physical read's reason
// (NotInDump, Excluded, Truncated, ...) when the page maps to memory the
// dump does not hold.
func NewKernelSpace(phys Memory, t Translator, virt Memory) Memory {
	ks := &kernelSpace{phys: phys, t: t, virt: virt, pageShift: 12, tlb: map[uint64]uint64{}}
	if t != nil {
		if s := t.PageShift(); s >= 12 && s <= 24 {
			ks.pageShift = s
		}
	}
	return ks
}

func (ks *kernelSpace) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr {
			return n, &Fault{Addr: a, Reason: Unmapped, Detail: "address wraps past 2^64"}
		}
		granule := uint64(1) << ks.pageShift
		if ks.virt != nil {
			granule = overlayGranule
		}
		end := len(p)
		if rem := granule - a&(granule-1); uint64(end-n) > rem {
			end = n + int(rem)
		}
		chunk := p[n:end]
		if ks.virt != nil {
			if m, _ := ks.virt.ReadAt(chunk, a); m > 0 {
				if m > len(chunk) {
					m = len(chunk)
				}
				n += m
				continue
			}
		}
		m, err := ks.readBacking(chunk, a)
		n += m
		if err != nil {
			return n, err
		}
		if m < len(chunk) {
			return n, &Fault{Addr: a + uint64(m), Reason: NotInDump}
		}
	}
	return n, nil
}

// readBacking reads chunk (within one page) at a through the linear map or
// the page tables.
func (ks *kernelSpace) readBacking(chunk []byte, a uint64) (int, error) {
	if ks.t == nil {
		return 0, &Fault{Addr: a, Reason: Unmapped, Detail: "no address translation known"}
	}
	pa, ok := ks.t.Linear(a)
	if !ok {
		var err error
		if pa, err = ks.translate(a); err != nil {
			return 0, err
		}
	}
	m, err := ks.phys.ReadAt(chunk, pa)
	if m >= len(chunk) {
		return len(chunk), nil
	}
	if m < 0 {
		m = 0
	}
	if f, ok := IsFault(err); ok {
		return m, &Fault{Addr: a + uint64(m), Reason: f.Reason,
			Detail: joinDetail(fmt.Sprintf("physical %#x", f.Addr), f.Detail), Err: f.Err}
	}
	if err == nil {
		return m, &Fault{Addr: a + uint64(m), Reason: NotInDump, Detail: fmt.Sprintf("physical %#x", pa+uint64(m))}
	}
	return m, fmt.Errorf("reading virtual %#x at physical %#x: %w", a+uint64(m), pa+uint64(m), err)
}

func joinDetail(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// translate walks the page tables for a, caching the page's frame (the
// dump does not change under us).
func (ks *kernelSpace) translate(a uint64) (uint64, error) {
	vpn := a >> ks.pageShift
	off := a & (1<<ks.pageShift - 1)
	ks.mu.Lock()
	base, ok := ks.tlb[vpn]
	ks.mu.Unlock()
	if ok {
		return base + off, nil
	}
	pa, err := ks.t.Translate(a)
	if err != nil {
		var we WalkError
		if !errors.As(err, &we) {
			return 0, &Fault{Addr: a, Reason: Corrupt, Detail: err.Error()}
		}
		f := translationFault(a, we)
		if ks.fallback == nil || we.WalkKind() != WalkTableUnreadable {
			return 0, f
		}
		fpa, ok := ks.fallback(a &^ (1<<ks.pageShift - 1))
		if !ok {
			return 0, f
		}
		pa = fpa + off
	}
	ks.mu.Lock()
	if len(ks.tlb) >= tlbEntries {
		clear(ks.tlb)
	}
	ks.tlb[vpn] = pa - off
	ks.mu.Unlock()
	return pa, nil
}

// translationFault turns a page-table walk failure into the dump's typed
// fault.
func translationFault(a uint64, we WalkError) *Fault {
	f := &Fault{Addr: a, Reason: Unmapped}
	ea, val := we.WalkEntry()
	switch we.WalkKind() {
	case WalkNotPresent:
		f.Detail = fmt.Sprintf("%s entry %#x at physical %#x not present", we.WalkLevel(), val, ea)
	case WalkBadEntry:
		f.Reason = Corrupt
		f.Detail = fmt.Sprintf("bad %s entry %#x at physical %#x", we.WalkLevel(), val, ea)
	case WalkTableUnreadable:
		// The table above points outside memory, or at a page the dump
		// does not hold: say which.
		f.Reason = Corrupt
		inner := errors.Unwrap(we)
		if ff, ok := IsFault(inner); ok && ff.Reason != NotInDump {
			f.Reason = ff.Reason
		}
		f.Detail = fmt.Sprintf("%s table entry at physical %#x unreadable: %v", we.WalkLevel(), ea, inner)
	default:
		f.Detail = we.Error()
	}
	return f
}
