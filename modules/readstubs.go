package modules

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// StubsInput is what ReadStubs needs besides the module.
type StubsInput struct {
	// Model, when the .ko is at hand: the loader's expected layout (and
	// .stubs size).
	Model *LoaderModel
	// Name resolves an address to a symbol name for targets ("" if none).
	Name func(addr uint64) string
	// FtraceCaller and FtraceRegsCaller: the vmlinux trampoline targets.
	FtraceCaller, FtraceRegsCaller uint64
	// KernelTOC and PacaKernelTOC (offsetof(struct paca_struct,
	// kernel_toc)) check create_ftrace_stub()'s stubs word for word; 0
	// accepts the template's shape alone.
	KernelTOC     uint64
	PacaKernelTOC int
	// R2, when set, overrides the module TOC pointer derived from .toc
	// (for synthetic memory whose sections are not known).
	R2 uint64
}

// ReadStubs reads a module's .stubs section and its OOL array and
// classifies every slot. The size comes, in order of preference, from
// klp_info->sechdrs (livepatch modules keep it), the loader model of the
// .ko, or the next section address (said in SizeSource).
func ReadStubs(p *kernel.Program, m *Module, in StubsInput) (*Stubs, error) {
	base, ok := m.SectionAddr(".stubs")
	if !ok {
		return nil, fmt.Errorf("%s: no .stubs in mod->sect_attrs", m.Name)
	}
	s := &Stubs{Module: m.Name, Base: base, Order: p.Order, Model: in.Model}
	if h, ok := m.KlpSection(".stubs"); ok && h.Size > 0 {
		s.Size, s.SizeSource = h.Size, SizeFromKlpInfo
	} else if in.Model != nil {
		s.Size, s.SizeSource = in.Model.Size.Size, SizeFromKo
	} else if end, ok := m.sectionEnd(base); ok {
		s.Size, s.SizeSource = end-base, SizeInferred
		s.Size -= s.Size % StubEntrySize
	}
	inferred := s.Size
	if m.Arch.HasStubCount && s.Size < m.Arch.StubCount*StubEntrySize && s.SizeSource == SizeInferred {
		s.Size, s.SizeSource = m.Arch.StubCount*StubEntrySize, SizeFromStubCount
	}
	if s.Size == 0 {
		return nil, fmt.Errorf("%s: .stubs at %#x: size unknown", m.Name, base)
	}
	if s.Size > maxStubsSize {
		s.Warnings = append(s.Warnings, fmt.Sprintf(".stubs size %d from %s capped at %d", s.Size, s.SizeSource, maxStubsSize))
		s.Size = maxStubsSize
	}
	raw, err := p.Read(base, int(s.Size))
	if err != nil && s.SizeSource == SizeFromStubCount && inferred > 0 {
		// stub_count comes from the dump: a corrupt one must not cost the
		// slots that can be read. Fall back to the inferred bound.
		s.Warnings = append(s.Warnings, fmt.Sprintf("stub_count %d (%d bytes) reaches memory that cannot be read (%v); reading the inferred %d bytes", m.Arch.StubCount, s.Size, err, inferred))
		s.Size, s.SizeSource = inferred, SizeInferred
		raw, err = p.Read(base, int(s.Size))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading .stubs at %#x (%d bytes): %w", m.Name, base, s.Size, err)
	}
	return s.build(m, raw, in), nil
}

// NewStubs classifies .stubs bytes already read (raw, at base) for module
// m: the pure part of ReadStubs, for synthetic memory (seed 000's rebuild)
// and fuzzing. The size is len(raw), said to come from the caller.
func NewStubs(m *Module, base uint64, raw []byte, order binary.ByteOrder, in StubsInput) *Stubs {
	s := &Stubs{Module: m.Name, Base: base, Order: order, Model: in.Model, Size: uint64(len(raw)), SizeSource: "given"}
	return s.build(m, raw, in)
}

func (s *Stubs) build(m *Module, raw []byte, in StubsInput) *Stubs {
	base := s.Base
	s.Raw = raw
	if s.SizeSource == SizeInferred || s.SizeSource == SizeFromStubCount {
		s.trimInferred(m)
		raw = s.Raw
	}

	toc, hasToc := m.SectionAddr(".toc")
	if !hasToc {
		toc = base
	}
	s.R2 = (toc &^ 0xff) + 0x8000
	if in.Model != nil {
		s.R2 = in.Model.R2
	}
	if in.R2 != 0 {
		s.R2 = in.R2
	}

	// The OOL array.
	if m.Arch.HasOOL && m.Arch.OOLStubs != 0 {
		if m.Arch.OOLStubs < base || m.Arch.OOLStubs >= base+s.Size {
			s.Warnings = append(s.Warnings, fmt.Sprintf("ool_stubs %#x lies outside .stubs [%#x, %#x)", m.Arch.OOLStubs, base, base+s.Size))
		} else {
			s.OOLOff = m.Arch.OOLStubs - base
			n := m.Arch.OOLStubCount
			maxN := (s.Size - s.OOLOff) / OOLStubSize
			if n > maxN {
				s.Warnings = append(s.Warnings, fmt.Sprintf("ool_stub_count %d does not fit in .stubs (room for %d)", n, maxN))
				n = maxN
			}
			s.OOLEnd = s.OOLOff + roundUp(n*OOLStubSize, StubEntrySize)
			if s.OOLEnd > s.Size {
				s.OOLEnd = s.Size
			}
			for i := uint64(0); i < n; i++ {
				off := s.OOLOff + i*OOLStubSize
				o := OOLStub{Index: int(i), Addr: base + off, FtraceOp: s.Order.Uint64(raw[off:])}
				for k := range 4 {
					o.Insn[k] = s.Order.Uint32(raw[off+8+uint64(k)*4:])
				}
				if t, link, ok := ppc64.BranchTarget(o.Insn[1], o.Addr+12); ok && link {
					o.CallTarget, o.CallOK = t, true
				}
				if t, link, ok := ppc64.BranchTarget(o.Insn[3], o.Addr+20); ok && !link {
					o.ReturnTarget, o.ReturnOK = t, true
				}
				s.OOL = append(s.OOL, o)
			}
		}
	}

	expected := map[int]*ExpectedStub{}
	if in.Model != nil {
		for i := range in.Model.Stubs {
			expected[in.Model.Stubs[i].Slot] = &in.Model.Stubs[i]
		}
	}
	for i := 0; uint64(i+1)*StubEntrySize <= s.Size; i++ {
		off := uint64(i) * StubEntrySize
		sl := Slot{Index: i, Addr: base + off}
		for k := range 7 {
			sl.Jump[k] = s.Order.Uint32(raw[off+uint64(k)*4:])
		}
		sl.Magic = s.Order.Uint32(raw[off+28:])
		sl.Funcdata = s.Order.Uint64(raw[off+32:])
		sl.InOOL = len(s.OOL) > 0 && off < s.OOLEnd && off+StubEntrySize > s.OOLOff
		sl.Expected = expected[i]
		s.classify(&sl, m, in)
		s.Slots = append(s.Slots, sl)
	}
	return s
}

func roundUp(v, to uint64) uint64 { return (v + to - 1) / to * to }

// classify decides a slot's kind from its words: a call stub must match
// create_stub()'s template for this very slot (its addis/addi decode back
// to the slot from r2) with STUB_MAGIC, up to two words overwritten since
// (TemplateDiffs); a trampoline stub
// create_ftrace_stub()'s template at mod->arch.tramp or tramp_regs; zeros
// are free; a slot inside the OOL range is OOL unless it carries a whole
// call stub (seed 000's overlap); anything else is garbage.
func (s *Stubs) classify(sl *Slot, m *Module, in StubsInput) {
	allZero := sl.Magic == 0 && sl.Funcdata == 0
	for _, w := range sl.Jump {
		allZero = allZero && w == 0
	}
	want, _ := ppc64.CallStubWords(ppc64.ELFv2, sl.Addr, s.R2)
	isCall := sl.Magic == STUB_MAGIC && len(want) == 6
	// A call stub whose slot-dependent words (the addis/addi pair) or
	// one more were overwritten since — ftrace_rec_update_ops() writes
	// an ftrace_op over jump[0..1] when an OOL entry lies under the stub
	// — is still that call stub, damaged: the magic, its target and four
	// of the six template words say so.
	var diffs []int
	for k := 0; isCall && k < len(want); k++ {
		if sl.Jump[k] != want[k] {
			diffs = append(diffs, k)
		}
	}
	if isCall && len(diffs) > 0 {
		if len(diffs) <= 2 && sl.Funcdata != 0 {
			sl.TemplateDiffs = diffs
		} else {
			isCall = false
		}
	}
	// create_ftrace_stub()'s kernel-TOC template (ld r12,PACATOC(r13);
	// addis; addi; mtctr; bctr): the trampolines, and on recordmcount
	// kernels the _mcount stub; its addis/addi reach funcdata from the
	// kernel TOC when that is known.
	isFtrace := sl.Magic == STUB_MAGIC && sl.Jump[0]>>16 == 0xe98d && sl.Jump[3] == 0x7d8903a6 && sl.Jump[4] == 0x4e800420
	if isFtrace && in.KernelTOC != 0 && in.PacaKernelTOC != 0 {
		want, err := ppc64.FtraceTrampStubWords(uint16(in.PacaKernelTOC), in.KernelTOC, sl.Funcdata)
		for k := 0; err == nil && k < len(want); k++ {
			isFtrace = isFtrace && sl.Jump[k] == want[k]
		}
		isFtrace = isFtrace && err == nil
	}
	switch {
	case isFtrace && m.Arch.HasTramp && sl.Addr == m.Arch.Tramp:
		sl.Kind = SlotTramp
	case isFtrace && m.Arch.HasTramp && sl.Addr == m.Arch.TrampRegs:
		sl.Kind = SlotTrampRegs
	case isFtrace:
		sl.Kind = SlotFtrace
	case isCall:
		sl.Kind = SlotCall
		if s.Model != nil {
			for _, e := range s.Model.Stubs {
				if e.Kind == SlotKlp && e.Target == sl.Funcdata {
					sl.Kind = SlotKlp // a livepatch relocation's stub, wherever it landed
				}
			}
		}
	case sl.InOOL:
		sl.Kind = SlotOOL
	case allZero:
		sl.Kind = SlotFree
	default:
		sl.Kind = SlotGarbage
	}
	if sl.Kind.IsStub() {
		sl.Target = sl.Funcdata
		if in.Name != nil {
			sl.TargetName = in.Name(sl.Target)
		}
	}
	if e := sl.Expected; e != nil && sl.Kind != SlotOOL {
		for k, w := range e.Words {
			if e.WordMask[k] && sl.Jump[k] != w {
				sl.Mismatch = append(sl.Mismatch, k)
			}
		}
		if sl.Magic != STUB_MAGIC {
			sl.Mismatch = append(sl.Mismatch, 7)
		}
		if sl.Funcdata != e.Target {
			sl.Mismatch = append(sl.Mismatch, 8)
		}
	}
}

// trimInferred shortens an inferred .stubs to the last non-zero slot, but
// not below stub_count or the end of the OOL array: beyond those an
// inferred bound would only show free slots that may not even be .stubs.
func (s *Stubs) trimInferred(m *Module) {
	keep := uint64(0)
	if m.Arch.HasStubCount {
		keep = m.Arch.StubCount * StubEntrySize
	}
	if m.Arch.HasOOL && m.Arch.OOLStubs >= s.Base {
		keep = max(keep, m.Arch.OOLStubs-s.Base+roundUp(m.Arch.OOLStubCount*OOLStubSize, StubEntrySize))
	}
	last := uint64(0)
	for off := uint64(0); off+StubEntrySize <= uint64(len(s.Raw)); off += StubEntrySize {
		for _, b := range s.Raw[off : off+StubEntrySize] {
			if b != 0 {
				last = off + StubEntrySize
				break
			}
		}
	}
	n := min(max(keep, last), uint64(len(s.Raw)))
	if n < uint64(len(s.Raw)) {
		s.Warnings = append(s.Warnings, fmt.Sprintf(".stubs size inferred (%s); %d trailing free slots not shown", s.SizeSource, (uint64(len(s.Raw))-n)/StubEntrySize))
		s.Raw = s.Raw[:n]
		s.Size = n
	}
}
