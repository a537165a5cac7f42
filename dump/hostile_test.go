package dump

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/kdump-inspect/kdump-inspect/internal/coregen"
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
