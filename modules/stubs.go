package modules

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// SizeSource says where the .stubs size came from: the kernel keeps none in
// struct module except for livepatch modules.
type SizeSource string

const (
	SizeFromKlpInfo   SizeSource = "klp_info->sechdrs"
	SizeFromKo        SizeSource = ".ko (get_stubs_size model)"
	SizeInferred      SizeSource = "inferred: up to the next section"
	SizeFromStubCount SizeSource = "inferred: stub_count slots"
)

// Slot is one ppc64_stub_entry-sized slot of .stubs as the dump holds it.
type Slot struct {
	Index    int
	Addr     uint64
	Jump     [7]uint32
	Magic    uint32
	Funcdata uint64
	Kind     SlotKind
	// InOOL: the slot lies (partly) inside the OOL array's reserved range.
	InOOL bool
	// Target is funcdata for call and trampoline stubs; TargetName its
	// symbol as the resolver names it.
	Target     uint64
	TargetName string
	// Expected is the model's stub for this slot, when the model has one.
	Expected *ExpectedStub
	// Mismatch lists the words that differ from the model or template
	// (indices 0..6 jump, 7 magic, 8 funcdata).
	Mismatch []int
	// TemplateDiffs, for a call stub, lists the jump[] words that differ
	// from create_stub()'s template for this slot: a call stub damaged
	// after it was written (empty for an intact one).
	TemplateDiffs []int
	Notes         []string
}

// OOLStub is one struct ftrace_ool_stub of mod->arch.ool_stubs.
type OOLStub struct {
	Index        int
	Addr         uint64 // &ool_stubs[i]; insn[0] is at Addr+8
	FtraceOp     uint64
	Insn         [4]uint32
	CallTarget   uint64 // target of insn[1] if it is a bl
	CallOK       bool
	ReturnTarget uint64 // target of insn[3] if it is a b
	ReturnOK     bool
}

// Stubs is a module's .stubs section read from the dump.
type Stubs struct {
	Module     string
	Base       uint64
	Size       uint64
	SizeSource SizeSource
	Raw        []byte
	Slots      []Slot
	OOL        []OOLStub
	// OOLStart/OOLEnd bound the reserved OOL range in bytes from Base:
	// [OOLOff, OOLOff + roundup(ool_stub_count*24, 40)).
	OOLOff, OOLEnd uint64
	R2             uint64
	Order          binary.ByteOrder
	Model          *LoaderModel
	Warnings       []string
}

// SlotAt returns the slot covering addr.
func (s *Stubs) SlotAt(addr uint64) (*Slot, bool) {
	if addr < s.Base {
		return nil, false
	}
	i := int((addr - s.Base) / StubEntrySize)
	if i < len(s.Slots) {
		return &s.Slots[i], true
	}
	return nil, false
}

// Overlay is what one 4-byte word of .stubs is, seen as ppc64_stub_entry[]
// and as ftrace_ool_stub[] (seed 000's two-column table).
type Overlay struct {
	Off       uint64
	Addr      uint64
	Word      uint32
	StubIndex int    // ppc64_stub_entry index
	StubField string // jump[3], magic, funcdata
	// OOLIndex is -1 outside the OOL range.
	OOLIndex int
	OOLField string // ftrace_op, insn[1]
	// SlotStart and OOLStart: the word starts its ppc64_stub_entry, its
	// ftrace_ool_stub.
	SlotStart, OOLStart bool
}

// stubField names the member of struct ppc64_stub_entry at byte off (ELFv2
// layout: u32 jump[7]; u32 magic; func_desc_t funcdata).
func stubField(off uint64) string {
	switch {
	case off < 28:
		return fmt.Sprintf("jump[%d]", off/4)
	case off < 32:
		return "magic"
	default:
		return "funcdata"
	}
}

// oolField names the member of struct ftrace_ool_stub at byte off
// (ftrace_op; u32 insn[4]).
func oolField(off uint64) string {
	if off < 8 {
		return "ftrace_op"
	}
	return fmt.Sprintf("insn[%d]", (off-8)/4)
}

// Overlay returns the two-view label of every word of .stubs read.
func (s *Stubs) Overlay() []Overlay {
	var out []Overlay
	for off := uint64(0); off+4 <= uint64(len(s.Raw)); off += 4 {
		out = append(out, s.overlayAt(off))
	}
	return out
}

// OverlayAt labels the word at addr as Overlay does (Word 0 when it was
// not read); false outside .stubs.
func (s *Stubs) OverlayAt(addr uint64) (Overlay, bool) {
	if addr < s.Base || addr-s.Base >= s.Size {
		return Overlay{}, false
	}
	return s.overlayAt(addr - s.Base), true
}

func (s *Stubs) overlayAt(off uint64) Overlay {
	o := Overlay{Off: off, Addr: s.Base + off, StubIndex: int(off / StubEntrySize), StubField: stubField(off % StubEntrySize),
		OOLIndex: -1, SlotStart: off%StubEntrySize == 0}
	if off+4 <= uint64(len(s.Raw)) {
		o.Word = s.order().Uint32(s.Raw[off:])
	}
	if len(s.OOL) > 0 && off >= s.OOLOff && off < s.OOLOff+uint64(len(s.OOL))*OOLStubSize {
		rel := off - s.OOLOff
		o.OOLIndex = int(rel / OOLStubSize)
		o.OOLField = oolField(rel % OOLStubSize)
		o.OOLStart = rel%OOLStubSize == 0
	}
	return o
}

func (s *Stubs) order() binary.ByteOrder { return s.Order }

// maxStubsSize bounds the .stubs bytes read: 64K slots.
const maxStubsSize = 64 << 10 * StubEntrySize

// sectionEnd returns the address of the next section after addr in the same
// memory region, or the region's end: the bound used when no size is known.
func (m *Module) sectionEnd(addr uint64) (uint64, bool) {
	var region *Region
	for i := range m.Regions {
		r := &m.Regions[i]
		if r.Size > 0 && addr >= r.Base && addr-r.Base < r.Size {
			region = r
		}
	}
	if region == nil {
		return 0, false
	}
	end := region.Base + region.Size
	var addrs []uint64
	for _, s := range m.Sections {
		addrs = append(addrs, s.Addr)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	for _, a := range addrs {
		if a > addr && a < end {
			return a, true
		}
	}
	return end, true
}
