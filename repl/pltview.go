package repl

import (
	"flag"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// pltCommands are the commands of this file, in the one command table
// (builtinCommands).
func pltCommands() []Command {
	return []Command{{Name: "plt", Usage: "plt MODULE [--json]", Complete: CompleteModule,
		Examples: []string{"plt klp_stub_bug", "plt --json klp_stub_bug"}, // run on seed 000's ppc64 dump (TestHelpExamplesCorpus): no PLTs there
		Help:     "A module's PLTs, the arm64 counterpart of stubs: mod->arch.core (plt_shndx, plt_num_entries, plt_max_entries) and every struct plt_entry of its .plt section — plt_max_entries + 1 of them — decoded (adrp x16; add x16; br x16) with its target named, whether it is exactly get_plt_entry(target, &plt[i]) for its own address, and what the slot is to module_emit_plt_entry(): used, free, skipped for erratum 843419, the abandoned duplicate after the last used entry, or written past plt_num_entries; then mod->arch.ftrace_trampolines against get_plt_entry(FTRACE_ADDR). The audit's findings (PLT-ENTRY, FTRACE-PLT) are marked on their slots. .init.plt is shown only while the module is COMING (init memory is freed once it is live).",
		Flags: func(fs *flag.FlagSet) {
			jsonFlag(fs)
		}, Run: cmdPLT}}
}

// PLTView is `plt MODULE --json`.
type PLTView struct {
	Module string `json:"module"`
	// NotApplicable says why the kernel's modules have no PLTs (the rest
	// is then empty).
	NotApplicable string `json:"not_applicable,omitempty"`
	// FtraceAddr is FTRACE_ADDR (ftrace_caller), what the ftrace
	// trampolines must branch to.
	FtraceAddr wire.Hex         `json:"ftrace_addr"`
	Sections   []PLTSectionView `json:"sections"`
	// FtraceTrampolines is mod->arch.ftrace_trampolines[]; its address.
	FtraceTrampolines    []PLTEntryView `json:"ftrace_trampolines"`
	FtraceTrampolinesPtr wire.Hex       `json:"ftrace_trampolines_ptr"`
	FtraceNotRead        string         `json:"ftrace_trampolines_not_read,omitempty"`
	Warnings             []string       `json:"-"`
}

// PLTSectionView is mod->arch.core or .init with its section's entries.
type PLTSectionView struct {
	Name       string         `json:"name"`
	Field      string         `json:"field"` // mod->arch.core, mod->arch.init
	Addr       wire.Hex       `json:"addr"`
	Shndx      int64          `json:"plt_shndx"`
	NumEntries int64          `json:"plt_num_entries"`
	MaxEntries int64          `json:"plt_max_entries"`
	Entries    []PLTEntryView `json:"entries"`
	NotRead    string         `json:"not_read,omitempty"`
}

// PLTEntryView is one struct plt_entry.
type PLTEntryView struct {
	Index int        `json:"index"`
	Addr  wire.Hex   `json:"addr"`
	Words []wire.Hex `json:"words"`
	Insn  []string   `json:"insn"`
	// Use is what the slot is to module_emit_plt_entry() (modules.SlotUse);
	// empty for an ftrace trampoline.
	Use string `json:"use,omitempty"`
	// Target is where the entry branches when it has get_plt_entry()'s
	// shape; TargetSym names it.
	Target    *wire.Hex `json:"target,omitempty"`
	TargetSym string    `json:"target_sym,omitempty"`
	// Template: the bytes are exactly get_plt_entry(target, addr).
	Template bool `json:"template"`
	// Want is, for an ftrace trampoline, get_plt_entry(FTRACE_ADDR, addr).
	Want     []wire.Hex `json:"want,omitempty"`
	Findings []string   `json:"findings,omitempty"`
}

func (s *Session) pltView(a *modules.Analysis) (PLTView, error) {
	pl := a.PLT
	if pl == nil {
		if a.PLTErr != nil {
			return PLTView{}, fmt.Errorf("plt %s: %w", a.Module.Name, a.PLTErr)
		}
		return PLTView{Module: a.Module.Name, Sections: []PLTSectionView{}, FtraceTrampolines: []PLTEntryView{},
			NotApplicable: "this kernel's modules have no PLTs (no mod->arch.core.plt_num_entries with an architecture PLT template: arm64's module-plts.c); ppc64's out-of-line code is in .stubs (see stubs)"}, nil
	}
	rep := s.ModulesReport()
	d, _ := s.Prog.Arch.(arch.Disassembler)
	entry := func(sl modules.PLTSlot) PLTEntryView {
		e := PLTEntryView{Index: sl.Index, Addr: wire.Hex(sl.Addr), Template: sl.Template,
			Findings: findingNotes(rep.In(sl.Addr, sl.Addr+uint64(len(sl.Bytes))))}
		for i := 0; i+4 <= len(sl.Bytes); i += 4 {
			e.Words = append(e.Words, wire.Hex(s.Prog.Order.Uint32(sl.Bytes[i:])))
			txt := ""
			if d != nil {
				txt, _ = d.Disasm(sl.Bytes[i:i+4], sl.Addr+uint64(i))
			}
			e.Insn = append(e.Insn, txt)
		}
		if sl.Decoded {
			t := wire.Hex(sl.Target)
			e.Target = &t
			e.TargetSym = s.resolve(sl.Target).String()
		}
		for i := 0; i+4 <= len(sl.Want); i += 4 {
			e.Want = append(e.Want, wire.Hex(s.Prog.Order.Uint32(sl.Want[i:])))
		}
		return e
	}
	v := PLTView{Module: a.Module.Name, FtraceAddr: wire.Hex(pl.FtraceAddr), FtraceTrampolinesPtr: wire.Hex(pl.FtraceTrampsPtr),
		FtraceNotRead: pl.NotReadTramps, FtraceTrampolines: []PLTEntryView{}}
	v.Warnings = append(v.Warnings, a.Warnings...)
	for _, sec := range []*modules.PLTSection{&pl.Core, &pl.Init} {
		sv := PLTSectionView{Name: sec.Name, Field: "mod->arch.core",
			Addr: wire.Hex(sec.Addr), Shndx: sec.Shndx, NumEntries: sec.Num, MaxEntries: sec.Max, NotRead: sec.NotRead, Entries: []PLTEntryView{}}
		if sec == &pl.Init {
			sv.Field = "mod->arch.init"
		}
		if len(sec.Slots) > 0 {
			sv.NotRead = ""
		}
		for _, sl := range sec.Slots {
			e := entry(sl)
			e.Use = sec.Use(sl).String()
			sv.Entries = append(sv.Entries, e)
		}
		v.Sections = append(v.Sections, sv)
	}
	for _, sl := range pl.FtraceTramps {
		v.FtraceTrampolines = append(v.FtraceTrampolines, entry(sl))
	}
	return v, nil
}

func cmdPLT(c *Call) error {
	a, fs, err := moduleArg(c, "plt")
	if err != nil {
		return err
	}
	v, err := c.S.pltView(a)
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		return jsonWithWarnings(c, v, v.Warnings)
	}
	writePLT(c, v)
	return nil
}

func writePLT(c *Call, v PLTView) {
	if v.NotApplicable != "" {
		c.Printf("MODULE %s: no PLTs: %s\n", v.Module, v.NotApplicable)
		return
	}
	c.Printf("MODULE %s  FTRACE_ADDR %#x\n", v.Module, v.FtraceAddr)
	for _, w := range v.Warnings {
		c.Printf("  warning: %s\n", w)
	}
	state := func(e PLTEntryView) string {
		st := e.Use
		if len(e.Findings) > 0 {
			st = "<< " + strings.Join(e.Findings, "; ")
			if e.Use != "" {
				st += "; " + e.Use
			}
		}
		return st
	}
	target := func(e PLTEntryView) string {
		switch {
		case e.Target == nil:
			return ""
		case e.Template:
			return e.TargetSym
		}
		return e.TargetSym + " (not get_plt_entry() for this address)"
	}
	words := func(ws []wire.Hex) string {
		var out []string
		for _, w := range ws {
			out = append(out, fmt.Sprintf("%08x", uint64(w)))
		}
		return strings.Join(out, " ")
	}
	for _, sv := range v.Sections {
		c.Printf("\n%s at %#x, %s:\n  plt_shndx %d, plt_num_entries %d, plt_max_entries %d", sv.Name, sv.Addr, sv.Field, sv.Shndx, sv.NumEntries, sv.MaxEntries)
		if sv.NotRead != "" {
			c.Printf("\n  not read: %s\n", sv.NotRead)
			continue
		}
		c.Printf("; %d entries\n", len(sv.Entries))
		tw := newTable(c.Out, "SLOT", "ADDR", "WORDS", "INSN", "TARGET", "STATE").Prose("TARGET", "STATE").Droppable("INSN", "WORDS")
		for _, e := range sv.Entries {
			tw.Append([]string{fmt.Sprint(e.Index), fmt.Sprintf("%x", uint64(e.Addr)), words(e.Words), strings.Join(e.Insn, "; "), target(e), state(e)})
		}
		tw.Render()
	}
	c.Printf("\nmod->arch.ftrace_trampolines at %#x", v.FtraceTrampolinesPtr)
	if v.FtraceNotRead != "" && len(v.FtraceTrampolines) == 0 {
		c.Printf(":\n  %s\n", v.FtraceNotRead)
		return
	}
	c.Printf(",\n  each get_plt_entry(FTRACE_ADDR, &plt[i]):\n")
	tw := newTable(c.Out, "IDX", "ADDR", "WORDS", "TARGET", "STATE").Prose("TARGET", "STATE").Droppable("WORDS")
	for _, e := range v.FtraceTrampolines {
		st := "ok"
		if len(e.Findings) > 0 {
			st = "<< " + strings.Join(e.Findings, "; ")
		} else if words(e.Words) != words(e.Want) {
			st = "differs from " + words(e.Want)
		}
		tw.Append([]string{fmt.Sprint(e.Index), fmt.Sprintf("%x", uint64(e.Addr)), words(e.Words), target(e), st})
	}
	tw.Render()
}
