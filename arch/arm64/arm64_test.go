package arm64

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/dump"
)

// words is a sparse physical memory of 8-byte words (absent words read as
// zero inside a known table page, and fail outside).
type words struct {
	w     map[uint64]uint64
	pages map[uint64]bool // 4K frames that exist
}

func newWords() *words { return &words{w: map[uint64]uint64{}, pages: map[uint64]bool{}} }

func (m *words) ReadAt(p []byte, addr uint64) (int, error) {
	for i := range p {
		a := addr + uint64(i)
		if !m.pages[a>>12] {
			return i, fmt.Errorf("physical %#x not in memory", a)
		}
		p[i] = byte(m.w[a&^7] >> (8 * (a & 7)))
	}
	return len(p), nil
}

func (m *words) table(pa, size uint64) {
	for a := pa; a < pa+size; a += 4096 {
		m.pages[a>>12] = true
	}
}

func (m *words) put(a, v uint64) { m.w[a] = v }

// encodeOA is the inverse of the descriptor formats (Arm ARM D8.3: 4K/16K
// OA[47:g]; with DS=1, OA[49:g] and OA[51:50] in bits 9:8; 64K, OA[47:16]
// and OA[51:48] in bits 15:12), written from the architecture manual, not
// from outputAddress.
func encodeOA(k *Kernel, pa uint64) uint64 {
	g := k.PageShift_
	switch {
	case k.LPA2:
		return pa&(1<<50-1)&^(1<<g-1) | (pa>>50&3)<<8
	case g == 16:
		return pa&(1<<48-1)&^(1<<16-1) | (pa>>48&0xf)<<12
	}
	return pa & (1<<48 - 1) &^ (1<<g - 1)
}

// builder makes page tables the way the MMU reads them: the first table at
// base, indexed by the VA bits the level resolves at the VA size in use.
type builder struct {
	k    *Kernel
	m    *words
	base uint64 // where the MMU starts (TTBR1's BADDR)
	next uint64
}

func newBuilder(k *Kernel, ttbr1Offset uint64) *builder {
	m := newWords()
	k.Phys, k.Order = m, binary.LittleEndian
	pg := uint64(1) << k.PageShift_
	k.PGD = 0x4000_0000
	// The first table may be bigger than a granule (a 52-bit 64K pgd).
	m.table(k.PGD, 16*pg)
	return &builder{k: k, m: m, base: k.PGD + ttbr1Offset, next: k.PGD + 16*pg}
}

// hwIndex is the index the MMU uses at walk step i.
func (b *builder) hwIndex(va uint64, i int) (uint64, uint) {
	g := b.k.PageShift_
	per := g - 3
	shift := g + per*uint(b.k.Levels-1-i)
	width := per
	if i == 0 {
		width = b.k.VABitsActual - shift
	}
	return va >> shift & (1<<width - 1), shift
}

// mapVA maps va to pa with a leaf at walk step leaf (Levels-1 a page,
// less a block), with extra bits (attributes) in the leaf.
func (b *builder) mapVA(va, pa uint64, leaf int, extra uint64) {
	table := b.base
	pg := uint64(1) << b.k.PageShift_
	for i := 0; i < b.k.Levels; i++ {
		idx, _ := b.hwIndex(va, i)
		ea := table + idx*8
		if i == leaf {
			typ := uint64(1) // block
			if i == b.k.Levels-1 {
				typ = 3 // page
			}
			b.m.put(ea, encodeOA(b.k, pa)|typ|extra|1<<10)
			return
		}
		e, ok := b.m.w[ea]
		if !ok {
			nt := b.next
			b.next += pg
			b.m.table(nt, pg)
			e = encodeOA(b.k, nt) | 3
			b.m.put(ea, e)
		}
		table = b.k.outputAddressForTest(e)
	}
}

func (k *Kernel) outputAddressForTest(e uint64) uint64 {
	// Tables here are below 4G: bits 47:g are the address in every format.
	return e & (1<<32 - 1) &^ (1<<k.PageShift_ - 1)
}

func kernelFor(pageShift, vaBits, vaActual uint) *Kernel {
	k := &Kernel{PageShift_: pageShift, VABits: vaBits, VABitsActual: vaActual}
	k.LPA2 = vaActual == 52 && pageShift != 16
	k.Levels = LevelsFor(vaActual, pageShift)
	return k
}

func TestLevelsFor(t *testing.T) {
	// ARM64_HW_PGTABLE_LEVELS for the VA sizes Kconfig offers.
	for _, c := range []struct {
		shift, va uint
		want      int
	}{
		{12, 39, 3}, {12, 48, 4}, {12, 52, 5},
		{14, 36, 2}, {14, 47, 3}, {14, 48, 4}, {14, 52, 4},
		{16, 42, 2}, {16, 48, 3}, {16, 52, 3},
	} {
		if got := LevelsFor(c.va, c.shift); got != c.want {
			t.Errorf("LevelsFor(%d, %d) = %d, want %d", c.va, c.shift, got, c.want)
		}
	}
}

func TestWalk(t *testing.T) {
	type mapping struct {
		va, pa uint64
		leaf   int // walk step of the leaf
		extra  uint64
		size   uint64
	}
	cases := []struct {
		name              string
		shift, va, actual uint
		ttbr1Off          uint64
		maps              []mapping
	}{
		{"4K 48-bit 4 levels", 12, 48, 48, 0, []mapping{
			{0xffff800080001234, 0x41234000, 3, 0, 4 << 10},
			{0xffff800080400000 + 0x5678, 0x48000000, 2, 0, 2 << 20},
			{0xffff800100000000 + 0x123456, 0x80000000, 1, 0, 1 << 30},
		}},
		{"4K 52-bit LPA2 5 levels, 52-bit PA", 12, 52, 52, 0, []mapping{
			{0xfff0000003728000, 0x000c_0000_4372_8000, 4, 0, 4 << 10},
			{0xfff0000000200010, 0x000f_ff00_0020_0000, 3, 0, 2 << 20},
			{0xfff8000000000000 + 0x42, 0x0008_0000_0000_0000, 1, 0, 512 << 30},
		}},
		{"4K 52-bit kernel on 48-bit CPU: SH bits are not address", 12, 52, 48, 0, []mapping{
			{0xffff800080001000, 0x41234000, 3, 3 << 8, 4 << 10},
		}},
		{"16K 47-bit 3 levels with a 32M block", 14, 47, 47, 0, []mapping{
			{0xffffc00000004000 + 0x10, 0x40008000, 2, 0, 16 << 10},
			{0xffffc00002000000 + 0x1234, 0x44000000, 1, 0, 32 << 20},
		}},
		{"16K 52-bit LPA2 4 levels", 14, 52, 52, 0, []mapping{
			{0xfff0000000004000, 0x000c_0000_4000_4000, 3, 0, 16 << 10},
		}},
		{"64K 48-bit 3 levels with a 512M block", 16, 48, 48, 0, []mapping{
			{0xffff000000010000 + 0x10, 0x40020000, 2, 0, 64 << 10},
			{0xffff800020000000 + 0x8, 0x60000000, 1, 0, 512 << 20},
		}},
		{"64K 52-bit LPA: PA bits 51:48", 16, 52, 52, 0, []mapping{
			{0xfff0000000010000, 0x000a_0000_4002_0000, 2, 0, 64 << 10},
		}},
		// A 52-bit 64K kernel on a 48-bit CPU: TTBR1 points
		// TTBR1_BADDR_4852_OFFSET into the 52-bit pgd.
		{"64K 52-bit kernel on 48-bit CPU: TTBR1 offset", 16, 52, 48, (1<<10 - 1<<6) * 8, []mapping{
			{0xffff000000010000, 0x40020000, 2, 0, 64 << 10},
			{0xffffffff00000000, 0x50000000, 2, 0, 64 << 10},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := kernelFor(c.shift, c.va, c.actual)
			b := newBuilder(k, c.ttbr1Off)
			k.setTTBR1Offset()
			for _, m := range c.maps {
				b.mapVA(m.va&^(m.size-1), m.pa, m.leaf, m.extra)
			}
			for _, m := range c.maps {
				w, err := k.Walk(m.va)
				if err != nil {
					t.Fatalf("Walk(%#x): %v", m.va, err)
				}
				want := m.pa + m.va&(m.size-1)
				if w.PA != want || w.LeafSize != m.size {
					t.Errorf("Walk(%#x) = %#x size %#x, want %#x size %#x (steps %+v)", m.va, w.PA, w.LeafSize, want, m.size, w.Steps)
				}
				if len(w.Steps) != m.leaf+1 {
					t.Errorf("Walk(%#x): %d steps, want %d", m.va, len(w.Steps), m.leaf+1)
				}
			}
		})
	}
}

// walkRealWords walks va with k over page-table words read from a real
// dump: steps are (entry address, entry value) pairs, each in a table
// page of its own, and pgd the table the walk starts from.
func walkRealWords(k *Kernel, pgd uint64, steps []uint64, va uint64) (arch.Walk, error) {
	m := newWords()
	for i := 0; i+1 < len(steps); i += 2 {
		m.table(steps[i]&^0xfff, 4096)
		m.put(steps[i], steps[i+1])
	}
	k.Phys, k.Order, k.PGD = m, binary.LittleEndian, pgd
	k.setTTBR1Offset()
	return k.Walk(va)
}

// TestWalkRealK64: real descriptors of the k64-va52-nokaslr dump (the
// livepatch kernel with 64K pages and VA_BITS 52 on a CPU with FEAT_LVA,
// TCR_EL1.T1SZ 12, booted with rodata=off), read straight from the ELF
// dump's PT_LOADs by bench/arm64-corpus/from-source/walk-words.py, with
// the physical address drgn's follow_phys(init_mm) gave for each virtual
// one: module text and a VMAP stack (PGD, PMD, PTE), the kernel image
// mapping, the linear map by 64K pages (contiguous hint set) and by a
// 512 MiB PMD block; table descriptors carry APTable/PXNTable bits (59,
// 60), leaves DBM, PXN/UXN and software bits above the address.
func TestWalkRealK64(t *testing.T) {
	cases := []struct {
		what        string
		pgd, va, pa uint64
		steps       []uint64 // entry address, entry, ...
	}{
		{"klp_tgt MOD_TEXT last", 0x40880000, 0xffff80007917ffff, 0x49f8ffff, []uint64{0x40881f00, 0x1000000040ca0003, 0x40ca0018, 0x1000000041410403, 0x4141c8b8, 0x00c0000049f80783}},
		{"_text", 0x40880000, 0xffff800080000000, 0x40200000, []uint64{0x40881f00, 0x1000000040ca0003, 0x40ca0020, 0x1000000040cb0003, 0x40cb0000, 0x00e8000040200703}},
		{"linear map pa 0x40001238", 0x40880000, 0xfff0000000001238, 0x40001238, []uint64{0x40880000, 0x180000007fff0403, 0x7fff0000, 0x180000007ffe0403, 0x7ffe0000, 0x00f8000040000707}},
		{"linear map pa 0x6400b630", 0x40880000, 0xfff000002400b630, 0x6400b630, []uint64{0x40880000, 0x180000007fff0403, 0x7fff0008, 0x00e8000060000705}},
		{"linear map pa 0x7c012380", 0x40880000, 0xfff000003c012380, 0x7c012380, []uint64{0x40880000, 0x180000007fff0403, 0x7fff0008, 0x00e8000060000705}},
		{"stack of pid 2 last", 0x40880000, 0xffff800080bcffff, 0x4016ffff, []uint64{0x40881f00, 0x1000000040ca0003, 0x40ca0020, 0x1000000040cb0003, 0x40cb05e0, 0x00e8000040160703}},
	}
	for _, c := range cases {
		w, err := walkRealWords(kernelFor(16, 52, 52), c.pgd, c.steps, c.va)
		if err != nil || w.PA != c.pa || len(w.Steps) != len(c.steps)/2 {
			t.Errorf("%s: Walk(%#x) = %#x in %d steps (%v); drgn %#x in %d", c.what, c.va, w.PA, len(w.Steps), err, c.pa, len(c.steps)/2)
			continue
		}
		want := uint64(64 << 10)
		if len(c.steps) == 4 {
			want = 512 << 20 // a block at the second level
		}
		if w.LeafSize != want {
			t.Errorf("%s: leaf %#x, want %#x", c.what, w.LeafSize, want)
		}
		for i, s := range w.Steps {
			if s.EntryAddr != c.steps[2*i] || s.Entry != c.steps[2*i+1] {
				t.Errorf("%s step %d: entry %#x at %#x, the dump's %#x at %#x", c.what, i, s.Entry, s.EntryAddr, c.steps[2*i+1], c.steps[2*i])
			}
		}
	}
}

// TestWalkReal16K: real descriptors of a 16K-granule, 52-bit VA kernel
// with FEAT_LPA2 (TCR_EL1.DS = 1, TCR_EL1.T1SZ 12, 4 levels: a 32-entry
// first table indexing VA bits 51:47), read straight from the ELF dump's
// PT_LOADs by bench/arm64-corpus/from-source/walk-words.py, with the
// physical address drgn's follow_phys(init_mm) gave for each virtual one.
// distro16k-blocks is Debian's 7.2.13+deb14-arm64-16k booted nokaslr
// rodata=off kfence.sample_interval=100, k16-va52-nokaslr the from-source
// livepatch kernel with 16K pages booted nokaslr rodata=off; in each,
// module text and a VMAP stack
// (PGD index 31), the kernel image, the linear map by a 16K page (the
// 32 MiB around the image, contiguous hint set) and by 32 MiB level-2
// blocks; table descriptors carry APTable/PXNTable bits and bit 10, page
// and block descriptors bits 9:8 clear (with DS = 1 they are OA[51:50],
// not shareability).
func TestWalkReal16K(t *testing.T) {
	cases := []struct {
		what        string
		pgd, va, pa uint64
		steps       []uint64 // entry address, entry, ...
	}{
		// distro16k-blocks
		{"xfs MOD_TEXT last", 0x42738000, 0xffffc0007b3dffff, 0x45787fff, []uint64{0x427380f8, 0x1000000043178003, 0x4317a000, 0x100000004317c003, 0x4317c1e8, 0x1000000045700403, 0x457027b8, 0x00c0000045784483}},
		{"_text", 0x42738000, 0xffffc00080000000, 0x40200000, []uint64{0x427380f8, 0x1000000043178003, 0x4317a000, 0x100000004317c003, 0x4317c200, 0x1000000043180003, 0x43180000, 0x00e8000040200403}},
		{"linear map pa 0x40001238", 0x42738000, 0xfff0000000001238, 0x40001238, []uint64{0x42738000, 0x180000007f7fc403, 0x7f7fc000, 0x180000007f7f8403, 0x7f7f8000, 0x180000007f7f0403, 0x7f7f0000, 0x00f8000040000407}},
		{"linear map pa 0x44002470", 0x42738000, 0xfff0000004002470, 0x44002470, []uint64{0x42738000, 0x180000007f7fc403, 0x7f7fc000, 0x180000007f7f8403, 0x7f7f8010, 0x00e8000044000405}},
		{"linear map pa 0x7c012380", 0x42738000, 0xfff000003c012380, 0x7c012380, []uint64{0x42738000, 0x180000007f7fc403, 0x7f7fc000, 0x180000007f7f8403, 0x7f7f80f0, 0x00e800007c000405}},
		{"stack of pid 2 last", 0x42738000, 0xffffc00083f8bfff, 0x4436ffff, []uint64{0x427380f8, 0x1000000043178003, 0x4317a000, 0x100000004317c003, 0x4317c208, 0x1000000043184003, 0x43187f10, 0x00e800004436c403}},
		{"vmcoreinfo_data (linear map)", 0x42738000, 0xfff0000004930000, 0x44930000, []uint64{0x42738000, 0x180000007f7fc403, 0x7f7fc000, 0x180000007f7f8403, 0x7f7f8010, 0x00e8000044000405}},
		// k16-va52-nokaslr (the livepatch kernel built with 16K pages and
		// VA_BITS 52, FRAG=arm64-16k.config KVAR=16k, nokaslr rodata=off)
		{"k16 klp_tgt MOD_TEXT last", 0x407c8000, 0xffffc00078aa3fff, 0x42cdffff, []uint64{0x407c80f8, 0x1000000040ae8003, 0x40aea000, 0x1000000040aec003, 0x40aec1e0, 0x10000000424f8403, 0x424f9540, 0x00c0000042cdc483}},
		{"k16 _text", 0x407c8000, 0xffffc00080000000, 0x40200000, []uint64{0x407c80f8, 0x1000000040ae8003, 0x40aea000, 0x1000000040aec003, 0x40aec200, 0x1000000040af0003, 0x40af0000, 0x00e8000040200403}},
		{"k16 linear map pa 0x40001238", 0x407c8000, 0xfff0000000001238, 0x40001238, []uint64{0x407c8000, 0x180000007fffc403, 0x7fffc000, 0x180000007fff8403, 0x7fff8000, 0x180000007fff4403, 0x7fff4000, 0x00f8000040000407}},
		{"k16 linear map pa 0x6400b630", 0x407c8000, 0xfff000002400b630, 0x6400b630, []uint64{0x407c8000, 0x180000007fffc403, 0x7fffc000, 0x180000007fff8403, 0x7fff8090, 0x00e8000064000405}},
		{"k16 stack of pid 2 last", 0x407c8000, 0xffffc0008094bfff, 0x4221ffff, []uint64{0x407c80f8, 0x1000000040ae8003, 0x40aea000, 0x1000000040aec003, 0x40aec200, 0x1000000040af0003, 0x40af1290, 0x00e800004221c403}},
	}
	blocks := 0
	for _, c := range cases {
		k := kernelFor(14, 52, 52)
		if !k.LPA2 || k.Levels != 4 {
			t.Fatalf("kernelFor(14, 52, 52): LPA2 %v, %d levels", k.LPA2, k.Levels)
		}
		w, err := walkRealWords(k, c.pgd, c.steps, c.va)
		if err != nil || w.PA != c.pa || len(w.Steps) != len(c.steps)/2 {
			t.Errorf("%s: Walk(%#x) = %#x in %d steps (%v); drgn %#x in %d", c.what, c.va, w.PA, len(w.Steps), err, c.pa, len(c.steps)/2)
			continue
		}
		want := uint64(16 << 10)
		if len(c.steps) == 6 {
			want = 32 << 20 // a block at the third step (level 2)
			blocks++
		}
		if w.LeafSize != want {
			t.Errorf("%s: leaf %#x, want %#x", c.what, w.LeafSize, want)
		}
		for i, s := range w.Steps {
			if s.EntryAddr != c.steps[2*i] || s.Entry != c.steps[2*i+1] {
				t.Errorf("%s step %d: entry %#x at %#x, the dump's %#x at %#x", c.what, i, s.Entry, s.EntryAddr, c.steps[2*i+1], c.steps[2*i])
			}
		}
	}
	if blocks == 0 {
		t.Error("no block among the cases")
	}
}

func TestWalkFaults(t *testing.T) {
	k := kernelFor(12, 48, 48)
	b := newBuilder(k, 0)
	b.mapVA(0xffff800080000000, 0x41000000, 3, 0)
	kind := func(va uint64) string {
		_, err := k.Walk(va)
		var we dump.WalkError
		if !errors.As(err, &we) {
			return fmt.Sprint(err)
		}
		return we.WalkKind()
	}
	if got := kind(0x0000800080000000); got != dump.WalkNotKernel {
		t.Errorf("user address: %s", got)
	}
	if got := kind(0xffff900000000000); got != dump.WalkNotPresent {
		t.Errorf("unmapped: %s", got)
	}
	// A block at level 0 is not allowed without LPA2.
	idx, _ := b.hwIndex(0xffffa00000000000, 0)
	b.m.put(k.PGD+idx*8, 0x80000000|1)
	if got := kind(0xffffa00000000000); got != dump.WalkBadEntry {
		t.Errorf("level-0 block: %s", got)
	}
	// 0b01 at the last level is reserved.
	w, _ := k.Walk(0xffff800080000000)
	last := w.Steps[len(w.Steps)-1]
	b.m.put(last.EntryAddr, last.Entry&^2)
	if got := kind(0xffff800080000000); got != dump.WalkBadEntry {
		t.Errorf("reserved page descriptor: %s", got)
	}
}

func TestLinear(t *testing.T) {
	// The kaslr dump's layout (truth.json: VMCOREINFO, kallsyms _text).
	k := &Kernel{PageShift_: 12, VABits: 52, VABitsActual: 52,
		PageOffset: 0xfff0000000000000, PageEnd: 0xffff800000000000, PhysOffset: 0x40000000,
		KimageVoffset: 0xffffacef47200000, ImageStart: 0xffffacef87400000, ImageEnd: 0xffffacef8a400000}
	for _, c := range []struct {
		va, pa uint64
		ok     bool
	}{
		{0xffffacef89903000, 0x42703000, true}, // swapper_pg_dir (info: PGD 0x42703000)
		{0xfff0000003728000, 0x43728000, true},
		{0xffff800080000000, 0, false}, // vmalloc: walked
		{0x0000000000001000, 0, false},
	} {
		pa, ok := k.Linear(c.va)
		if pa != c.pa || ok != c.ok {
			t.Errorf("Linear(%#x) = %#x %v, want %#x %v", c.va, pa, ok, c.pa, c.ok)
		}
	}
	if got := k.DirectMap() + 0x43728000; got != 0xfff0000003728000 {
		t.Errorf("DirectMap()+pa = %#x", got)
	}
}

func TestStripPAC(t *testing.T) {
	const mask = 0xfff0000000000000 // NUMBER(KERNELPACMASK) of the corpus
	if got := StripPAC(0x5a8facef8868cd80, mask); got != 0xffffacef8868cd80 {
		t.Errorf("StripPAC = %#x", got)
	}
	if got := StripPAC(0xffffacef8868cd80, mask); got != 0xffffacef8868cd80 {
		t.Errorf("StripPAC of an unsigned address = %#x", got)
	}
}

// TestEarlyFrom: the kernel image mapped from VMCOREINFO alone for a dump
// opened without its vmlinux (__kimg_to_phys(): va - kimage_voffset), the
// values of the distro-kaslr corpus dump's VMCOREINFO (bench/arm64-corpus
// truth.json: _text at 0xffffacef87400000 is physical 0x40200000, its
// /proc/kcore load); an address far from SYMBOL(_stext) is not mapped,
// and a VMCOREINFO without kimage_voffset or _stext is refused by name.
func TestEarlyFrom(t *testing.T) {
	const base = "OSRELEASE=7.2.13+deb14-arm64\nPAGESIZE=4096\n"
	vi, err := dump.ParseVMCOREINFO([]byte(base + "SYMBOL(_stext)=ffffacef87410000\nNUMBER(kimage_voffset)=0xffffacef47200000\n"))
	if err != nil {
		t.Fatal(err)
	}
	early, err := EarlyFrom(vi)
	if err != nil {
		t.Fatal(err)
	}
	if pa, ok := early(0xffffacef87400000); !ok || pa != 0x40200000 {
		t.Errorf("_text: %#x %v, want 0x40200000", pa, ok)
	}
	if _, ok := early(0xfff0000000000000); ok {
		t.Error("a linear-map address mapped as the image")
	}
	for _, c := range []struct{ info, want string }{
		{base + "SYMBOL(_stext)=ffffacef87410000\n", "lacks NUMBER(kimage_voffset)"},
		{base + "NUMBER(kimage_voffset)=0xffffacef47200000\n", "lacks SYMBOL(_stext)"},
	} {
		vi, err := dump.ParseVMCOREINFO([]byte(c.info))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := EarlyFrom(vi); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.info, err, c.want)
		}
	}
}
