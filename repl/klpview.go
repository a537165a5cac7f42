package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
)

// klpTransitionStates names klp_target_state (kernel/livepatch/transition.h
// KLP_TRANSITION_IDLE/UNPATCHED/PATCHED).
var klpTransitionStates = map[int64]string{-1: "KLP_TRANSITION_IDLE", 0: "KLP_TRANSITION_UNPATCHED", 1: "KLP_TRANSITION_PATCHED"}

// writeKlp prints the livepatch state as a table: one row per klp_func,
// its patch and object named on their first row, with old_func and
// new_func resolved to symbols and the patched/transition flags
// (struct klp_patch, klp_object, klp_func of include/linux/livepatch.h).
func (s *Session) writeKlp(c *Call, lp *ftrace.Livepatch) {
	switch {
	case lp.TransitionPatch == 0:
		c.Printf("klp_transition_patch: none (no transition in progress)")
	default:
		c.Printf("klp_transition_patch: %#x <%s>", lp.TransitionPatch, s.resolve(lp.TransitionPatch).String())
	}
	if lp.HasTargetState {
		name := klpTransitionStates[lp.TargetState]
		if name == "" {
			name = fmt.Sprintf("unknown (%d)", lp.TargetState)
		}
		c.Printf(", klp_target_state: %s", name)
	}
	c.Printf("\n%d patches\n\n", len(lp.Patches))
	tw := newTable(c.Out, "PATCH", "OBJECT", "KLP_FUNC", "OLD_FUNC", "NEW_FUNC", "FLAGS")
	for _, pt := range lp.Patches {
		pname := pt.ModName
		if pname == "" {
			pname = fmt.Sprintf("%#x", pt.Mod)
		}
		var pflags []string
		for _, f := range []struct {
			on   bool
			name string
		}{{pt.Enabled, "enabled"}, {!pt.Enabled, "disabled"}, {pt.Forced, "forced"}, {pt.Replace, "replace"}, {pt.Addr != 0 && pt.Addr == lp.TransitionPatch, "in-transition"}} {
			if f.on {
				pflags = append(pflags, f.name)
			}
		}
		patchCol := fmt.Sprintf("%s [%s] %x", pname, strings.Join(pflags, ","), pt.Addr)
		if len(pt.Objects) == 0 {
			tw.Append([]string{patchCol, "-", "-", "-", "-", ""})
			continue
		}
		for oi, o := range pt.Objects {
			oname := o.Name
			if oname == "" {
				oname = "vmlinux"
			}
			state := "unpatched"
			if o.Patched {
				state = "patched"
			}
			if o.Dynamic {
				state += ",dynamic"
			}
			if o.Name != "" && o.Mod == 0 {
				state += ",not loaded"
			}
			objCol := fmt.Sprintf("%s [%s] %x", oname, state, o.Addr)
			if len(o.Funcs) == 0 {
				tw.Append([]string{firstOnly(oi == 0, patchCol), objCol, "-", "-", "-", ""})
				continue
			}
			for fi, f := range o.Funcs {
				old := f.OldName
				if f.OldSympos != 0 {
					old += fmt.Sprintf(",%d", f.OldSympos)
				}
				oldCol := fmt.Sprintf("%x <%s>", f.OldFunc, s.resolve(f.OldFunc).String())
				if f.OldFunc == 0 {
					oldCol = "0 (" + old + " not resolved)"
				} else if loc := s.resolve(f.OldFunc); loc.Symbol == nil || loc.Symbol.Name != f.OldName {
					oldCol += " old_name " + old
				}
				newCol := fmt.Sprintf("%x <%s>", f.NewFunc, s.resolve(f.NewFunc).String())
				if f.Nop {
					newCol = "(nop: back to old_func)"
				}
				var fl []string
				if f.Patched {
					fl = append(fl, "patched")
				} else {
					fl = append(fl, "unpatched")
				}
				if f.Transition {
					fl = append(fl, "transition")
				}
				if f.Nop {
					fl = append(fl, "nop")
				}
				tw.Append([]string{firstOnly(oi == 0 && fi == 0, patchCol), firstOnly(fi == 0, objCol),
					fmt.Sprintf("%x", f.Addr), oldCol, newCol, strings.Join(fl, ",")})
			}
		}
	}
	tw.Render()
	for _, w := range lp.Warnings {
		c.Printf("warning: %s\n", w)
	}
}

func firstOnly(first bool, s string) string {
	if first {
		return s
	}
	return ""
}
