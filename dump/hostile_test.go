package dump

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// TestFlattenedSparseBitmapBounded: a flattened stream of a few KiB whose
// records claim a logical file of 1 TiB, and a kdump header whose bitmaps
// are 1 GiB inside that (never written) space. Open must refuse it
// quickly without allocating the bitmaps: sizes are bounded by the bytes
// the stream holds, not by the logical file it describes.
func TestFlattenedSparseBitmapBounded(t *testing.T) {
	hdr := make([]byte, kdumpHeaderSize)
	copy(hdr, kdumpSignature)
	o := binary.LittleEndian
	o.PutUint32(hdr[8:], 6)
	o.PutUint32(hdr[offBlockSize:], 1<<16)
	o.PutUint32(hdr[offSubHdrSize:], 1)
	o.PutUint32(hdr[offBitmapBlocks:], 1<<14) // 1 GiB of bitmaps
	o.PutUint32(hdr[offMaxMapnr:], 1<<20)
	sub := make([]byte, kdumpSubHeaderSize)
	stream := coregen.Flattened([]coregen.FlatRecord{{Off: 0, Data: hdr}, {Off: 1 << 16, Data: sub}, {Off: 1 << 40, Data: []byte{1}}})
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	t0 := time.Now()
	d, err := openBytes([]string{"sparse.flat"}, [][]byte{stream}, Options{})
	el := time.Since(t0)
	runtime.ReadMemStats(&b)
	if err == nil {
		d.Close()
	}
	t.Logf("open: %v in %v, %d bytes allocated", err, el, b.TotalAlloc-a.TotalAlloc)
	if alloc := b.TotalAlloc - a.TotalAlloc; alloc > 64<<20 {
		t.Errorf("Open of a %d-byte stream allocated %d bytes", len(stream), alloc)
	}
}

// TestFlattenedCutStreamNoSilentZeros: a flattened stream cut short after
// the page descriptors but before the last page's data. The descriptor
// points into bytes the stream never delivered; a sparse-file reading
// would return zeros there for an uncompressed page. The read must fail
// with a typed fault instead, and the pages the stream did deliver must
// still read.
func TestFlattenedCutStreamNoSilentZeros(t *testing.T) {
	pages := map[uint64][]byte{}
	for pfn := uint64(1); pfn <= 6; pfn++ {
		pages[pfn] = pattern(pfn*4096, 4096)
	}
	b := simpleKdump(t, 4096, coregen.Raw, 16, pages)
	// Cut short in file order, the stream loses the end of the file (pfn
	// 6's data). A writer that fills parts in out of order (makedumpfile's
	// cyclic mode writes descriptors and data in turns) may lose a piece
	// from the middle instead: here the records holding pfn 3's data are
	// written last and lost, pfn 6's stay.
	end := len(b)
	for _, tc := range []struct {
		name       string
		lostFrom   int // the records overlapping [lostFrom, lostTo) are written last and lost
		lostTo     int
		kept, lost uint64
		keptLast   uint64
	}{
		{"end lost", end - 4096, end, 1, 6, 4},
		{"middle lost", end - 4*4096, end - 3*4096, 1, 3, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kept []coregen.FlatRecord
			for off := 0; off < len(b); off += 1000 {
				if off+1000 > tc.lostFrom && off < tc.lostTo {
					continue
				}
				kept = append(kept, coregen.FlatRecord{Off: int64(off), Data: b[off:min(off+1000, len(b))]})
			}
			stream := coregen.Flattened(kept)
			cut := stream[:len(stream)-16] // no end marker: cut short
			d, err := openBytes([]string{"cut.flat"}, [][]byte{cut}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if len(d.Warnings) == 0 {
				t.Error("no warning for a stream without its end")
			}
			buf := make([]byte, 4096)
			for _, pfn := range []uint64{tc.kept, tc.keptLast} {
				if err := ReadFull(d.Phys, buf, pfn*4096); err != nil || !bytes.Equal(buf, pages[pfn]) {
					t.Errorf("pfn %d, delivered: %v", pfn, err)
				}
			}
			_, err = d.Phys.ReadAt(buf, tc.lost*4096)
			wantFault(t, err, Truncated, tc.lost*4096)
		})
	}
}

// TestFlattenedCorruptRecordHeader: one record header in the middle of a
// flattened stream is corrupt (a negative offset). Nothing after it can be
// located, but what came before stays readable: Open warns and goes on,
// pfn 1 reads, pfns whose data lay after the corrupt header fault.
func TestFlattenedCorruptRecordHeader(t *testing.T) {
	pages := map[uint64][]byte{}
	for pfn := uint64(1); pfn <= 6; pfn++ {
		pages[pfn] = pattern(pfn*4096, 4096)
	}
	b := simpleKdump(t, 4096, coregen.Raw, 16, pages)
	var recs []coregen.FlatRecord
	bad := -1
	for off := 0; off < len(b); off += 1000 {
		if bad < 0 && off+1000 > len(b)-2*4096 { // the first record holding pfn 5's data
			bad = len(recs)
		}
		recs = append(recs, coregen.FlatRecord{Off: int64(off), Data: b[off:min(off+1000, len(b))]})
	}
	stream := coregen.Flattened(recs)
	at := 4096 // makedumpfile_header, then {offset, size, data} records (flat.go)
	for _, r := range recs[:bad] {
		at += 16 + len(r.Data)
	}
	binary.BigEndian.PutUint64(stream[at:], 1<<63) // offset -2^63
	d, err := openBytes([]string{"corrupt.flat"}, [][]byte{stream}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Warnings) == 0 {
		t.Error("no warning for the corrupt record header")
	}
	buf := make([]byte, 4096)
	if err := ReadFull(d.Phys, buf, 4096); err != nil || !bytes.Equal(buf, pages[1]) {
		t.Errorf("pfn 1: %v", err)
	}
	_, err = d.Phys.ReadAt(buf, 6*4096)
	wantFault(t, err, Truncated, 6*4096)
}

// TestKdumpDescriptorPastEnd: a page descriptor whose data would run past
// the end of the file is refused before its buffer is made. With 1 MiB
// blocks a corrupt size may claim up to 2 MiB; the read must fault
// Truncated without allocating it.
func TestKdumpDescriptorPastEnd(t *testing.T) {
	const bs = 1 << 20
	b := simpleKdump(t, bs, coregen.Raw, 4, map[uint64][]byte{1: pattern(bs, 64), 2: pattern(2*bs, 64)})
	o := binary.LittleEndian
	// page_desc_t {offset, size, flags, page_flags} of pfn 2, the second
	// dumped page, after the header block, the sub-header and the bitmaps.
	descOff := (1 + int(o.Uint32(b[offSubHdrSize:])) + int(o.Uint32(b[offBitmapBlocks:]))) * bs
	d2 := b[descOff+pageDescSize:]
	o.PutUint64(d2, uint64(len(b)-100)) // offset: 100 bytes before the end
	o.PutUint32(d2[8:], 2*bs-1)         // size: as large as a block allows
	d, err := openBytes([]string{"desc.kdump"}, [][]byte{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, 64)
	if err := ReadFull(d.Phys, buf, bs); err != nil || !bytes.Equal(buf, pattern(bs, 64)) {
		t.Errorf("pfn 1: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = d.Phys.ReadAt(buf, 2*bs)
	runtime.ReadMemStats(&after)
	wantFault(t, err, Truncated, 2*bs)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc >= bs {
		t.Errorf("the refused read allocated %d bytes", alloc)
	}
}

// TestKdumpStrayBitmapBit: a bit flipped on in the 2nd bitmap (pages
// dumped) for a page frame the 1st bitmap (pages in memory) does not have
// is corruption that shifts every later page's descriptor; Open says so.
func TestKdumpStrayBitmapBit(t *testing.T) {
	b := simpleKdump(t, 4096, coregen.Raw, 64, map[uint64][]byte{1: pattern(4096, 64), 2: pattern(8192, 64)})
	clean, err := openBytes([]string{"clean.kdump"}, [][]byte{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clean.Close()
	o := binary.LittleEndian
	bmOff := (1 + int(o.Uint32(b[offSubHdrSize:]))) * 4096
	half := int(o.Uint32(b[offBitmapBlocks:])) * 4096 / 2
	b[bmOff+half+40/8] |= 1 << (40 % 8) // pfn 40: in the 2nd bitmap only
	d, err := openBytes([]string{"stray.kdump"}, [][]byte{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	warned := func(ws []string) bool {
		for _, w := range ws {
			if strings.Contains(w, "2nd bitmap marks 1 page") {
				return true
			}
		}
		return false
	}
	if warned(clean.Warnings) || !warned(d.Warnings) {
		t.Errorf("warnings: clean %q, stray bit %q", clean.Warnings, d.Warnings)
	}
}
