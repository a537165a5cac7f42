package kernel

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// TestWalkChain: the three forms of crash's list over hand-made nodes.
func TestWalkChain(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	node := func(next uint64) []byte {
		b := make([]byte, 32)
		le.PutUint64(b[8:], next) // the link at offset 8
		return b
	}
	// A ring with a standalone head at 0x100 (list_head at 0): entries
	// 0x1000, 0x2000, 0x3000 whose list_heads are at +8.
	mem := &fakeMem{segs: map[uint64][]byte{
		0x100:  {0x08, 0x10, 0, 0, 0, 0, 0, 0},
		0x1000: node(0x2008), 0x2000: node(0x3008), 0x3000: node(0x100),
		// A NULL-terminated chain of pointers to entries.
		0x5000: node(0x6000), 0x6000: node(0),
		// A broken ring: 0x7000 -> 0x8000 -> 0x7000 while the head is 0x100.
		0x7000: node(0x8008), 0x8000: node(0x7008),
	}}
	ctx := &Context{Mem: mem, Order: le, PtrSize: 8}
	walk := func(c Chain) ([]uint64, error) {
		var out []uint64
		for a, err := range WalkChain(ctx, c) {
			if err != nil {
				return out, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	eq := func(a []uint64, b ...uint64) bool { return slices.Equal(a, b) }
	got, err := walk(Chain{First: 0x1008, Stop: 0x100, LinkOff: 8, Adjust: 8})
	if err != nil || !eq(got, 0x1000, 0x2000, 0x3000) {
		t.Errorf("-H: %#x, %v", got, err)
	}
	got, err = walk(Chain{First: 0x2008, Stop: 0x2008, FirstIsEntry: true, LinkOff: 8, Adjust: 8})
	if err != nil || !eq(got, 0x2000, 0x3000, 0x100-8, 0x1000) {
		t.Errorf("-h: %#x, %v", got, err)
	}
	got, err = walk(Chain{First: 0x1008, Stop: 0x100, LinkOff: 8, Adjust: 8, End: 0x3000})
	if err != nil || !eq(got, 0x1000, 0x2000) {
		t.Errorf("-e: %#x, %v", got, err)
	}
	got, err = walk(Chain{First: 0x5000, Stop: 0x5000, FirstIsEntry: true, LinkOff: 8, NullEnds: true})
	if err != nil || !eq(got, 0x5000, 0x6000) {
		t.Errorf("NULL-terminated: %#x, %v", got, err)
	}
	var le2 *ListError
	_, err = walk(Chain{First: 0x7008, Stop: 0x100, LinkOff: 8, Adjust: 8})
	if !errors.As(err, &le2) || le2.Kind != ListCycle {
		t.Errorf("a ring missing its head: %v", err)
	}
	_, err = walk(Chain{First: 0x6000, Stop: 0x100, LinkOff: 8})
	if !errors.As(err, &le2) || le2.Kind != ListBadPointer {
		t.Errorf("a NULL in a circular list: %v", err)
	}
	_, err = walk(Chain{First: 0x1008, Stop: 0x100, LinkOff: 8, Adjust: 8, Max: 2})
	if !errors.As(err, &le2) || le2.Kind != ListTooLong {
		t.Errorf("max 2: %v", err)
	}
	_, err = walk(Chain{First: 0x9008, Stop: 0x100, LinkOff: 8, Adjust: 8})
	if !errors.As(err, &le2) || le2.Kind != ListBadPointer {
		t.Errorf("unreadable entry: %v", err)
	}
}
