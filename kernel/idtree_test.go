package kernel

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// mapleProgram has the maple types of include/linux/maple_tree.h (64-bit:
// maple_range_64 with 15 pivots and 16 slots at 0x80, maple_arange_64
// with 9 pivots and 10 slots at 0x50, maple_node with 31 slots at 8) over
// the memory segs.
func mapleProgram(t *testing.T, segs map[uint64][]byte) *Program {
	t.Helper()
	s := dwarftest.New()
	uint_ := s.Base("unsigned int", dwarfbuilder.DW_ATE_unsigned, 4)
	ulong := s.Base("long unsigned int", dwarfbuilder.DW_ATE_unsigned, 8)
	voidp := s.Ptr(0)
	s.Open(dwarf.TagStructType, "maple_tree", 16)
	s.Member("ma_lock", uint_, 0)
	s.Member("ma_flags", uint_, 4)
	s.Member("ma_root", voidp, 8)
	s.TagClose()
	s.Open(dwarf.TagStructType, "maple_range_64", 256)
	s.Member("parent", voidp, 0)
	s.Member("pivot", s.Array(ulong, 15), 8)
	s.Member("slot", s.Array(voidp, 16), 0x80)
	s.TagClose()
	s.Open(dwarf.TagStructType, "maple_arange_64", 248)
	s.Member("parent", voidp, 0)
	s.Member("pivot", s.Array(ulong, 9), 8)
	s.Member("slot", s.Array(voidp, 10), 0x50)
	s.TagClose()
	s.Open(dwarf.TagStructType, "maple_node", 256)
	s.Member("parent", voidp, 0)
	s.Member("slot", s.Array(voidp, 31), 8)
	s.TagClose()
	ts, err := dwarfread.LoadTypes(s.Data(t), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return &Program{Context: &Context{Mem: &fakeMem{segs: segs}, Order: binary.LittleEndian, Types: ts, PtrSize: 8}}
}

// range64 lays out a maple_range_64 node.
func range64(pivots []uint64, slots []uint64) []byte {
	b := make([]byte, 256)
	for i, p := range pivots {
		binary.LittleEndian.PutUint64(b[8+8*i:], p)
	}
	for i, s := range slots {
		binary.LittleEndian.PutUint64(b[0x80+8*i:], s)
	}
	return b
}

// TestMapleEntries: a two-level tree as mtree_store() builds it for the
// IRQs 0..2 and 16, walked in index order; a node that points back at
// itself is refused.
func TestMapleEntries(t *testing.T) {
	t.Parallel()
	const (
		tree  = 0x1000
		root  = 0x2000 // maple_range_64 (internal)
		leafA = 0x3000 // maple_leaf_64: [0,0] [1,1] [2,2] [3,15] empty
		leafB = 0x4000 // maple_leaf_64: [16,16] then empty to the end
	)
	enode := func(n uint64, typ uint64) uint64 { return n | typ<<3 | 4 }
	tr := make([]byte, 16)
	binary.LittleEndian.PutUint64(tr[8:], enode(root, mapleRange64)|2) // xa_mk_node
	segs := map[uint64][]byte{
		tree:  tr,
		root:  range64([]uint64{15}, []uint64{enode(leafA, mapleLeaf64), enode(leafB, mapleLeaf64)}),
		leafA: range64([]uint64{0, 1, 2, 15}, []uint64{0xa0, 0xa1, 0xa2, 0}),
		leafB: range64([]uint64{16}, []uint64{0xb0, 0}),
	}
	p := mapleProgram(t, segs)
	got, err := p.MapleEntries(tree)
	want := []IndexedEntry{{0, 0, 0xa0}, {1, 1, 0xa1}, {2, 2, 0xa2}, {16, 16, 0xb0}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("entries %+v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A leaf slot pointing back at the root as a child: the internal
	// root's second slot is the root itself.
	segs[root] = range64([]uint64{15}, []uint64{enode(leafA, mapleLeaf64), enode(root, mapleRange64)})
	var te *TreeError
	if _, err := mapleProgram(t, segs).MapleEntries(tree); !errors.As(err, &te) {
		t.Errorf("a cycle: %v", err)
	}
	// A single entry in the root (no node): index 0.
	binary.LittleEndian.PutUint64(tr[8:], 0xc0de0)
	if got, err := mapleProgram(t, segs).MapleEntries(tree); err != nil || len(got) != 1 || got[0].Value != 0xc0de0 {
		t.Errorf("a lone root entry: %+v, %v", got, err)
	}
}
