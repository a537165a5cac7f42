package ppc64

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// fakePhys is a sparse physical memory of 4 KiB frames, built in code.
type fakePhys struct{ frames map[uint64][]byte }

type notInMemory struct{ addr uint64 }

func (e *notInMemory) Error() string { return fmt.Sprintf("physical %#x not in memory", e.addr) }

func newFakePhys() *fakePhys { return &fakePhys{frames: map[uint64][]byte{}} }

func (m *fakePhys) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		f, ok := m.frames[a>>12]
		if !ok {
			return n, &notInMemory{a}
		}
		n += copy(p[n:], f[a&0xfff:])
	}
	return n, nil
}

func (m *fakePhys) frame(a uint64) []byte {
	f, ok := m.frames[a>>12]
	if !ok {
		f = make([]byte, 4096)
		m.frames[a>>12] = f
	}
	return f
}

// put64 stores a page-table entry big-endian, as the hardware reads it.
func (m *fakePhys) put64(a, v uint64) {
	binary.BigEndian.PutUint64(m.frame(a)[a&0xfff:], v)
}

// Table entry as the kernel writes them: pgd_populate()/pud_populate()/
// pmd_populate_kernel() store __pgtable_ptr_val(table) | xxx_VAL_BITS, with
// RADIX_xxx_VAL_BITS = 0x8000000000000000 | next level's index size
// (book3s/64/radix.h) and HASH_xxx_VAL_BITS = 0x8000000000000000
// (book3s/64/hash.h).
func tableEntry(g Geometry, next uint64, nextIndex uint) uint64 {
	if g.MMU == Radix {
		return next | 0x8000000000000000 | uint64(nextIndex)
	}
	return next | 0x8000000000000000
}

// leafEntry is pfn_pte(): pa | prot | _PAGE_PTE, with PAGE_KERNEL_RW-like
// bits (_PAGE_PRESENT | _PAGE_ACCESSED 0x100 | _PAGE_DIRTY 0x80 |
// _PAGE_PRIVILEGED 0x8 | _PAGE_READ 0x4 | _PAGE_WRITE 0x2).
func leafEntry(pa uint64) uint64 {
	return pa | 0x8000000000000000 | 0x4000000000000000 | 0x18e
}

// indexes computes the kernel's pgd_index()/pud_index()/pmd_index()/
// pte_index() for va from the index sizes in the kernel headers, written
// out here independently of Geometry's helpers.
func indexes(va uint64, pageShift, pte, pmd, pud, pgd uint) [4]uint64 {
	pmdShift := pageShift + pte
	pudShift := pmdShift + pmd
	pgdShift := pudShift + pud
	return [4]uint64{
		(va >> pgdShift) & (1<<pgd - 1),
		(va >> pudShift) & (1<<pud - 1),
		(va >> pmdShift) & (1<<pmd - 1),
		(va >> pageShift) & (1<<pte - 1),
	}
}

type pt struct {
	g    Geometry
	mem  *fakePhys
	pgd  uint64
	next uint64 // bump allocator for tables
}

func newPT(g Geometry) *pt {
	return &pt{g: g, mem: newFakePhys(), pgd: 0x100000, next: 0x200000}
}

func (p *pt) alloc(size uint64, align uint64) uint64 {
	p.next = (p.next + align - 1) &^ (align - 1)
	a := p.next
	p.next += size
	for f := a &^ 0xfff; f < a+size; f += 4096 {
		p.mem.frame(f)
	}
	return a
}

// mapPage maps va to pa with a full four-level walk and returns the
// physical address of each level's entry.
func (p *pt) mapPage(va, pa uint64, ptOff uint64) [4]uint64 {
	g := p.g
	ix := indexes(va, g.PageShift, g.PTEIndex, g.PMDIndex, g.PUDIndex, g.PGDIndex)
	pud := p.alloc(8<<g.PUDIndex, 8<<g.PUDIndex)
	pmd := p.alloc(8<<g.PMDIndex, 8<<g.PMDIndex)
	pte := p.alloc(8<<g.PTEIndex+ptOff, 4096) + ptOff
	ea := [4]uint64{p.pgd + ix[0]*8, pud + ix[1]*8, pmd + ix[2]*8, pte + ix[3]*8}
	p.mem.put64(ea[0], tableEntry(g, pud, g.PUDIndex))
	p.mem.put64(ea[1], tableEntry(g, pmd, g.PMDIndex))
	p.mem.put64(ea[2], tableEntry(g, pte, g.PTEIndex))
	p.mem.put64(ea[3], leafEntry(pa))
	return ea
}

func (p *pt) translator() *Translator {
	p.mem.frame(p.pgd)
	return &Translator{Phys: p.mem, PGD: p.pgd, Geom: p.g}
}

func TestKnownGeometry(t *testing.T) {
	t.Parallel()
	// Index sizes from book3s/64/{radix,hash}-{4k,64k}.h.
	tests := []struct {
		mmu                 MMU
		pageSize            uint64
		pte, pmd, pud, pgd  uint
		pgdShift, vmallocSt uint64
	}{
		{Radix, 4096, 9, 9, 9, 13, 39, 0xc008000000000000},
		{Radix, 65536, 5, 9, 9, 13, 39, 0xc008000000000000},
		{Hash, 4096, 9, 7, 9, 9, 37, 0xc0003d0000000000},
		{Hash, 65536, 8, 10, 10, 8, 44, 0xc008000000000000},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v-%d", tc.mmu, tc.pageSize), func(t *testing.T) {
			g, err := KnownGeometry(tc.mmu, tc.pageSize)
			if err != nil {
				t.Fatal(err)
			}
			if g.PTEIndex != tc.pte || g.PMDIndex != tc.pmd || g.PUDIndex != tc.pud || g.PGDIndex != tc.pgd {
				t.Errorf("KnownGeometry = %v, want %d/%d/%d/%d", g, tc.pte, tc.pmd, tc.pud, tc.pgd)
			}
			if uint64(g.PGDShift()) != tc.pgdShift {
				t.Errorf("PGDShift = %d, want %d", g.PGDShift(), tc.pgdShift)
			}
			if got := DefaultVmallocStart(g); got != tc.vmallocSt {
				t.Errorf("DefaultVmallocStart = %#x, want %#x", got, tc.vmallocSt)
			}
			g2, err := GeometryFromIndexSizes(tc.pageSize, uint64(tc.pte), uint64(tc.pmd), uint64(tc.pud), uint64(tc.pgd))
			if err != nil || g2 != g {
				t.Errorf("GeometryFromIndexSizes = %v, %v; want %v", g2, err, g)
			}
		})
	}
	if _, err := KnownGeometry(Radix, 16384); err == nil {
		t.Error("KnownGeometry(Radix, 16K) succeeded")
	}
	if _, err := GeometryFromIndexSizes(65536, 9, 9, 9, 13); err == nil {
		t.Error("radix-4K index sizes accepted with 64K pages")
	}
	if MMUFromFeatures(0x3c007041) != Radix || MMUFromFeatures(0x78007001) != Hash {
		t.Error("MMUFromFeatures: corpus cur_cpu_spec_mmu_features misread")
	}
}

func allGeometries(t *testing.T) []Geometry {
	var gs []Geometry
	for _, c := range []struct {
		m MMU
		s uint64
	}{{Radix, 4096}, {Radix, 65536}, {Hash, 4096}, {Hash, 65536}} {
		g, err := KnownGeometry(c.m, c.s)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	return gs
}

func TestTranslatePageWalk(t *testing.T) {
	t.Parallel()
	for _, g := range allGeometries(t) {
		t.Run(g.String(), func(t *testing.T) {
			t.Parallel()
			p := newPT(g)
			vs := DefaultVmallocStart(g)
			va := vs + 0x1234567*g.PageSize() + 0x10
			dataPA := uint64(0x40000000)
			// A page-table fragment that is not page aligned (radix-64K
			// PTE tables are 256-byte fragments).
			// PTE table as the second fragment of its page (a 256-byte
			// fragment on radix-64K, RADIX_PTE_FRAG_SIZE_SHIFT; 2K on
			// hash-64K): not page-aligned.
			ea := p.mapPage(va&^(g.PageSize()-1), dataPA, 8<<g.PTEIndex)
			tr := p.translator()
			pa, err := tr.Translate(va)
			if err != nil {
				t.Fatal(err)
			}
			if want := dataPA + 0x10; pa != want {
				t.Fatalf("Translate(%#x) = %#x, want %#x", va, pa, want)
			}
			w, err := tr.Walk(va)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Steps) != 4 {
				t.Fatalf("walk has %d steps, want 4", len(w.Steps))
			}
			for i, s := range w.Steps {
				if s.EntryAddr != ea[i] {
					t.Errorf("%s entry at %#x, want %#x", s.Level, s.EntryAddr, ea[i])
				}
			}
			if w.LeafSize != g.PageSize() {
				t.Errorf("LeafSize = %#x, want %#x", w.LeafSize, g.PageSize())
			}
			// The linear map needs no tables.
			if pa, err := tr.Translate(0xc000000012345678); err != nil || pa != 0x12345678 {
				t.Errorf("Translate(linear) = %#x, %v; want 0x12345678", pa, err)
			}
			// A neighbouring page with no PTE.
			_, err = tr.Translate(va + g.PageSize())
			var tf *TranslationFault
			if !errors.As(err, &tf) || tf.Reason != NotPresent || tf.Level != "PTE" {
				t.Errorf("unmapped neighbour: err = %v, want PTE not present", err)
			}
			// Far away: no PGD entry.
			_, err = tr.Translate(vs + 7<<g.PGDShift())
			if !errors.As(err, &tf) || tf.Reason != NotPresent || tf.Level != "PGD" {
				t.Errorf("unmapped PGD slot: err = %v, want PGD not present", err)
			}
		})
	}
}

// TestRadix4KPGDBeyondFirstPage: with radix and 4K pages the PGD is 2^13
// entries = 64 KiB. A vmalloc address 0xc008... has pgd_index 4096, i.e. an
// entry 32 KiB into the table; reading only the PGD's first page (and
// wrapping the index) finds the wrong entry, as crash did.
func TestRadix4KPGDBeyondFirstPage(t *testing.T) {
	t.Parallel()
	g, _ := KnownGeometry(Radix, 4096)
	p := newPT(g)
	va := uint64(0xc008000000010000)
	ix := indexes(va, 12, 9, 9, 9, 13)
	if ix[0] < 4096/8 {
		t.Fatalf("test address has PGD index %d, want one beyond the first 4K page", ix[0])
	}
	p.mapPage(va, 0x7000000, 0)
	// The decoy: the entry a reader that wraps within the first 4K page
	// would use, leading to a different page.
	decoy := p.alloc(4096, 4096)
	p.mem.put64(p.pgd+(ix[0]%512)*8, tableEntry(g, decoy, 9))
	tr := p.translator()
	w, err := tr.Walk(va)
	if err != nil {
		t.Fatal(err)
	}
	if want := p.pgd + ix[0]*8; w.Steps[0].EntryAddr != want || want-p.pgd < 4096 {
		t.Errorf("PGD entry read at %#x, want %#x (beyond the first page)", w.Steps[0].EntryAddr, want)
	}
	if w.PA != 0x7000000 {
		t.Errorf("PA = %#x, want 0x7000000", w.PA)
	}
}

func TestTranslateHugeLeaves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mmu      MMU
		pageSize uint64
		level    int    // 1 PUD, 2 PMD
		size     uint64 // pud_leaf_size()/pmd_leaf_size()
	}{
		{Radix, 65536, 2, 2 << 20}, // 2M PMD
		{Radix, 65536, 1, 1 << 30}, // 1G PUD
		{Radix, 4096, 2, 2 << 20},  // 2M PMD
		{Radix, 4096, 1, 1 << 30},  // 1G PUD
		{Hash, 65536, 2, 16 << 20}, // 16M PMD (PMD_SIZE with 64K hash)
		{Hash, 65536, 1, 16 << 30}, // 16G PUD
		{Hash, 4096, 2, 16 << 20},  // SZ_16M on hash 4K
		{Hash, 4096, 1, 16 << 30},  // SZ_16G on hash 4K
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v-%d-L%d", tc.mmu, tc.pageSize, tc.level), func(t *testing.T) {
			g, _ := KnownGeometry(tc.mmu, tc.pageSize)
			p := newPT(g)
			va := DefaultVmallocStart(g) + 3*tc.size + 0x12345
			ix := indexes(va, g.PageShift, g.PTEIndex, g.PMDIndex, g.PUDIndex, g.PGDIndex)
			pud := p.alloc(8<<g.PUDIndex, 8<<g.PUDIndex)
			p.mem.put64(p.pgd+ix[0]*8, tableEntry(g, pud, g.PUDIndex))
			base := uint64(5) * tc.size
			if tc.level == 1 {
				p.mem.put64(pud+ix[1]*8, leafEntry(base))
			} else {
				pmd := p.alloc(8<<g.PMDIndex, 8<<g.PMDIndex)
				p.mem.put64(pud+ix[1]*8, tableEntry(g, pmd, g.PMDIndex))
				p.mem.put64(pmd+ix[2]*8, leafEntry(base))
			}
			w, err := p.translator().Walk(va)
			if err != nil {
				t.Fatal(err)
			}
			if want := base + (va & (tc.size - 1)); w.PA != want || w.LeafSize != tc.size {
				t.Errorf("PA = %#x (leaf %#x), want %#x (leaf %#x)", w.PA, w.LeafSize, want, tc.size)
			}
			if len(w.Steps) != tc.level+1 {
				t.Errorf("walk stopped after %d levels, want %d", len(w.Steps), tc.level+1)
			}
		})
	}
}

func TestTranslateFaults(t *testing.T) {
	t.Parallel()
	for _, g := range allGeometries(t) {
		g := g
		va := DefaultVmallocStart(g) + 0x40*g.PageSize()
		ix := indexes(va, g.PageShift, g.PTEIndex, g.PMDIndex, g.PUDIndex, g.PGDIndex)
		tests := []struct {
			name   string
			level  string
			reason FaultKind
			setup  func(p *pt, ea [4]uint64)
		}{
			{"PTE none", "PTE", NotPresent, func(p *pt, ea [4]uint64) { p.mem.put64(ea[3], 0) }},
			{"PTE no _PAGE_PRESENT", "PTE", NotPresent, func(p *pt, ea [4]uint64) { p.mem.put64(ea[3], 0x4000000001230000) }},
			{"PTE without _PAGE_PTE", "PTE", NotPresent, func(p *pt, ea [4]uint64) { p.mem.put64(ea[3], 0x8000000001230000) }},
			{"PMD not present", "PMD", NotPresent, func(p *pt, ea [4]uint64) { p.mem.put64(ea[2], 0x0000000001230000) }},
			{"PUD none", "PUD", NotPresent, func(p *pt, ea [4]uint64) { p.mem.put64(ea[1], 0) }},
			{"PGD none", "PGD", NotPresent, func(p *pt, ea [4]uint64) { p.mem.put64(ea[0], 0) }},
			{"PGD leaf", "PGD", BadEntry, func(p *pt, ea [4]uint64) { p.mem.put64(ea[0], leafEntry(0)) }},
			{"PMD points outside memory", "PTE", TableUnreadable, func(p *pt, ea [4]uint64) {
				p.mem.put64(ea[2], tableEntry(g, 0x7fff00000000, g.PTEIndex))
			}},
			{"PGD points outside memory", "PUD", TableUnreadable, func(p *pt, ea [4]uint64) {
				p.mem.put64(ea[0], tableEntry(g, 0x10000000000000, g.PUDIndex))
			}},
		}
		if g.MMU == Radix {
			tests = append(tests, struct {
				name   string
				level  string
				reason FaultKind
				setup  func(p *pt, ea [4]uint64)
			}{"PUD bad bits", "PUD", BadEntry, func(p *pt, ea [4]uint64) {
				v := make([]byte, 8)
				p.mem.ReadAt(v, ea[1])
				p.mem.put64(ea[1], binary.BigEndian.Uint64(v)|0x20)
			}})
		}
		for _, tc := range tests {
			t.Run(g.String()+"/"+tc.name, func(t *testing.T) {
				p := newPT(g)
				ea := p.mapPage(va, 0x3000000, 0)
				tc.setup(p, ea)
				_, err := p.translator().Translate(va + 8)
				var tf *TranslationFault
				if !errors.As(err, &tf) {
					t.Fatalf("err = %v, want *TranslationFault", err)
				}
				if tf.Level != tc.level || tf.Reason != tc.reason || tf.VA != va+8 {
					t.Errorf("fault = %+v, want %s %v at %#x", tf, tc.level, tc.reason, va+8)
				}
				if tc.reason == TableUnreadable {
					var nim *notInMemory
					if !errors.As(err, &nim) {
						t.Errorf("fault does not wrap the reader's error: %v", err)
					}
				}
				_ = ix
			})
		}
	}
}

func TestTranslateNotKernel(t *testing.T) {
	t.Parallel()
	g, _ := KnownGeometry(Radix, 65536)
	p := newPT(g)
	_, err := p.translator().Translate(0x10000000)
	var tf *TranslationFault
	if !errors.As(err, &tf) || tf.Reason != NotKernelAddress {
		t.Errorf("Translate(user address) err = %v, want NotKernelAddress", err)
	}
}

// FuzzTranslator walks page tables made of random memory: it must never
// panic, and a successful walk must end in a leaf entry.
func FuzzTranslator(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 0, 0, 0x10, 0, 0x05}, uint64(0xc008000000000000), uint8(1))
	f.Add(make([]byte, 64), uint64(0xc00c000000001234), uint8(2))
	f.Add([]byte{0xc0, 0, 0, 0, 0, 0, 0, 0}, uint64(0xffffffffffffffff), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, va uint64, gi uint8) {
		if len(data) > 1<<16 {
			return
		}
		g := knownGeometries[int(gi)%len(knownGeometries)]
		// Every frame reads as the fuzz data, repeated: tables point into
		// tables of random entries, at any address.
		mem := repeatMem(data)
		tr := &Translator{Phys: mem, PGD: 0, Geom: g}
		w, err := tr.Walk(va)
		if err == nil {
			if len(w.Steps) == 0 || w.Steps[len(w.Steps)-1].Entry&PAGE_PTE == 0 {
				t.Fatalf("successful walk without a leaf: %+v", w)
			}
		}
		tr.Translate(va)
	})
}

type repeatMem []byte

func (m repeatMem) ReadAt(p []byte, addr uint64) (int, error) {
	if len(m) == 0 {
		return 0, &notInMemory{addr}
	}
	if addr > 1<<40 {
		return 0, &notInMemory{addr}
	}
	for i := range p {
		p[i] = m[(addr+uint64(i))%uint64(len(m))]
	}
	return len(p), nil
}
