package kernel

import (
	"encoding/binary"
	"runtime"
	"testing"
)

// TestReadAbsurdSizeAllocatesLittle: Read of nearly 1 GiB where memory
// holds 4 KiB fails at the end of what is held, having allocated about
// what it read, not the size asked for (sizes come from the dump).
func TestReadAbsurdSizeAllocatesLittle(t *testing.T) {
	p := &Program{Context: &Context{Mem: &fakeMem{segs: map[uint64][]byte{0x1000: make([]byte, 4096)}}, Order: binary.LittleEndian, PtrSize: 8}}
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	_, err := p.Read(0x1000, 1<<30-1)
	runtime.ReadMemStats(&b)
	if err == nil {
		t.Fatal("Read beyond memory succeeded")
	}
	if alloc := b.TotalAlloc - a.TotalAlloc; alloc > 4<<20 {
		t.Errorf("Read allocated %d bytes for 4096 readable", alloc)
	}
	got, err := p.Read(0x1000, 4096)
	if err != nil || len(got) != 4096 {
		t.Errorf("Read of what is held: %d bytes, %v", len(got), err)
	}
}
