package ppc64

import (
	"encoding/binary"
	"fmt"
)

// PhysReader reads physical memory. It has the shape of dump.Memory
// (delve's one-method memory interface) so that any of dump's physical
// spaces satisfies it without this package importing dump.
type PhysReader interface {
	ReadAt(p []byte, addr uint64) (n int, err error)
}

// Page-table entry bits common to radix and hash (book3s/64/pgtable.h).
const (
	// _PAGE_PRESENT: the entry holds a translation (or a table pointer).
	PAGE_PRESENT uint64 = 0x8000000000000000
	// _PAGE_PTE: the entry is a leaf (a PTE, or a huge PMD/PUD), not a
	// pointer to the next table.
	PAGE_PTE uint64 = 0x4000000000000000
	// _PAGE_INVALID (= _RPAGE_SW0): a PTE/PMD being invalidated, still
	// present for pte_present()/pmd_present().
	PAGE_INVALID uint64 = 0x2000000000000000
	// _PAGE_PA_MAX: the highest physical address bit Linux uses in a PTE.
	PAGE_PA_MAX = 53
	// PMD_MASKED_BITS, PUD_MASKED_BITS, P4D_MASKED_BITS: the bits cleared
	// from a table entry to get the next table's physical address
	// (pud_pgtable(), p4d_pgtable(), pmd_page_vaddr()).
	TABLE_MASKED_BITS uint64 = 0xc0000000000000ff
	// RADIX_PMD_BAD_BITS = RADIX_PUD_BAD_BITS = RADIX_P4D_BAD_BITS
	// (book3s/64/radix.h).
	RADIX_BAD_BITS uint64 = 0x60000000000000e0
)

// FaultKind says why a translation failed.
type FaultKind int

const (
	// NotPresent: the entry at Level is empty or lacks _PAGE_PRESENT.
	NotPresent FaultKind = iota + 1
	// BadEntry: the entry at Level fails the kernel's pXd_bad() check, or is
	// a leaf where none can be.
	BadEntry
	// TableUnreadable: the entry at Level could not be read from physical
	// memory: the table pointer above it points outside memory, or the
	// dump does not hold that page. Err holds the reader's error.
	TableUnreadable
	// NotKernelAddress: the address is below PAGE_OFFSET; swapper_pg_dir
	// does not map user space.
	NotKernelAddress
)

func (k FaultKind) String() string {
	switch k {
	case NotPresent:
		return "not present"
	case BadEntry:
		return "bad entry"
	case TableUnreadable:
		return "page table unreadable"
	case NotKernelAddress:
		return "not a kernel address"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// TranslationFault is the error of a failed translation.
type TranslationFault struct {
	VA        uint64
	Level     string // "PGD", "PUD", "PMD", "PTE"; empty for NotKernelAddress
	EntryAddr uint64 // physical address of the entry
	Entry     uint64 // the entry's value (0 when it could not be read)
	Reason    FaultKind
	Err       error // the PhysReader's error for TableUnreadable
}

func (f *TranslationFault) Error() string {
	if f.Level == "" {
		return fmt.Sprintf("ppc64: translating %#x: %s", f.VA, f.Reason)
	}
	s := fmt.Sprintf("ppc64: translating %#x: %s entry at physical %#x", f.VA, f.Level, f.EntryAddr)
	if f.Reason != TableUnreadable {
		s += fmt.Sprintf(" = %#x", f.Entry)
	}
	s += ": " + f.Reason.String()
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *TranslationFault) Unwrap() error { return f.Err }

// WalkLevel, WalkEntry and WalkKind describe the failure to package dump
// (dump.WalkError) without this package importing it.
func (f *TranslationFault) WalkLevel() string { return f.Level }

func (f *TranslationFault) WalkEntry() (addr, value uint64) { return f.EntryAddr, f.Entry }

// WalkKind is one of dump's Walk* strings: FaultKind's names are those.
func (f *TranslationFault) WalkKind() string { return f.Reason.String() }

// Translator resolves kernel virtual addresses of one dump.
//
// PGD is the physical address of the kernel's top-level table,
// swapper_pg_dir (init_mm.pgd): its virtual address minus PAGE_OFFSET.
// PageOffset and VmallocStart bound the linear map; zero means the default
// (PageOffset, DefaultVmallocStart(Geom)). A Translator is read-only and
// safe for concurrent use if Phys is.
type Translator struct {
	Phys         PhysReader
	PGD          uint64
	Geom         Geometry
	PageOffset   uint64
	VmallocStart uint64
}

func (t *Translator) pageOffset() uint64 {
	if t.PageOffset != 0 {
		return t.PageOffset
	}
	return PageOffset
}

func (t *Translator) vmallocStart() uint64 {
	if t.VmallocStart != 0 {
		return t.VmallocStart
	}
	return DefaultVmallocStart(t.Geom)
}

// PageShift is log2 of the base page size.
func (t *Translator) PageShift() uint { return t.Geom.PageShift }

// Linear returns the physical address of a linear-map address
// (PageOffset <= va < VmallocStart): __pa(va) = va - PAGE_OFFSET, no tables.
func (t *Translator) Linear(va uint64) (pa uint64, ok bool) {
	po := t.pageOffset()
	if va >= po && va < t.vmallocStart() {
		return va - po, true
	}
	return 0, false
}

// Translate returns the physical address of a kernel virtual address: by
// arithmetic in the linear map, by a page-table walk above VmallocStart
// (vmalloc, modules, I/O, and on radix vmemmap). Errors are
// *TranslationFault.
func (t *Translator) Translate(va uint64) (uint64, error) {
	if pa, ok := t.Linear(va); ok {
		return pa, nil
	}
	w, err := t.Walk(va)
	if err != nil {
		return 0, err
	}
	return w.PA, nil
}

// WalkStep is one level of a page-table walk.
type WalkStep struct {
	Level     string
	Index     uint64 // index of the entry in its table
	EntryAddr uint64 // physical address of the entry
	Entry     uint64
}

// WalkResult is a complete walk: each level read, and the result.
type WalkResult struct {
	VA       uint64
	Steps    []WalkStep
	PA       uint64
	LeafSize uint64 // size of the mapping the leaf entry describes
}

type level struct {
	name  string
	shift uint
	bits  uint
}

func (t *Translator) levels() [4]level {
	g := t.Geom
	return [4]level{
		{"PGD", g.PGDShift(), g.PGDIndex},
		{"PUD", g.PUDShift(), g.PUDIndex},
		{"PMD", g.PMDShift(), g.PMDIndex},
		{"PTE", g.PageShift, g.PTEIndex},
	}
}

// leafSize is the size mapped by a leaf entry at level i (0 PGD .. 3 PTE):
// pmd_leaf_size()/pud_leaf_size() (book3s/64/pgtable.h) say 16M and 16G on
// hash with 4K pages, the level's span otherwise.
func (t *Translator) leafSize(i int, lv level) uint64 {
	if t.Geom.MMU == Hash && t.Geom.PageShift == 12 {
		switch i {
		case 1:
			return 1 << 34 // SZ_16G
		case 2:
			return 1 << 24 // SZ_16M
		}
	}
	return 1 << lv.shift
}

// Walk walks swapper_pg_dir for va, whatever its region (it does not take
// the linear-map shortcut), and reports every level it read: the `vtop`
// view. On error the result holds the levels read so far.
//
// The walk mirrors the kernel's pgd_offset_k(), p4d_offset() (folded),
// pud_offset(), pmd_offset(), pte_offset_kernel(): index = (va >> shift) &
// (PTRS_PER_xxx - 1) (pgd_index() and friends, include/linux/pgtable.h),
// which also drops the region bits 0xc000... of a kernel address. A level
// with index size N is a table of 2^N 8-byte entries; the radix PGD has
// 2^13 entries (64 KiB), larger than a 4K page, and the entry is read at
// its own offset, wherever in the table it is.
func (t *Translator) Walk(va uint64) (*WalkResult, error) {
	w := &WalkResult{VA: va}
	if va < t.pageOffset() {
		return w, &TranslationFault{VA: va, Reason: NotKernelAddress}
	}
	g := t.Geom
	if g.PageShift == 0 || g.PTEIndex == 0 || g.PGDShift()+g.PGDIndex > 64 {
		return w, fmt.Errorf("ppc64: translating %#x: invalid page-table geometry %v", va, g)
	}
	rpnMask := (uint64(1)<<PAGE_PA_MAX - 1) &^ (g.PageSize() - 1) // PTE_RPN_MASK
	table := t.PGD
	var buf [8]byte
	lvs := t.levels()
	for i, lv := range lvs {
		idx := (va >> lv.shift) & (uint64(1)<<lv.bits - 1)
		ea := table + idx*8
		fault := func(k FaultKind, val uint64, err error) error {
			return &TranslationFault{VA: va, Level: lv.name, EntryAddr: ea, Entry: val, Reason: k, Err: err}
		}
		n, err := t.Phys.ReadAt(buf[:], ea)
		if n < len(buf) {
			if err == nil {
				err = fmt.Errorf("short read of %d bytes at physical %#x", n, ea)
			}
			return w, fault(TableUnreadable, 0, err)
		}
		// Linux ppc64 page-table entries are always big-endian, on
		// little-endian kernels too: the MMU reads them (radix) and the
		// kernel keeps them as __be64 (pte_raw(), cpu_to_be64 in
		// book3s/64/pgtable.h).
		val := binary.BigEndian.Uint64(buf[:])
		w.Steps = append(w.Steps, WalkStep{Level: lv.name, Index: idx, EntryAddr: ea, Entry: val})

		if i == len(lvs)-1 {
			// pte_present(): _PAGE_PTE with _PAGE_PRESENT or _PAGE_INVALID.
			if val&PAGE_PTE == 0 || val&(PAGE_PRESENT|PAGE_INVALID) == 0 {
				return w, fault(NotPresent, val, nil)
			}
			w.LeafSize = g.PageSize()
			w.PA = val&rpnMask | va&(g.PageSize()-1)
			return w, nil
		}
		if val == 0 { // pXd_none()
			return w, fault(NotPresent, val, nil)
		}
		if val&PAGE_PTE != 0 {
			// pud_leaf()/pmd_leaf(): a huge mapping. The P4D (PGD) level
			// never holds one on Book3S-64.
			if i == 0 {
				return w, fault(BadEntry, val, nil)
			}
			present := val&PAGE_PRESENT != 0
			if i == 2 { // pmd_present() also accepts _PAGE_INVALID
				present = val&(PAGE_PRESENT|PAGE_INVALID) != 0
			}
			if !present {
				return w, fault(NotPresent, val, nil)
			}
			size := t.leafSize(i, lv)
			w.LeafSize = size
			w.PA = val&rpnMask&^(size-1) | va&(size-1)
			return w, nil
		}
		if val&PAGE_PRESENT == 0 { // p4d_present()/pud_present()/pmd_present()
			return w, fault(NotPresent, val, nil)
		}
		if t.bad(i, val) {
			return w, fault(BadEntry, val, nil)
		}
		// p4d_pgtable(), pud_pgtable(), pmd_page_vaddr(): the next
		// table's physical address. Tables of small levels are fragments
		// of a page (256 bytes for the radix-64K PTE level), not
		// page-aligned: only the masked bits are dropped.
		table = val &^ TABLE_MASKED_BITS
	}
	return w, nil // not reached: the PTE level always returns
}

// bad mirrors pXd_bad() for a non-leaf entry at level i (0 PGD, 1 PUD,
// 2 PMD): radix__p4d_bad()/radix__pud_bad()/radix__pmd_bad() test
// RADIX_*_BAD_BITS; hash__pud_bad()/hash__pmd_bad() test the bits below the
// next table's size (H_PUD_BAD_BITS = PMD_TABLE_SIZE-1, H_PMD_BAD_BITS =
// PTE_TABLE_SIZE-1) and hash__p4d_bad() only an empty entry.
func (t *Translator) bad(i int, val uint64) bool {
	if t.Geom.MMU == Radix {
		return val&RADIX_BAD_BITS != 0
	}
	switch i {
	case 1:
		return val&(uint64(8)<<t.Geom.PMDIndex-1) != 0
	case 2:
		return val&(uint64(8)<<t.Geom.PTEIndex-1) != 0
	}
	return val == 0
}
