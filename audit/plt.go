package audit

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// The arm64 module PLT rules (arch/arm64/kernel/module-plts.c, ftrace.c in
// ../shared/kernel-src/7.2.13/), on the model of package modules (plt.go).

// PLT returns the module's PLTs; a kernel whose modules have none makes
// the rule not applicable.
func (c *Check) PLT() (*modules.PLTs, bool) {
	switch {
	case c.Mod.PLT != nil:
		return c.Mod.PLT, true
	case c.Mod.PLTErr != nil:
		c.CannotCheck("mod->arch PLT state unreadable: %v", c.Mod.PLTErr)
	default:
		c.NotApplicable("this kernel's modules have no PLTs (no mod->arch.core.plt_num_entries with an architecture PLT template: arm64's module-plts.c)")
	}
	return nil, false
}

// checkPLTEntry: PLT-ENTRY.
func checkPLTEntry(c *Check) {
	pl, ok := c.PLT()
	if !ok {
		return
	}
	for _, sec := range []*modules.PLTSection{&pl.Core, &pl.Init} {
		if sec.Num > sec.Max || sec.Num < 0 {
			c.Report(Finding{Places: []Place{{Kind: PlaceSlot, Owner: c.Subject, Array: sec.Name, Index: int(sec.Num), Addr: sec.Addr + uint64(sec.Num)*uint64(pl.EntrySize)}},
				Mark:    fmt.Sprintf("plt_num_entries %d past plt_max_entries %d", sec.Num, sec.Max),
				Message: fmt.Sprintf("%s: mod->arch.%s.plt_num_entries is %d but count_plts() reserved %d entries (module_emit_plt_entry()'s WARN_ON)", c.Subject, secField(sec), sec.Num, sec.Max)})
		}
		if len(sec.Slots) == 0 {
			if sec == &pl.Core && sec.Max > 0 {
				c.CannotCheck("%s not read: %s", sec.Name, sec.NotRead)
			}
			continue
		}
		for _, s := range sec.Slots {
			switch sec.Use(s) {
			case modules.PLTSkipped, modules.PLTFree, modules.PLTDuplicate:
				// Free, skipped for erratum 843419
				// (is_forbidden_offset_for_adrp()), or the duplicate
				// module_emit_plt_entry() writes past the last used
				// entry before it checks for it (modules.PLTSection.Use).
				continue
			case modules.PLTStray:
				what := "bytes"
				if s.Template {
					what = "get_plt_entry() to " + c.Set.Resolver.Lookup(s.Target).String()
				}
				c.Report(Finding{Places: []Place{{Kind: PlaceSlot, Owner: c.Subject, Array: sec.Name, Index: s.Index, Addr: s.Addr, Size: uint64(len(s.Bytes))}},
					Words: pltWords(c, s, nil), Mark: fmt.Sprintf("written past plt_num_entries (%d)", sec.Num),
					Message: fmt.Sprintf("%s: %s[%d] at %#x holds %s but plt_num_entries is %d: module_emit_plt_entry() never wrote it", c.Subject, sec.Name, s.Index, s.Addr, what, sec.Num)})
				continue
			}
			switch {
			case !s.Template:
				c.Report(Finding{Places: []Place{{Kind: PlaceSlot, Owner: c.Subject, Array: sec.Name, Index: s.Index, Addr: s.Addr, Size: uint64(len(s.Bytes))}},
					Words: pltWords(c, s, nil), Mark: "not get_plt_entry()",
					Message: fmt.Sprintf("%s: %s[%d] at %#x is neither get_plt_entry() for its own address nor free (an ADRP veneer of module_emit_veneer_for_adrp() is not modelled)", c.Subject, sec.Name, s.Index, s.Addr)})
			default:
				loc := c.Set.Resolver.Lookup(s.Target)
				if loc.Symbol == nil {
					c.Report(Finding{Severity: Warning, Places: []Place{{Kind: PlaceSlot, Owner: c.Subject, Array: sec.Name, Index: s.Index, Addr: s.Addr, Size: uint64(len(s.Bytes))}},
						Words: pltWords(c, s, nil), Mark: fmt.Sprintf("-> %#x: no function", s.Target),
						Message: fmt.Sprintf("%s: %s[%d] at %#x branches to %#x, in no function of the vmlinux or a live module", c.Subject, sec.Name, s.Index, s.Addr, s.Target)})
				}
			}
		}
	}
}

func secField(s *modules.PLTSection) string {
	if s.Name == ".init.plt" {
		return "init"
	}
	return "core"
}

// checkFtracePLT: FTRACE-PLT.
func checkFtracePLT(c *Check) {
	pl, ok := c.PLT()
	if !ok {
		return
	}
	if len(pl.FtraceTramps) == 0 {
		if pl.FtraceTrampsPtr == 0 && pl.NotReadTramps != "" {
			c.NotApplicable("%s", pl.NotReadTramps)
		} else {
			c.CannotCheck("%s", pl.NotReadTramps)
		}
		return
	}
	for _, s := range pl.FtraceTramps {
		if string(s.Bytes) == string(s.Want) {
			continue
		}
		what := fmt.Sprintf("% x", s.Bytes)
		if s.Decoded {
			what = "an entry to " + c.Set.Resolver.Lookup(s.Target).String()
		}
		c.Report(Finding{Places: []Place{{Kind: PlaceSlot, Owner: c.Subject, Array: "ftrace_trampolines", Index: s.Index, Addr: s.Addr, Size: uint64(len(s.Bytes))}},
			Words: pltWords(c, s, s.Want), Mark: "not get_plt_entry(FTRACE_ADDR)",
			Message: fmt.Sprintf("%s: mod->arch.ftrace_trampolines[%d] at %#x holds %s where module_init_ftrace_plt() writes get_plt_entry(FTRACE_ADDR %#x, &plt[%d])", c.Subject, s.Index, s.Addr, what, pl.FtraceAddr, s.Index)})
	}
}

// pltWords shows an entry's 4-byte words, with want's when given.
func pltWords(c *Check, s modules.PLTSlot, want []byte) []Word {
	var out []Word
	for i := 0; i+4 <= len(s.Bytes); i += 4 {
		pc := s.Addr + uint64(i)
		w := Word{Addr: pc, Size: 4, Label: fmt.Sprintf("entry word %d", i/4), Found: leValue(s.Bytes[i : i+4]), FoundAsm: pltAsm(c, s.Bytes[i:i+4], pc)}
		if i+4 <= len(want) {
			w.HasExpected, w.Expected, w.ExpectedAsm = true, leValue(want[i:i+4]), pltAsm(c, want[i:i+4], pc)
		}
		out = append(out, w)
	}
	return out
}

func pltAsm(c *Check, b []byte, pc uint64) string {
	if c.A != nil && c.A.Prog != nil {
		if d, ok := c.A.Prog.Arch.(arch.Disassembler); ok {
			t, _ := d.Disasm(b, pc)
			return t
		}
	}
	return ""
}
