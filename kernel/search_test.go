package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// TestSearch: words, masks, ranges of values, 32-bit units, branch
// targets, unreadable pages skipped (not read as zeros), the hit cap and
// cancellation, over hand-made memory.
func TestSearch(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	const base = 0xc000000000100000
	page := make([]byte, 0x2000)
	le.PutUint64(page[0x08:], 0xc0080000008201c8) // the value
	le.PutUint64(page[0x10:], 0xc0080000008201d0) // inside [value, value+40)
	le.PutUint64(page[0x18:], 0xc0080000008211c8) // differs in bit 12 only
	// bl from base+0x20 to base+0x20-0x100: 0x48000001 | (-0x100 & 0x3fffffc)
	le.PutUint32(page[0x20:], 0x48000001|(0x4000000-0x100)&0x3fffffc)
	le.PutUint32(page[0x24:], 0x60000000) // nop
	le.PutUint64(page[0x1008:], 0xc0080000008201c8)
	// A second segment after an unreadable page.
	far := make([]byte, 0x1000)
	le.PutUint64(far[0x10:], 0xc0080000008201c8)
	mem := &fakeMem{segs: map[uint64][]byte{base: page, base + 0x3000: far}}
	all := []SearchRange{{Start: base, End: base + 0x4000}}
	ctx := context.Background()
	addrs := func(r SearchResult) []uint64 {
		var out []uint64
		for _, h := range r.Hits {
			out = append(out, h.Addr)
		}
		return out
	}
	eq := func(a []uint64, b ...uint64) bool { return slices.Equal(a, b) }
	r, err := Search(ctx, mem, le, all, SearchQuery{Values: []uint64{0xc0080000008201c8}})
	if err != nil || !eq(addrs(r), base+0x08, base+0x1008, base+0x3010) {
		t.Errorf("exact: %#x, %v", addrs(r), err)
	}
	if r.Unreadable != 0x1000 || r.Searched != 0x3000 {
		t.Errorf("searched %#x, unreadable %#x; want 0x3000 and the one missing page 0x1000", r.Searched, r.Unreadable)
	}
	r, _ = Search(ctx, mem, le, all, SearchQuery{Values: []uint64{0xc0080000008201c8}, Mask: 0x1000})
	if !eq(addrs(r), base+0x08, base+0x18, base+0x1008, base+0x3010) {
		t.Errorf("mask 0x1000: %#x", addrs(r))
	}
	r, _ = Search(ctx, mem, le, all, SearchQuery{Values: []uint64{0xc0080000008201c8}, Within: 40})
	if !eq(addrs(r), base+0x08, base+0x10, base+0x1008, base+0x3010) {
		t.Errorf("within 40: %#x", addrs(r))
	}
	r, _ = Search(ctx, mem, le, all, SearchQuery{Values: []uint64{base + 0x20 - 0x100}, Branch: true})
	if !eq(addrs(r), base+0x20) || !r.Hits[0].Link || r.Hits[0].Target != base+0x20-0x100 {
		t.Errorf("branch: %+v", r.Hits)
	}
	r, _ = Search(ctx, mem, le, all, SearchQuery{Values: []uint64{0x60000000}, Unit: 4})
	if !eq(addrs(r), base+0x24) {
		t.Errorf("32-bit nop: %#x", addrs(r))
	}
	r, _ = Search(ctx, mem, le, all, SearchQuery{Values: []uint64{0xc0080000008201c8}, Max: 2})
	if !r.Truncated || len(r.Hits) != 2 {
		t.Errorf("max 2: %d hits, truncated %v", len(r.Hits), r.Truncated)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Search(cctx, mem, le, all, SearchQuery{Values: []uint64{1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Search(ctx, mem, le, []SearchRange{{Start: 0, End: MaxSearchBytes + 1}}, SearchQuery{Values: []uint64{1}}); err == nil {
		t.Errorf("a range above MaxSearchBytes was accepted")
	}
}
