package dump

import (
	"encoding/binary"
	"math/bits"
	"syscall"
	"unsafe"
)

// bitmap is one of a kdump file's two page bitmaps (bit pfn&7 of byte
// pfn>>3, LSB first, as makedumpfile's set_bit_on_1st_bitmap and
// set_bit_on_2nd_bitmap write them), held in chunks with the all-zero
// chunks not stored. A dump's bitmaps cover every page frame up to
// max_mapnr, so a guest whose physical address space reaches far past its
// RAM has huge, nearly empty bitmaps: QEMU 7.2's dump of a 1 GiB pseries
// guest (its VGA RAM at 0x200080000000) holds two bitmaps of 64 MiB each,
// of which a few KiB are not zero (bench/distro-dump).
type bitmap struct {
	chunks [][]byte // bitmapChunk bytes each (the last may be shorter); nil: all zero
	nbytes uint64
}

// bitmapChunk is the granularity of the zero-chunk elision: 4 KiB of
// bitmap covers 32 768 page frames.
const bitmapChunk = 4096

// bitmapReadBuf is how much of a bitmap is read at a time.
const bitmapReadBuf = 256 << 10

// readBitmap reads n bytes of bitmap at off. It returns the number of
// bytes the file held (short: truncated). Pages of a mapped file that were
// read for it are handed back to the kernel (releaser), so that the
// mostly-zero megabytes do not stay in the resident set.
func readBitmap(f kfile, off int64, n uint64) (bitmap, uint64) {
	b := bitmap{nbytes: n, chunks: make([][]byte, (n+bitmapChunk-1)/bitmapChunk)}
	buf := make([]byte, min(n, bitmapReadBuf))
	var done uint64
	for done < n {
		k := min(n-done, uint64(len(buf)))
		got, _ := f.ReadAt(buf[:k], off+int64(done))
		if r, ok := f.(releaser); ok {
			r.release(off+int64(done), int64(k))
		}
		for c := uint64(0); c < uint64(got); c += bitmapChunk {
			chunk := buf[c:min(c+bitmapChunk, uint64(got))]
			if !allZero(chunk) {
				b.chunks[(done+c)/bitmapChunk] = append([]byte(nil), chunk...)
			}
		}
		done += uint64(got)
		if uint64(got) < k {
			break
		}
	}
	return b, done
}

// allZero reports whether every byte of b is zero, eight at a time.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// byteAt returns byte i of the bitmap (0 past its end).
func (b *bitmap) byteAt(i uint64) byte {
	if i >= b.nbytes {
		return 0
	}
	c := b.chunks[i/bitmapChunk]
	if c == nil {
		return 0
	}
	return c[i%bitmapChunk]
}

// bit reports whether bit pfn is set.
func (b *bitmap) bit(pfn uint64) bool {
	return b.byteAt(pfn>>3)&(1<<(pfn&7)) != 0
}

// bitsPerChunk is the number of page frames one chunk covers.
const bitsPerChunk = bitmapChunk * 8

// count counts the set bits for pfns [lo, hi).
func (b *bitmap) count(lo, hi uint64) uint64 {
	hi = min(hi, b.nbytes*8)
	var n uint64
	for lo < hi {
		ci := lo / bitsPerChunk
		cend := min((ci+1)*bitsPerChunk, hi)
		c := b.chunks[ci]
		if c == nil {
			lo = cend
			continue
		}
		for lo < cend && lo&63 != 0 {
			if b.bit(lo) {
				n++
			}
			lo++
		}
		for lo+64 <= cend {
			i := lo % bitsPerChunk / 8
			n += uint64(bits.OnesCount64(binary.LittleEndian.Uint64(c[i:])))
			lo += 64
		}
		for lo < cend {
			if b.bit(lo) {
				n++
			}
			lo++
		}
	}
	return n
}

// nextSet returns the first set bit in [lo, hi), or hi.
func (b *bitmap) nextSet(lo, hi uint64) uint64 {
	end := min(hi, b.nbytes*8) // past the bitmap every bit is clear
	for lo < end {
		ci := lo / bitsPerChunk
		cend := min((ci+1)*bitsPerChunk, end)
		if b.chunks[ci] == nil {
			lo = cend
			continue
		}
		for ; lo < cend; lo++ {
			if lo&7 == 0 && lo+8 <= cend && b.byteAt(lo>>3) == 0 {
				lo += 7
				continue
			}
			if b.bit(lo) {
				return lo
			}
		}
	}
	return hi
}

// nextClear returns the first clear bit in [lo, hi), or hi.
func (b *bitmap) nextClear(lo, hi uint64) uint64 {
	for ; lo < hi; lo++ {
		if lo >= b.nbytes*8 || b.chunks[lo/bitsPerChunk] == nil {
			return lo
		}
		if lo&7 == 0 && lo+8 <= hi && b.byteAt(lo>>3) == 0xff {
			lo += 7
			continue
		}
		if !b.bit(lo) {
			return lo
		}
	}
	return hi
}

// releaser is a file whose pages already read can be dropped from the
// resident set (they stay in the page cache).
type releaser interface {
	release(off, n int64)
}

// release advises the kernel that the mapped pages wholly inside
// [off, off+n) are not needed (madvise MADV_DONTNEED on a read-only
// shared mapping: they are read again from the page cache if touched).
func (m *mappedFile) release(off, n int64) {
	if m.f == nil || off < 0 || n <= 0 || off >= int64(len(m.data)) {
		return // not a mapping (tests) or nothing to drop
	}
	end := min(off+n, int64(len(m.data)))
	page := int64(syscall.Getpagesize())
	base := int64(uintptr(unsafe.Pointer(unsafe.SliceData(m.data))))
	start := (base + off + page - 1) &^ (page - 1)
	stop := (base + end) &^ (page - 1)
	if stop <= start {
		return
	}
	syscall.Madvise(m.data[start-base:stop-base], syscall.MADV_DONTNEED)
}

// release passes the pieces of [off, off+n) on to the flattened file.
func (ff *flatFile) release(off, n int64) {
	for _, p := range ff.pieces {
		lo, hi := max(p.lo, off), min(p.hi, off+n)
		if lo < hi {
			ff.f.release(p.src+(lo-p.lo), hi-lo)
		}
	}
}
