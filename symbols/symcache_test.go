package symbols

import (
	"bytes"
	"debug/elf"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/kdump-inspect/kdump-inspect/internal/container"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// sameTables fails unless the two tables answer alike: the symbols in
// order (suspect marks included), the section ranges, every name's
// lookups, and ByAddr/Nearest at and around every symbol.
func sameTables(t *testing.T, what string, want, got *Table) {
	t.Helper()
	if !reflect.DeepEqual(want.Symbols(), got.Symbols()) {
		n := 0
		for i := range min(len(want.Symbols()), len(got.Symbols())) {
			if want.Symbols()[i] != got.Symbols()[i] && n < 5 {
				t.Errorf("%s: symbol %d = %+v, want %+v", what, i, got.Symbols()[i], want.Symbols()[i])
				n++
			}
		}
		t.Fatalf("%s: %d symbols, want %d, or they differ", what, got.Len(), want.Len())
	}
	if !reflect.DeepEqual(want.sections, got.sections) || want.inOrder != got.inOrder || !reflect.DeepEqual(want.addrIdx, got.addrIdx) {
		t.Fatalf("%s: sections, order or address index differ", what)
	}
	seen := map[string]bool{}
	for _, s := range want.Symbols() {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		w, _ := want.ByName(s.Name)
		g, ok := got.ByName(s.Name)
		if !ok || w != g {
			t.Fatalf("%s: ByName(%q) = %+v, %v; want %+v", what, s.Name, g, ok, w)
		}
		if !reflect.DeepEqual(want.AllByName(s.Name), got.AllByName(s.Name)) {
			t.Fatalf("%s: AllByName(%q) differs", what, s.Name)
		}
	}
	for _, name := range []string{"", "\x00", "zzzz_no_such_symbol", "_"} {
		if _, ok := got.ByName(name); ok != seen[name] {
			t.Errorf("%s: ByName(%q) found %v", what, name, ok)
		}
	}
	// Each distinct address (at most ~20 000 of them, evenly spread: an
	// address shared by many aliases costs a walk over them all).
	step := max(len(want.Symbols())/20000, 1)
	for i, s := range want.Symbols() {
		if i%step != 0 || i > 0 && want.Symbols()[i-1].Addr == s.Addr {
			continue
		}
		for _, a := range []uint64{s.Addr, s.Addr + 1, s.Addr + s.Size/2, s.Addr + s.Size, s.Addr - 1} {
			ws, wo, wok := want.ByAddr(a)
			gs, gotOff, gok := got.ByAddr(a)
			if ws != gs || wo != gotOff || wok != gok {
				t.Fatalf("%s: ByAddr(%#x) = %s+%#x %v, want %s+%#x %v", what, a, gs.Name, gotOff, gok, ws.Name, wo, wok)
			}
			ws, wo, wok = want.Nearest(a)
			gs, gotOff, gok = got.Nearest(a)
			if ws != gs || wo != gotOff || wok != gok {
				t.Fatalf("%s: Nearest(%#x) = %s+%#x %v, want %s+%#x %v", what, a, gs.Name, gotOff, gok, ws.Name, wo, wok)
			}
		}
	}
}

// checkCachedELF opens path from the ELF, then through the symbol cache
// twice (built and saved, then loaded), and holds the three alike: the
// table, the suspect-symbol report and the raw symbols.
func checkCachedELF(t *testing.T, path string) {
	t.Helper()
	ref, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	dir := t.TempDir()
	for round, fromCache := range []bool{false, true} {
		f, err := OpenELFCached(path, dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.SymbolsFromCache != fromCache || f.SymbolCacheWarning != "" {
			t.Fatalf("round %d: from cache %v (warning %q), want %v", round, f.SymbolsFromCache, f.SymbolCacheWarning, fromCache)
		}
		sameTables(t, path, ref.Table(), f.Table())
		if !reflect.DeepEqual(ref.SymtabReport, f.SymtabReport) {
			t.Fatalf("round %d: report %+v, want %+v", round, f.SymtabReport, ref.SymtabReport)
		}
		if !reflect.DeepEqual(ref.RawSymbols(), f.RawSymbols()) {
			t.Fatalf("round %d: raw symbols differ", round)
		}
		f.Close()
	}
}

// TestSymcacheExamples: the committed examples' vmlinux files (ppc64
// ELFv1 and ELFv2, x86_64, arm64) give the same table and report from
// the cache as from the ELF.
func TestSymcacheExamples(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	paths, _ := filepath.Glob("../testdata/example/*/vmlinux.zst")
	if len(paths) == 0 {
		t.Fatal("no example vmlinux")
	}
	for _, p := range paths {
		t.Run(filepath.Base(filepath.Dir(p)), func(t *testing.T) { checkCachedELF(t, p) })
	}
}

// TestSymcacheInPlace: the cache file's symbols, address index and name
// order are used in place where the host's layout is the file's (every
// little-endian 64-bit Go target, this one included), and decoded field
// by field from a buffer that is not aligned for them; both give the
// table that was saved (ELFv1 descriptors and far local entries too).
func TestSymcacheInPlace(t *testing.T) {
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "ppc64le" {
		if !recInPlace {
			t.Fatalf("rec's layout (size %d) is not the file's on %s", unsafe.Sizeof(rec{}), runtime.GOARCH)
		}
	}
	paths, _ := filepath.Glob("../testdata/example/*/vmlinux.zst")
	syms := []Symbol{
		{Name: "far", Addr: 0x10, Size: 8, Kind: 'T', Section: ".text", LocalEntry: 1 << 20, Desc: 0x99},
		{Name: "u", Kind: 'U'},
	}
	if len(paths) > 0 {
		if ex, err := OpenELF(paths[0]); err == nil {
			syms = append(syms, ex.Table().Symbols()...)
			ex.Close()
		}
	}
	want := NewTable(syms)
	var buf bytes.Buffer
	if err := encodeTable(&buf, []byte("k"), want, nil); err != nil {
		t.Fatal(err)
	}
	// An 8-aligned copy (as a mapping is) and one at an odd address.
	aligned := make([]uint64, buf.Len()/8+1)
	a := unsafe.Slice((*byte)(unsafe.Pointer(&aligned[0])), len(aligned)*8)[:buf.Len()]
	copy(a, buf.Bytes())
	odd := make([]byte, buf.Len()+1)[1:]
	copy(odd, buf.Bytes())
	for what, b := range map[string][]byte{"aligned": a, "odd address": odd} {
		got, _, err := decodeTable(b, []byte("k"))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		inMapping := len(got.recs) > 0 && uintptr(unsafe.Pointer(&got.recs[0])) >= uintptr(unsafe.Pointer(&b[0])) &&
			uintptr(unsafe.Pointer(&got.recs[0])) < uintptr(unsafe.Pointer(&b[0]))+uintptr(len(b))
		if wantIn := what == "aligned" && recInPlace; inMapping != wantIn {
			t.Errorf("%s: symbols used in place %v, want %v", what, inMapping, wantIn)
		}
		sameTables(t, what, want, got)
		if s, ok := got.ByName("far"); !ok || s.LocalEntry != 1<<20 || s.Desc != 0x99 {
			t.Errorf("%s: far = %+v %v", what, s, ok)
		}
	}
}

// TestSymcacheCorpus: the corpus vmlinux and, when named, the distro one.
func TestSymcacheCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	t.Run("corpus", func(t *testing.T) {
		checkCachedELF(t, filepath.Join(testcorpus.Require(t), "kernels", "7.2.13-fixed", "vmlinux.zst"))
	})
	t.Run("distro", func(t *testing.T) {
		if p := os.Getenv("KDUMP_INSPECT_DISTRO_VMLINUX"); p != "" {
			checkCachedELF(t, p)
		} else {
			t.Skip("KDUMP_INSPECT_DISTRO_VMLINUX not set")
		}
	})
}

// damagedCopy writes a copy of the example's vmlinux with the st_size of
// its largest-index sized function grown by 16 MiB: a table with suspect
// symbols.
func damagedCopy(t *testing.T, example string) string {
	t.Helper()
	plain, err := container.Open(example)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	st := ef.SectionByType(elf.SHT_SYMTAB)
	syms, err := ef.Symbols()
	if err != nil || st == nil {
		t.Fatal("no symbols", err)
	}
	k := -1
	for i, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0 {
			k = i
		}
	}
	off := int(st.Offset) + (k+1)*elf.Sym64Size + 16
	ef.ByteOrder.PutUint64(b[off:], syms[k].Size+1<<24)
	out := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSymcacheSuspect: a damaged symbol table's suspect marks and report
// come back from the cache as the ELF gives them.
func TestSymcacheSuspect(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	path := damagedCopy(t, "../testdata/example/buggy-radix/vmlinux.zst")
	f, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.SymtabReport == nil || f.SymtabReport.Count == 0 {
		t.Fatal("the damage was not reported")
	}
	f.Close()
	checkCachedELF(t, path)
}

// TestSymcacheRejects: a damaged, truncated, stale or foreign cache file
// is not used; the table is built from the ELF again (the same one) and
// the file rewritten.
func TestSymcacheRejects(t *testing.T) {
	t.Setenv("KDUMP_INSPECT_CACHE", t.TempDir())
	path := "../testdata/example/buggy-radix/vmlinux.zst"
	ref, err := OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	dir := t.TempDir()
	f, err := OpenELFCached(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	cpath := SymbolCachePath(dir, "symtab", ref.BuildID)
	good, err := os.ReadFile(cpath)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x10
	other := bytes.Clone(good)
	// The key's last byte (the executable's mtime) changed, CRC made good.
	var key []byte
	{
		d := &container.Decoder{B: good, Off: len(symcacheMagic)}
		d.Uv("version")
		key = []byte(d.Str("key"))
	}
	i := bytes.Index(other, key) + len(key) - 1
	other[i] ^= 1
	fixCRC(other)
	for name, b := range map[string][]byte{
		"flipped":   flipped,
		"truncated": good[:len(good)/3],
		"empty":     {},
		"other key": other,
		"garbage":   bytes.Repeat([]byte("KDISYMTB"), 100),
	} {
		if err := os.WriteFile(cpath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := OpenELFCached(path, dir)
		if err != nil {
			t.Fatal(name, err)
		}
		if f.SymbolsFromCache || f.SymbolCacheWarning == "" {
			t.Errorf("%s: from cache %v, warning %q", name, f.SymbolsFromCache, f.SymbolCacheWarning)
		}
		sameTables(t, name, ref.Table(), f.Table())
		f.Close()
		// Rewritten: the next open reads it.
		if f, err = OpenELFCached(path, dir); err != nil || !f.SymbolsFromCache {
			t.Errorf("%s: not rewritten (%v)", name, err)
		} else {
			f.Close()
		}
	}
}

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, container.CRCTable) }

func fixCRC(b []byte) {
	body := b[:len(b)-4]
	sum := crc32Castagnoli(body)
	b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
}

// FuzzDecodeSymcache: no cache file makes the decoder panic, allocate
// beyond its bounds, or return a table whose lookups fail; seeds are real
// files (a small table, the example's).
func FuzzDecodeSymcache(f *testing.F) {
	key := []byte("key")
	small := NewTable([]Symbol{
		{Name: "a", Addr: 0x10, Size: 8, Kind: 'T', Section: ".text"},
		{Name: "b", Addr: 0x10, Kind: 't', Section: ".text", Suspect: SymOverlaps},
		{Name: "a", Addr: 0x30, Size: 4, Kind: 'd', Section: ".data", LocalEntry: 8, Desc: 0x99},
	})
	var buf bytes.Buffer
	rep := &SymtabReport{Count: 1, Kinds: SymOverlaps, Symbols: []Symbol{small.Symbols()[1]}}
	if err := encodeTable(&buf, key, small, rep); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	buf.Reset()
	encodeTable(&buf, key, NewKallsymsTable(nil), nil)
	f.Add(buf.Bytes())
	if ex, err := OpenELF("../testdata/example/buggy-radix/vmlinux.zst"); err == nil {
		buf.Reset()
		syms := ex.Table().Symbols()
		if err := encodeTable(&buf, key, NewTable(syms[:min(len(syms), 200)]), nil); err == nil {
			f.Add(buf.Bytes())
		}
		ex.Close()
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// A file that fails its CRC is refused before anything else;
		// fix it so that the fuzzer reaches the decoder.
		if len(b) >= len(symcacheMagic)+4 {
			fixCRC(b)
		}
		tab, _, err := decodeTable(b, key)
		if err != nil {
			var fe *IndexFormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not an IndexFormatError", err)
			}
			return
		}
		// The first symbols (ByAddr walks every alias of an address: a
		// table of one address costs n² over all of them).
		for _, s := range tab.Symbols()[:min(tab.Len(), 256)] {
			if got, ok := tab.ByName(s.Name); !ok || got.Name != s.Name {
				t.Fatalf("ByName(%q) = %+v, %v", s.Name, got, ok)
			}
			tab.ByAddr(s.Addr)
		}
	})
}

// TestCompactTableFields: every Symbol field survives the compact Table
// (a LocalEntry past what rec holds inline, descriptors, modules and
// sections interned) through NewTable, the cache file and Rebase.
func TestCompactTableFields(t *testing.T) {
	in := []Symbol{
		{Name: "f", Addr: 0x1000, Size: 0x40, Kind: 'T', Section: ".text", Module: "m", LocalEntry: 8, Desc: 0x5000},
		{Name: "g", Addr: 0x1040, Size: 0x10, Kind: 't', Section: ".text", Module: "m", LocalEntry: 300, Suspect: SymOverlaps},
		{Name: "d", Addr: 0x2000, Size: 8, Kind: 'd', Section: ".data", Module: "m"},
		{Name: "u", Kind: 'U', Module: "m"},
	}
	tab := NewTable(in)
	byName := map[string]Symbol{}
	for _, s := range in {
		byName[s.Name] = s
	}
	for _, s := range tab.Symbols() {
		if s != byName[s.Name] {
			t.Errorf("Symbols(): %+v, want %+v", s, byName[s.Name])
		}
	}
	var buf bytes.Buffer
	if err := encodeTable(&buf, []byte("k"), tab, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := decodeTable(buf.Bytes(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Symbols(), tab.Symbols()) {
		t.Errorf("from the cache: %+v, want %+v", got.Symbols(), tab.Symbols())
	}
	r := got.Rebase(0x100000)
	if s, ok := r.ByName("g"); !ok || s.Addr != 0x101040 || s.LocalEntry != 300 || s.Suspect != SymOverlaps {
		t.Errorf("rebased g = %+v, %v", s, ok)
	}
	if s, ok := r.ByName("u"); !ok || s.Addr != 0 {
		t.Errorf("rebased undefined u = %+v, %v (must not move)", s, ok)
	}
	if s, _, ok := got.ByAddr(0x1008); !ok || s.Name != "f" || s.Desc != 0x5000 {
		t.Errorf("ByAddr(0x1008) = %+v, %v", s, ok)
	}
}
