package coregen

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

	lzo "github.com/anchore/go-lzo"
)

func TestLZOStoredRoundTrip(t *testing.T) {
	for _, n := range []int{4, 18, 19, 238, 239, 273, 274, 529, 65536} {
		src := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, n/7+1)[:n]
		dst := make([]byte, n)
		got, err := lzo.Decompress(LZOStored(src), dst)
		if err != nil || got != n || !bytes.Equal(dst, src) {
			t.Errorf("n=%d: decoded %d bytes, %v", n, got, err)
		}
	}
}

// TestELFReadableByDebugELF checks a plain core with the standard
// library's strict parser.
func TestELFReadableByDebugELF(t *testing.T) {
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		e := ELF{Order: o, Segments: []Segment{{Vaddr: 0xc000000000000000, Paddr: 0x1000, Data: []byte("abcdefgh"), MemSize: 16}}, Notes: []Note{{Name: "CORE", Type: 1, Desc: make([]byte, 504)}}}
		f, err := elf.NewFile(bytes.NewReader(e.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != elf.ET_CORE || f.Machine != elf.EM_PPC64 || f.ByteOrder != o || len(f.Progs) != 2 {
			t.Fatalf("%v: type %v machine %v order %v progs %d", o, f.Type, f.Machine, f.ByteOrder, len(f.Progs))
		}
		p := f.Progs[1]
		if p.Type != elf.PT_LOAD || p.Paddr != 0x1000 || p.Vaddr != 0xc000000000000000 || p.Filesz != 8 || p.Memsz != 16 {
			t.Errorf("%v: PT_LOAD %+v", o, p.ProgHeader)
		}
	}
}

func TestFlattenedHeader(t *testing.T) {
	b := Flattened([]FlatRecord{{Off: 5, Data: []byte("xy")}})
	if string(b[:12]) != "makedumpfile" || binary.BigEndian.Uint64(b[16:]) != 1 || len(b) != 4096+16+2+16 {
		t.Fatalf("header % x, len %d", b[:32], len(b))
	}
	if binary.BigEndian.Uint64(b[4096:]) != 5 || binary.BigEndian.Uint64(b[4104:]) != 2 || int64(binary.BigEndian.Uint64(b[4096+18:])) != -1 {
		t.Errorf("records % x", b[4096:])
	}
}
