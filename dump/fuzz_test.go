package dump

import (
	"encoding/binary"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/coregen"
)

// readSome exercises the memories of a parsed dump; any outcome but a
// panic is fine.
func readSome(d *Dump) {
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

func FuzzKdump(f *testing.F) {
	for _, comp := range []coregen.Compression{coregen.Raw, coregen.Zlib, coregen.LZO, coregen.Snappy, coregen.Zstd} {
		k, _ := synthKdump(kdumpCase{binary.LittleEndian, 512, comp})
		k.VMCOREINFO = []byte("OSRELEASE=1\n")
		b, err := k.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
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
	k, _ := synthKdump(kdumpCase{binary.BigEndian, 512, coregen.Zlib})
	b, err := k.Bytes()
	if err != nil {
		f.Fatal(err)
	}
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
