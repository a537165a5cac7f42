package repl

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/analysis"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/kernel"
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
		return c.JSON(recs)
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
		return c.JSON(recs)
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
			if jerr := c.JSON(tasks); jerr != nil {
				return jerr
			}
		} else if tasks != nil {
			c.S.writeKlpTasks(c, st.Livepatch, tasks)
		}
		if err != nil {
			return fmt.Errorf("klp --tasks: %w", err)
		}
		return nil
	}
	if boolFlag(fs, "json") {
		return c.JSON(st.Livepatch)
	}
	c.S.writeKlp(c, st.Livepatch)
	return nil
}

// EnabledView is one enabled record, as enabled_functions shows it: the
// function, its flags and reference count, and the ops that own it with
// their handler (ftrace_ops.func) and trampoline.
type EnabledView struct {
	IP      string   `json:"ip"`
	Func    string   `json:"func"`
	Module  string   `json:"module,omitempty"`
	Flags   []string `json:"flags"`
	Refs    uint64   `json:"refs"`
	Ops     []string `json:"ops"`
	OpsAddr []string `json:"ops_addrs"`
	Handler []string `json:"handlers"`
	Site    string   `json:"site"`
}

func writeEnabled(c *Call, st *ftrace.State, recs []ftrace.Record, asJSON bool) error {
	var out []EnabledView
	for _, r := range recs {
		v := EnabledView{IP: hx(r.IP), Func: r.Func, Module: r.Module, Flags: r.Flags.Names(), Refs: r.Flags.Count(), Site: c.S.ftraceSite(r.IP)}
		for _, o := range st.SortedOps() {
			if !o.InList || !o.Matches(r.IP) {
				continue
			}
			name := o.Name
			if name == "" {
				name = hx(o.Addr)
			}
			v.Ops = append(v.Ops, name)
			v.OpsAddr = append(v.OpsAddr, hx(o.Addr))
			h := o.FuncName
			if h == "" {
				h = hx(o.Func)
			}
			v.Handler = append(v.Handler, h)
		}
		out = append(out, v)
	}
	if asJSON {
		return c.JSON(out)
	}
	tw := newTable(c.Out, "IP", "FUNCTION", "MODULE", "FLAGS", "REFS", "OPS", "HANDLER", "SITE")
	for _, v := range out {
		tw.Append([]string{v.IP, v.Func, v.Module, strings.Join(v.Flags, "|"), fmt.Sprint(v.Refs), strings.Join(v.Ops, ", "), strings.Join(v.Handler, ", "), v.Site})
	}
	tw.Render()
	return nil
}
