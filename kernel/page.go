package kernel

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// PageInfo is what a struct page says about one page frame, and whether
// the dump holds the frame.
type PageInfo struct {
	PFN      uint64
	Phys     uint64
	Page     uint64 // &vmemmap[pfn]
	Flags    uint64
	FlagSet  []string // PG_* names of the set flag bits
	Mapping  uint64
	Private  uint64
	PageType uint64 // the page_type word (_mapcount when no type)
	Type     string // PGTY_* name, "" when the page has no type
	Refcount int64
	// Head is the head page's pfn for a tail page of a compound page or
	// folio (Tail true).
	Tail bool
	Head uint64
	// Class says what the page is used for, as makedumpfile's exclusion
	// classes see it: "free", "slab", "anon", "file", "page table",
	// "reserved", "kernel".
	Class string
	// Detail adds to Class: the buddy block, the kmem_cache, the mapping.
	Detail string
	// InDump is false when reading the frame faults; Fault says why.
	InDump bool
	Fault  string
}

// maxOrder bounds the buddy search (MAX_PAGE_ORDER is 10 on 4K pages, 8 on
// ppc64 64K pages; 12 leaves room).
const maxOrder = 12

// DescribePage reads the struct page of pfn from the vmemmap array (the
// vmemmap variable, CONFIG_SPARSEMEM_VMEMMAP) and classifies the page.
func (p *Program) DescribePage(pfn uint64) (PageInfo, error) {
	pi := PageInfo{PFN: pfn, Phys: pfn * p.PageSize}
	if p.PageSize == 0 {
		return pi, errors.New("page size unknown")
	}
	base, err := p.vmemmapBase()
	if err != nil {
		return pi, err
	}
	sz, err := p.Types.Sizeof("struct page")
	if err != nil {
		return pi, err
	}
	pi.Page = base + pfn*uint64(sz)
	pg, err := p.readPage(pi.Page)
	if err != nil {
		return pi, err
	}
	pi.Flags, pi.Mapping, pi.Private, pi.PageType, pi.Refcount = pg.flags, pg.mapping, pg.private, pg.pageType, pg.refcount
	pi.FlagSet = p.pageFlagNames(pg.flags)
	pi.Type = p.pageTypeName(pg.pageType)
	if pg.compound&1 != 0 {
		pi.Tail = true
		head := pg.compound - 1
		if head >= base && (head-base)%uint64(sz) == 0 {
			pi.Head = (head - base) / uint64(sz)
		}
	}
	var b [1]byte
	if _, err := p.Phys.ReadAt(b[:], pi.Phys); err != nil {
		pi.Fault = err.Error()
	} else {
		pi.InDump = true
	}
	p.classify(&pi, base, uint64(sz), pg)
	return pi, nil
}

type rawPage struct {
	flags, compound, mapping, private, pageType uint64
	refcount                                    int64
}

func (p *Program) readPage(addr uint64) (rawPage, error) {
	var r rawPage
	o, err := p.Object("struct page", addr)
	if err != nil {
		return r, err
	}
	u := func(path string) (uint64, error) {
		m, err := o.Member(path)
		if err != nil {
			return 0, err
		}
		return m.Uint()
	}
	// memdesc_flags_t flags (v6.18+: { unsigned long f; }), else unsigned
	// long flags: the member decides which, so that a read fault of
	// flags.f is reported as that, not as flags being no integer.
	path := "flags.f"
	if _, err := o.Member(path); err != nil {
		path = "flags"
	}
	if r.flags, err = u(path); err != nil {
		return r, fmt.Errorf("struct page at %#x: %w", addr, err)
	}
	// compound_info since v7.x, compound_head before.
	if r.compound, err = u("compound_info"); err != nil {
		r.compound, _ = u("compound_head")
	}
	r.mapping, _ = u("mapping")
	r.private, _ = u("private")
	r.pageType, _ = u("page_type")
	if m, err := o.Member("_refcount.counter"); err == nil {
		r.refcount, _ = m.Int()
	}
	return r, nil
}

// vmemmapBase is the address of struct page 0: the vmemmap variable
// where the kernel has one (ppc64: struct page *vmemmap), else
// VMCOREINFO's SYMBOL(vmemmap), which holds the value, not an address
// (VMCOREINFO_SYMBOL_ARRAY(vmemmap) in kernel/vmcore_info.c): arm64 and
// x86_64 define vmemmap as a macro (arm64: VMEMMAP_START -
// (memstart_addr >> PAGE_SHIFT) pages; x86_64: vmemmap_base).
func (p *Program) vmemmapBase() (uint64, error) {
	v, err := p.Variable("vmemmap")
	if err == nil {
		return v.Pointer()
	}
	if b, ok := p.vmemmapFromInfo(); ok {
		return b, nil
	}
	return 0, fmt.Errorf("%w, and VMCOREINFO has no SYMBOL(vmemmap)", err)
}

// vmemmapFromInfo is VMCOREINFO's SYMBOL(vmemmap) (a value: see
// vmemmapBase).
func (p *Program) vmemmapFromInfo() (uint64, bool) {
	if p.Info == nil {
		return 0, false
	}
	b, ok := p.Info.Symbol("vmemmap")
	return b, ok && b != 0
}

// pageFlagNames names the set bits below __NR_PAGEFLAGS by enum pageflags
// (the first name of each value, the kernel's own order).
func (p *Program) pageFlagNames(flags uint64) []string {
	t, err := p.Types.Lookup("enum pageflags")
	if err != nil {
		return nil
	}
	et, ok := t.(*ctype.EnumType)
	if !ok {
		return nil
	}
	nr := int64(-1)
	for _, v := range et.Val {
		if v.Name == "__NR_PAGEFLAGS" {
			nr = v.Val
		}
	}
	var out []string
	seen := map[int64]bool{}
	for _, v := range et.Val {
		if v.Val < 0 || v.Val >= 64 || (nr >= 0 && v.Val >= nr) || seen[v.Val] || strings.HasPrefix(v.Name, "__") {
			continue
		}
		seen[v.Val] = true
		if flags&(1<<uint(v.Val)) != 0 {
			out = append(out, v.Name)
		}
	}
	return out
}

// pageTypeName is the PGTY_* name of a page_type word whose top byte holds
// a type (enum pagetype, v6.12+), "" otherwise.
func (p *Program) pageTypeName(pt uint64) string {
	t, err := p.Types.Lookup("enum pagetype")
	if err != nil {
		return ""
	}
	et, ok := t.(*ctype.EnumType)
	if !ok {
		return ""
	}
	top := int64(pt >> 24 & 0xff)
	for _, v := range et.Val {
		if v.Val == top && v.Name != "PGTY_mapcount_underflow" {
			return v.Name
		}
	}
	return ""
}

// classify names what the page is used for, in makedumpfile's classes:
// free pages are in a buddy block whose head (this page, or the one a
// power-of-two below it) has PGTY_buddy and order >= the distance; slab
// pages have PGTY_slab on their head; anonymous pages have
// PAGE_MAPPING_ANON (bit 0) in page->mapping; page-cache pages PG_lru with
// a mapping.
func (p *Program) classify(pi *PageInfo, base, sz uint64, pg rawPage) {
	has := func(name string) bool {
		for _, f := range pi.FlagSet {
			if f == name {
				return true
			}
		}
		return false
	}
	switch {
	case pi.Type == "PGTY_buddy":
		pi.Class, pi.Detail = "free", fmt.Sprintf("buddy block of order %d", pg.private)
		return
	case pi.Type == "PGTY_slab":
		pi.Class, pi.Detail = "slab", p.slabCacheName(pi.Page)
		return
	case pi.Type == "PGTY_table":
		pi.Class = "page table"
		return
	}
	if pi.Tail {
		hp, err := p.readPage(base + pi.Head*sz)
		if err == nil && p.pageTypeName(hp.pageType) == "PGTY_slab" {
			pi.Class, pi.Detail = "slab", fmt.Sprintf("tail page of the slab at pfn %#x: %s", pi.Head, p.slabCacheName(base+pi.Head*sz))
			return
		}
	}
	if !pi.Tail {
		for k := uint64(1); k <= maxOrder && k <= 63; k++ {
			head := pi.PFN &^ (1<<k - 1)
			if head == pi.PFN {
				continue
			}
			hp, err := p.readPage(base + head*sz)
			if err != nil {
				break
			}
			if p.pageTypeName(hp.pageType) == "PGTY_buddy" && hp.private >= k && hp.private <= maxOrder {
				pi.Class, pi.Detail = "free", fmt.Sprintf("in the buddy block of order %d at pfn %#x", hp.private, head)
				return
			}
		}
	}
	switch {
	case pg.mapping&1 != 0:
		pi.Class, pi.Detail = "anon", fmt.Sprintf("page->mapping %#x has PAGE_MAPPING_ANON", pg.mapping)
	case has("PG_lru") && pg.mapping != 0:
		pi.Class, pi.Detail = "file", fmt.Sprintf("page cache of mapping %#x", pg.mapping)
	case has("PG_reserved"):
		pi.Class = "reserved"
	default:
		pi.Class = "kernel"
	}
}

// slabCacheName is slab->slab_cache->name for the head page at addr.
func (p *Program) slabCacheName(addr uint64) string {
	o, err := p.Object("struct slab", addr)
	if err != nil {
		return "kmem_cache unknown"
	}
	c, err := o.Member("slab_cache")
	if err != nil {
		return "kmem_cache unknown"
	}
	ca, err := c.Pointer()
	if err != nil || ca == 0 {
		return "kmem_cache unknown"
	}
	kc, err := p.Object("struct kmem_cache", ca)
	if err != nil {
		return fmt.Sprintf("kmem_cache %#x", ca)
	}
	n, err := kc.Member("name")
	if err != nil {
		return fmt.Sprintf("kmem_cache %#x", ca)
	}
	na, err := n.Pointer()
	if err != nil {
		return fmt.Sprintf("kmem_cache %#x", ca)
	}
	s, err := p.CStringAt(na, 64)
	if err != nil {
		return fmt.Sprintf("kmem_cache %#x", ca)
	}
	return "kmem_cache " + s
}

// ExclusionNote explains, for a page the dump lacks, a known way a dump
// tool comes to leave out a page the kernel still used: the tail page of a
// slab folio whose page->mapping word (a folio's mapcount fields, -1 on a
// 7.x kernel) has the PAGE_MAPPING_ANON bit, which makedumpfile's
// user-page exclusion (dump level 8) takes for anonymous memory.
func (pi *PageInfo) ExclusionNote() string {
	if pi.InDump || pi.Class != "slab" || !pi.Tail || pi.Mapping&1 == 0 {
		return ""
	}
	return fmt.Sprintf("kernel slab memory left out as a user page: page->mapping reads %#x here (the folio's mapcount words), whose low bit is PAGE_MAPPING_ANON", pi.Mapping)
}
