package kernel

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/ctype"
)

// IndexedEntry is one entry of an index-keyed kernel tree (a maple tree
// or an XArray/radix tree): the range of indices it covers and its value.
type IndexedEntry struct {
	First, Last uint64
	Value       uint64
}

// Bounds on tree walks over a crashed kernel's memory.
const (
	maxTreeNodes = 1 << 16
	maxTreeDepth = 32
)

// TreeError is a maple or radix tree that cannot be a kernel's.
type TreeError struct {
	Root uint64
	Msg  string
}

func (e *TreeError) Error() string { return fmt.Sprintf("tree at %#x: %s", e.Root, e.Msg) }

// xaIsNode is xa_is_node() (include/linux/xarray.h): an internal entry
// (low bits 10) above 4096.
func xaIsNode(v uint64) bool { return v&3 == 2 && v > 4096 }

// Maple node types (enum maple_type, include/linux/maple_tree.h) and the
// encoding of a node pointer (lib/maple_tree.c mt_mk_node()): the type in
// bits 3..6, the node 256-byte aligned (MAPLE_NODE_MASK 255); the root
// pointer is xa_mk_node() of that (low bits 10).
const (
	mapleDense    = 0
	mapleLeaf64   = 1
	mapleRange64  = 2
	mapleARange64 = 3
	mapleNodeMask = 255
)

// MapleEntries walks the maple tree at tree (a struct maple_tree) in
// index order, as mt_for_each() does, and returns its non-NULL entries.
// Slot and pivot counts come from the types (struct maple_range_64,
// maple_arange_64, maple_node); the walk is depth- and node-capped and
// cycle-checked.
func (p *Program) MapleEntries(tree uint64) ([]IndexedEntry, error) {
	mt, err := p.Object("struct maple_tree", tree)
	if err != nil {
		return nil, err
	}
	root, err := uintMember(mt, "ma_root")
	if err != nil {
		return nil, err
	}
	if root == 0 {
		return nil, nil
	}
	if !xaIsNode(root) {
		return []IndexedEntry{{Value: root}}, nil // a single entry at 0
	}
	w := &mapleWalk{p: p, root: tree, seen: map[uint64]bool{}}
	if err := w.layouts(); err != nil {
		return nil, err
	}
	err = w.walk(root, 0, ^uint64(0), 0)
	return w.out, err
}

type mapleLayout struct {
	slotOff, pivotOff uint64
	slots, pivots     int64
}

type mapleWalk struct {
	p                    *Program
	root                 uint64
	seen                 map[uint64]bool
	out                  []IndexedEntry
	range64, arange, den mapleLayout
}

func (w *mapleWalk) layout(typ string, pivots bool) (mapleLayout, error) {
	o, err := NewObject(w.p.Context, typ, 0)
	if err != nil {
		return mapleLayout{}, err
	}
	var l mapleLayout
	s, err := o.offsetOnly("slot")
	if err != nil {
		return l, err
	}
	l.slotOff, l.slots = s.Addr, arrayLen(s)
	if pivots {
		pv, err := o.offsetOnly("pivot")
		if err != nil {
			return l, err
		}
		l.pivotOff, l.pivots = pv.Addr, arrayLen(pv)
	}
	if l.slots <= 0 || l.slots > 64 || l.pivots >= l.slots {
		return l, fmt.Errorf("%s: %d slots and %d pivots", typ, l.slots, l.pivots)
	}
	return l, nil
}

// arrayLen is the element count of an array object, -1 for others.
func arrayLen(o Object) int64 {
	if a, ok := o.resolved().(*ctype.ArrayType); ok {
		return a.Count
	}
	return -1
}

func (w *mapleWalk) layouts() error {
	var err1, err2, err3 error
	w.range64, err1 = w.layout("struct maple_range_64", true)
	w.arange, err2 = w.layout("struct maple_arange_64", true)
	w.den, err3 = w.layout("struct maple_node", false)
	return errors.Join(err1, err2, err3)
}

func (w *mapleWalk) walk(enode, min, max uint64, depth int) error {
	if depth > maxTreeDepth {
		return &TreeError{Root: w.root, Msg: fmt.Sprintf("deeper than %d", maxTreeDepth)}
	}
	node := enode &^ mapleNodeMask
	if w.seen[node] {
		return &TreeError{Root: w.root, Msg: fmt.Sprintf("node %#x reached twice", node)}
	}
	if len(w.seen) >= maxTreeNodes {
		return &TreeError{Root: w.root, Msg: fmt.Sprintf("more than %d nodes", maxTreeNodes)}
	}
	w.seen[node] = true
	typ := (enode >> 3) & 0xf
	var l mapleLayout
	switch typ {
	case mapleDense:
		l = w.den
	case mapleLeaf64, mapleRange64:
		l = w.range64
	case mapleARange64:
		l = w.arange
	default:
		return &TreeError{Root: w.root, Msg: fmt.Sprintf("node %#x of unknown type %d", node, typ)}
	}
	b, err := w.p.Read(node, int(l.slotOff)+int(l.slots)*8)
	if err != nil {
		return err
	}
	word := func(off uint64) uint64 { return w.p.Order.Uint64(b[off:]) }
	leaf := typ < mapleRange64
	lo := min
	for i := int64(0); i < l.slots; i++ {
		hi := max
		if typ == mapleDense {
			lo, hi = min+uint64(i), min+uint64(i)
		} else if i < l.pivots {
			// A zero pivot after the first marks the node's last
			// slot, which reaches the node's max (ma_data_end()).
			if pv := word(l.pivotOff + uint64(i)*8); pv != 0 || i == 0 {
				hi = pv
			}
		}
		slot := word(l.slotOff + uint64(i)*8)
		switch {
		case slot == 0:
		case leaf:
			w.out = append(w.out, IndexedEntry{First: lo, Last: hi, Value: slot})
		default:
			// A child is an encoded node (mt_mk_node(): the node,
			// its type << 3, MAPLE_ENODE_NULL 4); only the root
			// carries xa_mk_node's 2.
			if err := w.walk(slot, lo, hi, depth+1); err != nil {
				return err
			}
		}
		if hi >= max {
			break
		}
		lo = hi + 1
	}
	return nil
}

// RadixEntries walks the XArray (or radix tree, a struct radix_tree_root
// since v4.20) at root, as xa_for_each() does, and returns its entries
// that are not internal (retry, sibling, value) entries.
func (p *Program) RadixEntries(root uint64) ([]IndexedEntry, error) {
	xa, err := p.Object("struct xarray", root)
	if err != nil {
		return nil, err
	}
	head, err := uintMember(xa, "xa_head")
	if err != nil {
		return nil, err
	}
	n, err := NewObject(p.Context, "struct xa_node", 0)
	if err != nil {
		return nil, err
	}
	shiftM, err1 := n.offsetOnly("shift")
	slotsM, err2 := n.offsetOnly("slots")
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	nslots := arrayLen(slotsM)
	if nslots <= 0 || nslots > 256 {
		return nil, fmt.Errorf("struct xa_node has %d slots", nslots)
	}
	var out []IndexedEntry
	seen := map[uint64]bool{}
	var walk func(entry, base uint64, depth int) error
	walk = func(entry, base uint64, depth int) error {
		if !xaIsNode(entry) {
			if entry != 0 && entry&3 != 2 {
				out = append(out, IndexedEntry{First: base, Last: base, Value: entry})
			}
			return nil
		}
		node := entry - 2
		if depth > maxTreeDepth || seen[node] || len(seen) >= maxTreeNodes {
			return &TreeError{Root: root, Msg: fmt.Sprintf("node %#x: a cycle, or too deep or large", node)}
		}
		seen[node] = true
		b, err := p.Read(node, int(slotsM.Addr)+int(nslots)*8)
		if err != nil {
			return err
		}
		shift := uint64(b[shiftM.Addr])
		if shift >= 64 {
			return &TreeError{Root: root, Msg: fmt.Sprintf("node %#x: shift %d", node, shift)}
		}
		for i := int64(0); i < nslots; i++ {
			child := p.Order.Uint64(b[slotsM.Addr+uint64(i)*8:])
			if child == 0 {
				continue
			}
			idx := base + uint64(i)<<shift
			if shift == 0 {
				if child&3 != 2 {
					out = append(out, IndexedEntry{First: idx, Last: idx, Value: child})
				}
				continue
			}
			if err := walk(child, idx, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(head, 0, 0)
}
