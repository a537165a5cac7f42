package ftrace

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// sliceMem is kernel memory backed by a byte slice at base: reads outside
// fault.
type sliceMem struct {
	base uint64
	b    []byte
}

func (m sliceMem) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr-m.base >= uint64(len(m.b)) {
		return 0, fmt.Errorf("fault at %#x", addr)
	}
	n := copy(p, m.b[addr-m.base:])
	if n < len(p) {
		return n, fmt.Errorf("fault at %#x", addr+uint64(n))
	}
	return n, nil
}

const fuzzBase = 0xc000000000000000

// The 7.2 ppc64 layouts (kernel/trace/ftrace.c struct ftrace_page;
// include/linux/ftrace.h struct dyn_ftrace, struct ftrace_ops;
// kernel/trace/trace.h struct ftrace_hash).
var (
	rl72 = RecordLayout{PageNext: 0, PageRecords: 8, PageIndex: 16, PageOrder: 20, RecSize: 24, RecIP: 0, RecFlags: 8, RecOOL: 16, HasOOL: true, PageSize: 1 << 16}
	ol72 = OpsLayout{Func: 0, Next: 8, Flags: 16, FuncHash: 88, Trampoline: 192, Size: 264, NotraceHash: 0, FilterHash: 8, SizeBits: 0, Buckets: 8, Count: 16, EntryHlist: 0, EntryIP: 16}
)

// seedMem builds a small valid state: two ftrace pages (the second
// pointing back to nothing), three records, an ops list of one ops with a
// one-entry filter hash, ending at ftrace_list_end.
func seedMem() []byte {
	b := make([]byte, 4096)
	le := binary.LittleEndian
	put := func(off int, v uint64) { le.PutUint64(b[off:], v) }
	// page 0 at 0: next = page 1 at 0x40, records at 0x100, index 2, order 0
	put(0, fuzzBase+0x40)
	put(8, fuzzBase+0x100)
	le.PutUint32(b[16:], 2)
	put(0x40+8, fuzzBase+0x200)
	le.PutUint32(b[0x40+16:], 1)
	put(0x100, fuzzBase+0x1000)
	put(0x108, 1<<31|1)
	put(0x110, fuzzBase+0x1010) // records[0].arch.ool_stub
	put(0x118, fuzzBase+0x1020) // records[1].ip
	put(0x200, fuzzBase+0x2000)
	// ops at 0x400 -> ftrace_list_end at 0x600; func_hash at 0x700
	put(0x400, fuzzBase+0x9999)
	put(0x408, fuzzBase+0x600)
	put(0x400+88, fuzzBase+0x700)
	put(0x708, fuzzBase+0x800) // filter_hash
	put(0x800, 1)              // size_bits
	put(0x808, fuzzBase+0x900) // buckets
	put(0x810, 1)              // count
	put(0x908, fuzzBase+0xa00) // bucket 1 -> entry
	put(0xa10, fuzzBase+0x1000)
	return b
}

func TestWalkSynthetic(t *testing.T) {
	ctx := &kernel.Context{Mem: sliceMem{fuzzBase, seedMem()}, Order: binary.LittleEndian, PtrSize: 8}
	recs, pages, warns, err := WalkRecords(ctx, fuzzBase, rl72, fl72)
	if err != nil || len(warns) > 0 {
		t.Fatalf("err %v warns %v", err, warns)
	}
	if len(pages) != 2 || len(recs) != 3 || recs[0].IP != fuzzBase+0x1000 || !recs[0].Flags.Has(FL_ENABLED) || recs[0].Flags.Count() != 1 || recs[0].OOLStub != fuzzBase+0x1010 || recs[1].IP != fuzzBase+0x1020 {
		t.Errorf("pages %d recs %+v", len(pages), recs)
	}
	ops, err := WalkOpsList(ctx, fuzzBase+0x400, fuzzBase+0x600, ol72)
	if err != nil || len(ops) != 1 {
		t.Fatalf("ops %v err %v", ops, err)
	}
	if !ops[0].Filter.Contains(fuzzBase+0x1000) || !ops[0].Matches(fuzzBase+0x1000) || ops[0].Matches(fuzzBase+0x2000) {
		t.Errorf("filter %+v", ops[0].Filter)
	}
	if UniqueOps(ops, fuzzBase+0x1000) != fuzzBase+0x400 {
		t.Error("UniqueOps")
	}
	// A page chain that loops back is a cycle error, not a hang.
	m := seedMem()
	binary.LittleEndian.PutUint64(m[0x40:], fuzzBase)
	ctx.Mem = sliceMem{fuzzBase, m}
	if _, _, _, err := WalkRecords(ctx, fuzzBase, rl72, fl72); err == nil {
		t.Error("cyclic page chain: no error")
	}
	// An index beyond what order 0 allows is refused.
	m = seedMem()
	binary.LittleEndian.PutUint32(m[16:], 1<<16/24+1)
	ctx.Mem = sliceMem{fuzzBase, m}
	if _, _, _, err := WalkRecords(ctx, fuzzBase, rl72, fl72); err == nil {
		t.Error("index too large: no error")
	}
}

// FuzzWalk runs the record walk and the ops walk over arbitrary memory.
func FuzzWalk(f *testing.F) {
	f.Add(seedMem(), uint16(0), uint16(0x400))
	f.Add(make([]byte, 64), uint16(8), uint16(8))
	f.Fuzz(func(t *testing.T, mem []byte, start, opsStart uint16) {
		if len(mem) > 1<<16 {
			return
		}
		ctx := &kernel.Context{Mem: sliceMem{fuzzBase, mem}, Order: binary.LittleEndian, PtrSize: 8}
		l := rl72
		l.PageSize = 1 << 12 // keeps per-input work small
		recs, pages, _, _ := WalkRecords(ctx, fuzzBase+uint64(start), l, fl72)
		if len(pages) > MaxPages || len(recs) > MaxRecords {
			t.Fatalf("bounds exceeded: %d pages %d records", len(pages), len(recs))
		}
		for _, r := range recs {
			_ = r.Flags.Letters()
		}
		ops, _ := WalkOpsList(ctx, fuzzBase+uint64(opsStart), fuzzBase+0x600, ol72)
		if len(ops) > MaxOps {
			t.Fatalf("%d ops", len(ops))
		}
		for _, o := range ops {
			_ = o.Matches(fuzzBase)
		}
	})
}
