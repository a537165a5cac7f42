package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// The ftrace records (crash has none; /sys/kernel/tracing's
// enabled_functions with --enabled): package ftrace reads them, the
// analysis holds them once.

// Ftrace returns the ftrace records, ops and livepatch state (once per
// module-set generation).
func (s *Session) Ftrace() (*ftrace.State, error) { return s.A.Ftrace() }

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
	tw := newTable(c.Out, "IP", "FUNCTION", "MODULE", "FLAGS", "SITE").
		Prose("FUNCTION", "FLAGS", "SITE").Droppable("MODULE").FoldInto("MODULE", "FUNCTION")
	for _, r := range recs {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		tw.Append([]string{fmt.Sprintf("%x", r.IP), fmt.Sprintf("%s+%#x", r.Func, r.Off), r.Module, fmt.Sprintf("%v", r.Flags), c.S.ftraceSite(r.IP)})
	}
	tw.Render()
	return nil
}

// ftraceSite annotates an ftrace call site: [FTRACE NOP] when the site
// holds a nop, [FTRACE -> ool stub j] when it branches into an OOL array,
// "" when ip is not a record's ip (analysis.Where).
func (s *Session) ftraceSite(ip uint64) string {
	if w := s.A.Where(ip); w.Kind == analysis.AtFtraceSite {
		return w.String()
	}
	return ""
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
		return jsonWithWarnings(c, out, st.Warnings)
	}
	tw := newTable(c.Out, "IP", "FUNCTION", "MODULE", "FLAGS", "REFS", "OPS", "HANDLER", "SITE").
		Prose("FUNCTION", "FLAGS", "OPS", "HANDLER", "SITE").Droppable("MODULE").FoldInto("MODULE", "FUNCTION").Blocks(2)
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
