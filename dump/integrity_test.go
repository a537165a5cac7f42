package dump

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"

	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// TestDecodeIntegrity: every codec's stored page must decode to exactly
// one block and pass every check the codec carries (RFC 1950's adler-32
// for zlib; RFC 8878's Frame_Content_Size and optional Content_Checksum
// for zstd; for LZO1X and snappy, which carry no checksum, the stream
// must end exactly where the stored data does).
func TestDecodeIntegrity(t *testing.T) {
	const bs = 4096
	page := pattern(0x1000, bs)
	m := &kdumpMemory{blockSize: bs}
	zl := func(b []byte) []byte {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	zs := func(b []byte, opts ...zstd.EOption) []byte {
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(b, nil)
	}
	flip := func(b []byte, i int, mask byte) []byte {
		c := bytes.Clone(b)
		c[(i+len(c))%len(c)] ^= mask
		return c
	}
	good := map[string]struct {
		flags uint32
		data  []byte
	}{
		"zlib":          {DumpDHCompressedZlib, zl(page)},
		"lzo":           {DumpDHCompressedLZO, coregen.LZOStored(page)},
		"snappy":        {DumpDHCompressedSnappy, snappy.Encode(nil, page)},
		"zstd":          {DumpDHCompressedZstd, zs(page)},
		"zstd+checksum": {DumpDHCompressedZstd, zs(page, zstd.WithEncoderCRC(true))},
	}
	for name, g := range good {
		out, err := m.decode(g.data, g.flags)
		if err != nil || !bytes.Equal(out, page) {
			t.Fatalf("%s: good page: %v", name, err)
		}
	}
	zstdNoFCS := func(b []byte) []byte {
		// A frame without Frame_Content_Size: what a streaming writer
		// (zstd -c from a pipe) makes.
		var buf bytes.Buffer
		w, _ := zstd.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	bad := []struct {
		name  string
		flags uint32
		data  []byte
		want  error // nil: any error
	}{
		{"zlib adler-32 trailer flipped", DumpDHCompressedZlib, flip(zl(page), -1, 0x01), zlib.ErrChecksum},
		{"zlib byte after the stream", DumpDHCompressedZlib, append(zl(page), 0), errTrailing},
		{"zlib one byte short", DumpDHCompressedZlib, zl(page[:bs-1]), errBlockLen},
		{"zlib one byte long", DumpDHCompressedZlib, zl(append(bytes.Clone(page), 7)), errBlockLen},
		{"lzo byte after the stream", DumpDHCompressedLZO, append(coregen.LZOStored(page), 0), nil},
		{"lzo end marker cut", DumpDHCompressedLZO, coregen.LZOStored(page)[:len(coregen.LZOStored(page))-1], nil},
		{"lzo half a block", DumpDHCompressedLZO, coregen.LZOStored(page[:bs/2]), errBlockLen},
		{"snappy byte after the stream", DumpDHCompressedSnappy, append(snappy.Encode(nil, page), 0), nil},
		{"snappy one byte long", DumpDHCompressedSnappy, snappy.Encode(nil, append(bytes.Clone(page), 7)), errBlockLen},
		{"zstd content size one byte long", DumpDHCompressedZstd, zs(append(bytes.Clone(page), 7)), errBlockLen},
		{"zstd no content size, one byte short", DumpDHCompressedZstd, zstdNoFCS(page[:bs-1]), errBlockLen},
		{"zstd checksum flipped", DumpDHCompressedZstd, flip(zs(page, zstd.WithEncoderCRC(true)), -1, 0x01), nil},
		{"zstd garbage after the frame", DumpDHCompressedZstd, append(zs(page), 1, 2, 3, 4, 5, 6, 7, 8), nil},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			out, err := m.decode(c.data, c.flags)
			if err == nil {
				t.Fatalf("decoded %d bytes without error", len(out))
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
		})
	}
}

// TestCorruptPageFault: through a whole file, a page whose zlib trailer is
// flipped faults Corrupt with the file offset of its data, is counted once
// in the damage ledger however often it is read, and the pages around it
// read as they were written.
func TestCorruptPageFault(t *testing.T) {
	const bs = 4096
	pages := map[uint64][]byte{1: pattern(bs, bs), 2: pattern(2*bs, bs), 3: pattern(3*bs, bs)}
	b := simpleKdump(t, bs, coregen.Zlib, 4, pages)
	o := binary.LittleEndian
	descOff := (1 + int(o.Uint32(b[offSubHdrSize:])) + int(o.Uint32(b[offBitmapBlocks:]))) * bs
	d2 := b[descOff+pageDescSize:] // pfn 2: the second dumped page
	off, size := int64(o.Uint64(d2)), int64(o.Uint32(d2[8:]))
	if o.Uint32(d2[12:]) != DumpDHCompressedZlib {
		t.Fatalf("pfn 2 stored with flags %#x", o.Uint32(d2[12:]))
	}
	b[off+size-1] ^= 0x01
	d, err := openBytes([]string{"flip.kdump"}, [][]byte{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Damage().Empty() {
		t.Errorf("damage before any read: %v", d.Damage())
	}
	buf := make([]byte, bs)
	for range 3 {
		_, err := d.Phys.ReadAt(buf, 2*bs+8)
		f, ok := IsFault(err)
		if !ok || f.Reason != Corrupt || f.Addr != 2*bs+8 || f.FileOff != off || f.File != "flip.kdump" ||
			!strings.Contains(f.Error(), "checksum") {
			t.Fatalf("read of pfn 2: %v, want a Corrupt fault at %#x naming file offset %#x and the checksum", err, 2*bs+8, off)
		}
		if !errors.Is(err, zlib.ErrChecksum) {
			t.Errorf("fault does not wrap zlib.ErrChecksum: %v", err)
		}
	}
	for _, pfn := range []uint64{1, 3} {
		if err := ReadFull(d.Phys, buf, pfn*bs); err != nil || !bytes.Equal(buf, pages[pfn]) {
			t.Errorf("pfn %d: %v", pfn, err)
		}
	}
	dmg := d.Damage()
	if dmg.Corrupt.Count != 1 || dmg.Corrupt.Ranges[0] != (Range{2 * bs, 3 * bs}) || dmg.Unit != bs {
		t.Errorf("damage %+v, want one corrupt page at pfn 2", dmg)
	}
	if s := dmg.String(); !strings.Contains(s, "1 page(s) at pfn 0x2 corrupt") {
		t.Errorf("Damage.String() = %q", s)
	}
}

// TestDamageCutFlattened: a flattened stream cut short loses the pages
// whose records it never delivered; Open names them (holes of a cut stream
// are not zeros).
func TestDamageCutFlattened(t *testing.T) {
	const bs = 4096
	pages := map[uint64][]byte{}
	for pfn := uint64(0); pfn < 8; pfn++ {
		pages[pfn] = pattern(pfn*bs, bs)
	}
	b := simpleKdump(t, bs, coregen.Raw, 8, pages)
	flat := coregen.Flatten(b, bs)
	// Cut inside the last page's record: the stream has no end marker.
	cut := flat[:len(flat)-16-bs/2]
	d, err := openBytes([]string{"cut.flat"}, [][]byte{cut}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dmg := d.Damage()
	if dmg.PastEOF.Count != 1 || len(dmg.PastEOF.Ranges) != 1 || dmg.PastEOF.Ranges[0] != (Range{7 * bs, 8 * bs}) {
		t.Errorf("damage %+v, want pfn 7 past the end of the stream", dmg)
	}
	if len(dmg.Truncated) != 1 || dmg.Truncated[0].FirstAddr != 7*bs {
		t.Errorf("truncated %+v, want the stream named from pfn 7", dmg.Truncated)
	}
	buf := make([]byte, 8)
	_, err = d.Phys.ReadAt(buf, 7*bs)
	wantFault(t, err, Truncated, 7*bs)
	if err := ReadFull(d.Phys, buf, 6*bs); err != nil {
		t.Errorf("pfn 6: %v", err)
	}
}

// TestDamageTruncatedELF: an ELF core cut inside a PT_LOAD names the
// physical address from which its data are missing at Open.
func TestDamageTruncatedELF(t *testing.T) {
	e := coregen.ELF{Order: binary.LittleEndian, Segments: []coregen.Segment{
		{Paddr: 0x100000, Data: pattern(0, 0x4000), MemSize: 0x4000},
		{Paddr: 0x200000, Data: pattern(1, 0x4000), MemSize: 0x4000},
	}, Notes: cpuNotes(binary.LittleEndian, 0x8000000000001033)}
	b := e.Bytes()
	cut := b[:len(b)-0x1800] // 0x2800 bytes of the second PT_LOAD left
	d, err := openBytes([]string{"cut.elf"}, [][]byte{cut}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dmg := d.Damage()
	if len(dmg.Truncated) != 1 || dmg.Truncated[0].FirstAddr != 0x202800 || dmg.Truncated[0].Want != int64(len(b)) {
		t.Fatalf("damage %+v, want truncated from physical 0x202800", dmg)
	}
	// [0x202800, 0x204000): the second half of page 0x202000 and all of
	// page 0x203000 (4 KiB pages: the file has no VMCOREINFO PAGESIZE).
	if dmg.Unit != 4096 || dmg.PastEOF.Count != 2 || dmg.PastEOF.Ranges[0] != (Range{0x202800, 0x204000}) {
		t.Errorf("past EOF %+v (unit %d), want [0x202800,0x204000) as 2 pages of 4096", dmg.PastEOF, dmg.Unit)
	}
}

// TestPNXNum: an ELF core with 0xffff program headers or more keeps its
// count in section 0's sh_info (e_phnum is PN_XNUM, the gABI; Linux's
// elf_core_dump() writes it so): every segment opens. A PN_XNUM whose
// sh_info gives fewer is corruption, refused with both values, not read
// as a core without memory.
func TestPNXNum(t *testing.T) {
	const n = 0x10010
	segs := make([]coregen.Segment, n)
	for i := range segs {
		segs[i] = coregen.Segment{Paddr: uint64(i) * 0x10000, Data: binary.LittleEndian.AppendUint64(nil, uint64(i)<<8|0xaa)}
	}
	e := coregen.ELF{Segments: segs}
	b := e.Bytes()
	if got := binary.LittleEndian.Uint16(b[56:]); got != 0xffff {
		t.Fatalf("e_phnum %#x, want PN_XNUM", got)
	}
	d, err := openBytes([]string{"xnum.core"}, [][]byte{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ranges) != n {
		t.Errorf("%d ranges, want %d", len(d.Ranges), n)
	}
	var w [8]byte
	if err := ReadFull(d.Phys, w[:], (n-1)*0x10000); err != nil || binary.LittleEndian.Uint64(w[:]) != (n-1)<<8|0xaa {
		t.Errorf("last segment: %x, %v", w, err)
	}

	// The damage the issue met: a QEMU core (3 program headers, section
	// 0's sh_info 0) with e_phnum flipped to 0xffff.
	q := coregen.ELF{Segments: segs[:2], Notes: cpuNotes(binary.LittleEndian, 0x8000000000001033), QEMUSectionHeaders: true}
	qb := q.Bytes()
	shoff := binary.LittleEndian.Uint64(qb[40:])
	binary.LittleEndian.PutUint32(qb[shoff+44:], 0)
	binary.LittleEndian.PutUint16(qb[56:], 0xffff)
	_, err = openBytes([]string{"flip.core"}, [][]byte{qb}, Options{})
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Off != 56 || !strings.Contains(err.Error(), "PN_XNUM") || !strings.Contains(err.Error(), "sh_info 0") {
		t.Errorf("e_phnum 0xffff over sh_info 0: %v, want a FormatError at offset 0x38 naming PN_XNUM and sh_info", err)
	}
}

// TestCompressedNamed: a compressed file that reaches the parsers (a
// format internal/container does not decompress) is named, not just an
// "unknown signature".
func TestCompressedNamed(t *testing.T) {
	_, err := openBytes([]string{"vmcore.bz2"}, [][]byte{[]byte("BZh91AY&SY")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "bzip2 stream") {
		t.Errorf("bzip2 file: %v, want it named", err)
	}
}
