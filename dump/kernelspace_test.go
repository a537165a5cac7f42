package dump_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// mapMem is a sparse memory of 4 KiB frames for synthetic tests; a missing
// frame faults with NotInDump.
type mapMem struct {
	phys   bool
	frames map[uint64][]byte
}

func newMapMem(phys bool) *mapMem { return &mapMem{phys: phys, frames: map[uint64][]byte{}} }

func (m *mapMem) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		f, ok := m.frames[a>>12]
		if !ok {
			return n, &dump.Fault{Addr: a, Phys: m.phys, Reason: dump.NotInDump}
		}
		n += copy(p[n:], f[a&0xfff:])
	}
	return n, nil
}

func (m *mapMem) frame(a uint64) []byte {
	if f, ok := m.frames[a>>12]; ok {
		return f
	}
	f := make([]byte, 4096)
	m.frames[a>>12] = f
	return f
}

// fill backs [a, a+size) with the byte pattern tag, i%251.
func (m *mapMem) fill(a, size uint64, tag byte) {
	for i := uint64(0); i < size; i++ {
		m.frame(a + i)[(a+i)&0xfff] = tag ^ byte((a+i)%251)
	}
}

// put64 writes a page-table entry; Linux ppc64 PTEs are big-endian.
func (m *mapMem) put64(a, v uint64) { binary.BigEndian.PutUint64(m.frame(a)[a&0xfff:], v) }

// radix64K builds radix-64K page tables (index sizes 5/9/9/13,
// book3s/64/radix-64k.h) mapping each va page to its pa.
func radix64K(t *testing.T, phys *mapMem, maps map[uint64]uint64) *ppc64.Translator {
	t.Helper()
	g, err := ppc64.KnownGeometry(ppc64.Radix, 65536)
	if err != nil {
		t.Fatal(err)
	}
	const pgd = 0x100000
	next := uint64(0x200000)
	tables := map[string]uint64{}
	table := func(key string, size uint64) uint64 {
		if a, ok := tables[key]; ok {
			return a
		}
		a := next
		next += (size + 0xfff) &^ 0xfff
		phys.frame(a)
		tables[key] = a
		return a
	}
	for a := uint64(pgd); a < pgd+8<<13; a += 4096 { // the 64 KiB PGD
		phys.frame(a)
	}
	for va, pa := range maps {
		// pgd_index()/pud_index()/pmd_index()/pte_index(): shifts 39/30/21/16.
		i0, i1, i2, i3 := va>>39&8191, va>>30&511, va>>21&511, va>>16&31
		pud := table(fmt.Sprint(i0), 8<<9)
		pmd := table(fmt.Sprint(i0, i1), 8<<9)
		pte := table(fmt.Sprint(i0, i1, i2), 8<<5)
		// RADIX_xxx_VAL_BITS: _PAGE_PRESENT | next level's index size.
		phys.put64(pgd+i0*8, pud|0x8000000000000000|9)
		phys.put64(pud+i1*8, pmd|0x8000000000000000|9)
		phys.put64(pmd+i2*8, pte|0x8000000000000000|5)
		// pfn_pte(): pa | _PAGE_PTE | _PAGE_PRESENT | PAGE_KERNEL bits.
		phys.put64(pte+i3*8, pa|0xc00000000000018e)
	}
	return &ppc64.Translator{Phys: phys, PGD: pgd, Geom: g, VmallocStart: ppc64.RadixVmallocStart}
}

func TestKernelSpaceSynthetic(t *testing.T) {
	t.Parallel()
	const (
		va1 = 0xc008000000010000
		va2 = 0xc008000000020000 // next virtual page, far physical frame
		pa1 = 0x3000000
		pa2 = 0x1230000
	)
	phys := newMapMem(true)
	phys.fill(pa1, 0x10000, 0x11)
	phys.fill(pa2, 0x10000, 0x22)
	phys.fill(0x500000, 0x2000, 0x33) // linear-map data
	tr := radix64K(t, phys, map[uint64]uint64{va1: pa1, va2: pa2, 0xc008000000030000: 0x7ff0000 /* not in dump */})
	virt := newMapMem(false)
	virt.fill(va1+0x2000, 0x1000, 0x44) // a virtual segment over part of va1
	ksPlain := dump.NewKernelSpace(phys, tr, nil)
	ksOver := dump.NewKernelSpace(phys, tr, virt)

	want := func(m *mapMem, a, n uint64) []byte {
		b := make([]byte, n)
		if _, err := m.ReadAt(b, a); err != nil {
			t.Fatal(err)
		}
		return b
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

	tests := []struct {
		name string
		ks   dump.Memory
		addr uint64
		n    uint64
		want []byte
	}{
		{"linear", ksPlain, 0xc000000000500ff8, 16, want(phys, 0x500ff8, 16)},
		{"vmalloc", ksPlain, va1 + 0x100, 32, want(phys, pa1+0x100, 32)},
		{"spans two pages", ksPlain, va2 - 8, 24, cat(want(phys, pa1+0xfff8, 8), want(phys, pa2, 16))},
		{"overlay wins", ksOver, va1 + 0x1ff8, 0x1010, cat(want(phys, pa1+0x1ff8, 8), want(virt, va1+0x2000, 0x1000), want(phys, pa1+0x3000, 8))},
		{"no overlay there", ksOver, va2 + 0x40, 8, want(phys, pa2+0x40, 8)},
	}
	for _, tc := range tests {
		got := make([]byte, tc.n)
		n, err := tc.ks.ReadAt(got, tc.addr)
		if err != nil || n != int(tc.n) {
			t.Errorf("%s: ReadAt(%#x, %d) = %d, %v", tc.name, tc.addr, tc.n, n, err)
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: bytes differ:\n got %x\nwant %x", tc.name, got, tc.want)
		}
	}

	faults := []struct {
		name   string
		addr   uint64
		n      int // bytes read before the fault
		at     uint64
		reason dump.FaultReason
	}{
		{"unmapped PTE", 0xc008000000040000, 0, 0xc008000000040000, dump.Unmapped},
		{"unmapped PGD", 0xc00c000000000000, 0, 0xc00c000000000000, dump.Unmapped},
		{"read runs into an unmapped page", 0xc008000000030000 - 8, 8, 0xc008000000030000, dump.NotInDump},
		{"mapped, frame not in dump", 0xc008000000030010, 0, 0xc008000000030010, dump.NotInDump},
		{"user address", 0x10000000, 0, 0x10000000, dump.Unmapped},
		{"linear, not in dump", 0xc000000040000000, 0, 0xc000000040000000, dump.NotInDump},
	}
	for _, tc := range faults {
		b := make([]byte, 16)
		n, err := ksPlain.ReadAt(b, tc.addr)
		f, ok := dump.IsFault(err)
		if !ok || n != tc.n || f.Addr != tc.at || f.Reason != tc.reason || f.Phys {
			t.Errorf("%s: ReadAt(%#x) = %d, %v; want %d bytes then %v fault at virtual %#x", tc.name, tc.addr, n, err, tc.n, tc.reason, tc.at)
		}
	}
	// A fault from the page tables names the level.
	_, err := ksPlain.ReadAt(make([]byte, 8), 0xc008000000040000)
	if f, _ := dump.IsFault(err); f == nil || !strings.Contains(f.Detail, "PTE") {
		t.Errorf("unmapped PTE fault detail = %v, want the PTE level named", err)
	}
	// PGD pointing outside memory: Corrupt.
	phys.put64(0x100000+(0xc00a000000000000>>39&8191)*8, 0x80000f0000000009)
	_, err = ksPlain.ReadAt(make([]byte, 8), 0xc00a000000000000)
	if f, ok := dump.IsFault(err); !ok || f.Reason != dump.Corrupt {
		t.Errorf("PGD entry outside memory: err = %v, want Corrupt", err)
	}
	// No translator: nothing but the file's own virtual segments (none
	// here): every read faults, naming the address.
	ks := dump.NewKernelSpace(phys, nil, nil)
	for _, a := range []uint64{va1, 0xc000000000500000} {
		if _, err := ks.ReadAt(make([]byte, 8), a); err == nil {
			t.Errorf("read at %#x without a translator succeeded", a)
		} else if f, ok := dump.IsFault(err); !ok || f.Addr != a || f.Reason != dump.Unmapped {
			t.Errorf("read at %#x without a translator: %v, want Unmapped at that address", a, err)
		}
	}
}

// systemMap returns the address of sym in a System.map.
func systemMap(t *testing.T, path, sym string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("System.map: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 3 && fs[2] == sym {
			v, err := strconv.ParseUint(fs[0], 16, 64)
			if err != nil {
				t.Fatalf("System.map line %q: %v", sc.Text(), err)
			}
			return v
		}
	}
	t.Fatalf("%s not in %s", sym, path)
	return 0
}

// kernelDir follows a dump directory's vmlinux.zst link (a symlink, or a
// file holding the link text) to its kernel directory.
func kernelDir(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "vmlinux.zst")
	target, err := os.Readlink(p)
	if err != nil {
		b, rerr := os.ReadFile(p)
		if rerr != nil || len(b) > 256 {
			t.Fatalf("cannot follow %s: %v", p, err)
		}
		target = strings.TrimSpace(string(b))
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(dir, target)
	}
	return filepath.Dir(target)
}

// openParts opens a corpus dump file, with its second half for a split
// pair.
func openParts(t *testing.T, p string) *dump.Dump {
	t.Helper()
	paths := []string{p}
	if strings.HasSuffix(p, "-split.1") {
		paths = append(paths, strings.TrimSuffix(p, "1")+"2")
	}
	d, err := dump.Open(paths, dump.Options{})
	if err != nil {
		t.Fatalf("Open(%v): %v", paths, err)
	}
	return d
}

// vmallocStart is NUMBER(VMALLOC_START) of the dump's VMCOREINFO, from the
// file or, for files without it, from guest memory at the address
// vmcoreinfo-location.txt gives.
func vmallocStart(t *testing.T, d *dump.Dump, dir string) (uint64, string) {
	t.Helper()
	vi := d.VMCOREINFO
	src := "file"
	if vi == nil {
		addr, size := dump.VMCOREINFOLocation(t, dir)
		var err error
		vi, _, err = dump.ReadVMCOREINFO(d.Phys, addr, size, nil)
		if err != nil {
			t.Fatalf("VMCOREINFO from memory: %v", err)
		}
		src = "memory"
	}
	v, ok := vi.Number("VMALLOC_START")
	if !ok {
		t.Fatal("VMCOREINFO has no NUMBER(VMALLOC_START)")
	}
	return uint64(v), src
}

// TestKernelSpaceCorpus reads every module's .stubs section (a vmalloc
// address, through the page tables) from every dump file of every corpus
// directory and compares it with truth.json's stubs_raw_hex; and checks
// that every module memory region (mem[].base/size) reads identically
// through every dump file of a directory.
func TestKernelSpaceCorpus(t *testing.T) {
	for _, dirName := range testcorpus.Dirs {
		t.Run(dirName, func(t *testing.T) {
			dir := testcorpus.Dir(t, dirName)
			tr := testcorpus.LoadTruth(t, dir)
			dumpTruth, _ := tr["dump"].(map[string]any)
			feat := testcorpus.Hex(t, dumpTruth["cur_cpu_spec_mmu_features"])
			mmu := ppc64.MMUFromFeatures(feat)
			g, err := ppc64.KnownGeometry(mmu, 65536) // corpus README: 64K pages
			if err != nil {
				t.Fatal(err)
			}
			pgdVA := systemMap(t, filepath.Join(kernelDir(t, dir), "System.map"), "swapper_pg_dir")
			files := testcorpus.DumpFiles(dir)
			if len(files) == 0 {
				t.Skipf("no dump files in %s", dir)
			}
			regionHash := map[string]string{} // "module base size" -> sha256 (first file)
			for _, file := range files {
				t.Run(filepath.Base(file), func(t *testing.T) {
					d := openParts(t, file)
					defer d.Close()
					vs, src := vmallocStart(t, d, dir)
					if vs != ppc64.DefaultVmallocStart(g) {
						t.Errorf("VMALLOC_START %#x (from %s), geometry %v default %#x", vs, src, g, ppc64.DefaultVmallocStart(g))
					}
					trn := &ppc64.Translator{Phys: d.Phys, PGD: pgdVA - ppc64.PageOffset, Geom: g, VmallocStart: vs}
					ks := dump.NewKernelSpace(d.Phys, trn, d.Virt)
					// makedumpfile -d 31 files: a read may fault with
					// Excluded (the corpus's filtered files lack some
					// page-table pages), never return wrong bytes.
					filtered := d.Pages.Excluded > 0
					okFault := func(err error) bool {
						f, ok := dump.IsFault(err)
						return ok && filtered && f.Reason == dump.Excluded
					}
					var nStubs, nRegions, nExcluded int
					for _, m := range tr.DumpModules() {
						name, _ := m["name"].(string)
						want, err := hex.DecodeString(m["stubs_raw_hex"].(string))
						if err != nil {
							t.Fatalf("%s stubs_raw_hex: %v", name, err)
						}
						addr := testcorpus.Hex(t, m["stubs_section_addr"])
						got := make([]byte, len(want))
						if err := dump.ReadFull(ks, got, addr); okFault(err) {
							nExcluded++
						} else if err != nil {
							t.Errorf("%s .stubs at %#x: %v", name, addr, err)
						} else if !bytes.Equal(got, want) {
							t.Errorf("%s .stubs at %#x differ from truth", name, addr)
						} else {
							nStubs++
						}
						mems, _ := m["mem"].([]any)
						for _, r := range mems {
							reg := r.(map[string]any)
							size, _ := reg["size"].(float64)
							if size <= 0 || size > 64<<20 {
								continue
							}
							base := testcorpus.Hex(t, reg["base"])
							buf := make([]byte, uint64(size))
							var h string
							err := dump.ReadFull(ks, buf, base)
							if okFault(err) {
								nExcluded++
								continue
							}
							if err != nil {
								var f *dump.Fault
								if !errors.As(err, &f) {
									t.Errorf("%s mem %v at %#x: untyped error %v", name, reg["type"], base, err)
								}
								h = "fault: " + err.Error()
							} else {
								s := sha256.Sum256(buf)
								h = hex.EncodeToString(s[:])
							}
							key := fmt.Sprintf("%s %#x %#x", name, base, uint64(size))
							if prev, ok := regionHash[key]; !ok {
								regionHash[key] = h
							} else if prev != h {
								t.Errorf("%s: reads differently from %s: %s vs %s", key, filepath.Base(files[0]), h, prev)
							}
							if strings.HasPrefix(h, "fault") {
								t.Errorf("%s: %s", key, h)
							}
							nRegions++
						}
					}
					if filtered {
						checkStubsPhysical(t, d, dir, tr)
					} else {
						checkTranslations(t, trn, dir)
					}
					if filtered {
					} else if nStubs == 0 {
						t.Error("no module's .stubs read")
					}
					t.Logf("%s: VMALLOC_START %#x from %s; %d modules' .stubs match truth, %d mem regions read, %d reads excluded by makedumpfile",
						d.Format, vs, src, nStubs, nRegions, nExcluded)
				})
			}
		})
	}
}

// checkStubsPhysical reads each module's .stubs of a makedumpfile-filtered
// file at the physical address makedumpfile.json gives and compares it
// with truth.json: the data pages are in the file even where the page
// tables leading to them are not.
func checkStubsPhysical(t *testing.T, d *dump.Dump, dir string, tr testcorpus.Truth) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "makedumpfile.json"))
	if err != nil {
		t.Logf("no makedumpfile.json: %v", err)
		return
	}
	var mj struct {
		StubsPhysical []struct {
			Module  string `json:"module"`
			StubsVA string `json:"stubs_va"`
			StubsPA string `json:"stubs_pa"`
			Len     int    `json:"len"`
		} `json:"stubs_physical"`
	}
	if err := json.Unmarshal(b, &mj); err != nil {
		t.Fatalf("makedumpfile.json: %v", err)
	}
	want := map[string]string{}
	for _, m := range tr.DumpModules() {
		want[m["name"].(string)], _ = m["stubs_raw_hex"].(string)
	}
	n := 0
	for _, sp := range mj.StubsPhysical {
		pa := testcorpus.Hex(t, sp.StubsPA)
		got := make([]byte, sp.Len)
		if err := dump.ReadFull(d.Phys, got, pa); err != nil {
			t.Errorf("%s .stubs at physical %#x: %v", sp.Module, pa, err)
			continue
		}
		if hex.EncodeToString(got) != want[sp.Module] {
			t.Errorf("%s .stubs at physical %#x differ from truth", sp.Module, pa)
			continue
		}
		n++
	}
	if n == 0 {
		t.Error("no .stubs checked at its physical address")
	}
}

// checkTranslations compares the page-table walk of each module's .stubs
// address with the physical address makedumpfile.json records for it.
func checkTranslations(t *testing.T, trn *ppc64.Translator, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "makedumpfile.json"))
	if err != nil {
		return // only fixed-radix has one
	}
	var mj struct {
		StubsPhysical []struct {
			Module  string `json:"module"`
			StubsVA string `json:"stubs_va"`
			StubsPA string `json:"stubs_pa"`
		} `json:"stubs_physical"`
	}
	if err := json.Unmarshal(b, &mj); err != nil {
		t.Fatalf("makedumpfile.json: %v", err)
	}
	t.Logf("checking %d page-table walks against makedumpfile.json stubs_pa", len(mj.StubsPhysical))
	for _, sp := range mj.StubsPhysical {
		va, want := testcorpus.Hex(t, sp.StubsVA), testcorpus.Hex(t, sp.StubsPA)
		w, err := trn.Walk(va)
		if err != nil {
			t.Errorf("%s: Walk(%#x): %v", sp.Module, va, err)
			continue
		}
		if w.PA != want || len(w.Steps) != 4 || w.LeafSize != 65536 {
			t.Errorf("%s: Walk(%#x) = %#x via %d levels (leaf %#x), want %#x via 4 levels", sp.Module, va, w.PA, len(w.Steps), w.LeafSize, want)
		}
	}
}

type repeatPhys []byte

func (m repeatPhys) ReadAt(p []byte, addr uint64) (int, error) {
	for i := range p {
		a := addr + uint64(i)
		if a >= 1<<22 || a < addr {
			return i, &dump.Fault{Addr: a, Phys: true, Reason: dump.NotInDump}
		}
		p[i] = m[a%uint64(len(m))]
	}
	return len(p), nil
}

// FuzzKernelSpace reads through page tables made of random physical
// memory: no panics, and a short read always comes with a *Fault.
func FuzzKernelSpace(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 0, 0, 0x10, 0, 0x09}, uint64(0xc008000000000ff8), uint16(16))
	f.Add(make([]byte, 16), uint64(0xc000000000000000), uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, addr uint64, n uint16) {
		if len(data) == 0 || len(data) > 4096 {
			return
		}
		// Physical memory below 4 MiB reads as data repeated; above, it
		// faults.
		phys := repeatPhys(data)
		g, _ := ppc64.KnownGeometry(ppc64.Radix, 65536)
		ks := dump.NewKernelSpace(phys, &ppc64.Translator{Phys: phys, PGD: 0x1000, Geom: g}, nil)
		buf := make([]byte, n%2048)
		got, err := ks.ReadAt(buf, addr)
		if got < len(buf) {
			if _, ok := dump.IsFault(err); !ok {
				t.Fatalf("short read %d/%d without a *Fault: %v", got, len(buf), err)
			}
		}
	})
}

// TestKernelSpaceFallback: with the PUD table page taken out of the dump
// (as makedumpfile -d 31 did to the corpus), reads of the pages under it
// go to the fallback, which reads through the space without itself; an
// unanswered page keeps the walk's fault; the plain space is unchanged.
func TestKernelSpaceFallback(t *testing.T) {
	const (
		va1 = 0xc008000000010000
		pa1 = 0x3000000
		va2 = 0xc008000000020000 // the fallback does not know it
	)
	phys := newMapMem(true)
	phys.fill(pa1, 0x10000, 0x11)
	phys.fill(0x500000, 0x1000, 0x33) // linear-map data the fallback reads
	tr := radix64K(t, phys, map[uint64]uint64{va1: pa1, va2: 0x1230000})
	// The PUD table is the first table radix64K allocates.
	delete(phys.frames, 0x200000>>12)

	plain := dump.NewKernelSpace(phys, tr, nil)
	var asked []uint64
	ks, ok := dump.WithTranslateFallback(plain, func(va uint64, raw dump.Memory) (uint64, bool) {
		asked = append(asked, va)
		var b [8]byte
		if _, err := raw.ReadAt(b[:], 0xc000000000500000); err != nil {
			t.Errorf("fallback cannot read the linear map: %v", err)
		}
		if _, err := raw.ReadAt(b[:], va1); err == nil {
			t.Error("raw space answered a page whose tables are gone")
		}
		if va == va1 {
			return pa1, true
		}
		return 0, false
	})
	if !ok {
		t.Fatal("WithTranslateFallback refused a kernel space")
	}
	b := make([]byte, 16)
	if _, err := plain.ReadAt(b, va1+0x100); err == nil {
		t.Fatal("the plain space read a page whose PUD table is gone")
	}
	if _, err := ks.ReadAt(b, va1+0x100); err != nil {
		t.Fatalf("fallback read: %v", err)
	}
	want := make([]byte, 16)
	phys.ReadAt(want, pa1+0x100)
	if !bytes.Equal(b, want) {
		t.Errorf("read %x, want %x", b, want)
	}
	_, err := ks.ReadAt(b, va2)
	_, plainErr := plain.ReadAt(b, va2)
	if _, ok := dump.IsFault(err); !ok || err.Error() != plainErr.Error() {
		t.Errorf("unanswered page: err %v, want the walk's fault %v", err, plainErr)
	}
	if len(asked) != 2 || asked[0] != va1 || asked[1] != va2 {
		t.Errorf("fallback asked for %#x, want page addresses %#x then %#x", asked, uint64(va1), uint64(va2))
	}
	if _, ok := dump.WithTranslateFallback(phys, nil); ok {
		t.Error("WithTranslateFallback accepted a memory that is not a kernel space")
	}
}
