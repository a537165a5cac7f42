package audit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
)

// livepatchState is the ftrace state of a dump with a livepatch enabled;
// false (the rule not applicable, or unable to check) otherwise.
func livepatchState(c *Check) (*ftrace.State, bool) {
	st, ok := c.Ftrace()
	if !ok {
		return nil, false
	}
	if st.Livepatch == nil {
		c.NotApplicable("no livepatch is enabled")
		return nil, false
	}
	return st, true
}

// checkKlpFunc: KLP-FUNC (seed 001), each patched function's record and
// site against its livepatch ops. What the dump does not hold readable is
// a gap in the check, never a finding.
func checkKlpFunc(c *Check) {
	st, ok := livepatchState(c)
	if !ok {
		return
	}
	if len(st.KlpFunc) == 0 {
		c.NotApplicable("no patched function")
		return
	}
	var gaps []string
	for i := range st.KlpFunc {
		k := &st.KlpFunc[i]
		obj := k.Object
		if obj == "" {
			obj = "vmlinux"
		}
		for _, u := range k.Unchecked {
			gaps = append(gaps, fmt.Sprintf("%s: %s", k.Func.OldName, u))
		}
		problems := append(slices.Clip(k.Problems), klpSiteProblems(c, k)...)
		if len(problems) == 0 {
			continue
		}
		c.Report(Finding{Module: k.Patch,
			Places:  []Place{{Kind: PlaceFunc, Owner: k.Object, Addr: k.WantIP, Size: 4, Label: fmt.Sprintf("%s:%s", obj, k.Func.OldName)}},
			Mark:    "livepatched function: " + strings.Join(problems, "; "),
			Message: fmt.Sprintf("%s: patched function %s (%s): %s", k.Patch, k.Func.OldName, obj, strings.Join(problems, "; "))})
	}
	if len(gaps) > 0 {
		c.Partial("%s", list(gaps, 6))
	}
}

// klpSiteProblems: on a fixed-size call site (x86_64, arm64) the call at
// the record and the word ftrace_init_nop() wrote before it (arm64's
// mov x9, x30) where they differ from the FTRACE-SITE model, unless an
// armed kprobe holds the word with the expected one as its saved
// instruction (arch_arm_kprobe(): a kprobe on a livepatched function's
// first word is a brk, and klp_ftrace_handler still runs behind it).
func klpSiteProblems(c *Check, k *ftrace.KlpFuncCheck) []string {
	var out []string
	if k.Record == nil {
		return nil
	}
	if k.SiteMismatch && len(k.SiteWant) > 0 && !kprobeExplains(c, k.Record.IP, k.SiteWant[0]) {
		out = append(out, fmt.Sprintf("site %#x holds %s, not %s", k.Record.IP, disasmBytes(c, k.SiteBytes, k.Record.IP), k.SiteWantWhy))
	}
	if len(k.PrefixWant) > 0 && !kprobeExplains(c, k.PrefixAddr, k.PrefixWant) {
		f := disasmBytes(c, k.PrefixFound, k.PrefixAddr)
		if len(k.PrefixFound) == 0 {
			f = "(unreadable)"
		}
		out = append(out, fmt.Sprintf("%s at %#x before the site, where ftrace_init_nop() writes %s", f, k.PrefixAddr, disasmBytes(c, k.PrefixWant, k.PrefixAddr)))
	}
	return out
}

// checkKlpTransition: KLP-TRANSITION. With a livepatch transition in
// progress (klp_transition_patch set), every task whose patch_state is not
// yet klp_target_state holds it up; each one with a function the
// transition changes on its stack is what klp_check_stack() keeps
// refusing to switch (kernel/livepatch/transition.c).
func checkKlpTransition(c *Check) {
	st, ok := livepatchState(c)
	if !ok {
		return
	}
	lp := st.Livepatch
	if lp.TransitionPatch == 0 {
		return // no transition in progress: checked, nothing to say
	}
	patch := fmt.Sprintf("%#x", lp.TransitionPatch)
	for _, pt := range lp.Patches {
		if pt.Addr == lp.TransitionPatch && pt.ModName != "" {
			patch = pt.ModName
		}
	}
	target := map[int64]string{0: "unpatched", 1: "patched"}[lp.TargetState]
	bodies := lp.TransitionBodies()
	var behind, blocked []string
	var places []Place
	for _, u := range c.Stacks() {
		if !u.HasTask || !u.Task.HasPatchState || u.Task.PatchState == lp.TargetState {
			continue
		}
		who := fmt.Sprintf("PID %d (%s)", u.Task.PID, u.Task.Comm)
		behind = append(behind, who)
		for i, f := range u.Frames {
			for _, b := range bodies {
				if f.PC >= b.Lo && f.PC < b.Hi {
					which := "original " + b.Func
					if b.New {
						which = "replacement of " + b.Func
					}
					blocked = append(blocked, fmt.Sprintf("%s frame #%d at %#x in the %s", who, i, f.PC, which))
					places = append(places, Place{Kind: PlaceObject, Addr: u.Task.Addr, Label: who})
				}
			}
		}
	}
	if len(behind) == 0 {
		return
	}
	msg := fmt.Sprintf("livepatch transition of %s to %s in progress: %d tasks not yet switched (%s)", patch, target, len(behind), list(behind, 12))
	if len(blocked) > 0 {
		msg += fmt.Sprintf("; %d stack frames in functions the transition changes, which klp_check_stack() refuses: %s", len(blocked), list(blocked, 12))
	} else {
		msg += "; none has a function the transition changes on its stack (they switch at their next kernel exit or when the transition work runs)"
	}
	c.Report(Finding{Module: patch, Places: places, Mark: "livepatch transition in progress", Message: msg})
}

// list joins up to n items, saying how many more there are.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", and %d more", len(items)-n)
}
