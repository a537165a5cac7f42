package symbols

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/kdump-inspect/kdump-inspect/elfobj"
	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// compressedSection wraps data in an Elf64_Chdr with the given ch_type
// (ELFCOMPRESS_ZLIB 1, ELFCOMPRESS_ZSTD 2), as a linker's
// --compress-debug-sections writes it.
func compressedSection(t *testing.T, o binary.ByteOrder, chType elf.CompressionType, data []byte) []byte {
	t.Helper()
	var hdr [24]byte
	o.PutUint32(hdr[0:], uint32(chType))
	o.PutUint64(hdr[8:], uint64(len(data)))
	o.PutUint64(hdr[16:], 1)
	var b bytes.Buffer
	b.Write(hdr[:])
	switch chType {
	case elf.COMPRESS_ZLIB:
		w := zlib.NewWriter(&b)
		w.Write(data)
		w.Close()
	case elf.COMPRESS_ZSTD:
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	}
	return b.Bytes()
}

func TestSyntheticELFv2(t *testing.T) {
	t.Parallel()
	o := binary.LittleEndian
	payload := bytes.Repeat([]byte("debug info payload "), 50)
	buildID := []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	rela := make([]byte, 48)
	o.PutUint64(rela[0:], 0x10)
	o.PutUint64(rela[8:], uint64(9)<<32|uint64(elf.R_PPC64_REL24))
	o.PutUint64(rela[16:], uint64(0xfffffffffffffffc)) // addend -4
	o.PutUint64(rela[24:], 0x20)
	o.PutUint64(rela[32:], uint64(1)<<32|uint64(elf.R_PPC64_ADDR64))
	o.PutUint64(rela[40:], 8)
	// Section indices: 1 .text 2 .data 3 .bss 4 .rodata 5 build-id
	// 6 .debug_info (zstd) 7 .debug_abbrev (zlib) 8 .rela.text 9 .modinfo
	e := &testELF{order: o, typ: elf.ET_REL, flags: 2, machine: elf.EM_PPC64, secs: []testSection{
		{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, data: make([]byte, 0x100)},
		{name: ".data", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, data: make([]byte, 0x40)},
		{name: ".bss", typ: elf.SHT_NOBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, size: 0x40},
		{name: ".rodata", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, data: make([]byte, 0x40)},
		{name: ".note.gnu.build-id", typ: elf.SHT_NOTE, flags: elf.SHF_ALLOC, data: append(gnuNote(o, "Linux", 1, []byte{1, 2, 3, 4}), gnuNote(o, "GNU", 3, buildID)...)},
		{name: ".debug_info", typ: elf.SHT_PROGBITS, flags: elf.SHF_COMPRESSED, data: compressedSection(t, o, elf.COMPRESS_ZSTD, payload)},
		{name: ".debug_abbrev", typ: elf.SHT_PROGBITS, flags: elf.SHF_COMPRESSED, data: compressedSection(t, o, elf.COMPRESS_ZLIB, payload)},
		{name: ".rela.text", typ: elf.SHT_RELA, flags: elf.SHF_INFO_LINK, data: rela, link: 11, info: 1, entsize: 24},
		{name: ".modinfo", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, data: []byte("license=GPL\x00name=synth_mod\x00")},
	}}
	// st_other bits 5-7 per the ELFv2 ABI ("Symbol Values"): 0 and 1: no
	// separate local entry; 2..6: local entry 4, 8, 16, 32, 64 bytes after
	// the global entry.
	e.syms = []testSym{
		{name: "synth.c", info: stInfo(elf.STB_LOCAL, elf.STT_FILE), shndx: uint16(elf.SHN_ABS)},
		{name: "g_func", info: stInfo(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 1, value: 0x0, size: 0x20, other: 3 << 5},
		{name: "l_func", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 0x20, size: 0x20, other: 0},
		{name: "le1", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 0x40, size: 0x10, other: 1 << 5},
		{name: "le2", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 0x50, size: 0x10, other: 2 << 5},
		{name: "le4", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 0x60, size: 0x10, other: 4 << 5},
		{name: "le5", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 0x70, size: 0x10, other: 5 << 5},
		{name: "le6", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 0x80, size: 0x10, other: 6<<5 | 2 /* STV_HIDDEN */},
		{name: "printk", info: stInfo(elf.STB_GLOBAL, elf.STT_NOTYPE), shndx: uint16(elf.SHN_UNDEF)},
		{name: "g_data", info: stInfo(elf.STB_GLOBAL, elf.STT_OBJECT), shndx: 2, value: 0, size: 8},
		{name: "l_data", info: stInfo(elf.STB_LOCAL, elf.STT_OBJECT), shndx: 2, value: 8, size: 8},
		{name: "g_bss", info: stInfo(elf.STB_GLOBAL, elf.STT_OBJECT), shndx: 3, value: 0, size: 8},
		{name: "l_bss", info: stInfo(elf.STB_LOCAL, elf.STT_OBJECT), shndx: 3, value: 8, size: 8},
		{name: "g_ro", info: stInfo(elf.STB_GLOBAL, elf.STT_OBJECT), shndx: 4, value: 0, size: 8},
		{name: "l_ro", info: stInfo(elf.STB_LOCAL, elf.STT_OBJECT), shndx: 4, value: 8, size: 8},
		{name: "w_func", info: stInfo(elf.STB_WEAK, elf.STT_FUNC), shndx: 1, value: 0x90, size: 8},
		{name: "w_undef", info: stInfo(elf.STB_WEAK, elf.STT_FUNC), shndx: uint16(elf.SHN_UNDEF)},
		{name: "w_obj", info: stInfo(elf.STB_WEAK, elf.STT_OBJECT), shndx: 2, value: 0x10, size: 8},
		{name: ".klp.sym.vmlinux.saved_command_line,0", info: stInfo(elf.STB_GLOBAL, elf.STT_OBJECT), shndx: uint16(elfobj.SHN_LIVEPATCH)},
		{name: "abs_g", info: stInfo(elf.STB_GLOBAL, elf.STT_NOTYPE), shndx: uint16(elf.SHN_ABS), value: 0x1234},
		{name: ".text", info: stInfo(elf.STB_LOCAL, elf.STT_SECTION), shndx: 1},
	}
	f, err := NewELF(bytes.NewReader(e.bytes()), "synth_mod.ko")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.BuildID, buildID) {
		t.Errorf("BuildID = %x, want %x", f.BuildID, buildID)
	}
	if f.Module != "synth_mod" || f.ABIv1 || f.Flags != 2 {
		t.Errorf("Module %q ABIv1 %v Flags %d, want synth_mod false 2", f.Module, f.ABIv1, f.Flags)
	}
	// debug/elf decompresses both zstd and zlib SHF_COMPRESSED sections.
	for _, name := range []string{".debug_info", ".debug_abbrev"} {
		got, err := f.File.Section(name).Data()
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("%s: Data() = %d bytes, %v; want the %d-byte payload", name, len(got), err, len(payload))
		}
	}
	want := []struct {
		name    string
		kind    byte
		section string
		le      uint64
	}{
		{"synth.c", 'a', "", 0},
		{"g_func", 'T', ".text", 8},
		{"l_func", 't', ".text", 0},
		{"le1", 't', ".text", 0},
		{"le2", 't', ".text", 4},
		{"le4", 't', ".text", 16},
		{"le5", 't', ".text", 32},
		{"le6", 't', ".text", 64},
		{"printk", 'U', "", 0},
		{"g_data", 'D', ".data", 0},
		{"l_data", 'd', ".data", 0},
		{"g_bss", 'B', ".bss", 0},
		{"l_bss", 'b', ".bss", 0},
		{"g_ro", 'R', ".rodata", 0},
		{"l_ro", 'r', ".rodata", 0},
		{"w_func", 'W', ".text", 0},
		{"w_undef", 'w', "", 0},
		{"w_obj", 'V', ".data", 0},
		{".klp.sym.vmlinux.saved_command_line,0", '?', "", 0},
		{"abs_g", 'A', "", 0},
	}
	if len(f.Symbols) != len(want) {
		t.Fatalf("%d symbols, want %d (section symbol left out)", len(f.Symbols), len(want))
	}
	for i, w := range want {
		s := f.Symbols[i]
		if s.Name != w.name || s.Kind != w.kind || s.Section != w.section || s.LocalEntry != w.le || s.Module != "synth_mod" {
			t.Errorf("symbol %d = %+v, want %s %c %s local entry %d", i, s, w.name, w.kind, w.section, w.le)
		}
	}
	r, err := f.RawSymbol(19)
	if err != nil || r.Name != ".klp.sym.vmlinux.saved_command_line,0" || r.Shndx != elfobj.SHN_LIVEPATCH {
		t.Errorf("RawSymbol(19) = %+v, %v", r, err)
	}
	if r, _ := f.RawSymbol(0); r.Name != "" || r.Shndx != elfobj.SHN_UNDEF {
		t.Errorf("RawSymbol(0) = %+v, want the null symbol", r)
	}
	if _, err := f.RawSymbol(uint32(f.NumRawSymbols())); err == nil {
		t.Error("RawSymbol past the end: no error")
	}
	rel, err := f.Relocations(".rela.text")
	if err != nil {
		t.Fatal(err)
	}
	wantRel := []Rela{{Off: 0x10, Sym: 9, Type: uint32(elf.R_PPC64_REL24), Addend: -4}, {Off: 0x20, Sym: 1, Type: uint32(elf.R_PPC64_ADDR64), Addend: 8}}
	if len(rel) != 2 || rel[0] != wantRel[0] || rel[1] != wantRel[1] {
		t.Errorf("Relocations = %+v, want %+v", rel, wantRel)
	}
	if _, err := f.Relocations(".text"); err == nil {
		t.Error("Relocations(.text): no error for a non-RELA section")
	}
	if _, err := f.Relocations(".nope"); err == nil {
		t.Error("Relocations(.nope): no error")
	}
}

func TestSyntheticELFv1OPD(t *testing.T) {
	t.Parallel()
	o := binary.BigEndian
	// .opd: two descriptors {entry, toc, env}.
	opd := make([]byte, 48)
	o.PutUint64(opd[0:], 0x10000100)
	o.PutUint64(opd[8:], 0x10038000)
	o.PutUint64(opd[24:], 0x10000180)
	e := &testELF{order: o, typ: elf.ET_EXEC, flags: 1, machine: elf.EM_PPC64, secs: []testSection{
		{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, addr: 0x10000000, data: make([]byte, 0x200)},
		{name: ".opd", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, addr: 0x10020000, data: opd},
	}}
	e.syms = []testSym{
		{name: "foo", info: stInfo(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 2, value: 0x10020000, size: 0x80},
		{name: "bar", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 2, value: 0x10020018, size: 0x40},
		{name: ".foo", info: stInfo(elf.STB_GLOBAL, elf.STT_NOTYPE), shndx: 1, value: 0x10000100},
		{name: "past", info: stInfo(elf.STB_LOCAL, elf.STT_FUNC), shndx: 2, value: 0x10020030, size: 8}, // beyond .opd data
	}
	f, err := NewELF(bytes.NewReader(e.bytes()), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !f.ABIv1 {
		t.Fatal("ABIv1 false for e_flags 1")
	}
	want := []Symbol{
		{Name: "foo", Addr: 0x10000100, Size: 0x80, Kind: 'T', Section: ".text", Desc: 0x10020000},
		{Name: "bar", Addr: 0x10000180, Size: 0x40, Kind: 't', Section: ".text", Desc: 0x10020018},
		{Name: ".foo", Addr: 0x10000100, Kind: 'T', Section: ".text"},
		// At .opd's end: not in the section it names (symcheck.go).
		{Name: "past", Addr: 0x10020030, Size: 8, Kind: 'd', Section: ".opd", Suspect: SymOutsideSection},
	}
	for i, w := range want {
		if i >= len(f.Symbols) || f.Symbols[i] != w {
			t.Errorf("symbol %d = %+v, want %+v", i, f.Symbols[i], w)
		}
	}
}

// TestStrtabBound: a .symtab whose string table declares more than
// maxStrtab is refused by that bound before it is read (a compressed
// string table would otherwise be decompressed to whatever it declares).
func TestStrtabBound(t *testing.T) {
	good := (&testELF{order: binary.LittleEndian, typ: elf.ET_REL, machine: elf.EM_PPC64, flags: 2,
		secs: []testSection{{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, data: make([]byte, 16)}},
		syms: []testSym{{name: "f", info: stInfo(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 1}}}).bytes()
	ef, err := elf.NewFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	link := ef.SectionByType(elf.SHT_SYMTAB).Link
	shoff := binary.LittleEndian.Uint64(good[40:])
	bad := bytes.Clone(good)
	binary.LittleEndian.PutUint64(bad[shoff+uint64(link)*64+32:], maxStrtab+1)
	_, err = NewELF(bytes.NewReader(bad), "big-strtab.ko")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d", maxStrtab)) {
		t.Fatalf("NewELF: %v, want the string table refused by maxStrtab", err)
	}
}

func TestNewELFMalformed(t *testing.T) {
	t.Parallel()
	good := (&testELF{order: binary.LittleEndian, typ: elf.ET_REL, machine: elf.EM_PPC64, flags: 2,
		secs: []testSection{{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, data: make([]byte, 16)}},
		syms: []testSym{{name: "f", info: stInfo(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 1}}}).bytes()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated header", good[:40]},
		{"truncated section headers", good[:len(good)-10]},
		{"32-bit", func() []byte { b := bytes.Clone(good); b[4] = byte(elf.ELFCLASS32); return b }()},
		{"section header offset past end", func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b[40:], 1<<40)
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewELF(bytes.NewReader(tc.data), "bad.ko")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "bad.ko") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// sameSymtab fails unless readSymtab64 reads st as debug/elf's
// File.Symbols does: the same error or none, the same symbols after the
// null one.
func sameSymtab(t *testing.T, r io.ReaderAt, df *elf.File) {
	t.Helper()
	of, err := elfobj.NewFile(r)
	if err != nil {
		return // elfobj refuses what debug/elf reads: FuzzNewFile's business
	}
	st := of.SectionByType(elfobj.SHT_SYMTAB)
	want, werr := df.Symbols()
	raw, err := readSymtab64(of, st)
	if (werr == nil) != (err == nil) || errors.Is(werr, elf.ErrNoSymbols) != errors.Is(err, elfobj.ErrNoSymbols) {
		t.Fatalf("readSymtab64: %v; debug/elf: %v", err, werr)
	}
	if err != nil {
		return
	}
	if len(raw) != len(want)+1 || raw[0] != (RawSymbol{}) {
		t.Fatalf("%d symbols (null first: %v), debug/elf %d", len(raw), raw[0] == RawSymbol{}, len(want))
	}
	for i, w := range want {
		r := raw[i+1]
		if r.Index != i+1 || r.Name != w.Name || r.Info != w.Info || r.Other != w.Other || elf.SectionIndex(r.Shndx) != w.Section || r.Value != w.Value || r.Size != w.Size {
			t.Fatalf("symbol %d: %+v, debug/elf %+v", i+1, r, w)
		}
	}
}

// TestReadSymtab64: on every committed example's vmlinux and module, and
// the corpus vmlinux when present, the symbol table reads as debug/elf
// reads it.
func TestReadSymtab64(t *testing.T) {
	files, _ := filepath.Glob("../testdata/example/*/vmlinux.zst")
	kos, _ := filepath.Glob("../testdata/example/*/modules/*.ko*")
	files = append(files, kos...)
	if c := "../../shared/corpus/kernels/7.2.13-buggy/vmlinux.zst"; func() bool { _, err := os.Stat(c); return err == nil }() {
		files = append(files, c)
	}
	n := 0
	for _, p := range files {
		path, err := container.Open(p)
		if err != nil {
			continue
		}
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		df, err := elf.NewFile(fh)
		if err != nil {
			fh.Close()
			continue
		}
		if st := df.SectionByType(elf.SHT_SYMTAB); st != nil && df.Class == elf.ELFCLASS64 {
			sameSymtab(t, fh, df)
			n++
		}
		fh.Close()
	}
	if n < 10 {
		t.Fatalf("compared %d symbol tables, want at least 10 (the examples' vmlinux and modules)", n)
	}
}

func FuzzNewELF(f *testing.F) {
	o := binary.LittleEndian
	f.Add((&testELF{order: o, typ: elf.ET_REL, machine: elf.EM_PPC64, flags: 2,
		secs: []testSection{
			{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, data: make([]byte, 16)},
			{name: ".note.gnu.build-id", typ: elf.SHT_NOTE, data: gnuNote(o, "GNU", 3, []byte{1, 2, 3, 4})},
			{name: ".rela.text", typ: elf.SHT_RELA, data: make([]byte, 24), info: 1, link: 4},
		},
		syms: []testSym{{name: "f", info: stInfo(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 1, other: 3 << 5}}}).bytes())
	f.Add((&testELF{order: binary.BigEndian, typ: elf.ET_EXEC, machine: elf.EM_PPC64, flags: 1,
		secs: []testSection{{name: ".opd", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, addr: 0x100, data: make([]byte, 24)}},
		syms: []testSym{{name: "f", info: stInfo(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 1, value: 0x100}}}).bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		if df, err := elf.NewFile(bytes.NewReader(data)); err == nil && df.Class == elf.ELFCLASS64 {
			if st := df.SectionByType(elf.SHT_SYMTAB); st != nil && st.Size < 1<<20 {
				sameSymtab(t, bytes.NewReader(data), df)
			}
		}
		ef, err := NewELF(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, s := range ef.Sections {
			if s.Type == elfobj.SHT_RELA && s.Size < 1<<20 {
				ef.Relocations(s.Name)
			}
		}
		for i := 0; i < ef.NumRawSymbols() && i < 1000; i++ {
			ef.RawSymbol(uint32(i))
		}
		tab := ef.Table()
		r := NewResolver()
		r.SetVmlinux(tab)
		_ = ef.SymtabReport.String()
		for i, s := range ef.Symbols {
			tab.ByAddr(s.Addr)
			tab.ByName(s.Name)
			if i < 64 { // the resolver over suspect symbols (symcheck.go)
				_ = r.Lookup(s.Addr + s.Size).String()
				_ = r.LookupKallsyms(s.Addr + s.Size/2).String()
			}
		}
	})
}

// corpusKernel returns the fixed kernel's directory.
func corpusKernel(t *testing.T) string {
	t.Helper()
	d := filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("corpus kernel %s absent", d)
	}
	return d
}

// mapEntry is one System.map line.
type mapEntry struct {
	addr uint64
	kind byte
	name string
}

func readSystemMap(t *testing.T, path string) []mapEntry {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []mapEntry
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 || len(fs[1]) != 1 {
			t.Fatalf("System.map line %q", sc.Text())
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mapEntry{a, fs[1][0], fs[2]})
	}
	return out
}

// selectedKallsyms parses truth.json guest.blocks["selected vmlinux
// kallsyms"] ("ADDR TYPE NAME").
func selectedKallsyms(t *testing.T, tr testcorpus.Truth) []mapEntry {
	t.Helper()
	g, _ := tr["guest"].(map[string]any)
	b, _ := g["blocks"].(map[string]any)
	lines, _ := b["selected vmlinux kallsyms"].([]any)
	if len(lines) == 0 {
		t.Fatal(`truth.json has no guest.blocks["selected vmlinux kallsyms"]`)
	}
	var out []mapEntry
	for _, l := range lines {
		fs := strings.Fields(l.(string))
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil || len(fs) != 3 {
			t.Fatalf("bad line %q", l)
		}
		out = append(out, mapEntry{a, fs[1][0], fs[2]})
	}
	return out
}

func TestCorpusVmlinuxSymbols(t *testing.T) {
	dir := corpusKernel(t)
	f, err := OpenELF(filepath.Join(dir, "vmlinux.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.ABIv1 || f.File.Machine != elfobj.EM_PPC64 || f.ByteOrder != binary.LittleEndian {
		t.Errorf("ABIv1 %v machine %v order %v: want ELFv2 ppc64le", f.ABIv1, f.File.Machine, f.ByteOrder)
	}
	if len(f.BuildID) != 20 {
		t.Errorf("vmlinux build-id %x: want 20 bytes", f.BuildID)
	}
	tab := f.Table()
	sm := readSystemMap(t, filepath.Join(dir, "System.map"))
	sel := selectedKallsyms(t, testcorpus.LoadTruth(t, testcorpus.Dir(t, "fixed-radix")))
	check := func(what string, es []mapEntry, kinds bool) {
		missing := 0
		for _, e := range es {
			found := false
			for _, s := range tab.AllByName(e.name) {
				if s.Addr == e.addr && (!kinds || s.Kind == e.kind) {
					found = true
				}
			}
			if !found {
				if missing++; missing <= 10 {
					t.Errorf("%s: %c %s at %#x not found; table has %+v", what, e.kind, e.name, e.addr, tab.AllByName(e.name))
				}
			}
		}
		t.Logf("%s: %d entries checked, %d missing", what, len(es), missing)
	}
	check("System.map", sm, true)
	// /proc/kallsyms lowercases no global here, so kinds must match too.
	check("selected vmlinux kallsyms", sel, true)

	// ByAddr inside a sized function names that function.
	printk, ok := tab.ByName("_printk")
	if !ok || printk.Size == 0 {
		t.Fatalf("_printk: %+v %v", printk, ok)
	}
	if s, off, ok := tab.ByAddr(printk.Addr + 4); !ok || s.Name != "_printk" || off != 4 {
		t.Errorf("ByAddr(_printk+4) = %s+%#x %v", s.Name, off, ok)
	}
	if _, err := f.DWARF(); err != nil {
		t.Errorf("DWARF: %v", err)
	}
}

// TestCorpusLocalEntry checks LocalEntry against the code: an ELFv2
// function with a TOC setup starts its global entry with
// "addis r2,r12,HA(.TOC.-func)" (primary opcode 15, RT 2, RA 12: the high
// halfword 0x3c4c) followed by "addi r2,r2,LO" (0x3842), and its local
// entry is 8 bytes in; a function without one has local entry 0.
func TestCorpusLocalEntry(t *testing.T) {
	dir := corpusKernel(t)
	f, err := OpenELF(filepath.Join(dir, "vmlinux.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text := f.File.Section(".text")
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	var withTOC, without, bad int
	for _, s := range f.Symbols {
		if s.Section != ".text" || !s.Func() || s.Size < 8 {
			continue
		}
		o := s.Addr - text.Addr
		w0, w1 := f.ByteOrder.Uint32(code[o:]), f.ByteOrder.Uint32(code[o+4:])
		want := uint64(0)
		if w0>>16 == 0x3c4c && w1>>16 == 0x3842 {
			want = 8
			withTOC++
		} else {
			without++
		}
		if s.LocalEntry != want {
			if bad++; bad <= 10 {
				t.Errorf("%s at %#x starts %08x %08x: LocalEntry %d, want %d", s.Name, s.Addr, w0, w1, s.LocalEntry, want)
			}
		}
	}
	t.Logf("%d functions with a TOC setup, %d without, %d disagree", withTOC, without, bad)
	if withTOC == 0 || without == 0 {
		t.Errorf("want both kinds of functions: %d with TOC setup, %d without", withTOC, without)
	}
}

func TestCorpusModules(t *testing.T) {
	dir := corpusKernel(t)
	kos, _ := filepath.Glob(filepath.Join(dir, "modules", "*.ko"))
	if len(kos) == 0 {
		t.Fatal("no modules/*.ko")
	}
	for _, ko := range kos {
		t.Run(filepath.Base(ko), func(t *testing.T) {
			f, err := OpenELF(ko)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.BuildID) != 20 {
				t.Errorf("build-id %x: want 20 bytes", f.BuildID)
			}
			want := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
			if f.Module != want {
				t.Errorf("Module %q, want %q", f.Module, want)
			}
			if s, ok := f.SectionByName(".debug_info"); !ok || s.Flags&elfobj.SHF_COMPRESSED == 0 {
				t.Errorf(".debug_info %+v: want SHF_COMPRESSED (corpus README)", s)
			}
			if _, err := f.DWARF(); err != nil {
				t.Errorf("DWARF: %v", err)
			}
			if s, ok := f.SectionByName(".text"); !ok || s.Addr != 0 {
				t.Errorf(".text %+v: want address 0 in a .ko", s)
			}
		})
	}
}

// TestCorpusLivepatchSymbol: klp_stub_bug.ko is the klp-converted file the
// guests loaded (corpus README, "Correction"): the symbol
// .klp.sym.klp_tgt.tgt_secret,0 with st_shndx SHN_LIVEPATCH, and its one
// relocation section .klp.rela.klp_tgt..klptext (SHF_ALLOC |
// SHF_RELA_LIVEPATCH; no plain .rela.klptext left) holding one
// R_PPC64_REL24 at offset 0xc against that symbol (readelf -r).
func TestCorpusLivepatchSymbol(t *testing.T) {
	dir := corpusKernel(t)
	f, err := OpenELF(filepath.Join(dir, "modules", "klp_stub_bug.ko"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	for _, s := range f.RawSymbols() {
		if s.Name == ".klp.sym.klp_tgt.tgt_secret,0" {
			found = true
			if s.Shndx != elfobj.SHN_LIVEPATCH {
				t.Errorf("%s st_shndx %#x, want SHN_LIVEPATCH", s.Name, s.Shndx)
			}
			if s.Bind() != elfobj.STB_GLOBAL {
				t.Errorf("%s binding %v, want STB_GLOBAL", s.Name, s.Bind())
			}
		}
	}
	if !found {
		t.Error("no symbol .klp.sym.klp_tgt.tgt_secret,0")
	}
	if _, ok := f.SectionByName(".rela.klptext"); ok {
		t.Error(".rela.klptext present: the unconverted file, not the one the guests loaded")
	}
	const klpRela = ".klp.rela.klp_tgt..klptext"
	sec, ok := f.SectionByName(klpRela)
	if !ok {
		t.Fatalf("no section %s", klpRela)
	}
	const shfRelaLivepatch = 0x00100000 // include/uapi/linux/elf.h
	if sec.Flags&elfobj.SHF_ALLOC == 0 || sec.Flags&shfRelaLivepatch == 0 {
		t.Errorf("%s flags %#x, want SHF_ALLOC|SHF_RELA_LIVEPATCH", klpRela, uint64(sec.Flags))
	}
	rels, err := f.Relocations(klpRela)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].Off != 0xc || rels[0].Type != uint32(elf.R_PPC64_REL24) {
		t.Fatalf("%s = %+v, want one R_PPC64_REL24 at 0xc", klpRela, rels)
	}
	if s, err := f.RawSymbol(rels[0].Sym); err != nil || s.Name != ".klp.sym.klp_tgt.tgt_secret,0" {
		t.Errorf("%s relocates against %+v (%v), want .klp.sym.klp_tgt.tgt_secret,0", klpRela, s, err)
	}
	// Every RELA section of every kind parses.
	for _, s := range f.Sections {
		if s.Type == elfobj.SHT_RELA {
			rs, err := f.Relocations(s.Name)
			if err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
			for _, r := range rs {
				if _, err := f.RawSymbol(r.Sym); err != nil {
					t.Errorf("%s: %v", s.Name, err)
					break
				}
			}
		}
	}
}

// TestSectionData: a section's bytes as written, decompressed when
// SHF_COMPRESSED (the zstd section holds 950 bytes of payload in fewer),
// refused past the limit before and after decompression, and a missing
// or SHT_NOBITS section is ErrNoSection.
func TestSectionData(t *testing.T) {
	o := binary.LittleEndian
	payload := bytes.Repeat([]byte("debug info payload "), 50)
	text := bytes.Repeat([]byte{0x60, 0, 0, 0}, 16)
	e := &testELF{order: o, typ: elf.ET_REL, flags: 2, machine: elf.EM_PPC64, secs: []testSection{
		{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, data: text},
		{name: ".bss", typ: elf.SHT_NOBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, size: 0x40},
		{name: ".debug_info", typ: elf.SHT_PROGBITS, flags: elf.SHF_COMPRESSED, data: compressedSection(t, o, elf.COMPRESS_ZSTD, payload)},
	}}
	f, err := NewELF(bytes.NewReader(e.bytes()), "m.ko")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := f.SectionData(".text", 64); err != nil || !bytes.Equal(b, text) {
		t.Errorf(".text: % x, %v", b, err)
	}
	if _, err := f.SectionData(".text", 63); err == nil || !strings.Contains(err.Error(), "larger than the 63-byte limit") {
		t.Errorf(".text over its limit: %v", err)
	}
	if b, err := f.SectionData(".debug_info", 1000); err != nil || !bytes.Equal(b, payload) {
		t.Errorf(".debug_info: %d bytes, %v", len(b), err)
	}
	// debug/elf gives a compressed section's uncompressed size from its
	// Chdr, so the limit refuses it before it is inflated.
	if _, err := f.SectionData(".debug_info", uint64(len(payload))-1); err == nil || !strings.Contains(err.Error(), "larger than the 949-byte limit") {
		t.Errorf(".debug_info decompressed over its limit: %v", err)
	}
	for _, name := range []string{".bss", ".nope"} {
		if _, err := f.SectionData(name, 1<<20); !errors.Is(err, ErrNoSection) {
			t.Errorf("%s: %v, want ErrNoSection", name, err)
		}
	}
}
