package damage

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// pageHashes reads every page of every range of d (unit bytes each) and
// returns its SHA-256, or the fault's reason for a page that faults.
func pageHashes(t *testing.T, d *dump.Dump, unit uint64) (map[uint64][32]byte, map[uint64]*dump.Fault) {
	t.Helper()
	sums := map[uint64][32]byte{}
	faults := map[uint64]*dump.Fault{}
	buf := make([]byte, unit)
	for _, r := range d.Ranges {
		for a := r.Start; a < r.End; a += unit {
			if err := dump.ReadFull(d.Phys, buf, a); err != nil {
				f, ok := dump.IsFault(err)
				if !ok {
					t.Fatalf("read at %#x: not a *dump.Fault: %v", a, err)
				}
				faults[a] = f
				continue
			}
			sums[a] = sha256.Sum256(buf)
		}
	}
	return sums, faults
}

// TestCorruptPageIntegrity flips bytes inside one compressed page of real
// makedumpfile output (corpus fixed-radix: zlib, LZO, zstd): the page
// must fault Corrupt, naming its address, the file and the file offset of
// its data; the dump's damage ledger must count it; and every other page
// must read exactly as in the good file.
//
// Before the zlib reader verified the adler-32 trailer, a flip in the
// trailer (or any flip that leaves the deflate stream decodable) read as
// a good page: the "adler-32" cases below failed.
func TestCorruptPageIntegrity(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	type flip struct {
		name string
		at   func(l *KdumpLayout, page []byte) int64 // offset in the page's data
		mask byte
	}
	zstdFCS := func(l *KdumpLayout, page []byte) int64 {
		var h zstd.Header
		if err := h.Decode(page); err != nil || !h.HasFCS {
			t.Fatalf("zstd page at %#x: header %+v, %v: want a frame content size", l.MidDataOff, h, err)
		}
		return int64(h.HeaderSize) - 1 // the content size is the header's last field
	}
	cases := []struct {
		file  string
		flags uint32
		flips []flip
	}{
		{"vmcore-vmcoreinfo.kdump", dump.DumpDHCompressedZlib, []flip{
			{"adler-32 trailer, last byte", func(l *KdumpLayout, _ []byte) int64 { return l.MidDataSize - 1 }, 0x01},
			{"adler-32 trailer, first byte", func(l *KdumpLayout, _ []byte) int64 { return l.MidDataSize - 4 }, 0x80},
			{"deflate data, middle", func(l *KdumpLayout, _ []byte) int64 { return l.MidDataSize / 2 }, 0x10},
		}},
		{"vmcore-d31-zstd.kdump", dump.DumpDHCompressedZstd, []flip{
			{"frame content size", zstdFCS, 0x01},
		}},
		{"vmcore-d31-lzo.kdump", dump.DumpDHCompressedLZO, []flip{
			// LZO1X ends with the end-of-stream M4 (0x11 0x00 0x00).
			{"end-of-stream marker", func(l *KdumpLayout, _ []byte) int64 { return l.MidDataSize - 1 }, 0x40},
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			goodPath := filepath.Join(dir, c.file)
			good, err := os.ReadFile(goodPath)
			if err != nil {
				t.Skipf("%v", err)
			}
			l, err := ParseKdumpLayout(good)
			if err != nil {
				t.Fatal(err)
			}
			if l.MidDataFlags&c.flags == 0 {
				t.Fatalf("the middle page is stored with flags %#x, want %#x", l.MidDataFlags, c.flags)
			}
			gd, err := dump.Open([]string{goodPath}, dump.Options{CachePages: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer gd.Close()
			unit := uint64(l.BlockSize)
			goodSums, goodFaults := pageHashes(t, gd, unit)
			if !gd.Damage().Empty() {
				t.Fatalf("good file: damage %v", gd.Damage())
			}
			pageAddr := l.MidPFN * unit
			page := good[l.MidDataOff : l.MidDataOff+l.MidDataSize]
			for i, fl := range c.flips {
				t.Run(fl.name, func(t *testing.T) {
					off := l.MidDataOff + fl.at(l, page)
					v := Variant{Name: fl.name, Kind: Flip, Off: off, Mask: fl.mask, Region: "page data", MustDetect: true}
					path := filepath.Join(t.TempDir(), c.file)
					if err := v.WriteFile(good, path); err != nil {
						t.Fatal(err)
					}
					d, err := dump.Open([]string{path}, dump.Options{CachePages: 4})
					if err != nil {
						t.Fatalf("%v: Open: %v", v, err)
					}
					defer d.Close()
					buf := make([]byte, 8)
					_, err = d.Phys.ReadAt(buf, pageAddr+0x100)
					f, ok := dump.IsFault(err)
					switch {
					case !ok:
						t.Fatalf("%v: read of pfn %#x: %v, want a Corrupt fault", v, l.MidPFN, err)
					case f.Reason != dump.Corrupt || f.Addr != pageAddr+0x100 || !f.Phys:
						t.Errorf("%v: fault %v (reason %v, addr %#x), want Corrupt at physical %#x", v, f, f.Reason, f.Addr, pageAddr+0x100)
					case f.File != path || f.FileOff != l.MidDataOff:
						t.Errorf("%v: fault names %q offset %#x, want %q offset %#x", v, f.File, f.FileOff, path, l.MidDataOff)
					}
					dmg := d.Damage()
					if dmg.Corrupt.Count != 1 || len(dmg.Corrupt.Ranges) != 1 || dmg.Corrupt.Ranges[0] != (dump.Range{Start: pageAddr, End: pageAddr + unit}) {
						t.Errorf("%v: damage %+v, want one corrupt page at %#x", v, dmg.Corrupt, pageAddr)
					}
					if i > 0 {
						return // every page once per file is enough (2 s each)
					}
					sums, faults := pageHashes(t, d, unit)
					for a, want := range goodSums {
						if a == pageAddr {
							continue
						}
						if got, ok := sums[a]; !ok || got != want {
							t.Errorf("%v: page at %#x: %v, differs from the good file", v, a, faults[a])
						}
					}
					for a, f := range faults {
						if a != pageAddr && goodFaults[a] == nil {
							t.Errorf("%v: page at %#x faults only in the damaged file: %v", v, a, f)
						}
					}
					// Reading every page again counts the corrupt one once.
					if n := d.Damage().Corrupt.Count; n != 1 {
						t.Errorf("%v: after reading every page, %d corrupt pages counted, want 1", v, n)
					}
				})
			}
		})
	}
}

// TestTruncatedD31AtOpen: a makedumpfile -d 31 file cut at 99 % has page
// descriptors whose data lie past the end. Open must say so in the damage
// ledger before anything is read, and name the first page frame lost; the
// pages themselves fault Truncated.
func TestTruncatedD31AtOpen(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	for _, file := range []string{"vmcore-d31-lzo.kdump", "vmcore-d31-zstd.kdump", "vmcore-vmcoreinfo.kdump"} {
		t.Run(file, func(t *testing.T) {
			good, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Skipf("%v", err)
			}
			l, err := ParseKdumpLayout(good)
			if err != nil {
				t.Fatal(err)
			}
			cut := int64(len(good)) * 99 / 100
			// Ground truth from the file's own descriptors (diskdump_mod.h
			// page_desc_t), read here independently of package dump: the
			// pages whose data end past the cut.
			var lost []uint64
			bm2 := good[l.BitmapOff+l.BitmapLen/2 : l.DescOff]
			for i := int64(0); i < l.Present; i++ {
				e := good[l.DescOff+i*pageDescSize:]
				off, size := int64(l.Order.Uint64(e)), int64(l.Order.Uint32(e[8:]))
				if off+size > cut {
					lost = append(lost, nthSetBit(bm2, i))
				}
			}
			if len(lost) == 0 {
				t.Fatal("no page lies past 99 %: pick another cut")
			}
			v := Variant{Name: "truncate 99%", Kind: Truncate, Off: cut}
			path := filepath.Join(t.TempDir(), file)
			if err := v.WriteFile(good, path); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			d, err := dump.Open([]string{path}, dump.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			dmg := d.Damage() // before any read
			t.Logf("Open took %v; damage: %v", time.Since(start), dmg)
			if dmg.Empty() || len(dmg.Truncated) != 1 {
				t.Fatalf("damage at open %+v: want the file named as truncated", dmg)
			}
			tr := dmg.Truncated[0]
			if tr.File != path || tr.Size != cut || tr.FirstAddr != lost[0]*uint64(l.BlockSize) || tr.Want <= cut {
				t.Errorf("truncated %+v, want file %s size %#x, first lost address %#x (pfn %#x)", tr, path, cut, lost[0]*uint64(l.BlockSize), lost[0])
			}
			if dmg.PastEOF.Count != uint64(len(lost)) {
				t.Errorf("%d pages past the end at open, want %d", dmg.PastEOF.Count, len(lost))
			}
			if len(dmg.PastEOF.Ranges) == 0 || dmg.PastEOF.Ranges[0].Start != lost[0]*uint64(l.BlockSize) {
				t.Errorf("past-EOF ranges %v, want the first at pfn %#x", dmg.PastEOF.Ranges, lost[0])
			}
			buf := make([]byte, 8)
			for _, pfn := range lost {
				_, err := d.Phys.ReadAt(buf, pfn*uint64(l.BlockSize))
				if f, ok := dump.IsFault(err); !ok || f.Reason != dump.Truncated {
					t.Errorf("pfn %#x: %v, want a Truncated fault", pfn, err)
				}
			}
			if n := d.Damage().PastEOF.Count; n != uint64(len(lost)) {
				t.Errorf("after reading the lost pages, %d past the end, want still %d", n, len(lost))
			}
			if !bytes.Contains([]byte(dmg.String()), []byte("truncated")) {
				t.Errorf("Damage.String() = %q: does not say truncated", dmg.String())
			}
		})
	}
}
