package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

func cmdKlp(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	st, err := c.S.Ftrace()
	if err != nil {
		return fmt.Errorf("klp: %w", err)
	}
	if st.Livepatch == nil {
		if _, err := c.S.Prog.SymbolAddr("klp_patches"); err != nil {
			return fmt.Errorf("klp: this kernel has no livepatch support (no klp_patches: CONFIG_LIVEPATCH is off)")
		}
		return fmt.Errorf("klp: no livepatch state read")
	}
	if boolFlag(fs, "tasks") {
		tasks, err := c.S.klpTasks(st.Livepatch)
		if boolFlag(fs, "json") {
			if err != nil {
				return c.JSONPartial(tasks, fmt.Errorf("klp --tasks: %w", err))
			}
			return c.JSON(tasks)
		} else if tasks != nil {
			c.S.writeKlpTasks(c, st.Livepatch, tasks)
		}
		if err != nil {
			return fmt.Errorf("klp --tasks: %w", err)
		}
		return nil
	}
	if boolFlag(fs, "json") {
		return jsonWithWarnings(c, c.S.klpView(st.Livepatch), st.Livepatch.Warnings)
	}
	c.S.writeKlp(c, st.Livepatch)
	return nil
}

// KlpView is `klp --json`: the livepatch state.
type KlpView struct {
	// TransitionPatch is klp_transition_patch (0x0: no transition),
	// TargetState klp_target_state by name.
	TransitionPatch    wire.Hex       `json:"transition_patch"`
	TransitionPatchSym string         `json:"transition_patch_sym,omitempty"`
	TargetState        klpState       `json:"target_state,omitempty"`
	Patches            []KlpPatchView `json:"patches"`
	// Ops are the klp_ops (one per patched function).
	Ops []KlpOpsView `json:"ops"`
}

// KlpPatchView is one struct klp_patch.
type KlpPatchView struct {
	Addr wire.Hex `json:"addr"`
	// Mod is patch->mod, Module its name.
	Mod     wire.Hex        `json:"mod"`
	Module  string          `json:"module"`
	Enabled bool            `json:"enabled"`
	Forced  bool            `json:"forced"`
	Replace bool            `json:"replace"`
	Objects []KlpObjectView `json:"objects"`
}

// KlpObjectView is one struct klp_object.
type KlpObjectView struct {
	Addr wire.Hex `json:"addr"`
	// Name is obj->name, "vmlinux" for NULL; Mod the loaded module
	// (0x0: not loaded), Module its name.
	Name    string        `json:"name"`
	Mod     wire.Hex      `json:"mod"`
	Module  string        `json:"module,omitempty"`
	Dynamic bool          `json:"dynamic"`
	Patched bool          `json:"patched"`
	Funcs   []KlpFuncView `json:"funcs"`
}

// KlpFuncView is one struct klp_func.
type KlpFuncView struct {
	Addr      wire.Hex `json:"addr"`
	OldName   string   `json:"old_name"`
	OldSympos int64    `json:"old_sympos"`
	// OldFunc and NewFunc are the replaced and the replacing function,
	// with their symbols and sizes.
	OldFunc    wire.Hex `json:"old_func"`
	OldFuncSym string   `json:"old_func_sym,omitempty"`
	OldSize    int64    `json:"old_size"`
	NewFunc    wire.Hex `json:"new_func"`
	NewFuncSym string   `json:"new_func_sym,omitempty"`
	NewSize    int64    `json:"new_size"`
	Nop        bool     `json:"nop"`
	Patched    bool     `json:"patched"`
	Transition bool     `json:"transition"`
}

// KlpOpsView is one struct klp_ops: the ftrace_ops its functions share and
// their func_stack, the active klp_func first.
type KlpOpsView struct {
	Addr      wire.Hex   `json:"addr"`
	FtraceOps wire.Hex   `json:"ftrace_ops"`
	FuncStack []wire.Hex `json:"func_stack"`
	OldFunc   wire.Hex   `json:"old_func"`
}

func (s *Session) symOrEmpty(a uint64) string {
	if a == 0 {
		return ""
	}
	if loc := s.resolve(a); loc.Symbol != nil || loc.Section != "" {
		return loc.String()
	}
	return ""
}

func (s *Session) klpView(lp *ftrace.Livepatch) KlpView {
	v := KlpView{TransitionPatch: wire.Hex(lp.TransitionPatch), TransitionPatchSym: s.symOrEmpty(lp.TransitionPatch)}
	if lp.HasTargetState {
		v.TargetState = klpState(klpStateName(lp.TargetState))
	}
	for _, p := range lp.Patches {
		pv := KlpPatchView{Addr: wire.Hex(p.Addr), Mod: wire.Hex(p.Mod), Module: p.ModName, Enabled: p.Enabled, Forced: p.Forced, Replace: p.Replace}
		for _, o := range p.Objects {
			name := o.Name
			if name == "" {
				name = "vmlinux"
			}
			ov := KlpObjectView{Addr: wire.Hex(o.Addr), Name: name, Mod: wire.Hex(o.Mod), Module: o.ModName, Dynamic: o.Dynamic, Patched: o.Patched}
			for _, f := range o.Funcs {
				ov.Funcs = append(ov.Funcs, KlpFuncView{Addr: wire.Hex(f.Addr), OldName: f.OldName, OldSympos: int64(f.OldSympos),
					OldFunc: wire.Hex(f.OldFunc), OldFuncSym: s.symOrEmpty(f.OldFunc), OldSize: int64(f.OldSize),
					NewFunc: wire.Hex(f.NewFunc), NewFuncSym: s.symOrEmpty(f.NewFunc), NewSize: int64(f.NewSize),
					Nop: f.Nop, Patched: f.Patched, Transition: f.Transition})
			}
			pv.Objects = append(pv.Objects, ov)
		}
		v.Patches = append(v.Patches, pv)
	}
	for _, o := range lp.Ops {
		ov := KlpOpsView{Addr: wire.Hex(o.Addr), FuncStack: wire.Hexes(o.Stack), OldFunc: wire.Hex(o.OldFunc)}
		if o.Fops != nil {
			ov.FtraceOps = wire.Hex(o.Fops.Addr)
		}
		v.Ops = append(v.Ops, ov)
	}
	return v
}

// klpTransitionStates names klp_target_state (kernel/livepatch/transition.h
// KLP_TRANSITION_IDLE/UNPATCHED/PATCHED).
var klpTransitionStates = map[int64]string{-1: "KLP_TRANSITION_IDLE", 0: "KLP_TRANSITION_UNPATCHED", 1: "KLP_TRANSITION_PATCHED"}

// writeKlp prints the livepatch state as a table (a tree when the table
// is wider than the terminal): one row per klp_func,
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
	if width := termWidth(c.Out); width > 0 && !tw.fitsNarrow(width) {
		// Narrower than the table: a tree of patch, object and klp_func
		// (each function's old and new body on lines of their own).
		for _, r := range tw.rows {
			if r[0] != "" {
				c.Printf(" %s\n", r[0])
			}
			if r[1] != "" {
				c.Printf("   %s\n", r[1])
			}
			if r[2] == "-" {
				continue
			}
			c.Printf("     klp_func %s  %s\n", r[2], r[5])
			c.Printf("       old_func  %s\n", r[3])
			c.Printf("       new_func  %s\n", r[4])
		}
	} else {
		tw.Render()
	}
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
