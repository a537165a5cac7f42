package dump

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// corpusDumps returns the path lists to open for each dump file of dir
// (a split pair together).
func corpusDumps(dir string) [][]string {
	var out [][]string
	for _, p := range testcorpus.DumpFiles(dir) {
		if strings.HasSuffix(p, "-split.1") {
			out = append(out, []string{p, strings.TrimSuffix(p, "1") + "2"})
			continue
		}
		out = append(out, []string{p})
	}
	return out
}

// wantFormat is the format the corpus README gives each file name.
func wantFormat(path string) Format {
	base := filepath.Base(path)
	switch {
	case strings.HasSuffix(base, ".elf.zst"):
		return ELFQEMU
	case base == "vmcore.kdump":
		return Flattened
	}
	return KdumpCompressed
}

func isD31(path string) bool { return strings.Contains(filepath.Base(path), "-d31-") }

func openCorpus(t testing.TB, paths []string) *Dump {
	t.Helper()
	d, err := Open(paths, Options{})
	if err != nil {
		t.Fatalf("Open(%v): %v", paths, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// VMCOREINFOLocation parses a corpus directory's vmcoreinfo-location.txt,
// the guest's /sys/kernel/vmcoreinfo: the note's physical address and
// size, printed "%pa %x" (kernel/ksysfs.c).
func VMCOREINFOLocation(t testing.TB, dir string) (addr, size uint64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "vmcoreinfo-location.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("vmcoreinfo-location.txt: %q", b)
	}
	addr, err1 := strconv.ParseUint(f[0], 0, 64)
	size, err2 := strconv.ParseUint(f[1], 16, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("vmcoreinfo-location.txt %q: %v %v", b, err1, err2)
	}
	return addr, size
}

func TestCorpusOpenAll(t *testing.T) {
	for _, name := range testcorpus.Dirs {
		t.Run(name, func(t *testing.T) {
			dir := testcorpus.Dir(t, name)
			truth := testcorpus.LoadTruth(t, dir)
			release, _ := truth["dump"].(map[string]any)["uts_release"].(string)
			if release == "" {
				t.Fatal("truth.json has no dump.uts_release")
			}
			viAddr, viSize := VMCOREINFOLocation(t, dir)
			var headerText []byte
			for _, paths := range corpusDumps(dir) {
				t.Run(filepath.Base(paths[0]), func(t *testing.T) {
					d := openCorpus(t, paths)
					if d.Format != wantFormat(paths[0]) {
						t.Errorf("format %v, want %v", d.Format, wantFormat(paths[0]))
					}
					if d.Machine.String() != "EM_PPC64" {
						t.Errorf("machine %v", d.Machine)
					}
					// ppc64le guest: little-endian memory (README).
					if d.MemoryOrder.String() != "LittleEndian" {
						t.Errorf("memory order %v", d.MemoryOrder)
					}
					// QEMU writes NT_PRSTATUS for each of -smp 2; the d31
					// files were made by makedumpfile, which keeps only
					// VMCOREINFO.
					if !isD31(paths[0]) {
						if len(d.CPUs) != 2 {
							t.Errorf("%d CPUs, want 2", len(d.CPUs))
						}
						for i, c := range d.CPUs {
							if c.NIP>>60 != 0xc || c.Link>>60 != 0xc || !c.LittleEndian() {
								t.Errorf("CPU %d: NIP %#x LR %#x MSR %#x: not in kernel text / not LE", i, c.NIP, c.Link, c.MSR)
							}
						}
					}
					if d.VMCOREINFO != nil {
						if d.VMCOREINFO.OSRELEASE != release {
							t.Errorf("OSRELEASE %q, want %q", d.VMCOREINFO.OSRELEASE, release)
						}
						if ps, ok := d.VMCOREINFO.PageSize(); !ok || ps != 65536 {
							t.Errorf("PAGESIZE %d %v", ps, ok)
						}
						if headerText == nil {
							headerText = d.VMCOREINFORaw
						}
					} else if strings.Contains(filepath.Base(paths[0]), "vmcoreinfo") || isD31(paths[0]) {
						t.Error("no VMCOREINFO in a file that carries it")
					}
					if d.Format == KdumpCompressed && d.UTSName.Release != release {
						t.Errorf("utsname.release %q, want %q", d.UTSName.Release, release)
					}
					// The note in guest memory at the address the guest
					// printed holds the same VMCOREINFO.
					vi, text, err := ReadVMCOREINFO(d.Phys, viAddr, viSize, nil)
					if err != nil {
						t.Fatalf("VMCOREINFO at %#x: %v", viAddr, err)
					}
					if vi.OSRELEASE != release {
						t.Errorf("in-memory OSRELEASE %q", vi.OSRELEASE)
					}
					if headerText != nil && !bytes.Equal(text, headerText) {
						t.Errorf("in-memory VMCOREINFO (%d bytes) differs from the file's (%d bytes)", len(text), len(headerText))
					}
				})
			}
			if headerText == nil {
				t.Error("no file of the directory carries VMCOREINFO")
			}
		})
	}
}

type mdfJSON struct {
	PageSize      uint64                `json:"page_size"`
	PagesTotal    uint64                `json:"pages_total"`
	Report        map[string]int        `json:"makedumpfile_report_excluded"`
	PagesWithData uint64                `json:"pages_with_data"`
	Excluded      []struct{ PA string } `json:"excluded_faulting_pages"`
	Present       []struct {
		PA     string
		First8 string `json:"first8_hex"`
	} `json:"present_pages"`
	ZeroPage struct{ PA string } `json:"zero_class_page_reading_zeros"`
	Stubs    []struct {
		Module  string
		StubsPA string `json:"stubs_pa"`
		Len     int
	} `json:"stubs_physical"`
}

func hexAddr(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return v
}

// TestCorpusSamePages compares every file of a directory page by page
// with the first file that has no excluded pages.
func TestCorpusSamePages(t *testing.T) {
	for _, name := range testcorpus.Dirs {
		t.Run(name, func(t *testing.T) {
			dir := testcorpus.Dir(t, name)
			var dumps []*Dump
			var ref *Dump
			for _, paths := range corpusDumps(dir) {
				d := openCorpus(t, paths)
				dumps = append(dumps, d)
				if ref == nil && !isD31(paths[0]) {
					ref = d
				}
			}
			const bs = 65536
			pfns := []uint64{0, 1, 0x3fff}
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 300; i++ {
				pfns = append(pfns, r.Uint64N(0x4000))
			}
			var mdf mdfJSON
			if b, err := os.ReadFile(filepath.Join(dir, "makedumpfile.json")); err == nil {
				if err := json.Unmarshal(b, &mdf); err != nil {
					t.Fatal(err)
				}
				for _, s := range mdf.Stubs {
					pfns = append(pfns, hexAddr(t, s.StubsPA)/bs)
				}
			}
			want, got := make([]byte, bs), make([]byte, bs)
			for _, pfn := range pfns {
				if err := ReadFull(ref.Phys, want, pfn*bs); err != nil {
					t.Fatalf("%s pfn %#x: %v", ref.Paths[0], pfn, err)
				}
				for _, d := range dumps[1:] {
					err := ReadFull(d.Phys, got, pfn*bs)
					if f, ok := IsFault(err); ok && f.Reason == Excluded && isD31(d.Paths[0]) {
						continue
					}
					if err != nil {
						t.Errorf("%s pfn %#x: %v", d.Paths[0], pfn, err)
					} else if !bytes.Equal(got, want) {
						t.Errorf("%s pfn %#x differs from %s", d.Paths[0], pfn, ref.Paths[0])
					}
				}
			}
			// Module .stubs bytes as drgn read them (truth.json) at their
			// physical addresses (makedumpfile.json).
			truth := testcorpus.LoadTruth(t, dir)
			raw := map[string]string{}
			for _, m := range truth.DumpModules() {
				n, _ := m["name"].(string)
				raw[n], _ = m["stubs_raw_hex"].(string)
			}
			for _, s := range mdf.Stubs {
				wantStubs, err := hex.DecodeString(raw[s.Module])
				if err != nil || len(wantStubs) != s.Len {
					t.Fatalf("%s: truth stubs_raw_hex %d bytes, makedumpfile.json len %d (%v)", s.Module, len(wantStubs), s.Len, err)
				}
				for _, d := range dumps {
					b := make([]byte, s.Len)
					if err := ReadFull(d.Phys, b, hexAddr(t, s.StubsPA)); err != nil || !bytes.Equal(b, wantStubs) {
						t.Errorf("%s: %s .stubs at %s differ from truth (%v)", d.Paths[0], s.Module, s.StubsPA, err)
					}
				}
			}
		})
	}
}

// TestCorpusMakedumpfile checks the d31 files against makedumpfile.json.
func TestCorpusMakedumpfile(t *testing.T) {
	dir := testcorpus.Dir(t, "fixed-radix")
	b, err := os.ReadFile(filepath.Join(dir, "makedumpfile.json"))
	if err != nil {
		t.Skipf("makedumpfile.json: %v", err)
	}
	var mdf mdfJSON
	if err := json.Unmarshal(b, &mdf); err != nil {
		t.Fatal(err)
	}
	excluded := uint64(mdf.Report["cache"] + mdf.Report["user"] + mdf.Report["free"])
	zero := uint64(mdf.Report["zero"])
	for _, paths := range corpusDumps(dir) {
		if !isD31(paths[0]) {
			continue
		}
		t.Run(filepath.Base(paths[0]), func(t *testing.T) {
			d := openCorpus(t, paths)
			if d.BlockSize != mdf.PageSize {
				t.Errorf("block size %d, want %d", d.BlockSize, mdf.PageSize)
			}
			want := PageCounts{Unit: mdf.PageSize, Total: mdf.PagesTotal, Present: mdf.PagesTotal - excluded, Excluded: excluded, Zero: zero}
			if d.Pages != want {
				t.Errorf("pages %+v, want %+v", d.Pages, want)
			}
			if d.Pages.Present-d.Pages.Zero != mdf.PagesWithData {
				t.Errorf("pages with data %d, want %d", d.Pages.Present-d.Pages.Zero, mdf.PagesWithData)
			}
			buf := make([]byte, 8)
			for _, e := range mdf.Excluded {
				a := hexAddr(t, e.PA)
				_, err := d.Phys.ReadAt(buf, a+0x100)
				var f *Fault
				if !errors.As(err, &f) || f.Reason != Excluded || f.Addr != a+0x100 {
					t.Errorf("excluded page %s: %v", e.PA, err)
				}
			}
			for _, p := range mdf.Present {
				if err := ReadFull(d.Phys, buf, hexAddr(t, p.PA)); err != nil || hex.EncodeToString(buf) != p.First8 {
					t.Errorf("present page %s: %x (%v), want %s", p.PA, buf, err, p.First8)
				}
			}
			page := make([]byte, mdf.PageSize)
			if err := ReadFull(d.Phys, page, hexAddr(t, mdf.ZeroPage.PA)); err != nil || !allZero(page) {
				t.Errorf("zero-class page %s: not zeros (%v)", mdf.ZeroPage.PA, err)
			}
		})
	}
}

func BenchmarkRandomReads(b *testing.B) {
	dir := testcorpus.Dir(b, "fixed-radix")
	d := openCorpus(b, []string{filepath.Join(dir, "vmcore-vmcoreinfo.kdump")})
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 8)
	limit := d.Ranges[len(d.Ranges)-1].End
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := r.Uint64N(limit) &^ 7
		if _, err := d.Phys.ReadAt(buf, a); err != nil {
			b.Fatal(err)
		}
	}
}
