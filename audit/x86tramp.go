package audit

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"
)

// checkOpsTramp: FTRACE-OPS-TRAMP. On x86_64, each ftrace_ops trampoline
// the kernel allocated is create_trampoline()'s copy of ftrace_caller (or
// ftrace_regs_caller) with its call, ops pointer load, nopped jnz and
// tail as that function writes them (ftrace.X86TrampCheck).
func checkOpsTramp(c *Check) {
	p, ok := c.withCapability(arch.OpsTrampolines, "allocated ftrace_ops trampolines (create_trampoline()) are modelled on x86_64")
	if !ok {
		return
	}
	st, ok := c.Ftrace()
	if !ok {
		return
	}
	checks := st.CheckX86Trampolines(p)
	if len(checks) == 0 {
		c.NotApplicable("no ftrace_ops with an allocated trampoline")
		return
	}
	var unchecked []string
	for _, t := range checks {
		if t.Unchecked != "" {
			unchecked = append(unchecked, fmt.Sprintf("%s: %s", opsName(t.Ops.Name, t.Ops.Addr), t.Unchecked))
		}
		if len(t.Problems) == 0 {
			continue
		}
		var parts []string
		for _, pr := range t.Problems[:min(len(t.Problems), 4)] {
			parts = append(parts, fmt.Sprintf("at %#x %s where %s", pr.Addr, pr.Found, pr.Want))
		}
		src := "ftrace_caller"
		if t.Regs {
			src = "ftrace_regs_caller"
		}
		c.Report(Finding{Places: []Place{{Kind: PlaceText, Addr: t.Problems[0].Addr, Label: "ops trampoline of " + opsName(t.Ops.Name, t.Ops.Addr)}},
			Mark: "ops trampoline not as create_trampoline() makes it",
			Message: fmt.Sprintf("the trampoline at %#x of ftrace_ops %s (a copy of %s, %d bytes) differs from what create_trampoline() writes in %d place(s): %s",
				t.Addr, opsName(t.Ops.Name, t.Ops.Addr), src, t.Size, len(t.Problems), strings.Join(parts, "; "))})
	}
	if len(unchecked) > 0 {
		c.Partial("%d trampoline(s) not compared: %s", len(unchecked), list(unchecked, 3))
	}
}

func opsName(name string, addr uint64) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%#x", addr)
}
