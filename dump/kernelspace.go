package dump

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/ppc64"
)

// overlayGranule is the unit in which the file's own virtual segments are
// consulted: a virtual segment that begins inside a 4 KiB block is seen
// from the next block on. ELF PT_LOAD virtual addresses of kernel dumps are
// page aligned, so in practice nothing is lost.
const overlayGranule = 4096

// tlbEntries bounds the translation cache of a kernel space.
const tlbEntries = 1 << 14

// kernelSpace is the kernel virtual address space of a ppc64 dump: see
// NewKernelSpace.
type kernelSpace struct {
	phys         Memory
	t            *ppc64.Translator
	virt         Memory
	pageOffset   uint64
	vmallocStart uint64
	pageShift    uint

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
	c := &kernelSpace{phys: ks.phys, t: ks.t, virt: ks.virt, pageOffset: ks.pageOffset,
		vmallocStart: ks.vmallocStart, pageShift: ks.pageShift, tlb: map[uint64]uint64{}}
	c.fallback = func(va uint64) (uint64, bool) { return fb(va, ks) }
	return c, true
}

// NewKernelSpace returns the kernel virtual address space of a ppc64 dump
// (drgn's program memory shape, "overlay segments, later wins"):
//
//   - the linear map, [t.PageOffset, t.VmallocStart): pa = va - PAGE_OFFSET,
//     no page tables (on hash the kernel never puts it in the Linux page
//     table; on radix it is there but the arithmetic is the same);
//   - above VmallocStart (vmalloc and module space, I/O, vmemmap on radix):
//     a walk of swapper_pg_dir with t, each page translated on its own, so
//     a read that spans pages may span physical frames;
//   - virt, the file's own virtual PT_LOADs (nil if none), laid over both:
//     where it holds the bytes, it wins.
//
// t's zero PageOffset/VmallocStart mean the defaults; VMALLOC_START should
// come from VMCOREINFO NUMBER(VMALLOC_START) (it differs between hash-4K,
// 0xc0003d0000000000, and radix or hash-64K, 0xc008000000000000). A nil t
// gives the linear map alone, bounded by the lowest VMALLOC_START of any
// geometry so that it never misplaces a vmalloc address; everything else
// then faults.
//
// Reads fault with *Fault naming the virtual address: Reason Unmapped when
// the page tables have no valid entry (Detail names the level), Corrupt for
// a bad entry or a table outside memory, and the physical read's reason
// (NotInDump, Excluded, Truncated, ...) when the page maps to memory the
// dump does not hold.
func NewKernelSpace(phys Memory, t *ppc64.Translator, virt Memory) Memory {
	ks := &kernelSpace{phys: phys, t: t, virt: virt, pageOffset: ppc64.PageOffset,
		vmallocStart: ppc64.Hash4KVmallocStart, pageShift: 12, tlb: map[uint64]uint64{}}
	if t != nil {
		if t.PageOffset != 0 {
			ks.pageOffset = t.PageOffset
		}
		ks.vmallocStart = t.VmallocStart
		if ks.vmallocStart == 0 {
			ks.vmallocStart = ppc64.DefaultVmallocStart(t.Geom)
		}
		if t.Geom.PageShift >= 12 && t.Geom.PageShift <= 24 {
			ks.pageShift = t.Geom.PageShift
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
	var pa uint64
	switch {
	case a < ks.pageOffset:
		return 0, &Fault{Addr: a, Reason: Unmapped, Detail: fmt.Sprintf("below PAGE_OFFSET %#x: not a kernel address", ks.pageOffset)}
	case a < ks.vmallocStart:
		pa = a - ks.pageOffset
	case ks.t == nil:
		return 0, &Fault{Addr: a, Reason: Unmapped, Detail: "above VMALLOC_START and no page tables known"}
	default:
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
		var tf *ppc64.TranslationFault
		if !errors.As(err, &tf) {
			return 0, &Fault{Addr: a, Reason: Corrupt, Detail: err.Error()}
		}
		f := translationFault(a, tf)
		if ks.fallback == nil || tf.Reason != ppc64.TableUnreadable {
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
func translationFault(a uint64, tf *ppc64.TranslationFault) *Fault {
	f := &Fault{Addr: a, Reason: Unmapped}
	switch tf.Reason {
	case ppc64.NotPresent:
		f.Detail = fmt.Sprintf("%s entry %#x at physical %#x not present", tf.Level, tf.Entry, tf.EntryAddr)
	case ppc64.BadEntry:
		f.Reason = Corrupt
		f.Detail = fmt.Sprintf("bad %s entry %#x at physical %#x", tf.Level, tf.Entry, tf.EntryAddr)
	case ppc64.TableUnreadable:
		// The table above points outside memory, or at a page the dump
		// does not hold: say which.
		f.Reason = Corrupt
		if inner, ok := IsFault(tf.Err); ok && inner.Reason != NotInDump {
			f.Reason = inner.Reason
		}
		f.Detail = fmt.Sprintf("%s table entry at physical %#x unreadable: %v", tf.Level, tf.EntryAddr, tf.Err)
	default:
		f.Detail = tf.Error()
	}
	return f
}
