// Package damage derives damaged dumps from good ones, for the tests that
// prove hostile input is handled: truncations (10%..90% and inside the
// first header), flipped bytes at chosen places of the file (kdump-
// compressed headers, bitmaps, page descriptors and compressed pages; ELF
// program headers and notes), and, through Memory, damage to the memory a
// dump holds (patched words, holes), applied under kernel.Options.PhysWrap.
//
// It never writes to the good dump: every variant is a fresh copy, and
// WriteFile writes it where the caller says (a t.TempDir()). It does not
// judge how the readers react; the tests beside it do.
//
// Layer: test support (docs/ARCHITECTURE.md).
package damage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
)

// Kind says what a Variant does to the file.
type Kind int

const (
	// Truncate keeps the first Off bytes.
	Truncate Kind = iota + 1
	// Flip XORs the byte at Off with Mask.
	Flip
)

// Variant is one damaged copy of a good file, described rather than held:
// Bytes makes it on demand, so that dozens of variants of a 10 MiB dump do
// not sit in memory at once.
type Variant struct {
	Name string // "truncate 30%", "kdump header block_size"
	Kind Kind
	Off  int64 // the file offset damaged (the new length for Truncate)
	Mask byte
	// Region is what the damaged byte belongs to ("disk_dump_header",
	// "page descriptor", "PT_NOTE" ...).
	Region string
	// MustDetect says that a reader must notice this damage (an error, a
	// warning or a fault when the damaged data is read). Flips in data
	// the format has no redundancy for (a bitmap bit, a raw page) cannot
	// always be noticed.
	MustDetect bool
}

// Bytes returns the damaged copy of good.
func (v Variant) Bytes(good []byte) []byte {
	switch v.Kind {
	case Truncate:
		n := min(max(v.Off, 0), int64(len(good)))
		return bytes.Clone(good[:n])
	case Flip:
		b := bytes.Clone(good)
		if v.Off >= 0 && v.Off < int64(len(b)) {
			b[v.Off] ^= v.Mask
		}
		return b
	}
	return bytes.Clone(good)
}

// WriteFile writes the damaged copy of good to path (mode 0444: the tests
// read it only).
func (v Variant) WriteFile(good []byte, path string) error {
	return os.WriteFile(path, v.Bytes(good), 0o444)
}

func (v Variant) String() string {
	if v.Kind == Truncate {
		return fmt.Sprintf("%s (to %#x bytes)", v.Name, v.Off)
	}
	return fmt.Sprintf("%s (byte %#x ^= %#02x in %s)", v.Name, v.Off, v.Mask, v.Region)
}

// Truncations returns the file cut at 10%, 20% .. 90% of its size and in
// the middle of its first header (hdrLen bytes long).
func Truncations(size int64, hdrLen int64) []Variant {
	var out []Variant
	if hdrLen > 0 {
		out = append(out, Variant{Name: "truncate mid-header", Kind: Truncate, Off: min(hdrLen/2, size), Region: "header", MustDetect: true})
	}
	for pct := int64(10); pct <= 90; pct += 10 {
		out = append(out, Variant{Name: fmt.Sprintf("truncate %d%%", pct), Kind: Truncate, Off: size * pct / 100, Region: "file", MustDetect: true})
	}
	return out
}

// Variants returns every damage this package knows for the file: its
// truncations and the flips for its format (kdump-compressed or ELF core).
func Variants(good []byte) ([]Variant, error) {
	switch {
	case len(good) >= 8 && string(good[:8]) == "KDUMP   ":
		return KdumpVariants(good)
	case len(good) >= 4 && string(good[:4]) == elf.ELFMAG:
		return ELFVariants(good)
	case len(good) >= 12 && string(good[:12]) == "makedumpfile":
		return FlatVariants(good)
	}
	return nil, fmt.Errorf("damage: not a kdump-compressed or ELF dump")
}

// msb returns the offset of the most significant byte of a size-byte field
// at off: flipping its top bit makes the value absurd in either byte order.
func msb(order binary.ByteOrder, off int64, size int64) int64 {
	if order == binary.BigEndian {
		return off
	}
	return off + size - 1
}

// lsb returns the offset of the least significant byte of a field.
func lsb(order binary.ByteOrder, off int64, size int64) int64 {
	if order == binary.BigEndian {
		return off + size - 1
	}
	return off
}

// Layout of makedumpfile's kdump-compressed file (diskdump_mod.h: struct
// disk_dump_header, struct kdump_sub_header v6, page_desc_t), 64-bit
// writer.
const (
	kdumpHeaderLen = 464
	pageDescSize   = 24
)

// KdumpLayout is where the parts of a kdump-compressed file lie.
type KdumpLayout struct {
	Order        binary.ByteOrder
	BlockSize    int64
	SubHdrOff    int64
	BitmapOff    int64
	BitmapLen    int64 // both bitmaps
	DescOff      int64
	Present      int64 // page descriptors (set bits of the 2nd bitmap)
	DataOff      int64 // the first page's data
	MidDescOff   int64 // the descriptor of a page in the middle
	MidDataOff   int64 // that page's data
	MidDataSize  int64
	MidDataFlags uint32
	// MidPFN is the page frame of that page (the descriptor's index
	// among the set bits of the 2nd bitmap).
	MidPFN uint64
	// MidBitmapByte is the byte of either bitmap (from its start) that
	// holds the middle dumped page's bit.
	MidBitmapByte int64
}

// ParseKdumpLayout locates the parts of a good kdump-compressed file.
func ParseKdumpLayout(b []byte) (*KdumpLayout, error) {
	if len(b) < kdumpHeaderLen || string(b[:8]) != "KDUMP   " {
		return nil, fmt.Errorf("damage: not a kdump-compressed file")
	}
	l := &KdumpLayout{Order: binary.LittleEndian}
	if v := binary.LittleEndian.Uint32(b[8:]); v > 100 {
		l.Order = binary.BigEndian
	}
	o := l.Order
	l.BlockSize = int64(o.Uint32(b[428:]))
	sub := int64(o.Uint32(b[432:]))
	bmBlocks := int64(o.Uint32(b[436:]))
	if l.BlockSize < 512 || l.BlockSize > 1<<26 {
		return nil, fmt.Errorf("damage: block_size %d", l.BlockSize)
	}
	l.SubHdrOff = l.BlockSize
	l.BitmapOff = (1 + sub) * l.BlockSize
	l.BitmapLen = bmBlocks * l.BlockSize
	l.DescOff = l.BitmapOff + l.BitmapLen
	if l.DescOff > int64(len(b)) {
		return nil, fmt.Errorf("damage: bitmaps end beyond the file")
	}
	bm2 := b[l.BitmapOff+l.BitmapLen/2 : l.DescOff]
	for _, c := range bm2 {
		for ; c != 0; c &= c - 1 {
			l.Present++
		}
	}
	var seen int64
	for i, c := range bm2 {
		for ; c != 0; c &= c - 1 {
			seen++
		}
		if seen >= l.Present/2 {
			l.MidBitmapByte = int64(i)
			break
		}
	}
	if l.Present == 0 || l.DescOff+l.Present*pageDescSize > int64(len(b)) {
		return nil, fmt.Errorf("damage: no page descriptors")
	}
	l.DataOff = l.DescOff + l.Present*pageDescSize
	// A page in the middle that is stored with data of its own (not the
	// shared zero page).
	for i := l.Present / 2; i < l.Present; i++ {
		d := b[l.DescOff+i*pageDescSize:]
		off, size := int64(o.Uint64(d)), int64(o.Uint32(d[8:]))
		if off > l.DataOff && size > 16 && off+size <= int64(len(b)) {
			l.MidDescOff, l.MidDataOff, l.MidDataSize, l.MidDataFlags = l.DescOff+i*pageDescSize, off, size, o.Uint32(d[12:])
			l.MidPFN = nthSetBit(bm2, i)
			break
		}
	}
	if l.MidDescOff == 0 {
		return nil, fmt.Errorf("damage: no page with data of its own")
	}
	return l, nil
}

// nthSetBit returns the index of the n-th (from 0) set bit of a kdump
// bitmap (bit pfn&7 of byte pfn>>3).
func nthSetBit(bm []byte, n int64) uint64 {
	for i, c := range bm {
		for bit := 0; bit < 8; bit++ {
			if c&(1<<bit) != 0 {
				if n == 0 {
					return uint64(i)*8 + uint64(bit)
				}
				n--
			}
		}
	}
	return ^uint64(0)
}

// KdumpVariants returns truncations and flips of a kdump-compressed file:
// header fields, sub-header fields, both bitmaps, page descriptors, and
// compressed page data.
func KdumpVariants(b []byte) ([]Variant, error) {
	l, err := ParseKdumpLayout(b)
	if err != nil {
		return nil, err
	}
	o := l.Order
	v := Truncations(int64(len(b)), kdumpHeaderLen)
	v = append(v, Variant{Name: "truncate inside the bitmaps", Kind: Truncate, Off: l.BitmapOff + l.BitmapLen/3, Region: "bitmap", MustDetect: true},
		Variant{Name: "truncate inside the page descriptors", Kind: Truncate, Off: l.DescOff + l.Present*pageDescSize/2, Region: "page descriptor", MustDetect: true})
	flip := func(name, region string, off int64, mask byte, must bool) {
		v = append(v, Variant{Name: name, Kind: Flip, Off: off, Mask: mask, Region: region, MustDetect: must})
	}
	const hdr = "disk_dump_header"
	flip("kdump signature", hdr, 0, 0x20, true)
	flip("kdump header_version", hdr, msb(o, 8, 4), 0x7f, true)
	flip("kdump block_size", hdr, msb(o, 428, 4), 0x40, true)
	flip("kdump block_size low bits", hdr, lsb(o, 428, 4), 0x01, true)
	flip("kdump sub_hdr_size", hdr, msb(o, 432, 4), 0x40, true)
	flip("kdump bitmap_blocks", hdr, msb(o, 436, 4), 0x40, true)
	flip("kdump bitmap_blocks low bit", hdr, lsb(o, 436, 4), 0x01, true)
	flip("kdump max_mapnr", hdr, msb(o, 440, 4), 0x40, false)
	flip("kdump status", hdr, lsb(o, 424, 4), DumpDHCompressedIncomplete, true)
	const subh = "kdump_sub_header"
	s := l.SubHdrOff
	flip("sub-header offset_vmcoreinfo", subh, msb(o, s+32, 8), 0x40, true)
	flip("sub-header size_vmcoreinfo", subh, msb(o, s+40, 8), 0x40, true)
	flip("sub-header offset_note", subh, msb(o, s+48, 8), 0x40, true)
	flip("sub-header size_note", subh, msb(o, s+56, 8), 0x40, true)
	flip("sub-header max_mapnr_64", subh, msb(o, s+96, 8), 0x40, true)
	half := l.BitmapLen / 2
	flip("1st bitmap, middle", "1st bitmap", l.BitmapOff+l.MidBitmapByte, 0xff, false)
	flip("2nd bitmap, middle", "2nd bitmap", l.BitmapOff+half+l.MidBitmapByte, 0xff, false)
	const pd = "page descriptor"
	flip("first page descriptor offset", pd, msb(o, l.DescOff, 8), 0x40, true)
	flip("middle page descriptor offset", pd, msb(o, l.MidDescOff, 8), 0x40, true)
	flip("middle page descriptor size", pd, msb(o, l.MidDescOff+8, 4), 0x40, true)
	// 0x03 turns zlib into LZO, raw into zlib, LZO, snappy and zstd
	// into zlib (the decoder tries zlib first): the page no longer decodes.
	flip("middle page descriptor flags", pd, lsb(o, l.MidDescOff+12, 4), 0x03, true)
	// Compressed data has a checksum (zlib's adler32, zstd's optional
	// xxhash) or a structure that a flipped byte breaks; raw pages do not.
	compressed := l.MidDataFlags != 0
	flip("compressed page, first byte", "page data", l.MidDataOff, 0xff, compressed)
	flip("compressed page, middle", "page data", l.MidDataOff+l.MidDataSize/2, 0x5a, false)
	return v, nil
}

// DumpDHCompressedIncomplete is makedumpfile's DUMP_DH_COMPRESSED_INCOMPLETE.
const DumpDHCompressedIncomplete = 0x8

// ELFVariants returns truncations and flips of an ELF64 core: the ELF
// header, each program header's type, offset and sizes, and the notes.
func ELFVariants(b []byte) ([]Variant, error) {
	if len(b) < 64 || b[elf.EI_CLASS] != byte(elf.ELFCLASS64) {
		return nil, fmt.Errorf("damage: not an ELF64 file")
	}
	var o binary.ByteOrder = binary.LittleEndian
	if b[elf.EI_DATA] == byte(elf.ELFDATA2MSB) {
		o = binary.BigEndian
	}
	phoff := int64(o.Uint64(b[32:]))
	phent := int64(o.Uint16(b[54:]))
	phnum := int64(o.Uint16(b[56:]))
	if phent < 56 || phoff < 0 || phoff+phnum*phent > int64(len(b)) {
		return nil, fmt.Errorf("damage: program headers out of the file")
	}
	v := Truncations(int64(len(b)), 64)
	v = append(v, Variant{Name: "truncate inside the program headers", Kind: Truncate, Off: phoff + phnum*phent/2, Region: "program headers", MustDetect: true})
	flip := func(name, region string, off int64, mask byte, must bool) {
		v = append(v, Variant{Name: name, Kind: Flip, Off: off, Mask: mask, Region: region, MustDetect: must})
	}
	flip("ELF class", "ELF header", elf.EI_CLASS, 0x03, true)
	flip("ELF e_type", "ELF header", lsb(o, 16, 2), 0x01, true)
	flip("ELF e_phoff", "ELF header", msb(o, 32, 8), 0x40, true)
	flip("ELF e_phnum", "ELF header", msb(o, 56, 2), 0x40, true)
	flip("ELF e_phentsize", "ELF header", lsb(o, 54, 2), 0x30, true)
	for i := int64(0); i < phnum; i++ {
		ph := phoff + i*phent
		typ := elf.ProgType(o.Uint32(b[ph:]))
		region := fmt.Sprintf("program header %d (%s)", i, typ)
		switch typ {
		case elf.PT_NOTE:
			flip(fmt.Sprintf("PT_NOTE %d p_offset", i), region, msb(o, ph+8, 8), 0x40, true)
			flip(fmt.Sprintf("PT_NOTE %d p_filesz", i), region, msb(o, ph+32, 8), 0x20, true)
			off, size := int64(o.Uint64(b[ph+8:])), int64(o.Uint64(b[ph+32:]))
			if off+12 <= int64(len(b)) && size >= 12 {
				flip(fmt.Sprintf("PT_NOTE %d first note's n_namesz", i), "note", msb(o, off, 4), 0x40, true)
				flip(fmt.Sprintf("PT_NOTE %d first note's n_descsz", i), "note", msb(o, off+4, 4), 0x40, true)
				flip(fmt.Sprintf("PT_NOTE %d first note's n_type", i), "note", lsb(o, off+8, 4), 0x10, false)
			}
		case elf.PT_LOAD:
			if i > 3 && i != phnum-1 {
				continue // the first few and the last are enough
			}
			flip(fmt.Sprintf("PT_LOAD %d p_type", i), region, lsb(o, ph, 4), 0x02, false)
			flip(fmt.Sprintf("PT_LOAD %d p_offset", i), region, msb(o, ph+8, 8), 0x80, true)
			flip(fmt.Sprintf("PT_LOAD %d p_offset (moved)", i), region, msb(o, ph+8, 8)-int64(1-2*boolInt(o == binary.BigEndian))*3, 0x01, true)
			flip(fmt.Sprintf("PT_LOAD %d p_filesz", i), region, msb(o, ph+32, 8), 0x40, true)
			flip(fmt.Sprintf("PT_LOAD %d p_paddr", i), region, msb(o, ph+24, 8), 0x01, false)
		}
	}
	return v, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// FlatVariants returns truncations and flips of a makedumpfile flattened
// stream (makedumpfile.h: a 4096-byte header, then records {offset,
// buf_size} big-endian, each followed by its data): the header type, and
// the offset and size of the first record and of one in the middle.
func FlatVariants(b []byte) ([]Variant, error) {
	const hdr = 4096
	if len(b) < hdr+16 {
		return nil, fmt.Errorf("damage: flattened stream too short")
	}
	v := Truncations(int64(len(b)), hdr)
	flip := func(name, region string, off int64, mask byte, must bool) {
		v = append(v, Variant{Name: name, Kind: Flip, Off: off, Mask: mask, Region: region, MustDetect: must})
	}
	flip("flattened header type", "makedumpfile_header", 16+7, 0x02, true)
	// Walk the records to find one in the middle.
	var recs []int64
	for off := int64(hdr); off+16 <= int64(len(b)) && len(recs) < 1<<16; {
		n := int64(binary.BigEndian.Uint64(b[off+8:]))
		if n < 0 || off+16+n > int64(len(b)) {
			break
		}
		recs = append(recs, off)
		off += 16 + n
	}
	for _, r := range []struct {
		name string
		i    int
	}{{"first", 0}, {"middle", len(recs) / 2}} {
		if r.i >= len(recs) {
			continue
		}
		at := recs[r.i]
		region := fmt.Sprintf("makedumpfile_data_header %d", r.i)
		// Offsets and sizes are big-endian (makedumpfile writes them
		// with cpu_to_be64()).
		flip(r.name+" record offset", region, at, 0x40, true)
		flip(r.name+" record size", region, at+8, 0x40, true)
		flip(r.name+" record size, low bits", region, at+15, 0x08, true)
	}
	return v, nil
}

// ELFSection reads the whole ELF file at path (the good bytes a damaged
// copy starts from), the header of its section name (nil when it has
// none) and its byte order.
func ELFSection(path, name string) (good []byte, sec *elf.Section, order binary.ByteOrder, err error) {
	good, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	ef, err := elf.NewFile(bytes.NewReader(good))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	defer ef.Close()
	return good, ef.Section(name), ef.ByteOrder, nil
}
