package damage

import (
	"bytes"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/dump"
)

type flat []byte

func (m flat) ReadAt(p []byte, addr uint64) (int, error) {
	if addr >= uint64(len(m)) {
		return 0, &dump.Fault{Addr: addr, Phys: true, Reason: dump.NotInDump}
	}
	n := copy(p, m[addr:])
	if n < len(p) {
		return n, &dump.Fault{Addr: addr + uint64(n), Phys: true, Reason: dump.NotInDump}
	}
	return n, nil
}

// TestMemoryOverlay: patches win byte by byte, merge, and never touch the
// inner memory; a hole faults at its first byte with the bytes before it
// read.
func TestMemoryOverlay(t *testing.T) {
	inner := flat(bytes.Repeat([]byte{0xaa}, 64))
	m := NewMemory(inner, true)
	m.Patch(8, []byte{1, 2, 3, 4})
	m.Patch(10, []byte{9, 9, 9}) // overlaps and extends the first
	m.Hole(40, 48)
	got := make([]byte, 16)
	if n, err := m.ReadAt(got, 4); n != 16 || err != nil {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	want := []byte{0xaa, 0xaa, 0xaa, 0xaa, 1, 2, 9, 9, 9, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}
	if !bytes.Equal(got, want) {
		t.Errorf("got % x\nwant % x", got, want)
	}
	if inner[8] != 0xaa {
		t.Error("inner memory written")
	}
	n, err := m.ReadAt(make([]byte, 16), 32)
	f, ok := dump.IsFault(err)
	if n != 8 || !ok || f.Addr != 40 || !f.Phys {
		t.Errorf("read across the hole: %d, %v", n, err)
	}
	if n, err := m.ReadAt(make([]byte, 4), 42); n != 0 || err == nil {
		t.Errorf("read inside the hole: %d, %v", n, err)
	}
	if n, err := m.ReadAt(make([]byte, 8), 60); n != 4 || err == nil {
		t.Errorf("read past the end: %d, %v", n, err)
	}
	if g := Garbage(20, 1); len(g) != 20 || bytes.Equal(g, Garbage(20, 2)) || !bytes.Equal(g, Garbage(20, 1)) {
		t.Errorf("Garbage not deterministic per seed")
	}
}
