package analysis

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/arch"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/symbols"
)

// WhereKind says what kind of code an address is in.
type WhereKind int

const (
	// InText: ordinary kernel or module text (or nothing known).
	InText WhereKind = iota
	// InStubSlot: a ppc64_stub_entry of a module's .stubs.
	InStubSlot
	// InOOLStub: a struct ftrace_ool_stub of a module's array (possibly
	// under a stub slot too: seed 000).
	InOOLStub
	// AtFtraceSite: the call site of a dyn_ftrace record (rec->ip).
	AtFtraceSite
	// InInitText: the vmlinux's init text, freed after boot.
	InInitText
)

// Where is what the models say an address is: which .stubs slot or OOL
// stub of which module (and the function that stub serves), which ftrace
// call site and what it holds, or freed init text. The views print it
// (bt's frame notes, why); it decides nothing.
type Where struct {
	Kind WhereKind
	Addr uint64
	Loc  symbols.Location
	// Module, Slot and OOL are set inside a module's .stubs.
	Module *modules.Analysis
	Slot   *modules.Slot
	OOL    *modules.OOLStub
	// Served is the function an OOL stub returns into (it serves that
	// function's ftrace site), "" if unknown.
	Served string
	// SlotTarget names the slot's target (" to tgt_secret [klp_tgt]").
	SlotTarget string
	// Record is the record at a site, or the one whose stub an OOL entry
	// is (ftrace state permitting).
	Record *ftrace.Record
	// PastEnd: addr is in a slot stub_for_addr() wrote past the end of
	// the module's .stubs (slot PastSlot of PastCount; .stubs holds
	// PastSlots).
	PastEnd                        bool
	PastSlot, PastCount, PastSlots int
	// Site, at a record's ip: the word there and what it is
	// ("nop", "b ool stub 3", "bl ...").
	SiteWord  uint32
	SiteKnown bool
	SiteState string
}

// Where classifies addr against the module set and the ftrace state.
func (a *Analysis) Where(addr uint64) Where {
	set := a.Modules()
	w := Where{Addr: addr, Loc: a.Resolve(addr)}
	for _, m := range set.Modules {
		st := m.Stubs
		if st == nil || addr < st.Base {
			continue
		}
		if addr-st.Base >= st.Size {
			// A slot stub_for_addr() wrote past the end of .stubs, over
			// what follows (seed 003: stub_count beyond the section).
			if end := st.Base + m.Module.Arch.StubCount*modules.StubEntrySize; m.Module.Arch.HasStubCount && addr < end {
				w.Module, w.PastEnd = m, true
				w.PastSlot = int((addr - st.Base) / modules.StubEntrySize)
				w.PastCount, w.PastSlots = int(m.Module.Arch.StubCount), int(st.Size/modules.StubEntrySize)
			}
			continue
		}
		w.Module = m
		w.Kind = InStubSlot
		if sl, ok := st.SlotAt(addr); ok {
			w.Slot, w.SlotTarget = sl, a.StubTarget(sl)
		}
		for i := range st.OOL {
			o := &st.OOL[i]
			if addr >= o.Addr && addr < o.Addr+modules.OOLStubSize {
				w.Kind, w.OOL = InOOLStub, o
				if o.ReturnOK {
					// It returns past the ftrace call site it serves.
					if loc := a.Resolve(o.ReturnTarget - 4); loc.Symbol != nil {
						w.Served = loc.Symbol.Name
					}
				}
				if stt, err := a.Ftrace(); err == nil {
					for j := range stt.Records {
						if stt.Records[j].OOLStub == o.Addr+ftrace.OOLInsnOffset {
							w.Record = &stt.Records[j]
						}
					}
				}
			}
		}
		return w
	}
	if lo, err := a.Prog.SymbolAddr("_sinittext"); err == nil && addr >= lo {
		if hi, err := a.Prog.SymbolAddr("_einittext"); err == nil && addr < hi {
			w.Kind = InInitText
			return w
		}
	}
	if st, err := a.Ftrace(); err == nil {
		if r := st.RecordAt(addr); r != nil {
			w.Kind, w.Record = AtFtraceSite, r
			w.SiteWord, w.SiteState, w.SiteKnown = a.siteState(st, addr)
		}
	}
	return w
}

// siteState reads a call site's word and says what it is.
func (a *Analysis) siteState(st *ftrace.State, ip uint64) (uint32, string, bool) {
	if cs, ok := a.Prog.Arch.(arch.FtraceCallSite); ok {
		// A fixed-size site (x86_64): the nop, or a call/jmp.
		b, err := a.Prog.Read(ip, cs.FtraceSiteSize())
		if err != nil {
			return 0, "unreadable: " + err.Error(), false
		}
		if string(b) == string(cs.FtraceNop(ip)) {
			return 0, "nop", true
		}
		if d, ok := a.Prog.Arch.(arch.Disassembler); ok {
			if t, call, ok := d.BranchTarget(b, ip); ok {
				op := "jmp "
				if call {
					op = "call "
				}
				return 0, op + a.Resolve(t).String(), true
			}
			text, _ := d.Disasm(b, ip)
			return 0, text, true
		}
		return 0, fmt.Sprintf("% x", b), true
	}
	w, err := a.Prog.ReadU32(ip)
	if err != nil {
		return 0, "unreadable: " + err.Error(), false
	}
	if w == ppc64.PPC_RAW_NOP {
		return w, "nop", true
	}
	if t, link, ok := ppc64.BranchTarget(w, ip); ok {
		for _, arr := range st.AllOOL() {
			if t >= arr.Base && t < arr.Base+uint64(arr.Count)*modules.OOLStubSize {
				return w, fmt.Sprintf("b ool stub %d", (t-arr.Base)/modules.OOLStubSize), true
			}
		}
		op := "b"
		if link {
			op = "bl"
		}
		return w, op + " " + a.Resolve(t).String(), true
	}
	return w, fmt.Sprintf("%08x", w), true
}

// Resolve names an address with the module-aware resolver.
func (a *Analysis) Resolve(addr uint64) symbols.Location {
	if set := a.Modules(); set != nil && set.Resolver != nil {
		return set.Resolver.Lookup(addr)
	}
	return a.Prog.Resolver.Lookup(addr)
}

// String says where the address is, in the words bt's notes use:
// "ftrace_ool_stub[0] of klp_stub_bug, for livepatch_tgt_show, overlapped
// by ppc64_stub_entry[5] (klp-call to tgt_secret [klp_tgt])",
// "ppc64_stub_entry[0] of klp_stub_bug (call to seq_printf)", "[init
// text: freed after boot, the code there is gone]", "[FTRACE NOP]".
func (w Where) String() string {
	past := ""
	if w.PastEnd {
		past = fmt.Sprintf("ppc64_stub_entry[%d] of %s, written past the end of .stubs (%d slots; stub_count %d) over this code", w.PastSlot, w.Module.Module.Name, w.PastSlots, w.PastCount)
	}
	switch w.Kind {
	case InOOLStub:
		n := fmt.Sprintf("ftrace_ool_stub[%d] of %s", w.OOL.Index, w.Module.Module.Name)
		if w.Served != "" {
			n += ", for " + w.Served
		}
		if sl := w.Slot; sl != nil && sl.Kind != modules.SlotOOL && sl.Kind != modules.SlotFree {
			// Seed 000: a stub written into the OOL array.
			n += fmt.Sprintf(", overlapped by ppc64_stub_entry[%d] (%s%s)", sl.Index, sl.Kind, w.SlotTarget)
		}
		return n
	case InStubSlot:
		if sl := w.Slot; sl != nil {
			return fmt.Sprintf("ppc64_stub_entry[%d] of %s (%s%s)", sl.Index, w.Module.Module.Name, sl.Kind, w.SlotTarget)
		}
		return fmt.Sprintf(".stubs of %s", w.Module.Module.Name)
	case InInitText:
		return "[init text: freed after boot, the code there is gone]"
	case InText:
		return past
	case AtFtraceSite:
		switch {
		case !w.SiteKnown:
			return "[FTRACE site " + w.SiteState + "]"
		case w.SiteState == "nop":
			return "[FTRACE NOP]"
		case len(w.SiteState) > 2 && w.SiteState[:2] == "b ":
			return "[FTRACE -> " + w.SiteState[2:] + "]"
		case len(w.SiteState) > 3 && w.SiteState[:3] == "bl ":
			return "[FTRACE -> " + w.SiteState[3:] + "]"
		case len(w.SiteState) > 5 && w.SiteState[:5] == "call ":
			return "[FTRACE -> " + w.SiteState[5:] + "]"
		}
		return "[FTRACE site " + w.SiteState + "]"
	}
	return ""
}

// StubTarget names a slot's target: " to FUNCTION [MODULE]", or the
// address and offset when it is not a function start.
func (a *Analysis) StubTarget(sl *modules.Slot) string {
	if sl == nil || sl.Target == 0 {
		return ""
	}
	loc := a.Resolve(sl.Target)
	if loc.Symbol == nil || loc.Off != 0 {
		return " to " + loc.String()
	}
	if loc.Module != "" {
		return " to " + loc.Symbol.Name + " [" + loc.Module + "]"
	}
	return " to " + loc.Symbol.Name
}
