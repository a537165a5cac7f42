package dump_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kdump-inspect/kdump-inspect/dump"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
)

// TestPageTableSelfReference: page tables whose entries point back at
// their own table (a PGD entry pointing at the PGD; a two-table cycle)
// cannot make a walk loop: the walk reads one entry per level, four
// levels (PGD, PUD, PMD, PTE: ppc64.Translator.Walk mirrors
// pgd_offset_k() .. pte_offset_kernel()), and then stops, here with the
// PTE level's entry not a PTE. Proved for radix and hash, 4K and 64K, for
// single walks and for a 1 MiB read through the kernel space.
func TestPageTableSelfReference(t *testing.T) {
	const pgd = 0x1000000 // 16 MiB: aligned beyond any table size and hash's bad bits
	for _, c := range []struct {
		mmu  ppc64.MMU
		page uint64
	}{{ppc64.Radix, 4096}, {ppc64.Radix, 65536}, {ppc64.Hash, 4096}, {ppc64.Hash, 65536}} {
		for _, shape := range []string{"PGD entries point at the PGD", "PGD and a second table point at each other"} {
			t.Run(fmt.Sprintf("%s %dK, %s", c.mmu, c.page>>10, shape), func(t *testing.T) {
				t.Parallel()
				g, err := ppc64.KnownGeometry(c.mmu, c.page)
				if err != nil {
					t.Fatal(err)
				}
				// A table pointer: _PAGE_PRESENT and, on radix, the next
				// level's index size in the low bits (RADIX_xxx_VAL_BITS).
				ptr := func(table uint64) uint64 {
					v := table | ppc64.PAGE_PRESENT
					if c.mmu == ppc64.Radix {
						v |= 9
					}
					return v
				}
				phys := newMapMem(true)
				other := uint64(pgd + 0x800000)
				entries := uint64(1) << max(g.PGDIndex, g.PUDIndex, g.PMDIndex, g.PTEIndex)
				for i := uint64(0); i < entries; i++ {
					if shape == "PGD entries point at the PGD" {
						phys.put64(pgd+8*i, ptr(pgd))
					} else {
						phys.put64(pgd+8*i, ptr(other))
						phys.put64(other+8*i, ptr(pgd))
					}
				}
				tr := &ppc64.Translator{Phys: phys, PGD: pgd, Geom: g, VmallocStart: ppc64.DefaultVmallocStart(g)}
				for _, va := range []uint64{ppc64.PageOffset, tr.VmallocStart, tr.VmallocStart + 0x123456789, ^uint64(0) &^ 0xfff} {
					done := make(chan struct{})
					var w *ppc64.WalkResult
					go func() {
						defer close(done)
						w, err = tr.Walk(va)
					}()
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						t.Fatalf("Walk(%#x) did not return", va)
					}
					var tf *ppc64.TranslationFault
					if !errors.As(err, &tf) || tf.Level != "PTE" || tf.Reason != ppc64.NotPresent {
						t.Errorf("Walk(%#x): %v, want the PTE level's entry not present", va, err)
					}
					if len(w.Steps) != 4 {
						t.Errorf("Walk(%#x) read %d entries, want 4 (one per level)", va, len(w.Steps))
					}
				}
				ks := dump.NewKernelSpace(phys, tr, nil)
				buf := make([]byte, 1<<20)
				start := time.Now()
				n, err := ks.ReadAt(buf, tr.VmallocStart)
				if f, ok := dump.IsFault(err); n != 0 || !ok || f.Reason != dump.Unmapped || f.Addr != tr.VmallocStart {
					t.Errorf("1 MiB read over the looped tables: %d bytes, %v; want an Unmapped fault at %#x", n, err, tr.VmallocStart)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("1 MiB read took %v", d)
				}
			})
		}
	}
}
