package kernel

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/dwarfbuilder"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/dwarftest"
	"github.com/kdump-inspect/kdump-inspect/symbols/dwarfread"
)

// rbProgram is a Program over memory holding rb_nodes (include/linux/
// rbtree_types.h: __rb_parent_color, rb_right, rb_left; 24 bytes) laid out
// by set.
func rbProgram(t *testing.T, nodes map[uint64][2]uint64) *Program {
	t.Helper()
	s := dwarftest.New()
	ulong := s.Base("long unsigned int", dwarfbuilder.DW_ATE_unsigned, 8)
	rb := s.Open(dwarf.TagStructType, "rb_node", 24)
	s.Member("__rb_parent_color", ulong, 0)
	r := s.MemberFwd("rb_right", 8)
	l := s.MemberFwd("rb_left", 16)
	s.TagClose()
	p := s.Ptr(rb)
	s.PatchOffset(r, p)
	s.PatchOffset(l, p)
	ts, err := dwarfread.LoadTypes(s.Data(t), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	segs := map[uint64][]byte{}
	for a, lr := range nodes {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint64(b[16:], lr[0]) // rb_left
		binary.LittleEndian.PutUint64(b[8:], lr[1])  // rb_right
		segs[a] = b
	}
	return &Program{Context: &Context{Mem: &fakeMem{segs: segs}, Order: binary.LittleEndian, Types: ts, PtrSize: 8}}
}

// TestRBInOrder: in-order traversal (rb_first/rb_next order), and the
// caps: a cycle, a chain deeper than any kernel tree, a fault.
func TestRBInOrder(t *testing.T) {
	t.Parallel()
	//        0x200
	//       /     \
	//   0x100     0x300
	//      \
	//      0x180
	p := rbProgram(t, map[uint64][2]uint64{
		0x200: {0x100, 0x300}, 0x100: {0, 0x180}, 0x180: {}, 0x300: {},
	})
	got, err := p.RBInOrder(0x200)
	if err != nil || len(got) != 4 || got[0] != 0x100 || got[1] != 0x180 || got[2] != 0x200 || got[3] != 0x300 {
		t.Errorf("in order: %#x, %v", got, err)
	}
	if got, err := p.RBInOrder(0); err != nil || len(got) != 0 {
		t.Errorf("empty tree: %#x, %v", got, err)
	}
	cyc := rbProgram(t, map[uint64][2]uint64{0x200: {0x100, 0}, 0x100: {0, 0x200}})
	var re *RBTreeError
	if _, err := cyc.RBInOrder(0x200); !errors.As(err, &re) {
		t.Errorf("cycle: %v", err)
	}
	chain := map[uint64][2]uint64{}
	for i := uint64(0); i < 100; i++ {
		chain[0x1000+i*0x20] = [2]uint64{0x1000 + (i+1)*0x20, 0}
	}
	chain[0x1000+100*0x20] = [2]uint64{}
	if _, err := rbProgram(t, chain).RBInOrder(0x1000); !errors.As(err, &re) {
		t.Errorf("a 100-deep chain: %v", err)
	}
	bad := rbProgram(t, map[uint64][2]uint64{0x200: {0x100, 0x999000}, 0x100: {}})
	got, err = bad.RBInOrder(0x200)
	var f *dump.Fault
	if !errors.As(err, &f) || f.Addr != 0x999000+16 || len(got) != 2 {
		t.Errorf("a right link to unmapped memory: %#x, %v (want the two nodes before it and the fault)", got, err)
	}
}
