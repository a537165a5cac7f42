package damage

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Memory lays patches and holes over another memory (physical, when used
// as kernel.Options.PhysWrap): a patched byte reads as the patch, a byte in
// a hole faults as a dump does for memory it does not hold. The inner
// memory is never written.
type Memory struct {
	Inner dump.Memory
	Phys  bool // the addresses are physical (for the faults' Phys)

	patches []patch // sorted by addr, non-overlapping
	holes   []hole  // sorted by lo
}

type patch struct {
	addr uint64
	b    []byte
}

type hole struct{ lo, hi uint64 }

// NewMemory wraps inner.
func NewMemory(inner dump.Memory, phys bool) *Memory { return &Memory{Inner: inner, Phys: phys} }

// Patch makes the bytes at addr read as b (later patches win where they
// overlap earlier ones, byte by byte).
func (m *Memory) Patch(addr uint64, b []byte) {
	for i, c := range b {
		m.setByte(addr+uint64(i), c)
	}
}

func (m *Memory) setByte(a uint64, c byte) {
	i := sort.Search(len(m.patches), func(i int) bool { return m.patches[i].addr+uint64(len(m.patches[i].b)) > a })
	if i < len(m.patches) && m.patches[i].addr <= a {
		m.patches[i].b[a-m.patches[i].addr] = c
		return
	}
	m.patches = append(m.patches, patch{})
	copy(m.patches[i+1:], m.patches[i:])
	m.patches[i] = patch{addr: a, b: []byte{c}}
	// Merge with a neighbour so that long patches stay one entry.
	if i > 0 && m.patches[i-1].addr+uint64(len(m.patches[i-1].b)) == a {
		m.patches[i-1].b = append(m.patches[i-1].b, c)
		m.patches = append(m.patches[:i], m.patches[i+1:]...)
	}
}

// Hole makes [lo, hi) unreadable.
func (m *Memory) Hole(lo, hi uint64) {
	m.holes = append(m.holes, hole{lo, hi})
	sort.Slice(m.holes, func(i, j int) bool { return m.holes[i].lo < m.holes[j].lo })
}

// ReadAt implements dump.Memory.
func (m *Memory) ReadAt(p []byte, addr uint64) (int, error) {
	want := p
	var holeErr error
	for _, h := range m.holes {
		if h.hi > addr && h.lo < addr+uint64(len(p)) {
			if h.lo <= addr {
				return 0, &dump.Fault{Addr: addr, Phys: m.Phys, Reason: dump.NotInDump, Detail: "damage: hole"}
			}
			want = p[:h.lo-addr]
			holeErr = &dump.Fault{Addr: h.lo, Phys: m.Phys, Reason: dump.NotInDump, Detail: "damage: hole"}
			break
		}
	}
	n, err := m.Inner.ReadAt(want, addr)
	for _, pt := range m.patches {
		lo, hi := max(pt.addr, addr), min(pt.addr+uint64(len(pt.b)), addr+uint64(n))
		if lo < hi {
			copy(p[lo-addr:hi-addr], pt.b[lo-pt.addr:hi-pt.addr])
		}
	}
	if err == nil && holeErr != nil {
		err = holeErr
	}
	return n, err
}

// Virt turns damage to kernel virtual addresses into damage to the
// physical memory of the dump: it translates with a program opened on
// the good dump (its page tables, its linear map).
type Virt struct {
	P   *kernel.Program
	Mem *Memory
}

// NewVirt returns damage for the physical memory of p's dump.
func NewVirt(p *kernel.Program) *Virt {
	return &Virt{P: p, Mem: NewMemory(nil, true)}
}

// Wrap is a kernel.Options.PhysWrap that lays the damage over the physical
// memory of a freshly opened dump.
func (v *Virt) Wrap(inner dump.Memory) dump.Memory {
	v.Mem.Inner = inner
	return v.Mem
}

// phys translates a kernel virtual address.
func (v *Virt) phys(va uint64) (uint64, error) {
	if v.P.Arch == nil {
		return 0, fmt.Errorf("%#x: the program has no address translation", va)
	}
	if pa, ok := v.P.Arch.Linear(va); ok {
		return pa, nil
	}
	return v.P.Arch.Translate(va)
}

// Patch makes the kernel virtual bytes at va read as b.
func (v *Virt) Patch(va uint64, b []byte) error {
	for i, c := range b {
		pa, err := v.phys(va + uint64(i))
		if err != nil {
			return fmt.Errorf("damage: translating %#x: %w", va+uint64(i), err)
		}
		v.Mem.Patch(pa, []byte{c})
	}
	return nil
}

// Hole makes the n kernel virtual bytes from va unreadable, as a page the
// dump lacks would be (makedumpfile's exclusions); the range must lie in
// one page.
func (v *Virt) Hole(va, n uint64) error {
	pa, err := v.phys(va)
	if err != nil {
		return fmt.Errorf("damage: translating %#x: %w", va, err)
	}
	end, err := v.phys(va + n - 1)
	if err != nil || end != pa+n-1 {
		return fmt.Errorf("damage: hole [%#x, +%#x) is not physically contiguous", va, n)
	}
	v.Mem.Hole(pa, pa+n)
	return nil
}

// PatchU64 writes a kernel-order 64-bit word at va.
func (v *Virt) PatchU64(va, val uint64) error {
	b := make([]byte, 8)
	v.P.Order.PutUint64(b, val)
	return v.Patch(va, b)
}

// PatchU32 writes a kernel-order 32-bit word at va.
func (v *Virt) PatchU32(va uint64, val uint32) error {
	b := make([]byte, 4)
	v.P.Order.PutUint32(b, val)
	return v.Patch(va, b)
}

// PatchUint writes a word of size bytes (4 or 8).
func (v *Virt) PatchUint(va uint64, size int64, val uint64) error {
	if size == 4 {
		return v.PatchU32(va, uint32(val))
	}
	return v.PatchU64(va, val)
}

// Unmapped returns a module-area virtual address that the good dump's page
// tables do not map, searching upwards from start in steps of step.
func Unmapped(p *kernel.Program, start, step uint64) (uint64, bool) {
	for va, i := start, 0; i < 1<<12; va, i = va+step, i+1 {
		if _, err := p.Arch.Translate(va); err != nil {
			return va, true
		}
	}
	return 0, false
}

// Garbage returns n deterministic pseudo-random bytes (xorshift64), so a
// failing test names the same garbage every run.
func Garbage(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := 0; i < n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
	return b
}
