package audit

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/stack"
)

// auditKlpTransition: KLP-TRANSITION. With a livepatch transition in
// progress (klp_transition_patch set), every task whose patch_state is not
// yet klp_target_state holds it up; each one with a function the
// transition changes on its stack is what klp_check_stack() keeps
// refusing to switch (kernel/livepatch/transition.c).
func auditKlpTransition(st *ftrace.State, r *Report, walk func() ([]stack.Unwound, error)) {
	if st == nil || st.Livepatch == nil || st.Livepatch.TransitionPatch == 0 || !r.opts.enabled("KLP-TRANSITION") {
		return
	}
	lp := st.Livepatch
	patch := fmt.Sprintf("%#x", lp.TransitionPatch)
	for _, pt := range lp.Patches {
		if pt.Addr == lp.TransitionPatch && pt.ModName != "" {
			patch = pt.ModName
		}
	}
	target := map[int64]string{0: "unpatched", 1: "patched"}[lp.TargetState]
	bodies := lp.TransitionBodies()
	ctxs, err := walk()
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("KLP-TRANSITION: tasks checked for %d contexts: %v", len(ctxs), err))
	}
	var behind, blocked []string
	var addrs []uint64
	for _, c := range ctxs {
		if !c.HasTask || !c.Task.HasPatchState || c.Task.PatchState == lp.TargetState {
			continue
		}
		who := fmt.Sprintf("PID %d (%s)", c.Task.PID, c.Task.Comm)
		behind = append(behind, who)
		for i, f := range c.Frames {
			for _, b := range bodies {
				if f.PC >= b.Lo && f.PC < b.Hi {
					which := "original " + b.Func
					if b.New {
						which = "replacement of " + b.Func
					}
					blocked = append(blocked, fmt.Sprintf("%s frame #%d at %#x in the %s", who, i, f.PC, which))
					addrs = append(addrs, c.Task.Addr)
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
	r.add(Finding{Rule: "KLP-TRANSITION", Module: patch, Addrs: addrs, Message: msg})
}

// list joins up to n items, saying how many more there are.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", and %d more", len(items)-n)
}
