package dump

import (
	"math/rand/v2"
	"testing"
)

// naiveBitmap is the reference: the bitmap as a plain byte slice.
type naiveBitmap []byte

func (b naiveBitmap) bit(i uint64) bool {
	return i>>3 < uint64(len(b)) && b[i>>3]&(1<<(i&7)) != 0
}

// checkBitmap holds every query of the chunked bitmap read from raw
// against the naive one, over [lo, hi) and a few sub-ranges.
func checkBitmap(t *testing.T, raw []byte, lo, hi uint64) {
	t.Helper()
	b, n := readBitmap(newMemFile("bm", raw), 0, uint64(len(raw)))
	if n != uint64(len(raw)) {
		t.Fatalf("read %d of %d bytes", n, len(raw))
	}
	ref := naiveBitmap(raw)
	var want uint64
	for i := lo; i < hi; i++ {
		if ref.bit(i) != b.bit(i) {
			t.Fatalf("bit %d: %v, want %v", i, b.bit(i), ref.bit(i))
		}
		if ref.bit(i) {
			want++
		}
	}
	if got := b.count(lo, hi); got != want {
		t.Errorf("count(%d, %d) = %d, want %d", lo, hi, got, want)
	}
	// Ranges of set bits, walked both ways.
	var wantRanges, gotRanges []Range
	for i := lo; i < hi; {
		if !ref.bit(i) {
			i++
			continue
		}
		s := i
		for i < hi && ref.bit(i) {
			i++
		}
		wantRanges = append(wantRanges, Range{s, i})
	}
	gotRanges = bitmapRanges(&b, lo, hi, 1)
	if len(gotRanges) != len(wantRanges) {
		t.Fatalf("%d ranges, want %d", len(gotRanges), len(wantRanges))
	}
	for i := range wantRanges {
		if gotRanges[i] != wantRanges[i] {
			t.Fatalf("range %d: %v, want %v", i, gotRanges[i], wantRanges[i])
		}
	}
}

// TestBitmap: chunked bitmaps with zero chunks, full chunks, sparse and
// dense stretches and a short last chunk agree with the naive reading.
func TestBitmap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 5*bitmapChunk+123)
	for i := bitmapChunk; i < 2*bitmapChunk; i++ {
		raw[i] = 0xff // a full chunk
	}
	for i := 0; i < 40; i++ {
		raw[3*bitmapChunk+r.IntN(bitmapChunk)] = byte(r.Uint32()) // a sparse chunk
	}
	for i := 5 * bitmapChunk; i < len(raw); i++ {
		raw[i] = byte(r.Uint32()) // a dense, short last chunk
	}
	// chunks 0, 2 and 4 are zero: not stored.
	b, _ := readBitmap(newMemFile("bm", raw), 0, uint64(len(raw)))
	for _, c := range []int{0, 2, 4} {
		if b.chunks[c] != nil {
			t.Errorf("zero chunk %d stored", c)
		}
	}
	if b.chunks[1] == nil || b.chunks[3] == nil || b.chunks[5] == nil {
		t.Error("a non-zero chunk was not stored")
	}
	nbits := uint64(len(raw)) * 8
	checkBitmap(t, raw, 0, nbits)
	checkBitmap(t, raw, 0, nbits+100) // past the end: clear
	for range 50 {
		lo := r.Uint64N(nbits)
		checkBitmap(t, raw, lo, lo+r.Uint64N(nbits-lo+1))
	}
}

// FuzzBitmap: arbitrary bitmaps and ranges.
func FuzzBitmap(f *testing.F) {
	f.Add(make([]byte, 2*bitmapChunk+9), uint64(3), uint64(70000))
	f.Add([]byte{0xff, 0x0f, 0, 0x80}, uint64(0), uint64(32))
	f.Fuzz(func(t *testing.T, raw []byte, lo, hi uint64) {
		if len(raw) > 4*bitmapChunk {
			raw = raw[:4*bitmapChunk]
		}
		nbits := uint64(len(raw))*8 + 64
		lo %= nbits + 1
		hi %= nbits + 1
		if lo > hi {
			lo, hi = hi, lo
		}
		checkBitmap(t, raw, lo, hi)
	})
}
