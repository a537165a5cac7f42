package audit

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/stack"
)

// flagged is a stretch of .stubs that a finding names: a whole stub slot
// or ftrace_ool_stub entry.
type flagged struct {
	lo, hi uint64
	f      *Finding
	what   string
}

// flaggedRanges turns the .stubs findings into address ranges: the slot
// (40 bytes) of a finding's Addrs, the OOL entry (24 bytes) for OOL-INSN,
// and for OOL-FTRACE-OP-NULL each entry whose ftrace_op word it lists.
func flaggedRanges(r *Report) []flagged {
	var out []flagged
	for i := range r.Findings {
		f := &r.Findings[i]
		switch f.Rule {
		case "OOL-OVERLAP", "STUB-TEMPLATE", "LOADER-MODEL", "KLP-STALE-STUB":
			for j, a := range f.Addrs {
				what := "a stub slot"
				if j < len(f.Slots) {
					what = f.Slots[j]
				}
				out = append(out, flagged{a, a + stubSize, f, what})
			}
		case "OOL-INSN":
			for j, a := range f.Addrs {
				out = append(out, flagged{a, a + oolSize, f, f.Slots[min(j, len(f.Slots)-1)]})
			}
		case "OOL-FTRACE-OP-NULL":
			for _, w := range f.Words {
				out = append(out, flagged{w.Addr, w.Addr + oolSize, f, w.Label})
			}
		}
	}
	return out
}

// auditContexts: EXEC-IN-FLAGGED-STUB. Every CPU (from its register note)
// and every switched-out task is unwound (package stack); a frame whose PC
// lies in a stretch of .stubs another rule flagged says the broken stub
// was, or is about to be, executed: the crash that followed is that
// finding's. Nothing is walked when no .stubs finding exists.
func auditContexts(r *Report, walk func() ([]stack.Unwound, error)) {
	ranges := flaggedRanges(r)
	if len(ranges) == 0 || !r.opts.enabled("EXEC-IN-FLAGGED-STUB") {
		return
	}
	ctxs, err := walk()
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("EXEC-IN-FLAGGED-STUB: stacks checked for %d contexts: %v", len(ctxs), err))
	}
	stale := 0
	for _, c := range ctxs {
		if c.Stale {
			stale++
			continue
		}
		frames := c.Frames
		for i, fr := range frames {
			// Ranges may overlap (a stub over an OOL entry): take every
			// one holding the PC, and speak with the gravest finding.
			var in []flagged
			for _, g := range ranges {
				if fr.PC >= g.lo && fr.PC < g.hi {
					in = append(in, g)
				}
			}
			if len(in) == 0 {
				continue
			}
			top := in[0]
			var names []string
			for _, g := range in {
				names = append(names, fmt.Sprintf("%s (%s)", g.what, g.f.Rule))
				if g.f.Severity > top.f.Severity {
					top = g
				}
			}
			who := fmt.Sprintf("task %#x", c.Task.Addr)
			if c.HasTask {
				who = fmt.Sprintf("PID %d (%s)", c.Task.PID, c.Task.Comm)
			}
			if c.CPU >= 0 {
				who = fmt.Sprintf("CPU %d, %s,", c.CPU, who)
			}
			r.add(Finding{Rule: "EXEC-IN-FLAGGED-STUB", Module: top.f.Module, Addrs: []uint64{fr.PC}, Slots: []string{top.what},
				Fix: top.f.Fix,
				Message: fmt.Sprintf("%s frame #%d (%s) is at %#x in %s, inside %s; %s says: %s",
					who, i, fr.Kind, fr.PC, top.f.Module, strings.Join(names, ", "), top.f.Rule, top.f.Message)})
		}
	}
	if stale > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d tasks run on CPUs whose registers the dump lacks: their stacks were not checked (thread.ksp is stale while a task runs)", stale))
	}
}
