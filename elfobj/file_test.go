package elfobj_test

import (
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
)

// same holds every header and section of f against debug/elf's reading of
// the same bytes: debug/elf is the oracle.
// Sections larger than limit are compared by header only. It returns how
// many sections' bytes it compared.
func same(t *testing.T, what string, f *elfobj.File, ef *elf.File, limit uint64) int {
	t.Helper()
	if elf.Class(f.Class) != ef.Class || elf.Data(f.Data) != ef.Data || elf.Type(f.Type) != ef.Type ||
		elf.Machine(f.Machine) != ef.Machine || f.Entry != ef.Entry || f.ByteOrder != ef.ByteOrder ||
		elf.OSABI(f.OSABI) != ef.OSABI || f.ABIVersion != ef.ABIVersion {
		t.Fatalf("%s: header %+v, debug/elf %+v", what, f.FileHeader, ef.FileHeader)
	}
	if len(f.Sections) != len(ef.Sections) {
		t.Fatalf("%s: %d sections, debug/elf %d", what, len(f.Sections), len(ef.Sections))
	}
	n := 0
	for i, s := range f.Sections {
		e := ef.Sections[i]
		if s.Name != e.Name || elf.SectionType(s.Type) != e.Type || uint64(s.Flags) != uint64(e.Flags) ||
			s.Addr != e.Addr || s.Offset != e.Offset || s.Size != e.Size || s.Link != e.Link ||
			s.Info != e.Info || s.Addralign != e.Addralign || s.Entsize != e.Entsize || s.FileSize != e.FileSize {
			t.Fatalf("%s: section %d %+v, debug/elf %+v", what, i, s.SectionHeader, e.SectionHeader)
		}
		if s.Type.String() != e.Type.String() && !bytes.ContainsAny([]byte(e.Type.String()), "+") {
			t.Errorf("%s: section %d type %q, debug/elf %q", what, i, s.Type, e.Type)
		}
		if s.Flags.String() != e.Flags.String() {
			t.Errorf("%s: section %d flags %q, debug/elf %q", what, i, s.Flags, e.Flags)
		}
		if s.Size > limit {
			continue
		}
		n++
		got, err := s.Data()
		want, werr := e.Data()
		if (err == nil) != (werr == nil) {
			t.Fatalf("%s: section %d (%s) Data error %v, debug/elf %v", what, i, s.Name, err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%s: section %d (%s): %d bytes differ from debug/elf's %d", what, i, s.Name, len(got), len(want))
		}
		if s.Type == elfobj.SHT_NOBITS && s.Size > 0 && !errors.Is(err, elfobj.ErrNoBits) {
			t.Errorf("%s: NOBITS section %s read without error", what, s.Name)
		}
	}
	return n
}

func check(t *testing.T, what string, data []byte) {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: debug/elf: %v", what, err)
	}
	f, err := elfobj.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	same(t, what, f, ef, 64<<20)
	if f.Class == elfobj.ELFCLASS64 && f.Flags != f.ByteOrder.Uint32(data[48:]) {
		t.Errorf("%s: e_flags %#x, bytes say %#x", what, f.Flags, f.ByteOrder.Uint32(data[48:]))
	}
}

// TestAgainstDebugELF: the example's ppc64 modules (relocatable, big
// section tables) and this test binary (a linked x86_64 or arm64
// executable with zlib-compressed DWARF) read the same as debug/elf reads
// them.
func TestAgainstDebugELF(t *testing.T) {
	kos, _ := filepath.Glob("../testdata/example/*/modules/*.ko")
	if len(kos) == 0 {
		t.Fatal("no example modules under ../testdata/example")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(kos[:4], exe) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		check(t, filepath.Base(p), data)
	}
}

// synth builds an ELF64 relocatable with a zlib- and a zstd-compressed
// section, a NOBITS one and a PROGBITS one.
func synth(t testing.TB, order binary.ByteOrder) ([]byte, []byte) {
	payload := bytes.Repeat([]byte("kdump-inspect elfobj "), 200)
	var zl bytes.Buffer
	zw := zlib.NewWriter(&zl)
	zw.Write(payload)
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(payload, nil)
	chdr := func(typ uint32, body []byte) []byte {
		h := make([]byte, 24)
		order.PutUint32(h[0:], typ)
		order.PutUint64(h[8:], uint64(len(payload)))
		order.PutUint64(h[16:], 1)
		return append(h, body...)
	}
	shstr := []byte("\x00.shstrtab\x00.text\x00.debug_zlib\x00.debug_zstd\x00.bss\x00")
	type sec struct {
		name  uint32
		typ   uint32
		flags uint64
		data  []byte
		size  uint64
	}
	secs := []sec{
		{},
		{1, 3, 0, shstr, 0},
		{11, 1, 6, []byte{0x60, 0, 0, 0}, 0},
		{17, 1, 0x800, chdr(1, zl.Bytes()), 0},
		{29, 1, 0x800, chdr(2, zs), 0},
		{41, 8, 3, nil, 4096},
	}
	out := make([]byte, 64)
	copy(out, "\x7fELF\x02")
	out[5] = 1
	if order == binary.BigEndian {
		out[5] = 2
	}
	out[6] = 1
	order.PutUint16(out[16:], 1)  // ET_REL
	order.PutUint16(out[18:], 21) // EM_PPC64
	order.PutUint32(out[20:], 1)
	order.PutUint32(out[48:], 2)
	order.PutUint16(out[52:], 64)
	order.PutUint16(out[58:], 64)
	order.PutUint16(out[60:], uint16(len(secs)))
	order.PutUint16(out[62:], 1)
	offs := make([]uint64, len(secs))
	for i, s := range secs {
		offs[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	order.PutUint64(out[40:], uint64(len(out)))
	for i, s := range secs {
		h := make([]byte, 64)
		if i > 0 {
			order.PutUint32(h[0:], s.name)
			order.PutUint32(h[4:], s.typ)
			order.PutUint64(h[8:], s.flags)
			order.PutUint64(h[24:], offs[i])
			sz := uint64(len(s.data))
			if s.typ == 8 {
				sz = s.size
			}
			order.PutUint64(h[32:], sz)
			order.PutUint64(h[48:], 1)
		}
		out = append(out, h...)
	}
	return out, payload
}

// TestCompressedSections: zlib and zstd SHF_COMPRESSED sections read as
// debug/elf reads them (Size the decompressed size, FileSize the stored
// one), in both byte orders; a NOBITS section is ErrNoBits.
func TestCompressedSections(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		data, payload := synth(t, order)
		check(t, order.String(), data)
		f, err := elfobj.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{".debug_zlib", ".debug_zstd"} {
			s := f.Section(n)
			if s == nil || !s.Compressed() || s.Size != uint64(len(payload)) || s.FileSize == s.Size {
				t.Fatalf("%s: %+v", n, s)
			}
			b, err := s.Data()
			if err != nil || !bytes.Equal(b, payload) {
				t.Fatalf("%s: %d bytes, %v", n, len(b), err)
			}
		}
		bss := f.Section(".bss")
		if _, err := bss.Data(); !errors.Is(err, elfobj.ErrNoBits) {
			t.Errorf(".bss Data: %v", err)
		}
		if _, err := bss.ReadAt(make([]byte, 4), 0); err == nil || err.Error() != "unexpected read from SHT_NOBITS section" {
			t.Errorf(".bss ReadAt: %v, want debug/elf's words (the text view prints them)", err)
		}
		if f.Flags != 2 || f.Machine != elfobj.EM_PPC64 || f.Machine.String() != "EM_PPC64" {
			t.Errorf("header %+v", f.FileHeader)
		}
	}
}

// TestLyingSizes: a section whose size claims more than the file holds,
// and a compressed section whose header claims more than its stream
// gives, are errors with offsets, not allocations of the claimed size.
func TestLyingSizes(t *testing.T) {
	data, _ := synth(t, binary.LittleEndian)
	shoff := binary.LittleEndian.Uint64(data[40:])
	// .text (section 2): size 1 TiB.
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint64(bad[shoff+2*64+32:], 1<<40)
	f, err := elfobj.NewFile(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	var fe *elfobj.FormatError
	if _, err := f.Section(".text").Data(); !errors.As(err, &fe) {
		t.Errorf(".text of 1 TiB: %v", err)
	}
	// .debug_zlib (section 3): ch_size 1 GiB more than the stream gives.
	bad = bytes.Clone(data)
	off := binary.LittleEndian.Uint64(bad[shoff+3*64+24:])
	binary.LittleEndian.PutUint64(bad[off+8:], 1<<30)
	f, err = elfobj.NewFile(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Section(".debug_zlib").Data(); !errors.As(err, &fe) {
		t.Errorf("zlib stream shorter than ch_size: %v", err)
	}
	// .debug_zstd (section 4) declaring 8 GiB: refused by its header,
	// before a byte is decompressed (a small stream can expand without
	// end; only the header bounds it).
	bad = bytes.Clone(data)
	zoff := binary.LittleEndian.Uint64(bad[shoff+4*64+24:])
	binary.LittleEndian.PutUint64(bad[zoff+8:], 8<<30)
	if f, err = elfobj.NewFile(bytes.NewReader(bad)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Section(".debug_zstd").Data(); !errors.As(err, &fe) || !strings.Contains(err.Error(), "more than 4294967296") {
		t.Errorf("ch_size 8 GiB: %v, want refused by MaxDecompressed", err)
	}
	// A compression type nobody knows (0 too, ELFCOMPRESS_ZLIB being 1):
	// the file opens, the section fails, never read as stored.
	for _, typ := range []uint32{77, 0} {
		bad = bytes.Clone(data)
		binary.LittleEndian.PutUint32(bad[off:], typ)
		binary.LittleEndian.PutUint64(bad[off+8:], 16) // a ch_size the file holds: a read as stored would succeed
		f, err = elfobj.NewFile(bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := f.Section(".debug_zlib").Data(); err == nil {
			t.Errorf("ch_type %d: %d bytes read without error", typ, len(b))
		}
		if _, err := f.Section(".debug_zstd").Data(); err != nil {
			t.Errorf("ch_type %d: the other compressed section: %v", typ, err)
		}
	}
}

// FuzzNewFile: never a panic; whatever both readers accept, they read the
// same (a file debug/elf refuses for its program headers may open here:
// they are not read), and no section debug/elf cannot read reads here.
func FuzzNewFile(f *testing.F) {
	data, _ := synth(f, binary.LittleEndian)
	f.Add(data)
	data, _ = synth(f, binary.BigEndian)
	f.Add(data)
	if kos, _ := filepath.Glob("../testdata/example/*/modules/klp_tgt.ko"); len(kos) > 0 {
		if b, err := os.ReadFile(kos[0]); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, eerr := elf.NewFile(bytes.NewReader(data))
		ff, err := elfobj.NewFile(bytes.NewReader(data))
		if err != nil || eerr != nil {
			return
		}
		if len(ff.Sections) != len(ef.Sections) {
			t.Fatalf("%d sections, debug/elf %d", len(ff.Sections), len(ef.Sections))
		}
		for i, s := range ff.Sections {
			e := ef.Sections[i]
			if s.Name != e.Name || uint32(s.Type) != uint32(e.Type) || s.Offset != e.Offset || s.Size != e.Size || s.FileSize != e.FileSize {
				t.Fatalf("section %d %+v, debug/elf %+v", i, s.SectionHeader, e.SectionHeader)
			}
			if s.Size > 1<<20 || strings.HasPrefix(s.Name, ".zdebug") {
				continue // .zdebug (zlib-gnu) is not decompressed here: doc.go
			}
			got, err := s.Data()
			want, werr := e.Data()
			if err == nil && werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("section %d data differs", i)
			}
			// Stricter than debug/elf only where doc.go says (a
			// compressed stream longer than its ch_size); never laxer.
			if err == nil && werr != nil {
				t.Fatalf("section %d (%s) read here, debug/elf: %v", i, s.Name, werr)
			}
			if err != nil && werr == nil && !strings.Contains(err.Error(), "stream longer than") {
				t.Fatalf("section %d (%s): %v; debug/elf reads it", i, s.Name, err)
			}
		}
	})
}
