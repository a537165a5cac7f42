package dump

import (
	"bytes"
	"compress/zlib"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"

	lzo "github.com/anchore/go-lzo"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// makedumpfile's kdump-compressed format (diskdump_mod.h: struct
// disk_dump_header, struct kdump_sub_header, page_desc_t). The header is
// written in the byte order of the machine that wrote it; offsets below
// are for a 64-bit writer (struct timeval of 16 bytes).
const (
	kdumpSignature = "KDUMP   "

	kdumpHeaderSize = 464 // sizeof(struct disk_dump_header) up to nr_cpus
	offUtsname      = 12
	utsFieldLen     = 65
	offStatus       = 424
	offBlockSize    = 428
	offSubHdrSize   = 432
	offBitmapBlocks = 436
	offMaxMapnr     = 440
	offNrCPUs       = 460

	kdumpSubHeaderSize = 104 // sizeof(struct kdump_sub_header), version 6
	pageDescSize       = 24  // sizeof(page_desc_t)

	// DUMP_DH_* flags: in disk_dump_header.status and page_desc.flags.
	DumpDHCompressedZlib       = 0x1
	DumpDHCompressedLZO        = 0x2
	DumpDHCompressedSnappy     = 0x4
	DumpDHCompressedIncomplete = 0x8
	DumpDHExcludedVmemmap      = 0x10
	DumpDHCompressedZstd       = 0x20

	maxBlockSize = 1 << 26
	// maxSparseBitmap bounds bitmaps larger than the bytes a flattened
	// stream holds. makedumpfile and QEMU write the bitmaps whole, so only
	// a stream that left out all-zero stretches has them; 1 MiB (2^23
	// blocks) keeps Open fast on a stream that claims more.
	maxSparseBitmap = 1 << 20
	maxSideData     = 64 << 20 // notes, VMCOREINFO, erase info
	rankChunkBits   = 4096
	maxZeroScan     = 1 << 24 // page descriptors scanned at Open to count zero pages
	defaultCacheSz  = 64
)

// kfile is a kdump-compressed file: a plain mapped file or the logical
// file of a flattened stream.
type kfile interface {
	ReadAt(p []byte, off int64) (int, error)
	Size() int64
	Name() string
}

// kdumpHeader is what Open needs from disk_dump_header and
// kdump_sub_header.
type kdumpHeader struct {
	order          binary.ByteOrder
	version        int32
	uts            UTSName
	status         uint32
	blockSize      uint64
	subHdrSize     uint64
	bitmapBlocks   uint64
	maxMapnr       uint64
	nrCPUs         int32
	physBase       uint64
	dumpLevel      int32
	split          bool
	startPFN       uint64
	endPFN         uint64
	offVmcoreinfo  int64
	sizeVmcoreinfo uint64
	offNote        int64
	sizeNote       uint64
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func saneKdump(order binary.ByteOrder, b []byte) bool {
	v := int32(order.Uint32(b[8:]))
	bs := order.Uint32(b[offBlockSize:])
	return v >= 0 && v <= 100 && bs >= 512 && bs <= maxBlockSize && bs&(bs-1) == 0
}

// parseKdumpHeader reads both headers of one kdump-compressed file.
func parseKdumpHeader(f kfile) (*kdumpHeader, error) {
	name := f.Name()
	b := make([]byte, kdumpHeaderSize)
	n, _ := f.ReadAt(b, 0)
	if n < 8 || string(b[:8]) != kdumpSignature {
		return nil, &FormatError{File: name, Off: 0, Msg: "no kdump-compressed signature"}
	}
	if n < kdumpHeaderSize {
		return nil, &FormatError{File: name, Off: int64(n), Msg: "truncated disk_dump_header"}
	}
	h := &kdumpHeader{}
	// The header is in the writer's byte order; pick the one in which
	// header_version and block_size make sense (QEMU before 8.0 wrote a
	// big-endian header for little-endian pseries guests).
	switch {
	case saneKdump(binary.LittleEndian, b):
		h.order = binary.LittleEndian
	case saneKdump(binary.BigEndian, b):
		h.order = binary.BigEndian
	default:
		return nil, &FormatError{File: name, Off: 8, Msg: "disk_dump_header: header_version/block_size insane in either byte order",
			Val: fmt.Sprintf("% x / % x", b[8:12], b[offBlockSize:offBlockSize+4])}
	}
	o := h.order
	h.version = int32(o.Uint32(b[8:]))
	u := func(i int) string { return cstr(b[offUtsname+i*utsFieldLen : offUtsname+(i+1)*utsFieldLen]) }
	h.uts = UTSName{Sysname: u(0), Nodename: u(1), Release: u(2), Version: u(3), Machine: u(4), Domainname: u(5)}
	h.status = o.Uint32(b[offStatus:])
	h.blockSize = uint64(o.Uint32(b[offBlockSize:]))
	h.subHdrSize = uint64(o.Uint32(b[offSubHdrSize:]))
	h.bitmapBlocks = uint64(o.Uint32(b[offBitmapBlocks:]))
	h.maxMapnr = uint64(o.Uint32(b[offMaxMapnr:]))
	h.nrCPUs = int32(o.Uint32(b[offNrCPUs:]))
	if int32(h.subHdrSize) < 0 || int32(h.bitmapBlocks) < 0 {
		return nil, &FormatError{File: name, Off: offSubHdrSize, Msg: "negative sub_hdr_size or bitmap_blocks"}
	}
	h.endPFN = h.maxMapnr
	if h.version < 1 || h.subHdrSize == 0 {
		return h, nil
	}
	sb := make([]byte, kdumpSubHeaderSize)
	sn, _ := f.ReadAt(sb, int64(h.blockSize))
	need := 8
	switch {
	case h.version >= 6:
		need = 104
	case h.version >= 5:
		need = 80
	case h.version >= 4:
		need = 64
	case h.version >= 3:
		need = 48
	case h.version >= 2:
		need = 32
	case h.version >= 1:
		need = 16
	}
	if sn < need {
		return nil, &FormatError{File: name, Off: int64(h.blockSize) + int64(sn), Msg: "truncated kdump_sub_header"}
	}
	h.physBase = o.Uint64(sb[0:])
	if h.version >= 1 {
		h.dumpLevel = int32(o.Uint32(sb[8:]))
	}
	if h.version >= 2 {
		h.split = o.Uint32(sb[12:]) != 0
		if h.split {
			h.startPFN = o.Uint64(sb[16:])
			h.endPFN = o.Uint64(sb[24:])
		}
	}
	if h.version >= 3 {
		h.offVmcoreinfo = int64(o.Uint64(sb[32:]))
		h.sizeVmcoreinfo = o.Uint64(sb[40:])
	}
	if h.version >= 4 {
		h.offNote = int64(o.Uint64(sb[48:]))
		h.sizeNote = o.Uint64(sb[56:])
	}
	if h.version >= 6 {
		if h.split {
			h.startPFN = o.Uint64(sb[80:])
			h.endPFN = o.Uint64(sb[88:])
		}
		if m := o.Uint64(sb[96:]); m != 0 {
			h.maxMapnr = m
		}
		if !h.split {
			h.endPFN = h.maxMapnr
		}
	}
	return h, nil
}

// kdumpPart is one file of a kdump-compressed dump with its bitmaps.
type kdumpPart struct {
	f                kfile
	h                *kdumpHeader
	startPFN, endPFN uint64
	bitmap1, bitmap2 bitmap
	descOff          int64
	ranks            []uint64 // set bits of bitmap2 in [startPFN, startPFN+i*rankChunkBits)
	// scanned: Open checked every page descriptor of the part against
	// the file (scanDescs), so a read that finds data past the end is
	// already in the damage ledger.
	scanned bool
}

func (p *kdumpPart) descIndex(pfn uint64) uint64 {
	rel := pfn - p.startPFN
	c := rel / rankChunkBits
	return p.ranks[c] + p.bitmap2.count(p.startPFN+c*rankChunkBits, pfn)
}

// openKdump opens the parts of a kdump-compressed (or flattened) dump:
// each part's header and bitmaps, the parts held together, the first
// header described, its side data (notes, VMCOREINFO) read, the pages
// counted, and the memory made.
func (d *Dump) openKdump(files []*mappedFile, opts Options) error {
	parts, err := d.loadParts(files)
	if err != nil {
		return err
	}
	// The first file's header describes the dump (checkParts sorts the
	// parts by their first page frame).
	h0 := parts[0].h
	if err := d.checkParts(parts); err != nil {
		return err
	}
	d.describeKdump(h0, parts)
	d.readKdumpSide(h0, parts[0].f)
	d.countKdumpPages(h0, parts)
	km := &kdumpMemory{parts: parts, blockSize: h0.blockSize, maxMapnr: h0.maxMapnr, incomplete: h0.status&DumpDHCompressedIncomplete != 0, dmg: &d.damage}
	size := opts.CachePages
	if size <= 0 {
		size = defaultCacheSz
	}
	km.cache = newLRU(size)
	d.Phys = km
	d.closers = append(d.closers, km)
	return nil
}

// loadParts reads each file's header and bitmaps (a flattened stream
// indexed first); the first file's kind is the dump's format.
func (d *Dump) loadParts(files []*mappedFile) ([]*kdumpPart, error) {
	var parts []*kdumpPart
	for i, mf := range files {
		var f kfile = mf
		if head := mf.slice(0, 12); string(head) == flatSignature {
			ff, err := indexFlat(mf, d.warnf)
			if err != nil {
				return nil, err
			}
			f = ff
			if i == 0 {
				d.Format = Flattened
			}
		} else if i == 0 {
			d.Format = KdumpCompressed
		}
		p, err := d.loadPart(f)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// checkParts holds split parts together: the same block size, max_mapnr
// and byte order, no overlap (they are sorted by start), and a warning
// when they do not cover every page frame.
func (d *Dump) checkParts(parts []*kdumpPart) error {
	h0 := parts[0].h // before sorting: the first file's
	for _, p := range parts[1:] {
		if p.h.blockSize != h0.blockSize || p.h.maxMapnr != h0.maxMapnr || p.h.order != h0.order {
			return &FormatError{File: p.f.Name(), Off: offBlockSize, Msg: "split part disagrees with the first part (block_size, max_mapnr or byte order)"}
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].startPFN < parts[j].startPFN })
	for i := 1; i < len(parts); i++ {
		if parts[i].startPFN < parts[i-1].endPFN {
			return &FormatError{File: parts[i].f.Name(), Off: int64(h0.blockSize) + 80, Msg: "split parts overlap",
				Val: fmt.Sprintf("[%#x,%#x) and [%#x,%#x)", parts[i-1].startPFN, parts[i-1].endPFN, parts[i].startPFN, parts[i].endPFN)}
		}
	}
	var covered uint64
	for _, p := range parts {
		covered += p.endPFN - p.startPFN
	}
	if covered < h0.maxMapnr {
		d.warnf("kdump parts cover %#x of %#x page frames: a split dump is missing parts", covered, h0.maxMapnr)
	}
	return nil
}

// describeKdump takes the byte order, block size, utsname, machine and
// header status from the first file's header h0.
func (d *Dump) describeKdump(h0 *kdumpHeader, parts []*kdumpPart) {
	d.HeaderOrder = h0.order
	d.MemoryOrder = h0.order
	d.BlockSize = h0.blockSize
	uts := h0.uts
	d.UTSName = &uts
	d.Machine = machineFromUTS(uts.Machine)
	info := &KdumpInfo{HeaderVersion: h0.version, Status: h0.status, DumpLevel: h0.dumpLevel, PhysBase: h0.physBase, MaxMapnr: h0.maxMapnr}
	for i, p := range parts {
		info.Parts = append(info.Parts, KdumpPart{Path: d.Paths[min(i, len(d.Paths)-1)], StartPFN: p.startPFN, EndPFN: p.endPFN, Split: p.h.split})
	}
	for i := range info.Parts {
		info.Parts[i].Path = parts[i].f.Name()
	}
	d.Kdump = info
	d.damage.setUnit(h0.blockSize)
	if h0.status&DumpDHCompressedIncomplete != 0 {
		d.damage.incomplete()
		d.warnf("kdump header: DUMP_DH_COMPRESSED_INCOMPLETE: the dump was not completely written")
	}
	if h0.status&DumpDHExcludedVmemmap != 0 {
		d.warnf("kdump header: DUMP_DH_EXCLUDED_VMEMMAP: unused vmemmap pages were excluded")
	}
}

// readKdumpSide reads the side data at h0's offsets in the part f holding
// the lowest page frames (every part carries the same): notes and
// VMCOREINFO, the machine from them when utsname does not name one, and
// the byte order of guest memory.
func (d *Dump) readKdumpSide(h0 *kdumpHeader, f kfile) {
	uts := h0.uts
	if h0.sizeNote > 0 {
		if b, err := readSide(f, h0.offNote, h0.sizeNote, "offset_note"); err != nil {
			d.warnf("%v", err)
		} else if err := d.parseNotesInto(b, h0.offNote, h0.order, f.Name()); err != nil {
			d.warnf("kdump notes: %v", err)
		}
	}
	if h0.sizeVmcoreinfo > 0 {
		if b, err := readSide(f, h0.offVmcoreinfo, h0.sizeVmcoreinfo, "offset_vmcoreinfo"); err != nil {
			d.damage.vmcoreinfo(err.Error())
			d.warnf("%v", err)
		} else {
			d.VMCOREINFORaw = trimNUL(b)
		}
	}
	if d.Machine == MachineNone {
		d.Machine = machineFromNotes(d.Notes)
		if d.Machine == MachineNone {
			d.Machine = machineFromVMCOREINFO(d.VMCOREINFORaw)
		}
		if d.Machine == MachineNone {
			d.warnf("kdump header: unknown machine %q", uts.Machine)
		} else {
			d.warnf("kdump header: machine %q; %s taken from the notes and VMCOREINFO", uts.Machine, d.Machine)
		}
	}
	if strings.HasSuffix(uts.Machine, "le") && h0.order == binary.BigEndian {
		d.Quirks = append(d.Quirks, QuirkQEMUBigEndianKdump)
		d.MemoryOrder = binary.LittleEndian
		d.warnf("kdump header is big-endian for a %q machine (%s)", uts.Machine, QuirkQEMUBigEndianKdump)
	} else {
		d.detectMemoryOrder(QuirkQEMUBigEndianKdump)
	}
}

// countKdumpPages counts pages (in memory, dumped, excluded, zero) and
// the ranges held, part by part.
func (d *Dump) countKdumpPages(h0 *kdumpHeader, parts []*kdumpPart) {
	d.Pages.Unit = h0.blockSize
	for _, p := range parts {
		d.Pages.Total += p.bitmap1.count(p.startPFN, p.endPFN)
		present := p.bitmap2.count(p.startPFN, p.endPFN)
		d.Pages.Present += present
		// excluded by makedumpfile's dump level: in memory (1st bitmap),
		// not dumped (2nd)
		d.Pages.Excluded += setNotIn(&p.bitmap1, &p.bitmap2, p.startPFN, p.endPFN)
		if stray := setNotIn(&p.bitmap2, &p.bitmap1, p.startPFN, p.endPFN); stray > 0 {
			// makedumpfile's 2nd bitmap (pages dumped) is a subset of the
			// 1st (pages in memory). A bit set only in the 2nd is
			// corruption, and it shifts which page descriptor every later
			// page uses: the pages after it may read another page's data.
			d.warnf("%s: the 2nd bitmap marks %d page(s) dumped that the 1st does not have in memory (corrupt bitmap?): pages after the first of them may read the wrong data", p.f.Name(), stray)
		}
		z, err := p.scanDescs(present, h0.status&DumpDHCompressedIncomplete != 0, &d.damage)
		if err != nil {
			d.warnf("%v", err)
		}
		d.Pages.Zero += z
		d.Ranges = append(d.Ranges, bitmapRanges(&p.bitmap1, p.startPFN, p.endPFN, h0.blockSize)...)
	}
	d.Ranges = mergeAdjacent(d.Ranges)
}

func machineFromUTS(m string) Machine {
	switch m {
	case "ppc64", "ppc64le":
		return MachinePPC64
	case "ppc":
		return MachinePPC
	case "x86_64":
		return MachineX86_64
	case "aarch64":
		return MachineAArch64
	case "s390x":
		return MachineS390
	}
	return MachineNone
}

// ELF note types only ppc writes (include/uapi/linux/elf.h).
const (
	ntPPCVMX = 0x100
	ntPPCVSX = 0x102
	// NT_ARM_VFP (0x400) to NT_ARM_* (0x4ff): arm64's register sets
	// (QEMU writes NT_ARM_SVE, 0x405, for every CPU).
	ntARMFirst = 0x400
	ntARMLast  = 0x4ff
)

func machineFromNotes(notes []Note) Machine {
	for _, n := range notes {
		if n.Name == "CORE" && (n.Type == ntPPCVMX || n.Type == ntPPCVSX) {
			return MachinePPC64
		}
		if n.Name == "LINUX" && n.Type >= ntARMFirst && n.Type <= ntARMLast {
			return MachineAArch64
		}
	}
	return MachineNone
}

// machineFromVMCOREINFO names the architecture from what only its
// vmcore_info code writes (QEMU's kdump files say "Unknown" in utsname
// for some targets): x86_64's NUMBER(phys_base) and SYMBOL(init_top_pgt)
// (arch/x86/kernel/vmcore_info_64.c), arm64's NUMBER(kimage_voffset)
// (arch/arm64/kernel/vmcore_info.c), ppc64's NUMBER(PAGE_OFFSET) with
// SYMBOL(cur_cpu_spec) (arch/powerpc/kexec/vmcore_info.c).
func machineFromVMCOREINFO(raw []byte) Machine {
	has := func(k string) bool { return bytes.Contains(raw, []byte("\n"+k)) || bytes.HasPrefix(raw, []byte(k)) }
	switch {
	case has("SYMBOL(init_top_pgt)=") && has("NUMBER(phys_base)="):
		return MachineX86_64
	case has("NUMBER(kimage_voffset)="):
		return MachineAArch64
	case has("SYMBOL(cur_cpu_spec)="):
		return MachinePPC64
	}
	return MachineNone
}

func readSide(f kfile, off int64, size uint64, what string) ([]byte, error) {
	if off <= 0 || size > maxSideData || off > f.Size() || int64(size) > f.Size()-off || int64(size) > heldBytes(f) {
		return nil, &FormatError{File: f.Name(), Off: off, Msg: "kdump_sub_header " + what + " out of range", Val: fmt.Sprintf("size %#x, file size %#x", size, f.Size())}
	}
	b := make([]byte, size)
	if n, _ := f.ReadAt(b, off); uint64(n) < size {
		return nil, &FormatError{File: f.Name(), Off: off + int64(n), Msg: "truncated " + what + " data"}
	}
	return b, nil
}

// heldBytes is how many bytes f really holds: the stream's size for a
// flattened file, the file's size otherwise.
func heldBytes(f kfile) int64 {
	if ff, ok := f.(*flatFile); ok {
		return ff.f.Size()
	}
	return f.Size()
}

// loadPart reads the headers and bitmaps of one file.
func (d *Dump) loadPart(f kfile) (*kdumpPart, error) {
	h, err := parseKdumpHeader(f)
	if err != nil {
		return nil, err
	}
	name := f.Name()
	bs := h.blockSize
	bmOff := (1 + h.subHdrSize) * bs
	bmLen := h.bitmapBlocks * bs
	if h.subHdrSize > 1<<20 || h.bitmapBlocks > 1<<30 || bmOff > uint64(f.Size()) || bmLen > uint64(f.Size())-bmOff {
		return nil, &FormatError{File: name, Off: int64(min(bmOff, 1<<62)), Msg: "bitmaps extend beyond end of file",
			Val: fmt.Sprintf("%#x bytes, file size %#x", bmLen, f.Size())}
	}
	// The logical file of a flattened stream may be far larger than the
	// stream (its holes read as zeros). All-zero stretches of a bitmap may
	// be holes, so a bitmap may be larger than the stream, but a tiny
	// stream must not make Open allocate gigabytes: beyond
	// maxSparseBitmap the bitmaps must be held.
	if held := heldBytes(f); bmLen > uint64(held) && bmLen > maxSparseBitmap {
		return nil, &FormatError{File: name, Off: int64(bmOff), Msg: "bitmaps larger than the data the file holds",
			Val: fmt.Sprintf("%#x bytes, %#x bytes held", bmLen, held)}
	}
	if bmLen == 0 {
		return nil, &FormatError{File: name, Off: offBitmapBlocks, Msg: "bitmap_blocks is zero"}
	}
	half := bmLen / 2
	bm1, n1 := readBitmap(f, int64(bmOff), half)
	bm2, n2 := readBitmap(f, int64(bmOff+half), bmLen-half)
	if n1 < half || n2 < bmLen-half {
		return nil, &FormatError{File: name, Off: int64(bmOff + n1 + n2), Msg: "truncated bitmap"}
	}
	p := &kdumpPart{f: f, h: h, bitmap1: bm1, bitmap2: bm2, startPFN: h.startPFN, endPFN: h.endPFN}
	if h.maxMapnr > half*8 {
		d.warnf("%s: max_mapnr %#x exceeds the bitmap's %#x bits; clamped", name, h.maxMapnr, half*8)
		h.maxMapnr = half * 8
	}
	p.endPFN = min(p.endPFN, h.maxMapnr)
	if p.startPFN > p.endPFN {
		return nil, &FormatError{File: name, Off: int64(bs) + 80, Msg: "split start_pfn beyond end_pfn", Val: fmt.Sprintf("%#x > %#x", p.startPFN, p.endPFN)}
	}
	p.descOff = int64(bmOff + bmLen)
	nchunks := (p.endPFN-p.startPFN)/rankChunkBits + 1
	p.ranks = make([]uint64, nchunks)
	for c := uint64(1); c < nchunks; c++ {
		lo := p.startPFN + (c-1)*rankChunkBits
		p.ranks[c] = p.ranks[c-1] + p.bitmap2.count(lo, lo+rankChunkBits)
	}
	return p, nil
}

// setNotIn counts the page frames in [lo, hi) set in bitmap a and clear
// in b.
func setNotIn(a, b *bitmap, lo, hi uint64) uint64 {
	var n uint64
	for pfn := a.nextSet(lo, hi); pfn < hi; pfn = a.nextSet(pfn+1, hi) {
		if !b.bit(pfn) {
			n++
		}
	}
	return n
}

// bitmapRanges turns the 1st bitmap into physical ranges.
func bitmapRanges(bm *bitmap, lo, hi, bs uint64) []Range {
	var out []Range
	for pfn := bm.nextSet(lo, hi); pfn < hi; pfn = bm.nextSet(pfn, hi) {
		end := bm.nextClear(pfn, hi)
		out = append(out, Range{pfn * bs, end * bs})
		pfn = end
	}
	return out
}

func mergeAdjacent(rs []Range) []Range {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	var out []Range
	for _, r := range rs {
		if len(out) > 0 && r.Start <= out[len(out)-1].End {
			out[len(out)-1].End = max(out[len(out)-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// pageDesc is page_desc_t.
type pageDesc struct {
	Offset    int64
	Size      uint32
	Flags     uint32
	PageFlags uint64
}

func (p *kdumpPart) readDesc(idx uint64) (pageDesc, error) {
	var b [pageDescSize]byte
	off := p.descOff + int64(idx)*pageDescSize
	if n, _ := p.f.ReadAt(b[:], off); n < pageDescSize {
		return pageDesc{}, errDescTruncated{off}
	}
	o := p.h.order
	return pageDesc{Offset: int64(o.Uint64(b[0:])), Size: o.Uint32(b[8:]), Flags: o.Uint32(b[12:]), PageFlags: o.Uint64(b[16:])}, nil
}

type errDescTruncated struct{ off int64 }

func (e errDescTruncated) Error() string {
	return fmt.Sprintf("page descriptor at file offset %#x is beyond end of file", e.off)
}

// scanDescs reads every page descriptor of the part once, at Open. It
// counts the descriptors that point at the shared zero page
// (makedumpfile's write_kdump_pages_cyclic() and QEMU's write_dump_pages()
// write one zero page at the start of the data area, pd_zero, offset = end
// of the descriptors, and point every zero page at it), and records in the
// damage ledger the pages whose data the file does not hold: descriptors
// past the end of the file, data past the end (or in the holes of a cut
// flattened stream), descriptors never written in an incomplete dump.
// present is the number of descriptors (set bits of the 2nd bitmap).
func (p *kdumpPart) scanDescs(present uint64, incomplete bool, dmg *damageLedger) (uint64, error) {
	if present == 0 {
		p.scanned = true
		return 0, nil
	}
	if present > maxZeroScan {
		return 0, fmt.Errorf("%s: %d page descriptors: zero pages not counted, page data not checked against the file size at open", p.f.Name(), present)
	}
	// In split files makedumpfile sizes the descriptor area by the
	// dumpable pages of the whole dump, so both ends are candidates.
	zeroOff := p.descOff + int64(present)*pageDescSize
	zeroAll := p.descOff + int64(p.bitmap2.count(0, p.h.maxMapnr))*pageDescSize
	bs := p.h.blockSize
	name := p.f.Name()
	var past, unwritten pageRun
	var want int64
	firstMissing := ^uint64(0)
	flush := func() {
		past.flush(dmg.pastEOF)
		unwritten.flush(dmg.unwritten)
	}
	buf := make([]byte, min(present*pageDescSize, 1<<16))
	var n uint64
	o := p.h.order
	pfn := p.startPFN
	for i := uint64(0); i < present; {
		k := min(present-i, uint64(len(buf)/pageDescSize))
		b := buf[:k*pageDescSize]
		got, _ := p.f.ReadAt(b, p.descOff+int64(i)*pageDescSize)
		full := uint64(got) / pageDescSize
		for j := uint64(0); j < full; j++ {
			pfn = p.bitmap2.nextSet(pfn, p.endPFN)
			e := b[j*pageDescSize:]
			off, size, flags := int64(o.Uint64(e)), int64(o.Uint32(e[8:])), o.Uint32(e[12:])
			if (off == zeroOff || off == zeroAll) && flags == 0 {
				n++
			}
			switch {
			case pfn >= p.endPFN:
				// More descriptors than bits: the bitmap is corrupt;
				// reads say so per page.
			case off == 0 && size == 0 && incomplete:
				unwritten.add(pfn, bs, dmg.unwritten)
			case off > 0 && size > 0 && uint64(size) <= 2*bs && off <= math.MaxInt64-size:
				want = max(want, off+size)
				if !p.holds(off, size) {
					firstMissing = min(firstMissing, pfn*bs)
					past.add(pfn, bs, dmg.pastEOF)
				}
			default:
				// An impossible offset or size: block() faults Corrupt on
				// the page; say so before it is read.
				dmg.corrupt(pfn*bs, bs)
			}
			pfn++
		}
		i += full
		if full < k {
			// The descriptors end with the file (or a cut stream): every
			// page from here on is past the end.
			at := p.descOff + int64(i)*pageDescSize
			for ; i < present; i++ {
				pfn = p.bitmap2.nextSet(pfn, p.endPFN)
				if pfn >= p.endPFN {
					break
				}
				firstMissing = min(firstMissing, pfn*bs)
				past.add(pfn, bs, dmg.pastEOF)
				pfn++
			}
			flush()
			dmg.truncated(TruncatedFile{File: name, Size: heldBytes(p.f), Want: max(want, p.descOff+int64(present)*pageDescSize), FirstAddr: firstMissing})
			return n, &FormatError{File: name, Off: at, Msg: "page descriptors extend beyond end of file"}
		}
	}
	flush()
	if firstMissing != ^uint64(0) {
		dmg.truncated(TruncatedFile{File: name, Size: heldBytes(p.f), Want: want, FirstAddr: firstMissing})
	}
	p.scanned = true
	return n, nil
}

// holds reports whether the file holds the bytes [off, off+n): inside the
// file, and for a cut flattened stream not in a hole it never delivered.
func (p *kdumpPart) holds(off, n int64) bool {
	if off < 0 || n < 0 || off > p.f.Size() || n > p.f.Size()-off {
		return false
	}
	if ff, ok := p.f.(*flatFile); ok {
		return ff.holds(off, n)
	}
	return true
}

// pageRun coalesces consecutive page frames into one range for the
// damage ledger.
type pageRun struct {
	start, end uint64 // pfns [start, end)
	bs         uint64
}

func (r *pageRun) add(pfn, bs uint64, rec func(Range, uint64)) {
	if r.end > r.start && pfn == r.end {
		r.end++
		return
	}
	r.flush(rec)
	r.start, r.end, r.bs = pfn, pfn+1, bs
}

func (r *pageRun) flush(rec func(Range, uint64)) {
	if r.end > r.start {
		rec(Range{r.start * r.bs, r.end * r.bs}, r.end-r.start)
	}
	r.start, r.end = 0, 0
}

// kdumpMemory is the physical memory of a kdump-compressed dump.
type kdumpMemory struct {
	parts      []*kdumpPart
	blockSize  uint64
	maxMapnr   uint64
	incomplete bool

	dmg *damageLedger

	mu    sync.Mutex
	cache *lru
	zstd  *zstd.Decoder
	zlib  io.ReadCloser
	zsrc  *bytes.Reader // the zlib inflater's source, reset per page
}

func (m *kdumpMemory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.zstd != nil {
		m.zstd.Close()
		m.zstd = nil
	}
	return nil
}

func (m *kdumpMemory) part(pfn uint64) *kdumpPart {
	i := sort.Search(len(m.parts), func(i int) bool { return m.parts[i].endPFN > pfn })
	if i < len(m.parts) && m.parts[i].startPFN <= pfn {
		return m.parts[i]
	}
	return nil
}

// block returns the decompressed block of pfn; the slice is shared with
// the cache and must not be modified. A Corrupt fault (and a Truncated
// one the Open scan did not see) is recorded in the dump's damage ledger.
func (m *kdumpMemory) block(pfn uint64) ([]byte, *Fault) {
	addr := pfn * m.blockSize
	fault := func(r FaultReason, format string, args ...any) *Fault {
		return &Fault{Addr: addr, Phys: true, Reason: r, Detail: fmt.Sprintf(format, args...)}
	}
	if pfn >= m.maxMapnr {
		return nil, fault(NotInDump, "page frame %#x beyond max_mapnr %#x", pfn, m.maxMapnr)
	}
	p := m.part(pfn)
	if p == nil {
		return nil, fault(NotInDump, "page frame %#x is in a split part that was not opened", pfn)
	}
	if !p.bitmap2.bit(pfn) {
		if p.bitmap1.bit(pfn) {
			return nil, fault(Excluded, "")
		}
		return nil, fault(NotInDump, "not in the memory bitmap")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.cache.get(pfn); ok {
		return b, nil
	}
	name := p.f.Name()
	pastEOF := func(f *Fault) *Fault {
		if !p.scanned && m.dmg != nil {
			m.dmg.pastEOFPage(addr, m.blockSize)
		}
		return f
	}
	desc, err := p.readDesc(p.descIndex(pfn))
	if err != nil {
		return nil, pastEOF(fault(Truncated, "page frame %#x: %v", pfn, err))
	}
	if desc.Size == 0 && desc.Offset == 0 && m.incomplete {
		return nil, fault(Truncated, "page frame %#x not written (incomplete dump)", pfn)
	}
	if desc.Offset <= 0 || desc.Size == 0 || uint64(desc.Size) > 2*m.blockSize {
		f := fault(Corrupt, "%s: page frame %#x: page descriptor offset %#x size %#x", name, pfn, desc.Offset, desc.Size)
		f.File = name
		m.dmg.corrupt(addr, m.blockSize)
		return nil, f
	}
	if desc.Offset > p.f.Size() || int64(desc.Size) > p.f.Size()-desc.Offset {
		// Checked before the buffer is made: a corrupt size is bounded
		// by 2 blocks, and a block by the header (up to 128 MiB a read).
		f := fault(Truncated, "%s: page frame %#x: page data [%#x,+%#x) beyond end of file at %#x", name, pfn, desc.Offset, desc.Size, p.f.Size())
		f.File, f.FileOff = name, desc.Offset
		return nil, pastEOF(f)
	}
	src := make([]byte, desc.Size)
	if n, err := p.f.ReadAt(src, desc.Offset); n < len(src) {
		var f *Fault
		if errors.Is(err, errFlatHole) {
			f = fault(Truncated, "%s: page frame %#x: page data [%#x,%#x): %v", name, pfn, desc.Offset, desc.Offset+int64(desc.Size), err)
		} else {
			f = fault(Truncated, "%s: page frame %#x: page data [%#x,%#x) beyond end of file at %#x", name, pfn, desc.Offset, desc.Offset+int64(desc.Size), p.f.Size())
		}
		f.File, f.FileOff, f.Err = name, desc.Offset, err
		return nil, pastEOF(f)
	}
	out, derr := m.decode(src, desc.Flags)
	if derr != nil {
		f := fault(Corrupt, "%s: page frame %#x: data at file offset %#x (%#x bytes, flags %#x): %v", name, pfn, desc.Offset, desc.Size, desc.Flags, derr)
		f.File, f.FileOff, f.Err = name, desc.Offset, derr
		m.dmg.corrupt(addr, m.blockSize)
		return nil, f
	}
	m.cache.put(pfn, out)
	return out, nil
}

// errBlockLen is the error of a page that decodes to more or fewer bytes
// than a block.
var errBlockLen = errors.New("decompressed block has the wrong length")

// errTrailing is the error of compressed page data with bytes after the
// end of its stream.
var errTrailing = errors.New("bytes after the end of the compressed stream")

// decode turns one stored page into a block (m.mu held). Every codec's
// output must be exactly one block, and every check the codec carries is
// made: zlib's adler-32 trailer (makedumpfile and QEMU write pages with
// compress2(), which ends each stream with it; crash and libkdumpfile
// read them with uncompress(), which checks it), the zstd frame's content
// size and its xxhash checksum when the frame has one (makedumpfile's
// ZSTD_compressCCtx() writes the size but no checksum), and, for LZO and
// snappy, which carry no checksum, that the stream ends exactly where the
// stored data does.
func (m *kdumpMemory) decode(src []byte, flags uint32) ([]byte, error) {
	bs := int(m.blockSize)
	switch {
	case flags&DumpDHCompressedZlib != 0:
		// Reuse one inflater (zlib.Resetter): a fresh one per page costs
		// more than the inflation of a 64K page.
		if m.zsrc == nil {
			m.zsrc = new(bytes.Reader)
		}
		m.zsrc.Reset(src)
		var err error
		if m.zlib == nil {
			m.zlib, err = zlib.NewReader(m.zsrc)
		} else {
			err = m.zlib.(zlib.Resetter).Reset(m.zsrc, nil)
		}
		if err != nil {
			m.zlib = nil
			return nil, fmt.Errorf("zlib: %w", err)
		}
		out := make([]byte, bs)
		if _, err := io.ReadFull(m.zlib, out); err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return nil, fmt.Errorf("zlib: %w (stream ends before %#x bytes)", errBlockLen, bs)
			}
			return nil, fmt.Errorf("zlib: %w", err)
		}
		// compress/zlib verifies the adler-32 trailer only when it reads
		// to the end of the stream: read on to it. (io.ReadFull drops an
		// error that comes with the last bytes; the reader keeps it.)
		var one [1]byte
		n, err := m.zlib.Read(one[:])
		switch {
		case n > 0:
			return nil, fmt.Errorf("zlib: %w (more than %#x bytes)", errBlockLen, bs)
		case err != io.EOF:
			return nil, fmt.Errorf("zlib: %w", err)
		case m.zsrc.Len() > 0:
			return nil, fmt.Errorf("zlib: %w (%d bytes)", errTrailing, m.zsrc.Len())
		}
		return out, nil
	case flags&DumpDHCompressedLZO != 0:
		out := make([]byte, bs)
		// Decompress fails on a stream that does not end with its
		// end-of-stream marker exactly at the end of src (the
		// LZO_E_INPUT_NOT_CONSUMED of lzo1x_decompress_safe()).
		n, err := lzo.Decompress(src, out)
		if err != nil {
			return nil, fmt.Errorf("lzo: %w", err)
		}
		if n != bs {
			return nil, fmt.Errorf("lzo: %w (%#x bytes)", errBlockLen, n)
		}
		return out, nil
	case flags&DumpDHCompressedSnappy != 0:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n != bs {
			return nil, fmt.Errorf("snappy: %w (%#x bytes)", errBlockLen, n)
		}
		// Decode fails unless the stream decodes to exactly n bytes and
		// ends exactly at the end of src.
		out, err := snappy.Decode(make([]byte, bs), src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return out, nil
	case flags&DumpDHCompressedZstd != 0:
		var h zstd.Header
		if err := h.Decode(src); err != nil {
			return nil, fmt.Errorf("zstd: frame header: %w", err)
		}
		if h.HasFCS && h.FrameContentSize != uint64(bs) {
			return nil, fmt.Errorf("zstd: frame content size %#x: %w", h.FrameContentSize, errBlockLen)
		}
		if m.zstd == nil {
			zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(4*bs)), zstd.WithDecodeAllCapLimit(true))
			if err != nil {
				return nil, err
			}
			m.zstd = zd
		}
		// DecodeAll checks the frame's content size and checksum when
		// present; bytes after the frame must be another frame.
		out, err := m.zstd.DecodeAll(src, make([]byte, 0, bs))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) != bs {
			return nil, fmt.Errorf("zstd: %w (%#x bytes)", errBlockLen, len(out))
		}
		return out, nil
	case flags == 0:
		if len(src) != bs {
			return nil, fmt.Errorf("uncompressed page of %d bytes, block size %d", len(src), bs)
		}
		return src, nil
	}
	return nil, fmt.Errorf("unknown compression flags %#x", flags)
}

// ReadAt implements Memory.
func (m *kdumpMemory) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr {
			return n, &Fault{Addr: a, Phys: true, Reason: NotInDump}
		}
		b, f := m.block(a / m.blockSize)
		if f != nil {
			f.Addr = a
			return n, f
		}
		n += copy(p[n:], b[a%m.blockSize:])
	}
	return n, nil
}

// lru is a small cache of decompressed blocks.
type lru struct {
	max   int
	ll    *list.List
	items map[uint64]*list.Element
}

type lruEntry struct {
	pfn  uint64
	data []byte
}

func newLRU(n int) *lru { return &lru{max: n, ll: list.New(), items: make(map[uint64]*list.Element)} }

func (c *lru) get(pfn uint64) ([]byte, bool) {
	if e, ok := c.items[pfn]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry).data, true
	}
	return nil, false
}

func (c *lru) put(pfn uint64, data []byte) {
	if e, ok := c.items[pfn]; ok {
		e.Value.(*lruEntry).data = data
		c.ll.MoveToFront(e)
		return
	}
	c.items[pfn] = c.ll.PushFront(&lruEntry{pfn, data})
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.items, e.Value.(*lruEntry).pfn)
	}
}
