package damage

import (
	"fmt"
)

// PatchKdumpPage returns a copy of a good kdump-compressed file in which
// the page at pfn reads as page: the new contents are appended,
// uncompressed, at the end of the file and the page's descriptor points at
// them (offset, size, flags 0), as makedumpfile writes a page it could not
// compress. Every other byte of the file is unchanged. It is how tests
// make "a copy of a real dump with a planted change" without rewriting the
// compressed stream.
func PatchKdumpPage(b []byte, pfn uint64, page []byte) ([]byte, error) {
	l, rank, err := pageRank(b, pfn)
	if err != nil {
		return nil, err
	}
	if int64(len(page)) != l.BlockSize {
		return nil, fmt.Errorf("damage: page of %d bytes, the file's pages are %d", len(page), l.BlockSize)
	}
	out := make([]byte, len(b), len(b)+len(page))
	copy(out, b)
	d := out[l.DescOff+rank*pageDescSize:]
	o := l.Order
	o.PutUint64(d, uint64(len(out)))
	o.PutUint32(d[8:], uint32(len(page)))
	o.PutUint32(d[12:], 0)
	return append(out, page...), nil
}

// pageRank finds the descriptor index of pfn (its rank among the set bits
// of the second bitmap).
func pageRank(b []byte, pfn uint64) (*KdumpLayout, int64, error) {
	l, err := ParseKdumpLayout(b)
	if err != nil {
		return nil, 0, err
	}
	bm2 := b[l.BitmapOff+l.BitmapLen/2 : l.DescOff]
	if pfn/8 >= uint64(len(bm2)) || bm2[pfn/8]&(1<<(pfn%8)) == 0 {
		return nil, 0, fmt.Errorf("damage: pfn %#x is not in the dump", pfn)
	}
	var rank int64
	for i := uint64(0); i < pfn/8; i++ {
		for c := bm2[i]; c != 0; c &= c - 1 {
			rank++
		}
	}
	for bit := uint64(0); bit < pfn%8; bit++ {
		if bm2[pfn/8]&(1<<bit) != 0 {
			rank++
		}
	}
	return l, rank, nil
}

// KdumpPageData returns where the stored data of page pfn lie in a
// kdump-compressed file: offset, size and the descriptor's flags
// (DUMP_DH_COMPRESSED_*; 0 for an uncompressed page).
func KdumpPageData(b []byte, pfn uint64) (off, size int64, flags uint32, err error) {
	l, rank, err := pageRank(b, pfn)
	if err != nil {
		return 0, 0, 0, err
	}
	d := b[l.DescOff+rank*pageDescSize:]
	o := l.Order
	off, size, flags = int64(o.Uint64(d)), int64(o.Uint32(d[8:])), o.Uint32(d[12:])
	if off < 0 || size <= 0 || off+size > int64(len(b)) {
		return 0, 0, 0, fmt.Errorf("damage: pfn %#x: data at %#x+%#x outside the file", pfn, off, size)
	}
	return off, size, flags, nil
}
