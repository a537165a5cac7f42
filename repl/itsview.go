package repl

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// itsCommands are the commands of this file, in the one command table
// (builtinCommands).
func itsCommands() []Command {
	return []Command{{Name: "its", Usage: "its MODULE [--json]", Complete: CompleteModule,
		Examples: []string{"its klp_stub_bug", "its --json klp_stub_bug"}, // run on seed 000's ppc64 dump (TestHelpExamplesCorpus): no ITS pages there
		Help:     "A module's ITS thunk pages, x86_64's counterpart of stubs (CONFIG_MITIGATION_ITS, arch/x86/kernel/alternative.c): mod->arch.its_pages, and in each page what its_allocate_thunk() writes — int3 fill and \"jmp *%reg; int3\" thunks from offset 32 on, each ending in the upper half of its 64-byte cache line — with every thunk decoded, every byte run that is neither marked as a stray, and the ITS-THUNK rule's findings (a misplaced thunk, a stray run, a rewritten branch site not landing on a thunk) on their addresses.",
		Flags: func(fs *flag.FlagSet) {
			jsonFlag(fs)
		}, Run: cmdITS}}
}

// ITSView is `its MODULE --json`.
type ITSView struct {
	Module string `json:"module"`
	// NotApplicable says why the module has no ITS pages to show.
	NotApplicable string         `json:"not_applicable,omitempty"`
	Pages         []wire.Hex     `json:"pages"`
	PageSize      int            `json:"page_size"`
	Thunks        []ITSThunkView `json:"thunks"`
	Strays        []ITSStrayView `json:"strays"`
	Unread        []string       `json:"unread,omitempty"`
	Findings      []string       `json:"findings,omitempty"` // the module's ITS-THUNK findings not on a thunk or stray
}

// ITSThunkView is one thunk.
type ITSThunkView struct {
	Addr wire.Hex `json:"addr"`
	// Reg is the register jumped through; Size the thunk's bytes.
	Reg  string `json:"reg"`
	Size int    `json:"size"`
	// Misplaced: it ends in the lower half of its cache line.
	Misplaced bool     `json:"misplaced"`
	Findings  []string `json:"findings,omitempty"`
}

// ITSStrayView is a run of bytes no thunk explains.
type ITSStrayView struct {
	Addr     wire.Hex `json:"addr"`
	Bytes    string   `json:"bytes"`
	Findings []string `json:"findings,omitempty"`
}

func (s *Session) itsView(a *modules.Analysis) (ITSView, error) {
	v := ITSView{Module: a.Module.Name, Pages: []wire.Hex{}, Thunks: []ITSThunkView{}, Strays: []ITSStrayView{}}
	its, err := modules.ReadITSPages(s.Prog, a.Module)
	switch {
	case errors.Is(err, modules.ErrNoITS):
		v.NotApplicable = err.Error() + " (ITS thunks are x86_64's; ppc64's out-of-line code is in .stubs, arm64's in PLTs: see stubs, plt)"
		return v, nil
	case err != nil:
		return v, fmt.Errorf("its %s: %w", a.Module.Name, err)
	case len(its.Pages) == 0:
		v.NotApplicable = "no ITS thunk pages: the CPU takes no ITS thunks, or the module has no indirect branch needing one"
		return v, nil
	}
	rep := s.ModulesReport()
	v.PageSize, v.Unread = its.PageLen, its.Unread
	for _, p := range its.Pages {
		v.Pages = append(v.Pages, wire.Hex(p))
	}
	shown := map[string]bool{}
	note := func(lo, hi uint64) []string {
		fs := findingNotes(rep.In(lo, hi))
		for _, f := range fs {
			shown[f] = true
		}
		return fs
	}
	for _, t := range its.Thunks {
		v.Thunks = append(v.Thunks, ITSThunkView{Addr: wire.Hex(t.Addr), Reg: t.RegName(), Size: t.Size, Misplaced: t.Misplaced,
			Findings: note(t.Addr, t.Addr+uint64(t.Size))})
	}
	for _, st := range its.Strays {
		v.Strays = append(v.Strays, ITSStrayView{Addr: wire.Hex(st.Addr), Bytes: fmt.Sprintf("% x", st.Bytes[:min(len(st.Bytes), 32)]),
			Findings: note(st.Addr, st.Addr+uint64(len(st.Bytes)))})
	}
	for _, f := range rep.Findings {
		if f.Module == a.Module.Name && f.Rule == "ITS-THUNK" {
			n := f.Rule
			if f.Mark != "" {
				n += ": " + f.Mark
			}
			if !shown[n] {
				shown[n] = true
				v.Findings = append(v.Findings, n)
			}
		}
	}
	return v, nil
}

func cmdITS(c *Call) error {
	a, fs, err := moduleArg(c, "its")
	if err != nil {
		return err
	}
	v, err := c.S.itsView(a)
	if err != nil {
		return err
	}
	if boolFlag(fs, "json") {
		return c.JSON(v)
	}
	if v.NotApplicable != "" {
		c.Printf("MODULE %s: no ITS thunks: %s\n", v.Module, v.NotApplicable)
		return nil
	}
	var pages []string
	for _, p := range v.Pages {
		pages = append(pages, fmt.Sprintf("%#x", uint64(p)))
	}
	c.Printf("MODULE %s  mod->arch.its_pages: %d page(s) of %d bytes: %s\n", v.Module, len(v.Pages), v.PageSize, strings.Join(pages, ", "))
	for _, u := range v.Unread {
		c.Printf("  unreadable: %s\n", u)
	}
	c.Printf("\n")
	tw := newTable(c.Out, "THUNK", "ADDR", "INSN", "CACHE LINE", "STATE").Prose("STATE")
	for i, t := range v.Thunks {
		line := "upper half"
		if t.Misplaced {
			line = "lower half"
		}
		st := "ok"
		if len(t.Findings) > 0 {
			st = "<< " + strings.Join(t.Findings, "; ")
		}
		tw.Append([]string{fmt.Sprint(i), fmt.Sprintf("%x", uint64(t.Addr)), "jmp *" + t.Reg + "; int3", line, st})
	}
	tw.Render()
	for _, st := range v.Strays {
		c.Printf("stray bytes at %#x: %s  << %s\n", uint64(st.Addr), st.Bytes, strings.Join(st.Findings, "; "))
	}
	for _, f := range v.Findings {
		c.Printf("<< %s\n", f)
	}
	return nil
}
