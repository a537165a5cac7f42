package elfobj

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// FormatError is a malformed header, section header or section: what is
// wrong and the file offset where it is.
type FormatError struct {
	Off int64
	Msg string
}

func (e *FormatError) Error() string { return fmt.Sprintf("ELF: %s at offset %#x", e.Msg, e.Off) }

// ErrNoBits is what Data, Open and ReadAt of an SHT_NOBITS section return
// (debug/elf's words): such a section has a size but no bytes in the file.
var ErrNoBits = errors.New("unexpected read from SHT_NOBITS section")

// ErrNoSymbols is debug/elf's error for a file without a symbol table.
var ErrNoSymbols = errors.New("no symbol section")

// Limits on what a header may make the reader allocate before the file
// itself has shown it holds that much.
const (
	// MaxSections bounds e_shnum (a .ko built with -ffunction-sections
	// has tens of thousands).
	MaxSections = 1 << 20
	// maxNames bounds the section-name string table.
	maxNames = 64 << 20
	// chunk is the most read in one step when the size comes from the
	// file: a lying size then fails at the file's end, not in make.
	chunk = 16 << 20
	// MaxDecompressed bounds what one SHF_COMPRESSED section may declare
	// (ch_size): a stream's bytes are not checked against the file as a
	// stored section's are, and a small one can expand without end (a
	// distro vmlinux's largest debug section is under 1 GiB).
	MaxDecompressed = 4 << 30
)

// FileHeader is the ELF header, as debug/elf names its fields (plus
// Flags, e_flags, which debug/elf does not keep).
type FileHeader struct {
	Class      Class
	Data       Data
	Version    Version
	OSABI      OSABI
	ABIVersion uint8
	ByteOrder  binary.ByteOrder
	Type       Type
	Machine    Machine
	Entry      uint64
	Flags      uint32
}

// SectionHeader is one section header, names resolved.
type SectionHeader struct {
	Name      string
	Type      SectionType
	Flags     SectionFlag
	Addr      uint64
	Offset    uint64
	Size      uint64 // the decompressed size of an SHF_COMPRESSED section
	Link      uint32
	Info      uint32
	Addralign uint64
	Entsize   uint64
	// FileSize is the size of the section in the file: Size, but for an
	// SHF_COMPRESSED section the compressed size (with its header).
	FileSize uint64
}

// Section is one section of a File.
type Section struct {
	SectionHeader
	r io.ReaderAt
	// compOff is the offset of the compressed stream within an
	// SHF_COMPRESSED section (the Chdr's size), 0 when not compressed;
	// compression is its ch_type (any value: an unknown one, 0 too, fails
	// when read).
	compression uint32
	compOff     int64
}

// File is an opened ELF object: header and section headers. It reads
// section contents from the io.ReaderAt it was made from when asked.
type File struct {
	FileHeader
	Sections []*Section
}

// NewFile reads the ELF header and section headers from r. It does not
// read program headers, symbols or relocations (the callers read those
// from section data).
func NewFile(r io.ReaderAt) (*File, error) {
	f, sh, err := readFileHeader(r)
	if err != nil || sh.off == 0 && sh.num == 0 {
		return f, err
	}
	if err := f.readSections(r, sh); err != nil {
		return nil, err
	}
	return f, nil
}

// shTable is where the section header table lies, as the ELF header says.
type shTable struct {
	off                  int64
	entsize, num, strndx int
}

// readFileHeader reads e_ident and the ELF header.
func readFileHeader(r io.ReaderAt) (*File, shTable, error) {
	var sh shTable
	var ident [16]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return nil, sh, &FormatError{0, "reading the ELF identification: " + err.Error()}
	}
	if string(ident[:4]) != ELFMAG {
		return nil, sh, &FormatError{0, fmt.Sprintf("bad magic number %q", ident[:4])}
	}
	f := &File{}
	f.Class = Class(ident[EI_CLASS])
	if f.Class != ELFCLASS32 && f.Class != ELFCLASS64 {
		return nil, sh, &FormatError{EI_CLASS, "unknown ELF class " + f.Class.String()}
	}
	f.Data = Data(ident[EI_DATA])
	switch f.Data {
	case ELFDATA2LSB:
		f.ByteOrder = binary.LittleEndian
	case ELFDATA2MSB:
		f.ByteOrder = binary.BigEndian
	default:
		return nil, sh, &FormatError{EI_DATA, "unknown ELF data encoding " + f.Data.String()}
	}
	f.Version = Version(ident[EI_VERSION])
	if f.Version != EV_CURRENT {
		return nil, sh, &FormatError{EI_VERSION, "unknown ELF version " + f.Version.String()}
	}
	f.OSABI = OSABI(ident[EI_OSABI])
	f.ABIVersion = ident[EI_ABIVERSION]

	bo := f.ByteOrder
	var h [64]byte
	size := 64
	if f.Class == ELFCLASS32 {
		size = 52
	}
	if _, err := r.ReadAt(h[:size], 0); err != nil {
		return nil, sh, &FormatError{0, "reading the ELF header: " + err.Error()}
	}
	f.Type, f.Machine = Type(bo.Uint16(h[16:])), Machine(bo.Uint16(h[18:]))
	if v := Version(bo.Uint32(h[20:])); v != f.Version {
		return nil, sh, &FormatError{20, "mismatched ELF version " + v.String()}
	}
	if f.Class == ELFCLASS64 {
		f.Entry = bo.Uint64(h[24:])
		so := bo.Uint64(h[40:])
		if int64(so) < 0 {
			return nil, sh, &FormatError{40, fmt.Sprintf("invalid section header offset %#x", so)}
		}
		sh.off = int64(so)
		f.Flags = bo.Uint32(h[48:])
		sh.entsize, sh.num, sh.strndx = int(bo.Uint16(h[58:])), int(bo.Uint16(h[60:])), int(bo.Uint16(h[62:]))
	} else {
		f.Entry = uint64(bo.Uint32(h[24:]))
		sh.off = int64(bo.Uint32(h[32:]))
		f.Flags = bo.Uint32(h[36:])
		sh.entsize, sh.num, sh.strndx = int(bo.Uint16(h[46:])), int(bo.Uint16(h[48:])), int(bo.Uint16(h[50:]))
	}
	return f, sh, nil
}

// readSections reads the section header table sh and names the sections.
func (f *File) readSections(r io.ReaderAt, sh shTable) error {
	want := f.shentsize()
	if sh.entsize != want {
		return &FormatError{0, fmt.Sprintf("invalid section header entry size %d, want %d", sh.entsize, want)}
	}
	// More than SHN_LORESERVE sections: e_shnum is 0 and section 0's
	// sh_size holds the count; e_shstrndx SHN_XINDEX: its sh_link holds
	// the index (gABI "Extended Section Indexes").
	if sh.num == 0 || sh.strndx == int(SHN_XINDEX) {
		s0, err := f.readHeader(r, sh.off)
		if err != nil {
			return err
		}
		if sh.num == 0 {
			if s0.Size > MaxSections {
				return &FormatError{sh.off, fmt.Sprintf("%d sections (section 0's sh_size), more than %d", s0.Size, MaxSections)}
			}
			sh.num = int(s0.Size)
		}
		if sh.strndx == int(SHN_XINDEX) {
			sh.strndx = int(s0.Link)
		}
	}
	if sh.num == 0 {
		return &FormatError{sh.off, "section headers at a non-zero offset but none counted"}
	}
	if sh.strndx >= sh.num {
		return &FormatError{0, fmt.Sprintf("invalid section name table index %d of %d sections", sh.strndx, sh.num)}
	}
	if sh.off+int64(sh.num)*int64(want) < sh.off {
		return &FormatError{sh.off, "section header table overflows"}
	}
	// One read of the whole table (in steps: a count the file does not
	// hold fails at its end), as debug/elf does: a .ko has thousands.
	table, err := readFull(r, sh.off, uint64(sh.num)*uint64(want))
	if err != nil {
		return err
	}
	names := make([]uint32, 0, sh.num)
	f.Sections = make([]*Section, 0, sh.num)
	for i := 0; i < sh.num; i++ {
		s, err := f.parseHeader(table[i*want:(i+1)*want], sh.off+int64(i)*int64(want))
		if err != nil {
			return err
		}
		names = append(names, s.nameOff)
		sec := &Section{SectionHeader: s.SectionHeader, r: r}
		if err := sec.setCompression(f); err != nil {
			return err
		}
		f.Sections = append(f.Sections, sec)
	}
	shstr := f.Sections[sh.strndx]
	if shstr.Type != SHT_STRTAB {
		return &FormatError{sh.off + int64(sh.strndx)*int64(want), "section name table has type " + shstr.Type.String() + ", want SHT_STRTAB"}
	}
	if shstr.Size > maxNames {
		return &FormatError{int64(shstr.Offset), fmt.Sprintf("section name table of %d bytes, more than %d", shstr.Size, maxNames)}
	}
	tab, err := shstr.Data()
	if err != nil {
		return err
	}
	for i, s := range f.Sections {
		n, ok := cstring(tab, names[i])
		if !ok {
			return &FormatError{sh.off + int64(i)*int64(want), fmt.Sprintf("bad section name index %d", names[i])}
		}
		s.Name = n
	}
	return nil
}

type rawHeader struct {
	SectionHeader
	nameOff uint32
}

// readHeader reads the section header at file offset off.
func (f *File) readHeader(r io.ReaderAt, off int64) (rawHeader, error) {
	b := make([]byte, f.shentsize())
	if _, err := r.ReadAt(b, off); err != nil {
		return rawHeader{}, &FormatError{off, "reading a section header: " + err.Error()}
	}
	return f.parseHeader(b, off)
}

// shentsize is the size of a section header of f's class.
func (f *File) shentsize() int {
	if f.Class == ELFCLASS32 {
		return 40
	}
	return 64
}

// parseHeader decodes the section header b, which lies at file offset off.
func (f *File) parseHeader(b []byte, off int64) (rawHeader, error) {
	bo := f.ByteOrder
	var h rawHeader
	if f.Class == ELFCLASS64 {
		h.nameOff = bo.Uint32(b[0:])
		h.Type = SectionType(bo.Uint32(b[4:]))
		h.Flags = SectionFlag(bo.Uint64(b[8:]))
		h.Addr, h.Offset, h.Size = bo.Uint64(b[16:]), bo.Uint64(b[24:]), bo.Uint64(b[32:])
		h.Link, h.Info = bo.Uint32(b[40:]), bo.Uint32(b[44:])
		h.Addralign, h.Entsize = bo.Uint64(b[48:]), bo.Uint64(b[56:])
	} else {
		h.nameOff = bo.Uint32(b[0:])
		h.Type = SectionType(bo.Uint32(b[4:]))
		h.Flags = SectionFlag(bo.Uint32(b[8:]))
		h.Addr, h.Offset, h.Size = uint64(bo.Uint32(b[12:])), uint64(bo.Uint32(b[16:])), uint64(bo.Uint32(b[20:]))
		h.Link, h.Info = bo.Uint32(b[24:]), bo.Uint32(b[28:])
		h.Addralign, h.Entsize = uint64(bo.Uint32(b[32:])), uint64(bo.Uint32(b[36:]))
	}
	if int64(h.Offset) < 0 {
		return h, &FormatError{off, fmt.Sprintf("invalid section offset %#x", h.Offset)}
	}
	if h.Type != SHT_NOBITS && int64(h.Offset+h.Size) < int64(h.Offset) {
		return h, &FormatError{off, fmt.Sprintf("section of %#x bytes at offset %#x overflows", h.Size, h.Offset)}
	}
	h.FileSize = h.Size
	return h, nil
}

// setCompression reads the Chdr of an SHF_COMPRESSED section (header at
// section's start): Size becomes ch_size, FileSize keeps sh_size.
func (s *Section) setCompression(f *File) error {
	if s.Flags&SHF_COMPRESSED == 0 {
		return nil
	}
	bo := f.ByteOrder
	if f.Class == ELFCLASS64 {
		var c [24]byte
		if s.FileSize < 24 {
			return &FormatError{int64(s.Offset), "compressed section shorter than its header"}
		}
		if _, err := s.r.ReadAt(c[:], int64(s.Offset)); err != nil {
			return &FormatError{int64(s.Offset), "reading a compression header: " + err.Error()}
		}
		s.compression, s.Size, s.Addralign, s.compOff = bo.Uint32(c[0:]), bo.Uint64(c[8:]), bo.Uint64(c[16:]), 24
	} else {
		var c [12]byte
		if s.FileSize < 12 {
			return &FormatError{int64(s.Offset), "compressed section shorter than its header"}
		}
		if _, err := s.r.ReadAt(c[:], int64(s.Offset)); err != nil {
			return &FormatError{int64(s.Offset), "reading a compression header: " + err.Error()}
		}
		s.compression, s.Size, s.Addralign, s.compOff = bo.Uint32(c[0:]), uint64(bo.Uint32(c[4:])), uint64(bo.Uint32(c[8:])), 12
	}
	// An unknown ch_type fails when the section is read, not here: the
	// rest of the file stays usable.
	return nil
}

// Compressed reports whether the section is SHF_COMPRESSED.
func (s *Section) Compressed() bool { return s.compOff != 0 }

// Data reads the section's contents, decompressed. A section of size 0 is
// empty, whatever its type; an SHT_NOBITS one of non-zero size is
// ErrNoBits; a size the file does not hold fails at the file's end before
// it is allocated; a compressed stream must give exactly Size bytes.
func (s *Section) Data() ([]byte, error) {
	if s.Size == 0 {
		return []byte{}, nil // as debug/elf: nothing to read is no error, whatever the section
	}
	if s.Type == SHT_NOBITS {
		return nil, ErrNoBits
	}
	if s.compOff == 0 {
		return readFull(s.r, int64(s.Offset), s.Size)
	}
	if s.Flags&SHF_ALLOC != 0 {
		return nil, &FormatError{int64(s.Offset), "SHF_COMPRESSED applies only to non-allocable sections"}
	}
	if s.Size > MaxDecompressed {
		return nil, &FormatError{int64(s.Offset), fmt.Sprintf("compressed section declares %d bytes, more than %d", s.Size, uint64(MaxDecompressed))}
	}
	zr, err := s.decompressor()
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	b, err := readFullStream(zr, s.Size)
	if err != nil {
		return nil, &FormatError{int64(s.Offset), fmt.Sprintf("decompressing a section of %d bytes: %v", s.Size, err)}
	}
	return b, nil
}

// Open returns a reader of the section's decompressed contents.
func (s *Section) Open() io.ReadSeeker {
	if s.Type == SHT_NOBITS {
		return io.NewSectionReader(errReader{ErrNoBits}, 0, 1)
	}
	if s.compOff == 0 {
		return io.NewSectionReader(s.r, int64(s.Offset), int64(s.Size))
	}
	b, err := s.Data()
	if err != nil {
		return io.NewSectionReader(errReader{err}, 0, 1)
	}
	return bytes.NewReader(b)
}

// ReadAt reads the section's bytes at offset off within it. A compressed
// section is read through Data or Open instead.
func (s *Section) ReadAt(p []byte, off int64) (int, error) {
	if s.Type == SHT_NOBITS {
		return 0, ErrNoBits
	}
	if s.compOff != 0 {
		return 0, &FormatError{int64(s.Offset), "ReadAt of a compressed section"}
	}
	if off < 0 || uint64(off) >= s.Size {
		return 0, io.EOF
	}
	n := len(p)
	short := false
	if uint64(n) > s.Size-uint64(off) {
		n, short = int(s.Size-uint64(off)), true
	}
	got, err := s.r.ReadAt(p[:n], int64(s.Offset)+off)
	if err == nil && short {
		err = io.EOF
	}
	return got, err
}

type errReader struct{ err error }

func (e errReader) ReadAt([]byte, int64) (int, error) { return 0, e.err }

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

func (s *Section) decompressor() (io.ReadCloser, error) {
	raw := io.NewSectionReader(s.r, int64(s.Offset)+s.compOff, int64(s.FileSize)-s.compOff)
	switch s.compression {
	case COMPRESS_ZLIB:
		zr, err := zlib.NewReader(raw)
		if err != nil {
			return nil, &FormatError{int64(s.Offset) + s.compOff, "zlib stream: " + err.Error()}
		}
		return zr, nil
	case COMPRESS_ZSTD:
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(max(s.Size, 1<<20)))
		if err != nil {
			return nil, &FormatError{int64(s.Offset) + s.compOff, "zstd stream: " + err.Error()}
		}
		return zstdCloser{zr}, nil
	}
	return nil, &FormatError{int64(s.Offset), fmt.Sprintf("unknown compression type %d", s.compression)}
}

// readFull reads n bytes at off, growing the buffer by at most chunk at a
// time so that a size the file does not hold costs no more than the file.
func readFull(r io.ReaderAt, off int64, n uint64) ([]byte, error) {
	if n > 1<<62 {
		return nil, &FormatError{off, fmt.Sprintf("section size %#x", n)}
	}
	b, err := readFullStream(io.NewSectionReader(r, off, int64(n)), n)
	if err != nil {
		return nil, &FormatError{off, fmt.Sprintf("reading a section of %#x bytes: %v", n, err)}
	}
	return b, nil
}

// readFullStream reads exactly n bytes from a stream and checks it ends
// there, growing as readFull does.
func readFullStream(r io.Reader, n uint64) ([]byte, error) {
	if n > 1<<62 {
		return nil, fmt.Errorf("size %#x", n)
	}
	b := make([]byte, 0, min(n, chunk))
	for uint64(len(b)) < n {
		k := min(n-uint64(len(b)), chunk)
		start := len(b)
		b = append(b, make([]byte, k)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return nil, fmt.Errorf("stream ends after %d bytes: %w", uint64(start), err)
		}
	}
	var one [1]byte
	if k, _ := r.Read(one[:]); k > 0 {
		return nil, fmt.Errorf("stream longer than the %d bytes its header declares", n)
	}
	return b, nil
}

func cstring(tab []byte, off uint32) (string, bool) {
	if uint64(off) >= uint64(len(tab)) {
		return "", off == 0 && len(tab) == 0
	}
	end := bytes.IndexByte(tab[off:], 0)
	if end < 0 {
		return "", false
	}
	return string(tab[off : int(off)+end]), true
}

// Section returns the first section with that name, or nil.
func (f *File) Section(name string) *Section {
	for _, s := range f.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SectionByType returns the first section of that type, or nil.
func (f *File) SectionByType(t SectionType) *Section {
	for _, s := range f.Sections {
		if s.Type == t {
			return s
		}
	}
	return nil
}
