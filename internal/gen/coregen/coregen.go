// Package coregen writes small synthetic dump files for tests: ELF64 cores
// (kdump, QEMU and process style, either byte order, including QEMU<8.0's
// big-endian-header pseries quirk), makedumpfile kdump-compressed files
// (any block size; zlib, LZO, snappy, zstd or raw pages; excluded and
// zero pages; split parts) and makedumpfile's flattened stream. It is the
// drgn tests/elfwriter.py idea: build the input in code, so the test says
// what it expects.
//
// It writes only what readers of the formats need; it is not a faithful
// re-implementation of makedumpfile or QEMU, and it never reads dumps.
//
// Layer: generators (docs/ARCHITECTURE.md); the tests use it too.
package coregen

import (
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// Segment is one PT_LOAD. MemSize 0 means len(Data); a larger MemSize
// leaves a tail that reads as zeros (p_filesz < p_memsz).
type Segment struct {
	Vaddr, Paddr uint64
	Data         []byte
	MemSize      uint64
}

// Note is one ELF note.
type Note struct {
	Name string
	Type uint32
	Desc []byte
}

// ELF describes an ELF64 core.
type ELF struct {
	Order    binary.ByteOrder // nil: little-endian
	Machine  elf.Machine      // 0: EM_PPC64
	Type     elf.Type         // 0: ET_CORE
	Segments []Segment
	Notes    []Note
	// EhSize is written as e_ehsize; 0 writes 64. QEMU writes 8.
	EhSize uint16
	// QEMUSectionHeaders writes the two section headers QEMU's
	// dump-guest-memory emits, the second one in the opposite byte order
	// (as QEMU<8.0 did for little-endian pseries guests).
	QEMUSectionHeaders bool
}

func (e *ELF) order() binary.ByteOrder {
	if e.Order == nil {
		return binary.LittleEndian
	}
	return e.Order
}

func other(o binary.ByteOrder) binary.ByteOrder {
	if o == binary.ByteOrder(binary.BigEndian) {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// NotesBytes encodes notes as a PT_NOTE's contents (4-byte alignment).
func NotesBytes(order binary.ByteOrder, notes []Note) []byte {
	var b bytes.Buffer
	for _, n := range notes {
		var h [12]byte
		namesz := 0
		if n.Name != "" {
			namesz = len(n.Name) + 1
		}
		order.PutUint32(h[0:], uint32(namesz))
		order.PutUint32(h[4:], uint32(len(n.Desc)))
		order.PutUint32(h[8:], n.Type)
		b.Write(h[:])
		if namesz > 0 {
			b.WriteString(n.Name)
			b.WriteByte(0)
			pad4(&b)
		}
		b.Write(n.Desc)
		pad4(&b)
	}
	return b.Bytes()
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

// Bytes returns the whole file.
func (e *ELF) Bytes() []byte {
	o := e.order()
	notes := NotesBytes(o, e.Notes)
	nph := len(e.Segments)
	if len(notes) > 0 {
		nph++
	}
	const ehdr, phdr, shdr = 64, 56, 64
	nsh := 0
	if e.QEMUSectionHeaders {
		nsh = 2
	}
	// PN_XNUM (the ELF gABI; Linux's elf_core_dump()): with 0xffff or
	// more program headers e_phnum is 0xffff and section 0's sh_info
	// holds the count.
	xnum := nph >= 0xffff
	if xnum && nsh == 0 {
		nsh = 1
	}
	off := uint64(ehdr + nph*phdr + nsh*shdr)
	noteOff := off
	off += uint64(len(notes))
	off = (off + 7) &^ 7
	segOff := make([]uint64, len(e.Segments))
	for i, s := range e.Segments {
		segOff[i] = off
		off += uint64(len(s.Data))
	}
	out := make([]byte, off)
	copy(out, elf.ELFMAG)
	out[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	if o == binary.ByteOrder(binary.BigEndian) {
		out[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	} else {
		out[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	}
	out[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	typ := e.Type
	if typ == 0 {
		typ = elf.ET_CORE
	}
	mach := e.Machine
	if mach == 0 {
		mach = elf.EM_PPC64
	}
	eh := e.EhSize
	if eh == 0 {
		eh = ehdr
	}
	o.PutUint16(out[16:], uint16(typ))
	o.PutUint16(out[18:], uint16(mach))
	o.PutUint32(out[20:], uint32(elf.EV_CURRENT))
	o.PutUint64(out[32:], ehdr) // e_phoff
	if nsh > 0 {
		o.PutUint64(out[40:], uint64(ehdr+nph*phdr)) // e_shoff
	}
	o.PutUint16(out[52:], eh)
	o.PutUint16(out[54:], phdr)
	if xnum {
		o.PutUint16(out[56:], 0xffff)
	} else {
		o.PutUint16(out[56:], uint16(nph))
	}
	o.PutUint16(out[58:], shdr)
	o.PutUint16(out[60:], uint16(nsh))
	if nsh > 1 {
		o.PutUint16(out[62:], 1)
	}
	p := out[ehdr:]
	if len(notes) > 0 {
		o.PutUint32(p[0:], uint32(elf.PT_NOTE))
		o.PutUint64(p[8:], noteOff)
		o.PutUint64(p[32:], uint64(len(notes)))
		o.PutUint64(p[40:], uint64(len(notes)))
		p = p[phdr:]
		copy(out[noteOff:], notes)
	}
	for i, s := range e.Segments {
		mem := s.MemSize
		if mem < uint64(len(s.Data)) {
			mem = uint64(len(s.Data))
		}
		o.PutUint32(p[0:], uint32(elf.PT_LOAD))
		o.PutUint32(p[4:], uint32(elf.PF_R|elf.PF_W|elf.PF_X))
		o.PutUint64(p[8:], segOff[i])
		o.PutUint64(p[16:], s.Vaddr)
		o.PutUint64(p[24:], s.Paddr)
		o.PutUint64(p[32:], uint64(len(s.Data)))
		o.PutUint64(p[40:], mem)
		p = p[phdr:]
		copy(out[segOff[i]:], s.Data)
	}
	if nsh > 0 {
		sh := out[ehdr+nph*phdr:]
		// Section 0: sh_info would carry e_phnum under PN_XNUM.
		o.PutUint32(sh[44:], uint32(nph))
		if nsh < 2 {
			return out
		}
		// Section 1, a string table, written in the other byte order.
		x := other(o)
		x.PutUint32(sh[shdr+4:], uint32(elf.SHT_STRTAB))
		x.PutUint64(sh[shdr+24:], noteOff)
		x.PutUint64(sh[shdr+32:], 1<<30) // a size no file holds, as QEMU's
	}
	return out
}

// Write writes the file to w.
func (e *ELF) Write(w io.Writer) error {
	_, err := w.Write(e.Bytes())
	return err
}

// PPC64Regs is struct pt_regs of 64-bit ppc64
// (arch/powerpc/include/uapi/asm/ptrace.h).
type PPC64Regs struct {
	GPR                                     [32]uint64
	NIP, MSR, OrigGPR3, CTR, Link, XER, CCR uint64
	SoftE, Trap, DAR, DSISR, Result         uint64
}

// PRStatusPPC64 encodes a 64-bit struct elf_prstatus (504 bytes): pr_pid
// at 32 and pr_reg at 112.
func PRStatusPPC64(order binary.ByteOrder, pid int32, r PPC64Regs) []byte {
	b := make([]byte, 504)
	order.PutUint32(b[32:], uint32(pid))
	regs := append(r.GPR[:], r.NIP, r.MSR, r.OrigGPR3, r.CTR, r.Link, r.XER, r.CCR, r.SoftE, r.Trap, r.DAR, r.DSISR, r.Result)
	for i, v := range regs {
		order.PutUint64(b[112+8*i:], v)
	}
	return b
}

// VMCOREINFONote encodes text as the kernel's VMCOREINFO ELF note
// (append_elf_note(VMCOREINFO_NOTE_NAME, 0, ...) plus final_note()),
// padded with zeros to size bytes when size is larger.
func VMCOREINFONote(order binary.ByteOrder, text []byte, size int) []byte {
	b := NotesBytes(order, []Note{{Name: "VMCOREINFO", Type: 0, Desc: text}})
	b = append(b, make([]byte, 12)...) // final_note
	if len(b) < size {
		b = append(b, make([]byte, size-len(b))...)
	}
	return b
}

// Compression selects how kdump pages are stored (DUMP_DH_* flags).
type Compression int

const (
	Raw    Compression = 0
	Zlib   Compression = 0x1
	LZO    Compression = 0x2 // an LZO1X stream of stored literals
	Snappy Compression = 0x4
	Zstd   Compression = 0x20
)

// UTSName is struct new_utsname.
type UTSName struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// Kdump describes a kdump-compressed file.
type Kdump struct {
	Order         binary.ByteOrder // nil: little-endian
	BlockSize     uint32           // 0: 4096
	HeaderVersion int32            // 0: 6
	UTS           UTSName
	Compression   Compression
	DumpLevel     int32
	MaxMapnr      uint64            // page frames described
	Pages         map[uint64][]byte // dumped pfn -> block contents (shorter data is zero-padded)
	Excluded      []uint64          // pfns in memory but filtered out
	// ZeroPages stores all-zero blocks as one shared zero page, as
	// makedumpfile and QEMU do.
	ZeroPages  bool
	VMCOREINFO []byte
	Notes      []Note
	// Split, StartPFN, EndPFN make this one part of a split dump; only
	// dumped pfns in [StartPFN, EndPFN) get page descriptors.
	Split            bool
	StartPFN, EndPFN uint64
	// Status is ORed into disk_dump_header.status.
	Status uint32
}

const (
	pageDescSize = 24
	headerSize   = 464
)

func (k *Kdump) order() binary.ByteOrder {
	if k.Order == nil {
		return binary.LittleEndian
	}
	return k.Order
}

// Bytes returns the file.
func (k *Kdump) Bytes() ([]byte, error) {
	o := k.order()
	bs := uint64(k.BlockSize)
	if bs == 0 {
		bs = 4096
	}
	hv := k.HeaderVersion
	if hv == 0 {
		hv = 6
	}
	if k.MaxMapnr == 0 {
		return nil, errors.New("coregen: MaxMapnr is zero")
	}
	start, end := uint64(0), k.MaxMapnr
	if k.Split {
		start, end = k.StartPFN, k.EndPFN
	}
	notes := NotesBytes(o, k.Notes)
	subLen := uint64(104 + len(notes) + len(k.VMCOREINFO))
	subBlocks := (subLen + bs - 1) / bs
	bmBytes := (k.MaxMapnr + 7) / 8
	bmHalfBlocks := (bmBytes + bs - 1) / bs
	bm1 := make([]byte, bmHalfBlocks*bs)
	bm2 := make([]byte, bmHalfBlocks*bs)
	set := func(bm []byte, pfn uint64) { bm[pfn/8] |= 1 << (pfn % 8) }
	var dumpable []uint64
	for pfn := uint64(0); pfn < k.MaxMapnr; pfn++ {
		if _, ok := k.Pages[pfn]; ok {
			set(bm1, pfn)
			set(bm2, pfn)
			dumpable = append(dumpable, pfn)
		}
	}
	for _, pfn := range k.Excluded {
		if pfn >= k.MaxMapnr {
			return nil, fmt.Errorf("coregen: excluded pfn %#x beyond MaxMapnr", pfn)
		}
		set(bm1, pfn)
	}
	descOff := (1 + subBlocks + 2*bmHalfBlocks) * bs
	// Like makedumpfile, size the descriptor area by every dumpable page,
	// also in split parts.
	dataOff := descOff + uint64(len(dumpable))*pageDescSize
	var data bytes.Buffer
	var descs bytes.Buffer
	zeroOff := int64(-1)
	if k.ZeroPages {
		zeroOff = int64(dataOff)
		data.Write(make([]byte, bs))
	}
	putDesc := func(off int64, size, flags uint32) {
		var d [pageDescSize]byte
		o.PutUint64(d[0:], uint64(off))
		o.PutUint32(d[8:], size)
		o.PutUint32(d[12:], flags)
		descs.Write(d[:])
	}
	var zenc *zstd.Encoder
	if k.Compression == Zstd {
		var err error
		zenc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zenc.Close()
	}
	var flags uint32
	for _, pfn := range dumpable {
		if pfn < start || pfn >= end {
			continue
		}
		blk := make([]byte, bs)
		copy(blk, k.Pages[pfn])
		if k.ZeroPages && allZero(blk) {
			putDesc(zeroOff, uint32(bs), 0)
			continue
		}
		c, f, err := compress(blk, k.Compression, zenc)
		if err != nil {
			return nil, err
		}
		flags |= f
		putDesc(int64(dataOff)+int64(data.Len()), uint32(len(c)), f)
		data.Write(c)
	}
	out := make([]byte, descOff, dataOff+uint64(data.Len()))
	copy(out, "KDUMP   ")
	o.PutUint32(out[8:], uint32(hv))
	for i, s := range []string{k.UTS.Sysname, k.UTS.Nodename, k.UTS.Release, k.UTS.Version, k.UTS.Machine, k.UTS.Domainname} {
		copy(out[12+65*i:12+65*i+64], s)
	}
	o.PutUint32(out[424:], uint32(k.Compression)|k.Status)
	o.PutUint32(out[428:], uint32(bs))
	o.PutUint32(out[432:], uint32(subBlocks))
	o.PutUint32(out[436:], uint32(2*bmHalfBlocks))
	o.PutUint32(out[440:], uint32(min(k.MaxMapnr, 1<<32-1)))
	o.PutUint32(out[460:], 1)
	sh := out[bs:]
	o.PutUint32(sh[8:], uint32(k.DumpLevel))
	if k.Split {
		o.PutUint32(sh[12:], 1)
		o.PutUint64(sh[16:], start)
		o.PutUint64(sh[24:], end)
		o.PutUint64(sh[80:], start)
		o.PutUint64(sh[88:], end)
	}
	off := bs + 104
	if len(notes) > 0 {
		o.PutUint64(sh[48:], off)
		o.PutUint64(sh[56:], uint64(len(notes)))
		copy(out[off:], notes)
		off += uint64(len(notes))
	}
	if len(k.VMCOREINFO) > 0 {
		o.PutUint64(sh[32:], off)
		o.PutUint64(sh[40:], uint64(len(k.VMCOREINFO)))
		copy(out[off:], k.VMCOREINFO)
	}
	o.PutUint64(sh[96:], k.MaxMapnr)
	bmOff := (1 + subBlocks) * bs
	copy(out[bmOff:], bm1)
	copy(out[bmOff+uint64(len(bm1)):], bm2)
	out = append(out, descs.Bytes()...)
	out = append(out, make([]byte, dataOff-uint64(len(out)))...)
	out = append(out, data.Bytes()...)
	return out, nil
}

// Write writes the file to w.
func (k *Kdump) Write(w io.Writer) error {
	b, err := k.Bytes()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// compress stores one block; like makedumpfile it keeps the raw block when
// compression does not make it smaller.
func compress(blk []byte, c Compression, zenc *zstd.Encoder) ([]byte, uint32, error) {
	var out []byte
	switch c {
	case Raw:
		return blk, 0, nil
	case Zlib:
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		zw.Write(blk)
		if err := zw.Close(); err != nil {
			return nil, 0, err
		}
		out = b.Bytes()
	case LZO:
		// Stored literals are never smaller; keep them anyway so the
		// reader's LZO path is exercised.
		return LZOStored(blk), uint32(LZO), nil
	case Snappy:
		out = snappy.Encode(nil, blk)
	case Zstd:
		out = zenc.EncodeAll(blk, nil)
	default:
		return nil, 0, fmt.Errorf("coregen: unknown compression %#x", int(c))
	}
	if len(out) >= len(blk) {
		return blk, 0, nil
	}
	return out, uint32(c), nil
}

// LZOStored encodes b as a valid LZO1X stream made of one literal run
// (Documentation/staging/lzo.rst: a first byte 18..255 copies byte-17
// literals; otherwise instruction 0000LLLL with state 0 copies L+3, or
// 18 + 255*zero-bytes + next byte, literals) followed by the end-of-stream
// marker, M4 with distance 16384 (0x11 0x00 0x00). len(b) must be at
// least 4. It is what a "stored" LZO page looks like; it never compresses.
func LZOStored(b []byte) []byte {
	n := len(b)
	var out []byte
	switch {
	case n <= 238:
		out = append(out, byte(n+17))
	case n-3 <= 15:
		out = append(out, byte(n-3))
	default:
		out = append(out, 0)
		rem := n - 18
		for rem > 255 {
			out = append(out, 0)
			rem -= 255
		}
		out = append(out, byte(rem))
	}
	out = append(out, b...)
	return append(out, 0x11, 0x00, 0x00)
}

// FlatRecord is one record of a flattened stream: write Data at Off of
// the real file.
type FlatRecord struct {
	Off  int64
	Data []byte
}

// Flattened encodes records as makedumpfile's flattened format: the
// 4096-byte header ("makedumpfile", type 1, version 1, big-endian), each
// record's {offset, size} big-endian header and data, then the end marker.
func Flattened(records []FlatRecord) []byte {
	out := make([]byte, 4096)
	copy(out, "makedumpfile")
	binary.BigEndian.PutUint64(out[16:], 1)
	binary.BigEndian.PutUint64(out[24:], 1)
	var h [16]byte
	for _, r := range records {
		binary.BigEndian.PutUint64(h[0:], uint64(r.Off))
		binary.BigEndian.PutUint64(h[8:], uint64(len(r.Data)))
		out = append(out, h[:]...)
		out = append(out, r.Data...)
	}
	binary.BigEndian.PutUint64(h[0:], ^uint64(0))
	binary.BigEndian.PutUint64(h[8:], ^uint64(0))
	return append(out, h[:]...)
}

// Flatten cuts a file into records of at most chunk bytes, skipping
// all-zero chunks (the holes a sparse reassembled file would have).
func Flatten(file []byte, chunk int) []byte {
	var recs []FlatRecord
	for off := 0; off < len(file); off += chunk {
		end := min(off+chunk, len(file))
		if allZero(file[off:end]) && end != len(file) {
			continue
		}
		recs = append(recs, FlatRecord{Off: int64(off), Data: file[off:end]})
	}
	return Flattened(recs)
}
