package ppc64

import "fmt"

// MMU is the Book3S-64 translation mode the kernel ran with.
type MMU int

const (
	// Radix is the POWER9+ radix MMU (MMU_FTR_TYPE_RADIX set).
	Radix MMU = iota + 1
	// Hash is the hashed page table MMU (booted with disable_radix, or
	// pre-POWER9). The Linux page table still exists and maps vmalloc space.
	Hash
)

func (m MMU) String() string {
	switch m {
	case Radix:
		return "radix"
	case Hash:
		return "hash"
	}
	return fmt.Sprintf("MMU(%d)", int(m))
}

// MMU_FTR_TYPE_RADIX is the cur_cpu_spec->mmu_features bit that says the
// kernel runs with the radix MMU (arch/powerpc/include/asm/mmu.h).
const MMU_FTR_TYPE_RADIX = 0x00000040

// MMUFromFeatures returns the MMU described by cur_cpu_spec->mmu_features.
func MMUFromFeatures(mmuFeatures uint64) MMU {
	if mmuFeatures&MMU_FTR_TYPE_RADIX != 0 {
		return Radix
	}
	return Hash
}

// Fixed kernel virtual layout of Book3S-64 (values of the kernel's macros).
const (
	// PageOffset is PAGE_OFFSET: the start of the linear map
	// (arch/powerpc/include/asm/page.h, CONFIG_KERNEL_START default).
	PageOffset uint64 = 0xc000000000000000
	// RadixVmallocStart is RADIX_VMALLOC_START = RADIX_KERN_VIRT_START
	// (book3s/64/radix.h).
	RadixVmallocStart uint64 = 0xc008000000000000
	// Hash64KVmallocStart is H_VMALLOC_START = H_KERN_VIRT_START with 64K
	// pages (book3s/64/hash-64k.h, hash.h).
	Hash64KVmallocStart uint64 = 0xc008000000000000
	// Hash4KVmallocStart is H_KERN_VIRT_START with 4K pages
	// (book3s/64/hash-4k.h): the linear map is limited to 61TB.
	Hash4KVmallocStart uint64 = 0xc0003d0000000000
)

// Geometry is the shape of the Linux page table: the index sizes (log2 of
// the number of 8-byte entries) of each level, as the kernel keeps them in
// __pte_index_size, __pmd_index_size, __pud_index_size and __pgd_index_size
// (book3s/64/pgtable.h). The P4D level is folded into the PGD
// (asm-generic/pgtable-nop4d.h).
type Geometry struct {
	MMU       MMU
	PageShift uint
	PTEIndex  uint
	PMDIndex  uint
	PUDIndex  uint
	PGDIndex  uint
}

func (g Geometry) String() string {
	return fmt.Sprintf("%s %dK (PTE %d, PMD %d, PUD %d, PGD %d)", g.MMU, g.PageSize()>>10,
		g.PTEIndex, g.PMDIndex, g.PUDIndex, g.PGDIndex)
}

// PageSize is PAGE_SIZE.
func (g Geometry) PageSize() uint64 { return 1 << g.PageShift }

// PMDShift is PMD_SHIFT = PAGE_SHIFT + PTE_INDEX_SIZE (book3s/64/pgtable.h).
func (g Geometry) PMDShift() uint { return g.PageShift + g.PTEIndex }

// PUDShift is PUD_SHIFT = PMD_SHIFT + PMD_INDEX_SIZE.
func (g Geometry) PUDShift() uint { return g.PMDShift() + g.PMDIndex }

// PGDShift is PGDIR_SHIFT = PUD_SHIFT + PUD_INDEX_SIZE.
func (g Geometry) PGDShift() uint { return g.PUDShift() + g.PUDIndex }

// knownGeometries are the four Book3S-64 Linux page-table shapes of
// Linux 7.2.
var knownGeometries = []Geometry{
	// book3s/64/radix-4k.h: RADIX_{PTE,PMD,PUD,PGD}_INDEX_SIZE 9/9/9/13.
	{MMU: Radix, PageShift: 12, PTEIndex: 9, PMDIndex: 9, PUDIndex: 9, PGDIndex: 13},
	// book3s/64/radix-64k.h: 5/9/9/13.
	{MMU: Radix, PageShift: 16, PTEIndex: 5, PMDIndex: 9, PUDIndex: 9, PGDIndex: 13},
	// book3s/64/hash-4k.h: H_{PTE,PMD,PUD,PGD}_INDEX_SIZE 9/7/9/9.
	{MMU: Hash, PageShift: 12, PTEIndex: 9, PMDIndex: 7, PUDIndex: 9, PGDIndex: 9},
	// book3s/64/hash-64k.h: 8/10/10/8.
	{MMU: Hash, PageShift: 16, PTEIndex: 8, PMDIndex: 10, PUDIndex: 10, PGDIndex: 8},
}

// KnownGeometry returns the page-table geometry the kernel sets up for an
// MMU and page size (radix__early_init_mmu() / hash__early_init_mmu()).
func KnownGeometry(mmu MMU, pageSize uint64) (Geometry, error) {
	for _, g := range knownGeometries {
		if g.MMU == mmu && g.PageSize() == pageSize {
			return g, nil
		}
	}
	return Geometry{}, fmt.Errorf("ppc64: no known page-table geometry for %s MMU with page size %#x", mmu, pageSize)
}

// GeometryFromIndexSizes checks the index sizes read from the dump's own
// __pte_index_size, __pmd_index_size, __pud_index_size and __pgd_index_size
// against the known geometries for pageSize, and returns the one they
// match. The pair of values tells the MMU apart: no radix and hash geometry
// share index sizes.
func GeometryFromIndexSizes(pageSize, pte, pmd, pud, pgd uint64) (Geometry, error) {
	for _, g := range knownGeometries {
		if g.PageSize() == pageSize && uint64(g.PTEIndex) == pte && uint64(g.PMDIndex) == pmd &&
			uint64(g.PUDIndex) == pud && uint64(g.PGDIndex) == pgd {
			return g, nil
		}
	}
	return Geometry{}, fmt.Errorf("ppc64: page-table index sizes PTE %d, PMD %d, PUD %d, PGD %d with page size %#x match no known geometry",
		pte, pmd, pud, pgd, pageSize)
}

// DefaultVmallocStart is VMALLOC_START for a geometry when the dump does not
// say (VMCOREINFO NUMBER(VMALLOC_START) is the better source).
func DefaultVmallocStart(g Geometry) uint64 {
	if g.MMU == Hash && g.PageShift == 12 {
		return Hash4KVmallocStart
	}
	return RadixVmallocStart
}
