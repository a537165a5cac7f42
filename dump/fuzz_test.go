package dump

import (
	"encoding/binary"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/gen/coregen"
)

// readSome exercises the memories of a parsed dump; any outcome but a
// panic is fine.
func readSome(d *Dump) {
	defer func() { _ = d.Damage().String() }()
	buf := make([]byte, 64)
	for _, m := range []Memory{d.Phys, d.Virt} {
		if m == nil {
			continue
		}
		for _, a := range []uint64{0, 0x1000, 0x3ff8, 0x10000, 0xfff8, 1 << 40, ^uint64(0) - 8} {
			m.ReadAt(buf, a)
		}
		for _, r := range d.Ranges {
			m.ReadAt(buf, r.Start)
			m.ReadAt(buf, r.End-8)
		}
	}
}

func FuzzELFCore(f *testing.F) {
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		e := coregen.ELF{Order: o, Segments: []coregen.Segment{{Paddr: 0x1000, Data: pattern(0, 256), MemSize: 512}, {Vaddr: 0xc000000000000000, Data: pattern(1, 64)}},
			Notes: append(cpuNotes(o, 1), coregen.Note{Name: "VMCOREINFO", Desc: []byte(synthVMCOREINFO)})}
		f.Add(e.Bytes())
		e.EhSize, e.QEMUSectionHeaders = 8, true
		f.Add(e.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := openBytes([]string{"fuzz"}, [][]byte{b}, Options{})
		if err != nil {
			return
		}
		readSome(d)
	})
}

// tinyKdump is a 4-page kdump-compressed file of 512-byte blocks in the
// given byte order (about 2 KiB): the in-code seed of FuzzKdump and
// FuzzFlattened beside the seeds made from the corpus's headers
// (testdata/fuzz/<Target>/corpus-*, fuzzseed_test.go). Seeds stay small:
// a worker minimizing a new input reports no executions meanwhile, for
// a time that grows with the input's size (docs/FUZZING.md).
func tinyKdump(order binary.ByteOrder, comp coregen.Compression) []byte {
	k := &coregen.Kdump{Order: order, BlockSize: 512, Compression: comp, MaxMapnr: 4, Excluded: []uint64{3}, ZeroPages: true,
		Pages:      map[uint64][]byte{0: pattern(0, 64), 1: pattern(512, 512), 2: make([]byte, 512)},
		UTS:        coregen.UTSName{Sysname: "Linux", Release: "7.2.13", Machine: "ppc64le"},
		VMCOREINFO: []byte("OSRELEASE=7.2.13\nPAGESIZE=65536\n"), Notes: cpuNotes(order, 0x8000000000001033)}
	b, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzKdump(f *testing.F) {
	// Big-endian headers for a little-endian guest: QEMU before 8.0.
	f.Add(tinyKdump(binary.BigEndian, coregen.Zlib))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := openBytes([]string{"fuzz"}, [][]byte{b}, Options{CachePages: 1})
		if err != nil {
			return
		}
		defer d.Close()
		readSome(d)
	})
}

func FuzzFlattened(f *testing.F) {
	b := tinyKdump(binary.BigEndian, coregen.Zlib)
	f.Add(coregen.Flatten(b, 300))
	f.Add(shuffledFlat(b))
	f.Fuzz(func(t *testing.T, b []byte) {
		ff, err := indexFlat(newMemFile("fuzz", b), func(string, ...any) {})
		if err != nil {
			return
		}
		for i := 1; i < len(ff.pieces); i++ {
			if ff.pieces[i].lo < ff.pieces[i-1].hi || ff.pieces[i].lo >= ff.pieces[i].hi {
				t.Fatalf("pieces overlap or empty: %+v %+v", ff.pieces[i-1], ff.pieces[i])
			}
		}
		buf := make([]byte, 100)
		ff.ReadAt(buf, 0)
		ff.ReadAt(buf, ff.Size()/2)
		d, err := openBytes([]string{"fuzz"}, [][]byte{b}, Options{CachePages: 1})
		if err == nil {
			readSome(d)
			d.Close()
		}
	})
}

func FuzzVMCOREINFO(f *testing.F) {
	f.Add([]byte(synthVMCOREINFO))
	f.Add(coregen.VMCOREINFONote(binary.BigEndian, []byte(synthVMCOREINFO), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if vi, err := ParseVMCOREINFO(b); err == nil {
			vi.PageSize()
			vi.Symbol("x")
			vi.Number("x")
			vi.CrashTime()
		}
		VMCOREINFONoteText(b, nil)
	})
}
