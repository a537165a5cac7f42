package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// LogRecord is one printk record (package kernel reads them).
type LogRecord = kernel.LogRecord

// ReadLog reads the printk ring buffer (kernel.ReadLog).
func ReadLog(p *kernel.Program) ([]LogRecord, int, error) { return kernel.ReadLog(p) }

func cmdLog(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	recs, skipped, err := ReadLog(c.S.Prog)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if n := intFlag(fs, "n"); n > 0 && len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	if boolFlag(fs, "json") {
		out := make([]LogView, len(recs))
		for i, r := range recs {
			out[i] = LogView{Seq: int64(r.Seq), TsNsec: int64(r.TsNsec), Level: int(r.Level), Text: strings.TrimRight(r.Text, "\n")}
		}
		if skipped > 0 {
			c.Warn("%d record(s) could not be read", skipped)
		}
		return c.JSON(out)
	}
	for _, r := range recs {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		text := strings.TrimRight(r.Text, "\n")
		if boolFlag(fs, "t") {
			c.Printf("%s\n", text)
			continue
		}
		c.Printf("[%5d.%06d] %s\n", r.TsNsec/1e9, r.TsNsec%1e9/1e3, text)
	}
	if skipped > 0 {
		fmt.Fprintf(c.S.Err, "log: %d record(s) could not be read\n", skipped)
	}
	return nil
}

func cmdFtrace(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	st, err := c.S.Ftrace()
	if err != nil {
		return fmt.Errorf("ftrace: %w", err)
	}
	mod, fn := stringFlag(fs, "module"), stringFlag(fs, "func")
	if len(pos) > 0 {
		mod = pos[0]
	}
	var recs []ftrace.Record
	for _, r := range st.Records {
		switch {
		case mod == "vmlinux" && r.Module != "", mod != "" && mod != "vmlinux" && r.Module != mod:
		case fn != "" && r.Func != fn:
		case boolFlag(fs, "enabled") && !r.Flags.Has(ftrace.FL_ENABLED):
		default:
			recs = append(recs, r)
		}
	}
	if boolFlag(fs, "enabled") {
		return writeEnabled(c, st, recs, boolFlag(fs, "json"))
	}
	if boolFlag(fs, "json") {
		for _, w := range st.Warnings {
			c.Warn("%s", w)
		}
		out := make([]FtraceView, len(recs))
		for i, r := range recs {
			out[i] = c.S.ftraceView(r)
		}
		return c.JSON(out)
	}
	for _, w := range st.Warnings {
		c.Printf("warning: %s\n", w)
	}
	tw := newTable(c.Out, "IP", "FUNCTION", "MODULE", "FLAGS", "SITE")
	for _, r := range recs {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		tw.Append([]string{fmt.Sprintf("%x", r.IP), fmt.Sprintf("%s+%#x", r.Func, r.Off), r.Module, fmt.Sprintf("%v", r.Flags), c.S.ftraceSite(r.IP)})
	}
	tw.Render()
	return nil
}

// Ftrace loads the ftrace state once (package ftrace).

// ftraceSite annotates an ftrace call site: [FTRACE NOP] when the site
// holds a nop, [FTRACE -> ool stub j] when it branches into an OOL array,
// "" when ip is not a record's ip (analysis.Where).
func (s *Session) ftraceSite(ip uint64) string {
	if w := s.A.Where(ip); w.Kind == analysis.AtFtraceSite {
		return w.String()
	}
	return ""
}

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
		for _, w := range st.Livepatch.Warnings {
			c.Warn("%s", w)
		}
		return c.JSON(c.S.klpView(st.Livepatch))
	}
	c.S.writeKlp(c, st.Livepatch)
	return nil
}

// EnabledView is one enabled record, as enabled_functions shows it: the
// record, and the ops that own it with their handler (ftrace_ops.func).
type EnabledView struct {
	FtraceView
	Ops []EnabledOps `json:"ops"`
}

// EnabledOps is one ftrace_ops whose filter takes a record.
type EnabledOps struct {
	// Name is the ops' symbol or owner ("klp_ops: cmdline_proc_show"),
	// else its address.
	Name string   `json:"name"`
	Addr wire.Hex `json:"addr"`
	// Handler is ops->func by symbol, HandlerAddr its address.
	Handler     string   `json:"handler"`
	HandlerAddr wire.Hex `json:"handler_addr"`
	Trampoline  wire.Hex `json:"trampoline,omitempty"`
}

func writeEnabled(c *Call, st *ftrace.State, recs []ftrace.Record, asJSON bool) error {
	var out []EnabledView
	for _, r := range recs {
		v := EnabledView{FtraceView: c.S.ftraceView(r)}
		for _, o := range st.SortedOps() {
			if !o.InList || !o.Matches(r.IP) {
				continue
			}
			eo := EnabledOps{Name: o.Name, Addr: wire.Hex(o.Addr), Handler: o.FuncName, HandlerAddr: wire.Hex(o.Func), Trampoline: wire.Hex(o.Trampoline)}
			if eo.Name == "" {
				eo.Name = hx(o.Addr)
			}
			if eo.Handler == "" {
				eo.Handler = hx(o.Func)
			}
			v.Ops = append(v.Ops, eo)
		}
		out = append(out, v)
	}
	if asJSON {
		for _, w := range st.Warnings {
			c.Warn("%s", w)
		}
		return c.JSON(out)
	}
	tw := newTable(c.Out, "IP", "FUNCTION", "MODULE", "FLAGS", "REFS", "OPS", "HANDLER", "SITE")
	for _, v := range out {
		var ops, handlers []string
		for _, o := range v.Ops {
			ops, handlers = append(ops, o.Name), append(handlers, o.Handler)
		}
		tw.Append([]string{hx(uint64(v.IP)), v.Func, v.Module, strings.Join(v.Flags.Names, "|"), fmt.Sprint(v.Refs), strings.Join(ops, ", "), strings.Join(handlers, ", "), v.Site})
	}
	tw.Render()
	return nil
}

// LogView is one printk record of `log --json`.
type LogView struct {
	Seq int64 `json:"seq"`
	// TsNsec is the record's timestamp in nanoseconds since boot.
	TsNsec int64 `json:"ts_nsec"`
	// Level is the console log level (0 KERN_EMERG ... 7 KERN_DEBUG).
	Level int    `json:"level"`
	Text  string `json:"text"`
}

// FtraceView is one dyn_ftrace record of `ftrace --json`.
type FtraceView struct {
	// Addr is the record's address (&records[i] of its ftrace_page),
	// Page and Index where it is in the chain of pages.
	Addr  wire.Hex `json:"addr"`
	Page  int      `json:"page"`
	Index int      `json:"index"`
	// IP is rec->ip, the call site; Func and Off the function holding it.
	IP     wire.Hex `json:"ip"`
	Func   string   `json:"func"`
	Off    wire.Hex `json:"offset"`
	Module string   `json:"module,omitempty"`
	// Flags is rec->flags: its FTRACE_FL_* names (without the prefix)
	// and Refs, the reference count in its low bits.
	Flags wire.Flags `json:"flags"`
	Refs  int64      `json:"refs"`
	// OOLStub is rec->arch.ool_stub, absent without out-of-line stubs.
	OOLStub wire.Hex `json:"ool_stub,omitempty"`
	// Site says what the call site holds ([FTRACE NOP], a branch to an
	// OOL stub, ...).
	Site string `json:"site"`
}

func (s *Session) ftraceView(r ftrace.Record) FtraceView {
	return FtraceView{Addr: wire.Hex(r.Addr), Page: r.Page, Index: r.Index, IP: wire.Hex(r.IP), Func: r.Func, Off: wire.Hex(r.Off),
		Module: r.Module, Flags: wire.NewFlags(r.Flags.Raw, r.Flags.Names()), Refs: int64(r.Flags.Count()), OOLStub: wire.Hex(r.OOLStub),
		Site: s.ftraceSite(r.IP)}
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
