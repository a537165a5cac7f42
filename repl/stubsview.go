package repl

import (
	"flag"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// StubsView is `stubs MODULE --json`.
type StubsView struct {
	Module string `json:"module"`
	// Base and Size are the .stubs section's address and size in bytes;
	// SizeSource says where the size came from.
	Base       wire.Hex `json:"base"`
	Size       int64    `json:"size"`
	SizeSource string   `json:"size_source"`
	// StubCount, OOLStubs and OOLStubCount are mod->arch's.
	StubCount    int64    `json:"stub_count"`
	OOLStubs     wire.Hex `json:"ool_stubs"`
	OOLStubCount int64    `json:"ool_stub_count"`
	// OOLOff and OOLEnd bound the OOL array as offsets into .stubs.
	OOLOff  wire.Hex      `json:"ool_off"`
	OOLEnd  wire.Hex      `json:"ool_end"`
	R2      wire.Hex      `json:"r2"`
	Slots   []SlotView    `json:"slots"`
	OOL     []OOLView     `json:"ool"`
	Overlay []OverlayView `json:"overlay,omitempty"`
	// Warnings (the loader model's) go in the document's warnings.
	Warnings []string `json:"-"`
}

// SlotView is one ppc64_stub_entry slot.
type SlotView struct {
	Index int      `json:"index"`
	Addr  wire.Hex `json:"addr"`
	// Kind is what the slot's words are: call, tramp, tramp_regs,
	// klp-call, ool, free, ...
	Kind     string   `json:"kind"`
	Funcdata wire.Hex `json:"funcdata"`
	// Target is funcdata by symbol.
	Target string `json:"target,omitempty"`
	// InOOL: the slot overlaps the OOL ftrace stub array.
	InOOL bool `json:"in_ool"`
	// Expected is what the loader model puts in the slot.
	Expected string `json:"expected,omitempty"`
	// Mismatch lists the words (0-9) that differ from the template.
	Mismatch []int    `json:"mismatch_words,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Findings are the audit's findings on the slot ("RULE: why").
	Findings []string `json:"findings,omitempty"`
}

// OOLView is one ftrace_ool_stub.
type OOLView struct {
	Index       int         `json:"index"`
	Addr        wire.Hex    `json:"addr"`
	FtraceOp    wire.Hex    `json:"ftrace_op"`
	FtraceOpSym string      `json:"ftrace_op_sym,omitempty"`
	Insn        [4]wire.Hex `json:"insn"`
	Text        [4]string   `json:"insn_text"`
	// Call is what insn[1]'s bl reaches, Return where insn[3]'s b goes.
	Call     string   `json:"call,omitempty"`
	Return   string   `json:"return,omitempty"`
	Findings []string `json:"findings,omitempty"`
}

// OverlayView is one word of the overlay.
type OverlayView struct {
	Off  wire.Hex `json:"off"`
	Addr wire.Hex `json:"addr"`
	Word wire.Hex `json:"word"`
	// Stub is the word as part of ppc64_stub_entry[] ("[5].jump[0]"), OOL
	// as part of ftrace_ool_stub[] ("[0].ftrace_op").
	Stub string `json:"stub"`
	OOL  string `json:"ool,omitempty"`
	Text string `json:"text"`
	Mark string `json:"mark,omitempty"`
}

func (s *Session) stubsView(a *modules.Analysis, overlay bool) (StubsView, error) {
	st := a.Stubs
	if st == nil && a.PLT != nil {
		return StubsView{}, fmt.Errorf("stubs %s: no .stubs — this kernel's modules reach out-of-range code through PLTs: see plt %s", a.Module.Name, a.Module.Name)
	}
	if st == nil {
		if a.StubsErr != nil {
			return StubsView{}, fmt.Errorf("stubs %s: %w", a.Module.Name, a.StubsErr)
		}
		return StubsView{}, fmt.Errorf("stubs %s: no .stubs read", a.Module.Name)
	}
	m := a.Module
	v := StubsView{Module: m.Name, Base: wire.Hex(st.Base), Size: int64(st.Size), SizeSource: string(st.SizeSource),
		StubCount: int64(m.Arch.StubCount), OOLStubs: wire.Hex(m.Arch.OOLStubs), OOLStubCount: int64(m.Arch.OOLStubCount),
		OOLOff: wire.Hex(st.OOLOff), OOLEnd: wire.Hex(st.OOLEnd), R2: wire.Hex(st.R2)}
	v.Warnings = append(v.Warnings, st.Warnings...)
	v.Warnings = append(v.Warnings, a.Warnings...)
	if a.ModelErr != nil {
		v.Warnings = append(v.Warnings, "loader model: "+a.ModelErr.Error())
	}
	rep := s.ModulesReport()
	for _, sl := range st.Slots {
		sv := SlotView{Index: sl.Index, Addr: wire.Hex(sl.Addr), Kind: sl.Kind.String(), Funcdata: wire.Hex(sl.Funcdata), Target: sl.TargetName,
			InOOL: sl.InOOL, Mismatch: sl.Mismatch, Notes: sl.Notes, Findings: findingNotes(rep.In(sl.Addr, sl.Addr+modules.StubEntrySize))}
		if e := sl.Expected; e != nil {
			sv.Expected = e.Kind.String()
			if e.TargetName != "" {
				sv.Expected += " -> " + e.TargetName
			}
		}
		v.Slots = append(v.Slots, sv)
	}
	for _, o := range st.OOL {
		ov := OOLView{Index: o.Index, Addr: wire.Hex(o.Addr), FtraceOp: wire.Hex(o.FtraceOp), Findings: findingNotes(rep.In(o.Addr, o.Addr+modules.OOLStubSize))}
		if loc := s.resolve(o.FtraceOp); o.FtraceOp != 0 && (loc.Symbol != nil || loc.Section != "") {
			ov.FtraceOpSym = loc.String()
		}
		for i, w := range o.Insn {
			ov.Insn[i] = wire.Hex(w)
			ov.Text[i] = ppc64.Disasm(w, o.Addr+8+uint64(i)*4)
		}
		if o.CallOK {
			ov.Call = s.resolve(o.CallTarget).String()
			// The bl goes to mod->arch.tramp or tramp_regs: a slot of
			// this very .stubs; name it as the slot table does.
			if sl, ok := st.SlotAt(o.CallTarget); ok && sl.Addr == o.CallTarget && sl.Kind != modules.SlotFree {
				ov.Call = fmt.Sprintf("ppc64[%d] (%s%s)", sl.Index, sl.Kind, s.A.StubTarget(sl))
			}
		}
		if o.ReturnOK {
			ov.Return = s.resolve(o.ReturnTarget).String()
		}
		v.OOL = append(v.OOL, ov)
	}
	if overlay {
		mk := marks(rep, st.Base, st.Base+st.Size)
		for _, w := range st.Overlay() {
			ow := OverlayView{Off: wire.Hex(w.Off), Addr: wire.Hex(w.Addr), Word: wire.Hex(w.Word),
				Stub: fmt.Sprintf("[%d].%s", w.StubIndex, w.StubField), Text: ppc64.Disasm(w.Word, w.Addr), Mark: mk[w.Addr]}
			if w.OOLIndex >= 0 {
				ow.OOL = fmt.Sprintf("[%d].%s", w.OOLIndex, w.OOLField)
			}
			v.Overlay = append(v.Overlay, ow)
		}
	}
	return v, nil
}

// moduleArg parses the flags and the one MODULE argument of a
// per-module view (stubs, plt, its).
func moduleArg(c *Call, cmd string) (*modules.Analysis, *flag.FlagSet, error) {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != 1 {
		return nil, nil, &UsageError{Cmd: cmd, Msg: "want one MODULE"}
	}
	a := c.S.Modules().Find(pos[0])
	if a == nil {
		return nil, nil, fmt.Errorf("%s: no module %q (see mod)", cmd, pos[0])
	}
	return a, fs, nil
}

func cmdStubs(c *Call) error {
	a, fs, err := moduleArg(c, "stubs")
	if err != nil {
		return err
	}
	v, err := c.S.stubsView(a, boolFlag(fs, "overlay"))
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		return jsonWithWarnings(c, v, v.Warnings)
	}
	writeStubs(c, v, boolFlag(fs, "overlay"))
	return nil
}

func writeStubs(c *Call, v StubsView, overlay bool) {
	c.Printf("MODULE %s  .stubs %#x, %d bytes = %d slots (size from %s)\n", v.Module, v.Base, v.Size, v.Size/modules.StubEntrySize, v.SizeSource)
	c.Printf("  stub_count %d, ool_stubs %#x (.stubs+%#x), ool_stub_count %d, OOL range [%#x, %#x), r2 %#x\n",
		v.StubCount, v.OOLStubs, v.OOLStubs-v.Base, v.OOLStubCount, v.OOLOff, v.OOLEnd, v.R2)
	for _, w := range v.Warnings {
		c.Printf("  warning: %s\n", w)
	}
	if overlay {
		c.Printf("\n%-6s %-18s %-8s  %-16s %-16s %s\n", "OFF", "ADDR", "WORD", "ppc64_stub_entry", "ftrace_ool_stub", "INSN")
		for _, w := range v.Overlay {
			line := fmt.Sprintf("%#-6x %#x %08x  %-16s %-16s %-32s %s", w.Off, w.Addr, w.Word, w.Stub, w.OOL, w.Text, w.Mark)
			c.Printf("%s\n", strings.TrimRight(line, " "))
		}
		return
	}
	c.Printf("\n")
	tw := newTable(c.Out, "SLOT", "ADDR", "KIND", "FUNCDATA", "TARGET", "IN OOL", "MODEL", "STATE").
		Prose("TARGET", "STATE").Droppable("MODEL", "FUNCDATA", "IN OOL")
	for _, s := range v.Slots {
		state := "ok"
		if len(s.Findings) > 0 {
			state = "<< " + strings.Join(s.Findings, "; ")
		}
		if len(s.Notes) > 0 {
			state += "; " + strings.Join(s.Notes, "; ")
		}
		tw.Append([]string{fmt.Sprint(s.Index), fmt.Sprintf("%x", s.Addr), s.Kind, fmt.Sprintf("%x", s.Funcdata), s.Target, yes(s.InOOL), s.Expected, state})
	}
	tw.Render()
	if len(v.OOL) > 0 {
		c.Printf("\nftrace_ool_stub[%d] at %#x:\n", len(v.OOL), v.OOLStubs)
		tw := newTable(c.Out, "IDX", "ADDR", "FTRACE_OP", "INSN", "CALLS", "RETURNS TO", "STATE").
			Prose("CALLS", "RETURNS TO", "STATE").Droppable("INSN", "RETURNS TO", "FTRACE_OP")
		for _, o := range v.OOL {
			op := fmt.Sprintf("%x", o.FtraceOp)
			if o.FtraceOpSym != "" {
				op += " <" + o.FtraceOpSym + ">"
			}
			st := ""
			if len(o.Findings) > 0 {
				st = "<< " + strings.Join(o.Findings, "; ")
			}
			tw.Append([]string{fmt.Sprint(o.Index), fmt.Sprintf("%x", o.Addr), op, strings.Join(o.Text[:], "; "), o.Call, o.Return, st})
		}
		tw.Render()
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// findingNotes are findings as the views' state columns say them:
// "RULE: mark", once each.
func findingNotes(fs []*audit.Finding) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fs {
		n := f.Rule
		if f.Mark != "" {
			n += ": " + f.Mark
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
