package dump

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// Synthetic inputs: every expected value below is what the test put into
// the file it built with coregen.

const synthVMCOREINFO = "OSRELEASE=7.2.13\nBUILD-ID=8d4f21bc0974fd7a74432a899309ca9823d7f6c0\nPAGESIZE=65536\n" +
	"SYMBOL(init_uts_ns)=c000000000a7a200\nOFFSET(uts_namespace.name)=0\nSIZE(page)=56\nLENGTH(mem_section)=32768\n" +
	"NUMBER(VMALLOC_START)=0xc008000000000000\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456\nKERNELOFFSET=0\nCRASHTIME=1763776350\n"

// pattern returns n bytes that differ per address.
func pattern(base uint64, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], base+uint64(i)^0x5a5a000000000000)
	}
	return b
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func cpuNotes(order binary.ByteOrder, msr uint64) []coregen.Note {
	var notes []coregen.Note
	for i := 0; i < 2; i++ {
		r := coregen.PPC64Regs{NIP: 0xc000000000100000 + uint64(i)*0x10, Link: 0xc000000000200000 + uint64(i), MSR: msr}
		r.GPR[1] = 0xc000000001230000
		notes = append(notes, coregen.Note{Name: "CORE", Type: uint32(elf.NT_PRSTATUS), Desc: coregen.PRStatusPPC64(order, int32(i+1), r)})
	}
	return notes
}

func wantFault(t *testing.T, err error, reason FaultReason, addr uint64) {
	t.Helper()
	f, ok := IsFault(err)
	if !ok {
		t.Fatalf("error %v is not a *Fault (want %v at %#x)", err, reason, addr)
	}
	if f.Reason != reason || f.Addr != addr {
		t.Fatalf("fault %v, want %v at %#x", f, reason, addr)
	}
}

func TestELFCores(t *testing.T) {
	t.Parallel()
	seg0 := pattern(0, 0x3000)
	seg1 := pattern(0x100000, 0x1000)
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		msr := uint64(0x8000000000001032)
		if order == binary.ByteOrder(binary.LittleEndian) {
			msr |= 1 // MSR_LE
		}
		for _, tc := range []struct {
			name       string
			segs       []coregen.Segment
			vmcoreinfo bool
			format     Format
			phys, virt bool
		}{
			{"kdump", []coregen.Segment{{Vaddr: 0xc000000000000000, Paddr: 0, Data: seg0, MemSize: 0x4000}, {Vaddr: 0xc000000000100000, Paddr: 0x100000, Data: seg1}}, true, ELFKdump, true, true},
			{"qemu", []coregen.Segment{{Paddr: 0, Data: seg0, MemSize: 0x4000}, {Paddr: 0x100000, Data: seg1}}, false, ELFQEMU, true, false},
			{"process", []coregen.Segment{{Vaddr: 0x10000000, Data: seg0, MemSize: 0x4000}, {Vaddr: 0x10100000, Data: seg1}}, false, ELFProcess, false, true},
		} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, order), func(t *testing.T) {
				notes := cpuNotes(order, msr)
				if tc.vmcoreinfo {
					notes = append(notes, coregen.Note{Name: "VMCOREINFO", Desc: []byte(synthVMCOREINFO)})
				}
				e := coregen.ELF{Order: order, Segments: tc.segs, Notes: notes}
				d, err := Open([]string{writeTemp(t, "core", e.Bytes())}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if d.Format != tc.format || d.HeaderOrder != order || d.Machine != Machine(elf.EM_PPC64) {
					t.Errorf("format %v order %v machine %v, want %v %v EM_PPC64", d.Format, d.HeaderOrder, d.Machine, tc.format, order)
				}
				if len(d.Quirks) != 0 {
					t.Errorf("quirks %v, want none", d.Quirks)
				}
				if len(d.CPUs) != 2 || d.CPUs[1].NIP != 0xc000000000100010 || d.CPUs[1].Link != 0xc000000000200001 || d.CPUs[1].PID != 2 || d.CPUs[0].GPR[1] != 0xc000000001230000 {
					t.Errorf("CPUs %+v", d.CPUs)
				}
				if tc.vmcoreinfo != (d.VMCOREINFO != nil) {
					t.Errorf("VMCOREINFO %v, want present=%v", d.VMCOREINFO, tc.vmcoreinfo)
				}
				if (d.Phys != nil) != tc.phys || (d.Virt != nil) != tc.virt {
					t.Fatalf("Phys %v Virt %v, want %v %v", d.Phys != nil, d.Virt != nil, tc.phys, tc.virt)
				}
				mem, base := d.Phys, uint64(0)
				if !tc.phys {
					mem, base = d.Virt, tc.segs[0].Vaddr
				}
				// A read across the end of p_filesz: data then zeros.
				buf := make([]byte, 0x20)
				if err := ReadFull(mem, buf, base+0x2ff0); err != nil {
					t.Fatal(err)
				}
				want := append(append([]byte{}, seg0[0x2ff0:]...), make([]byte, 0x10)...)
				if !bytes.Equal(buf, want) {
					t.Errorf("read at %#x = %x, want %x", base+0x2ff0, buf, want)
				}
				// The gap between segments is not in the dump.
				n, err := mem.ReadAt(buf, base+0x3ff0)
				if n != 0x10 {
					t.Errorf("read up to the gap: n = %#x, want 0x10", n)
				}
				wantFault(t, err, NotInDump, base+0x4000)
				if tc.virt && tc.phys {
					if err := ReadFull(d.Virt, buf, 0xc000000000100008); err != nil || !bytes.Equal(buf, seg1[8:0x28]) {
						t.Errorf("virtual read: %x %v", buf, err)
					}
				}
			})
		}
	}
}

// TestQEMUPre80Quirk builds what QEMU before 8.0 wrote for a little-endian
// pseries guest: big-endian ELF header, program headers and notes,
// e_ehsize 8, two section headers in inconsistent byte order, and the
// guest's little-endian memory in the PT_LOAD.
func TestQEMUPre80Quirk(t *testing.T) {
	t.Parallel()
	mem := make([]byte, 0x2000)
	note := coregen.VMCOREINFONote(binary.LittleEndian, []byte(synthVMCOREINFO), 0x800)
	copy(mem[0x1000:], note)
	binary.LittleEndian.PutUint64(mem[0x10:], 0x1122334455667788)
	e := coregen.ELF{
		Order:              binary.BigEndian,
		EhSize:             8,
		QEMUSectionHeaders: true,
		Segments:           []coregen.Segment{{Paddr: 0, Data: mem}},
		Notes:              cpuNotes(binary.BigEndian, 0x8000000000001033),
	}
	d, err := openBytes([]string{"quirk"}, [][]byte{e.Bytes()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != ELFQEMU || d.HeaderOrder != binary.ByteOrder(binary.BigEndian) || d.MemoryOrder != binary.ByteOrder(binary.LittleEndian) {
		t.Errorf("format %v header %v memory %v", d.Format, d.HeaderOrder, d.MemoryOrder)
	}
	if len(d.Quirks) != 1 || d.Quirks[0] != QuirkQEMUBigEndianHeader {
		t.Errorf("quirks %q", d.Quirks)
	}
	if len(d.CPUs) != 2 || d.CPUs[0].NIP != 0xc000000000100000 {
		t.Errorf("CPUs %+v", d.CPUs)
	}
	var w8 [8]byte
	if err := ReadFull(d.Phys, w8[:], 0x10); err != nil || d.MemoryOrder.Uint64(w8[:]) != 0x1122334455667788 {
		t.Errorf("memory word %x (%v)", w8, err)
	}
	vi, _, err := ReadVMCOREINFO(d.Phys, 0x1000, 0x800, d.MemoryOrder)
	if err != nil || vi.OSRELEASE != "7.2.13" {
		t.Errorf("VMCOREINFO in memory: %v %v", vi, err)
	}
}

func TestELFTruncated(t *testing.T) {
	t.Parallel()
	e := coregen.ELF{Segments: []coregen.Segment{{Paddr: 0x10000, Data: pattern(0x10000, 0x4000)}}, Notes: cpuNotes(binary.LittleEndian, 1)}
	full := e.Bytes()
	dataStart := len(full) - 0x4000
	for _, cut := range []int{0, 10, 40, 63, 64 + 20, 64 + 56 + 30} {
		_, err := openBytes([]string{"cut"}, [][]byte{full[:cut]}, Options{})
		var fe *FormatError
		if cut == 0 {
			if !errors.As(err, &fe) {
				t.Errorf("cut at 0: %v, want *FormatError", err)
			}
			continue
		}
		if !errors.As(err, &fe) {
			t.Errorf("cut at %#x: %v, want *FormatError", cut, err)
			continue
		}
		if fe.Off > int64(cut) {
			t.Errorf("cut at %#x: error offset %#x beyond the cut", cut, fe.Off)
		}
	}
	for _, cut := range []int{dataStart, dataStart + 1, dataStart + 0x1000, dataStart + 0x3fff} {
		d, err := openBytes([]string{"cut"}, [][]byte{full[:cut]}, Options{})
		if err != nil {
			t.Fatalf("cut in data at %#x: %v", cut, err)
		}
		if len(d.Warnings) == 0 {
			t.Errorf("cut at %#x: no warning", cut)
		}
		held := uint64(cut - dataStart)
		buf := make([]byte, 0x4000)
		n, err := d.Phys.ReadAt(buf, 0x10000)
		if uint64(n) != held {
			t.Errorf("cut at %#x: read %#x bytes, want %#x", cut, n, held)
		}
		wantFault(t, err, Truncated, 0x10000+held)
	}
}

type kdumpCase struct {
	order binary.ByteOrder
	bs    uint32
	comp  coregen.Compression
}

// synthKdump builds pages 0..15: pfn 3 and 9 excluded, 5 and 6 zero,
// 12..15 absent from memory, the rest a pattern.
func synthKdump(c kdumpCase) (*coregen.Kdump, map[uint64][]byte) {
	pages := map[uint64][]byte{}
	for pfn := uint64(0); pfn < 12; pfn++ {
		if pfn == 3 || pfn == 9 {
			continue
		}
		if pfn == 5 || pfn == 6 {
			pages[pfn] = make([]byte, c.bs)
			continue
		}
		pages[pfn] = pattern(pfn*uint64(c.bs), int(c.bs))
	}
	// Page 7 is incompressible-looking noise for the raw fallback.
	if p, ok := pages[7]; ok {
		x := uint32(1)
		for i := range p {
			x = x*1664525 + 1013904223
			p[i] = byte(x >> 24)
		}
	}
	k := &coregen.Kdump{
		Order: c.order, BlockSize: c.bs, Compression: c.comp, MaxMapnr: 16, Pages: pages,
		Excluded: []uint64{3, 9}, ZeroPages: true, DumpLevel: 31,
		UTS:        coregen.UTSName{Sysname: "Linux", Release: "7.2.13", Machine: "ppc64le"},
		VMCOREINFO: []byte(synthVMCOREINFO),
		Notes:      cpuNotes(c.order, 0x8000000000001033),
	}
	return k, pages
}

func checkKdump(t *testing.T, d *Dump, c kdumpCase, pages map[uint64][]byte, pfns []uint64) {
	t.Helper()
	bs := uint64(c.bs)
	if d.BlockSize != bs || d.HeaderOrder != c.order || d.Machine != Machine(elf.EM_PPC64) || d.UTSName.Release != "7.2.13" {
		t.Errorf("block size %d order %v machine %v uts %+v", d.BlockSize, d.HeaderOrder, d.Machine, d.UTSName)
	}
	if d.VMCOREINFO == nil || d.VMCOREINFO.OSRELEASE != "7.2.13" {
		t.Errorf("VMCOREINFO %+v", d.VMCOREINFO)
	}
	if len(d.CPUs) != 2 || d.CPUs[1].NIP != 0xc000000000100010 {
		t.Errorf("CPUs %+v", d.CPUs)
	}
	buf := make([]byte, bs)
	for _, pfn := range pfns {
		_, err := d.Phys.ReadAt(buf, pfn*bs)
		switch want, ok := pages[pfn]; {
		case pfn == 3 || pfn == 9:
			wantFault(t, err, Excluded, pfn*bs)
		case pfn >= 12:
			wantFault(t, err, NotInDump, pfn*bs)
		case !ok:
			t.Fatalf("test bug: pfn %d", pfn)
		case err != nil:
			t.Errorf("pfn %d: %v", pfn, err)
		case !bytes.Equal(buf, want):
			t.Errorf("pfn %d: contents differ", pfn)
		}
	}
	// A read across a block boundary.
	small := make([]byte, 16)
	if err := ReadFull(d.Phys, small, 2*bs-8); err != nil || !bytes.Equal(small, append(append([]byte{}, pages[1][bs-8:]...), pages[2][:8]...)) {
		t.Errorf("cross-block read: %x %v", small, err)
	}
	// A read running into an excluded page stops at it.
	n, err := d.Phys.ReadAt(small, 3*bs-8)
	if n != 8 {
		t.Errorf("read into excluded page: n = %d", n)
	}
	wantFault(t, err, Excluded, 3*bs)
}

func TestKdumpCompressed(t *testing.T) {
	t.Parallel()
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, bs := range []uint32{4096, 65536} {
			for _, comp := range []coregen.Compression{coregen.Raw, coregen.Zlib, coregen.LZO, coregen.Snappy, coregen.Zstd} {
				c := kdumpCase{order, bs, comp}
				t.Run(fmt.Sprintf("%v/%d/%#x", order, bs, int(comp)), func(t *testing.T) {
					t.Parallel()
					k, pages := synthKdump(c)
					b, err := k.Bytes()
					if err != nil {
						t.Fatal(err)
					}
					d, err := openBytes([]string{"k"}, [][]byte{b}, Options{CachePages: 2})
					if err != nil {
						t.Fatal(err)
					}
					defer d.Close()
					if d.Format != KdumpCompressed {
						t.Errorf("format %v", d.Format)
					}
					// 12 pages in memory, 2 excluded, 10 dumped, 2 of them zero.
					if want := (PageCounts{Unit: uint64(bs), Total: 12, Present: 10, Excluded: 2, Zero: 2}); d.Pages != want {
						t.Errorf("pages %+v, want %+v", d.Pages, want)
					}
					if want := []Range{{0, 12 * uint64(bs)}}; fmt.Sprint(d.Ranges) != fmt.Sprint(want) {
						t.Errorf("ranges %v, want %v", d.Ranges, want)
					}
					checkKdump(t, d, c, pages, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 0, 7, 2})
					// The same through the flattened format, records in
					// stream order and shuffled with overlaps.
					for name, flat := range map[string][]byte{"in order": coregen.Flatten(b, 1000), "shuffled": shuffledFlat(b)} {
						fd, err := openBytes([]string{"f"}, [][]byte{flat}, Options{})
						if err != nil {
							t.Fatalf("flattened %s: %v", name, err)
						}
						if fd.Format != Flattened {
							t.Errorf("flattened %s: format %v", name, fd.Format)
						}
						checkKdump(t, fd, c, pages, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
					}
				})
			}
		}
	}
}

// shuffledFlat writes records backwards, preceded by garbage records that
// later ones overwrite.
func shuffledFlat(b []byte) []byte {
	var recs []coregen.FlatRecord
	const chunk = 777
	for off := 0; off < len(b); off += chunk {
		recs = append(recs, coregen.FlatRecord{Off: int64(off) + 300, Data: bytes.Repeat([]byte{0xee}, chunk)})
	}
	for off := (len(b) - 1) / chunk * chunk; off >= 0; off -= chunk {
		recs = append(recs, coregen.FlatRecord{Off: int64(off), Data: b[off:min(off+chunk, len(b))]})
	}
	return coregen.Flattened(recs)
}

func TestKdumpSplit(t *testing.T) {
	t.Parallel()
	c := kdumpCase{binary.LittleEndian, 4096, coregen.Zlib}
	k, pages := synthKdump(c)
	var parts [][]byte
	for _, r := range [][2]uint64{{0, 5}, {5, 16}} {
		p := *k
		p.Split, p.StartPFN, p.EndPFN = true, r[0], r[1]
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	p1, p2 := writeTemp(t, "s.1", parts[0]), writeTemp(t, "s.2", parts[1])
	d, err := Open([]string{p2, p1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Kdump.Parts) != 2 || d.Kdump.Parts[0].EndPFN != 5 || d.Pages.Present != 10 || d.Pages.Zero != 2 {
		t.Errorf("parts %+v pages %+v", d.Kdump.Parts, d.Pages)
	}
	checkKdump(t, d, c, pages, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	// Only the first part: the rest is not in the dump, with a warning.
	d1, err := Open([]string{p1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	if len(d1.Warnings) == 0 {
		t.Error("no warning for a missing split part")
	}
	_, err = d1.Phys.ReadAt(make([]byte, 8), 7*4096)
	wantFault(t, err, NotInDump, 7*4096)
}

func TestKdumpTruncated(t *testing.T) {
	t.Parallel()
	c := kdumpCase{binary.BigEndian, 4096, coregen.Zlib}
	k, _ := synthKdump(c)
	full, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// In the headers and bitmaps: a *FormatError with an offset.
	for _, cut := range []int{8, 100, 463, 4096 + 50, 2*4096 + 10} {
		_, err := openBytes([]string{"cut"}, [][]byte{full[:cut]}, Options{})
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("cut at %#x: %v, want *FormatError", cut, err)
		}
	}
	// In the data: pages beyond the cut fault Truncated.
	cut := len(full) - 100
	d, err := openBytes([]string{"cut"}, [][]byte{full[:cut]}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Phys.ReadAt(make([]byte, 8), 11*4096)
	wantFault(t, err, Truncated, 11*4096)
	if _, err := d.Phys.ReadAt(make([]byte, 8), 0); err != nil {
		t.Errorf("page 0 before the cut: %v", err)
	}
}

func TestLZOStoredDecodes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{4, 17, 18, 19, 238, 239, 273, 274, 528, 4096, 65536} {
		src := pattern(uint64(n), (n+7)&^7)[:n]
		k := &kdumpMemory{blockSize: uint64(n)}
		out, err := k.decode(coregen.LZOStored(src), DumpDHCompressedLZO)
		if err != nil || !bytes.Equal(out, src) {
			t.Errorf("n=%d: %v", n, err)
		}
	}
}

func TestParseVMCOREINFO(t *testing.T) {
	t.Parallel()
	vi, err := ParseVMCOREINFO([]byte(synthVMCOREINFO + "\x00garbage"))
	if err != nil {
		t.Fatal(err)
	}
	u := func(v uint64, ok bool) string { return fmt.Sprintf("%#x %v", v, ok) }
	i := func(v int64, ok bool) string { return fmt.Sprintf("%d %v", v, ok) }
	for _, tc := range []struct{ got, want string }{
		{vi.OSRELEASE, "7.2.13"},
		{fmt.Sprintf("%x", vi.BuildID), "8d4f21bc0974fd7a74432a899309ca9823d7f6c0"},
		{u(vi.PageSize()), "0x10000 true"},
		{u(vi.Symbol("init_uts_ns")), "0xc000000000a7a200 true"},
		{u(vi.Symbol("nope")), "0x0 false"},
		{u(vi.Offset("uts_namespace.name")), "0x0 true"},
		{u(vi.Size("page")), "0x38 true"},
		{u(vi.Length("mem_section")), "0x8000 true"},
		{i(vi.Number("VMALLOC_START")), "-4609434218613702656 true"},
		{i(vi.Number("PAGE_BUDDY_MAPCOUNT_VALUE")), "-268435456 true"},
		{u(vi.KernelOffset()), "0x0 true"},
		{i(vi.CrashTime()), "1763776350 true"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if len(vi.Keys) != 11 || vi.Keys[0] != "OSRELEASE" {
		t.Errorf("keys %q", vi.Keys)
	}
	for _, bad := range []string{"", "no equals sign\n", "=value\n"} {
		if _, err := ParseVMCOREINFO([]byte(bad)); err == nil {
			t.Errorf("ParseVMCOREINFO(%q): no error", bad)
		}
	}
	if _, err := ParseVMCOREINFO([]byte(strings.Repeat("A=1\n", maxVMCOREINFO))); err == nil {
		t.Error("oversized VMCOREINFO accepted")
	}
}

// TestKdumpSparseBitmaps: a dump whose bitmaps describe a physical address
// space far larger than the memory dumped — as QEMU writes for a pseries
// guest whose VGA RAM sits at 0x200080000000 — holds its bitmaps in a few
// chunks: opening it allocates a small fraction of the bitmaps' size, and
// the pages at both ends of the range read back.
func TestKdumpSparseBitmaps(t *testing.T) {
	const maxMapnr = 1 << 26 // 64 Mi page frames: two bitmaps of 8 MiB
	last := uint64(maxMapnr - 1)
	pages := map[uint64][]byte{1: pattern(4096, 4096), last: pattern(last*4096, 4096)}
	b := simpleKdump(t, 4096, coregen.Zlib, maxMapnr, pages)
	path := writeTemp(t, "sparse.kdump", b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := Open([]string{path}, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("Open allocated %d bytes for 16 MiB of nearly empty bitmaps", alloc)
	}
	if d.Pages.Total != 2 || d.Pages.Present != 2 || len(d.Ranges) != 2 || d.Ranges[1].Start != last*4096 {
		t.Errorf("pages %+v, ranges %v", d.Pages, d.Ranges)
	}
	buf := make([]byte, 4096)
	for pfn, want := range pages {
		if err := ReadFull(d.Phys, buf, pfn*4096); err != nil || !bytes.Equal(buf, want) {
			t.Errorf("pfn %#x: %v", pfn, err)
		}
	}
	_, err = d.Phys.ReadAt(buf, 2*4096)
	wantFault(t, err, NotInDump, 2*4096)
}

// simpleKdump is a little-endian kdump-compressed file of a ppc64le 7.2.13
// machine holding pages (pfn -> contents) with two CPU notes.
func simpleKdump(t *testing.T, bs uint32, comp coregen.Compression, maxMapnr uint64, pages map[uint64][]byte) []byte {
	t.Helper()
	k := &coregen.Kdump{
		BlockSize: bs, Compression: comp, MaxMapnr: maxMapnr, Pages: pages,
		UTS:   coregen.UTSName{Sysname: "Linux", Release: "7.2.13", Machine: "ppc64le"},
		Notes: cpuNotes(binary.LittleEndian, 0x8000000000001033),
	}
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
