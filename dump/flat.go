package dump

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// makedumpfile's flattened format (makedumpfile.h: struct
// makedumpfile_header, struct makedumpfile_data_header): a 4096-byte
// header with the signature "makedumpfile", type and version as big-endian
// int64, then records {offset int64 BE, buf_size int64 BE, data} each
// saying "write these bytes at this offset of the real file", ended by a
// record with offset and size -1 (END_FLAG_FLAT_HEADER).
const (
	flatSignature  = "makedumpfile"
	flatHeaderSize = 4096
	flatTypeHeader = 1 // TYPE_FLAT_HEADER
	flatEndFlag    = -1
)

// flatPiece maps logical file bytes [lo, hi) to flattened-file offset src.
type flatPiece struct {
	lo, hi int64
	src    int64
}

// flatFile is the logical kdump-compressed file of a flattened stream,
// read through a sorted index into the mapped flattened file; nothing is
// copied. Bytes the stream never wrote read as zeros, as they would in the
// sparse file that makedumpfile -R writes.
type flatFile struct {
	f      *mappedFile
	pieces []flatPiece // sorted by lo, non-overlapping
	size   int64
	// incomplete: the stream was cut short (no end marker, or a record
	// cut off). Its holes may then be bytes the stream never delivered
	// rather than zeros never written, so a read of a hole fails
	// (errFlatHole) instead of returning zeros.
	incomplete bool
}

// errFlatHole is the error of a read of bytes an incomplete flattened
// stream does not hold.
var errFlatHole = errors.New("bytes not in the flattened stream, which was cut short")

// indexFlat builds the index of a flattened stream. warn receives
// non-fatal problems (a stream cut short).
func indexFlat(f *mappedFile, warn func(string, ...any)) (*flatFile, error) {
	name := f.Name()
	hdr := f.slice(0, flatHeaderSize)
	if len(hdr) < 32 || string(hdr[:len(flatSignature)]) != flatSignature {
		return nil, &FormatError{File: name, Off: 0, Msg: "not a makedumpfile flattened file"}
	}
	if typ := int64(binary.BigEndian.Uint64(hdr[16:])); typ != flatTypeHeader {
		return nil, &FormatError{File: name, Off: 16, Msg: "unknown flattened header type", Val: typ}
	}
	if len(hdr) < flatHeaderSize {
		return nil, &FormatError{File: name, Off: int64(len(hdr)), Msg: "truncated flattened header"}
	}
	var recs []flatPiece
	off := int64(flatHeaderSize)
	size := f.Size()
	ended := false
	var hb [16]byte
	for off < size {
		// pread, not the mapping: the headers are one per record, spread
		// over the whole stream, and touching each through the mapping
		// would map the kernel's fault-around window (64 KiB) around
		// every one: the whole file in the resident set.
		rh := hb[:f.pread(hb[:], off)]
		if len(rh) < 16 {
			warn("%s: flattened stream ends inside a record header at offset %#x", name, off)
			break
		}
		lo := int64(binary.BigEndian.Uint64(rh[0:]))
		n := int64(binary.BigEndian.Uint64(rh[8:]))
		if lo == flatEndFlag && n == flatEndFlag {
			ended = true
			break
		}
		if lo < 0 || n < 0 || lo > 1<<62 || n > 1<<62 {
			// Nothing after a corrupt header can be located: keep what
			// came before it, as for a stream cut short there (holes
			// then fail to read rather than read as zeros).
			warn("%s: bad flattened record header at offset %#x (offset %d size %d): the stream is read up to it", name, off, lo, n)
			break
		}
		data := off + 16
		if n > size-data {
			warn("%s: flattened record at %#x holds %#x bytes, file ends after %#x (truncated)", name, off, n, size-data)
			n = size - data
		}
		if n > 0 {
			recs = append(recs, flatPiece{lo: lo, hi: lo + n, src: data})
		}
		off = data + n
	}
	if !ended {
		warn("%s: flattened stream has no end marker (truncated?)", name)
	}
	ff := &flatFile{f: f, pieces: resolvePieces(recs), incomplete: !ended}
	for _, p := range ff.pieces {
		ff.size = max(ff.size, p.hi)
	}
	return ff, nil
}

// resolvePieces turns records in stream order into sorted, non-overlapping
// pieces; where records overlap the later one wins, as it would when the
// stream is replayed into a file.
func resolvePieces(recs []flatPiece) []flatPiece {
	ordered := true
	for i := 1; i < len(recs); i++ {
		if recs[i].lo < recs[i-1].hi {
			ordered = false
			break
		}
	}
	if ordered {
		return recs
	}
	// Sweep over the boundaries with a max-heap (by stream position) of
	// the records covering the current point.
	bounds := make([]int64, 0, 2*len(recs))
	for _, r := range recs {
		bounds = append(bounds, r.lo, r.hi)
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return recs[idx[a]].lo < recs[idx[b]].lo })
	h := &seqHeap{}
	var out []flatPiece
	next := 0
	for bi := 0; bi+1 < len(bounds); bi++ {
		a, b := bounds[bi], bounds[bi+1]
		if a == b {
			continue
		}
		for next < len(idx) && recs[idx[next]].lo <= a {
			heap.Push(h, idx[next])
			next++
		}
		for h.Len() > 0 && recs[(*h)[0]].hi <= a {
			heap.Pop(h)
		}
		if h.Len() == 0 {
			continue
		}
		r := recs[(*h)[0]]
		p := flatPiece{lo: a, hi: b, src: r.src + (a - r.lo)}
		if k := len(out) - 1; k >= 0 && out[k].hi == p.lo && out[k].src+(out[k].hi-out[k].lo) == p.src {
			out[k].hi = p.hi
			continue
		}
		out = append(out, p)
	}
	return out
}

type seqHeap []int

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (ff *flatFile) Name() string { return ff.f.Name() }
func (ff *flatFile) Size() int64  { return ff.size }

// ReadAt reads the logical file.
func (ff *flatFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= ff.size {
			return n, io.EOF
		}
		i := sort.Search(len(ff.pieces), func(i int) bool { return ff.pieces[i].hi > pos })
		want := int64(len(p) - n)
		if i == len(ff.pieces) || ff.pieces[i].lo > pos {
			// A hole the stream never wrote.
			if ff.incomplete {
				return n, errFlatHole
			}
			holeEnd := ff.size
			if i < len(ff.pieces) {
				holeEnd = ff.pieces[i].lo
			}
			k := min(want, holeEnd-pos)
			clear(p[n : n+int(k)])
			n += int(k)
			continue
		}
		pc := ff.pieces[i]
		k := min(want, pc.hi-pos)
		c, err := ff.f.copyAt(p[n:n+int(k)], pc.src+(pos-pc.lo))
		n += c
		if err != nil {
			return n, err
		}
		if int64(c) < k {
			return n, io.EOF
		}
	}
	return n, nil
}

// holds reports whether the stream delivered the logical bytes [off,
// off+n): bytes inside the logical file are held when a record wrote them
// or, in a stream with its end marker, when they are a hole (zeros).
func (ff *flatFile) holds(off, n int64) bool {
	if off < 0 || n < 0 || off > ff.size || n > ff.size-off {
		return false
	}
	if !ff.incomplete {
		return true
	}
	end := off + n
	i := sort.Search(len(ff.pieces), func(i int) bool { return ff.pieces[i].hi > off })
	for pos := off; pos < end; i++ {
		if i == len(ff.pieces) || ff.pieces[i].lo > pos {
			return false
		}
		pos = ff.pieces[i].hi
	}
	return true
}
