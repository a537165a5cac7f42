package container

import (
	"encoding/binary"
	"io"

	"github.com/klauspost/compress/zstd"
)

// maxZstdBlocks bounds the blocks zstdDeclared walks (2^24 blocks of at
// most 128 KiB: 2 TiB of output).
const maxZstdBlocks = 1 << 24

// windowReader reads small pieces of a file at increasing offsets through
// a 64 KiB window (one pread per window, not per piece).
type windowReader struct {
	r    io.ReaderAt
	buf  []byte
	base int64
	n    int
}

func (w *windowReader) at(off int64, n int) []byte {
	if off < w.base || off+int64(n) > w.base+int64(w.n) {
		if w.buf == nil {
			w.buf = make([]byte, 64<<10)
		}
		w.base = off
		w.n, _ = w.r.ReadAt(w.buf, off)
		if n > w.n {
			return nil
		}
	}
	return w.buf[off-w.base : off-w.base+int64(n)]
}

// zstdDeclared walks the frames and block headers of a zstd file (RFC
// 8878 sections 3.1.1 and 3.1.1.2) without decoding them. size is the
// sum of the frames' Frame_Content_Size; exact is true when every frame
// has one and the frames fill the file (the decoder then holds each frame
// to its size). Otherwise size is a lower bound: the content sizes known,
// and for frames without one the sizes of their raw and RLE blocks (what
// a bomb of RLE blocks is made of); 0 when the file does not walk.
func zstdDeclared(r io.ReaderAt, fileSize int64) (size int64, exact bool) {
	w := &windowReader{r: r}
	var total uint64
	exact = true
	blocks := 0
	off := int64(0)
	for off < fileSize {
		hb := w.at(off, min(zstd.HeaderMaxSize, int(fileSize-off)))
		var h zstd.Header
		if hb == nil || h.Decode(hb) != nil {
			return int64(min(total, 1<<62)), false
		}
		if h.Skippable {
			off += int64(h.HeaderSize) + int64(h.SkippableSize)
			continue
		}
		off += int64(h.HeaderSize)
		var known uint64 // raw and RLE block sizes of this frame
		for {
			b := w.at(off, 3)
			if b == nil {
				return int64(min(total, 1<<62)), false
			}
			hdr := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last, typ, bsize := hdr&1 != 0, (hdr>>1)&3, int64(hdr>>3)
			off += 3
			switch typ {
			case 0: // Raw_Block
				known += uint64(bsize)
				off += bsize
			case 1: // RLE_Block: one byte, repeated Block_Size times
				known += uint64(bsize)
				off++
			case 2: // Compressed_Block
				off += bsize
			default: // reserved: corrupt
				return int64(min(total, 1<<62)), false
			}
			if blocks++; blocks > maxZstdBlocks {
				return int64(min(total, 1<<62)), false
			}
			if last {
				break
			}
		}
		if h.HasCheckSum {
			off += 4
		}
		if h.HasFCS {
			total += min(h.FrameContentSize, 1<<62)
		} else {
			total += known
			exact = false
		}
		if total >= 1<<62 {
			return 1 << 62, false
		}
	}
	return int64(total), exact && off == fileSize
}

// gzipISIZE is the last member's ISIZE (RFC 1952): its size modulo 2^32.
func gzipISIZE(r io.ReaderAt, fileSize int64) int64 {
	var b [4]byte
	if fileSize < 18+4 {
		return 0
	}
	if _, err := r.ReadAt(b[:], fileSize-4); err != nil {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(b[:]))
}
