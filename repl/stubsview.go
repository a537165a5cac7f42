package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// StubsView is `stubs MODULE --json`.
type StubsView struct {
	Module       string        `json:"module"`
	Base         uint64        `json:"base"`
	Size         uint64        `json:"size"`
	SizeSource   string        `json:"size_source"`
	StubCount    uint64        `json:"stub_count"`
	OOLStubs     uint64        `json:"ool_stubs"`
	OOLStubCount uint64        `json:"ool_stub_count"`
	OOLOff       uint64        `json:"ool_off"`
	OOLEnd       uint64        `json:"ool_end"`
	R2           uint64        `json:"r2"`
	Slots        []SlotView    `json:"slots"`
	OOL          []OOLView     `json:"ool"`
	Overlay      []OverlayView `json:"overlay,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
}

// SlotView is one ppc64_stub_entry slot.
type SlotView struct {
	Index    int      `json:"index"`
	Addr     uint64   `json:"addr"`
	Kind     string   `json:"kind"`
	Funcdata uint64   `json:"funcdata"`
	Target   string   `json:"target,omitempty"`
	InOOL    bool     `json:"in_ool"`
	Expected string   `json:"expected,omitempty"`
	Mismatch []int    `json:"mismatch_words,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Findings are the audit's findings on the slot ("RULE: why").
	Findings []string `json:"findings,omitempty"`
}

// OOLView is one ftrace_ool_stub.
type OOLView struct {
	Index       int       `json:"index"`
	Addr        uint64    `json:"addr"`
	FtraceOp    uint64    `json:"ftrace_op"`
	FtraceOpSym string    `json:"ftrace_op_sym,omitempty"`
	Insn        [4]uint32 `json:"insn"`
	Text        [4]string `json:"insn_text"`
	Call        string    `json:"call,omitempty"`
	Return      string    `json:"return,omitempty"`
	Findings    []string  `json:"findings,omitempty"`
}

// OverlayView is one word of the overlay.
type OverlayView struct {
	Off  uint64 `json:"off"`
	Addr uint64 `json:"addr"`
	Word uint32 `json:"word"`
	Stub string `json:"stub"`          // "[5].jump[0]"
	OOL  string `json:"ool,omitempty"` // "[0].ftrace_op"
	Text string `json:"text"`
	Mark string `json:"mark,omitempty"`
}

func (s *Session) stubsView(a *modules.Analysis, overlay bool) (StubsView, error) {
	st := a.Stubs
	if st == nil {
		if a.StubsErr != nil {
			return StubsView{}, fmt.Errorf("stubs %s: %w", a.Module.Name, a.StubsErr)
		}
		return StubsView{}, fmt.Errorf("stubs %s: no .stubs read", a.Module.Name)
	}
	m := a.Module
	v := StubsView{Module: m.Name, Base: st.Base, Size: st.Size, SizeSource: string(st.SizeSource),
		StubCount: m.Arch.StubCount, OOLStubs: m.Arch.OOLStubs, OOLStubCount: m.Arch.OOLStubCount,
		OOLOff: st.OOLOff, OOLEnd: st.OOLEnd, R2: st.R2}
	v.Warnings = append(v.Warnings, st.Warnings...)
	v.Warnings = append(v.Warnings, a.Warnings...)
	if a.ModelErr != nil {
		v.Warnings = append(v.Warnings, "loader model: "+a.ModelErr.Error())
	}
	rep := s.ModulesReport()
	for _, sl := range st.Slots {
		sv := SlotView{Index: sl.Index, Addr: sl.Addr, Kind: sl.Kind.String(), Funcdata: sl.Funcdata, Target: sl.TargetName,
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
		ov := OOLView{Index: o.Index, Addr: o.Addr, FtraceOp: o.FtraceOp, Insn: o.Insn, Findings: findingNotes(rep.In(o.Addr, o.Addr+modules.OOLStubSize))}
		if loc := s.resolve(o.FtraceOp); o.FtraceOp != 0 && (loc.Symbol != nil || loc.Section != "") {
			ov.FtraceOpSym = loc.String()
		}
		for i, w := range o.Insn {
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
			ow := OverlayView{Off: w.Off, Addr: w.Addr, Word: w.Word,
				Stub: fmt.Sprintf("[%d].%s", w.StubIndex, w.StubField), Text: ppc64.Disasm(w.Word, w.Addr), Mark: mk[w.Addr]}
			if w.OOLIndex >= 0 {
				ow.OOL = fmt.Sprintf("[%d].%s", w.OOLIndex, w.OOLField)
			}
			v.Overlay = append(v.Overlay, ow)
		}
	}
	return v, nil
}

func cmdStubs(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &UsageError{Cmd: "stubs", Msg: "want one MODULE"}
	}
	a := c.S.Modules().Find(pos[0])
	if a == nil {
		return fmt.Errorf("stubs: no module %q (see mod)", pos[0])
	}
	v, err := c.S.stubsView(a, boolFlag(fs, "overlay"))
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		return c.JSON(v)
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
	tw := newTable(c.Out, "SLOT", "ADDR", "KIND", "FUNCDATA", "TARGET", "IN OOL", "MODEL", "STATE")
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
		tw := newTable(c.Out, "IDX", "ADDR", "FTRACE_OP", "INSN", "CALLS", "RETURNS TO", "STATE")
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
