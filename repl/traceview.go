package repl

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/tracebuf"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// TraceView is `trace --json`.
type TraceView struct {
	Tracer string           `json:"tracer"`
	CPUs   []TraceCPUView   `json:"cpus"`
	Events []TraceEventView `json:"events"`
	// Warnings go in the document's warnings.
	Warnings []string `json:"-"`
}

// TraceCPUView is one CPU's buffer.
type TraceCPUView struct {
	CPU    int    `json:"cpu"`
	Pages  int    `json:"pages"`
	Events int    `json:"events"`
	Missed bool   `json:"events_lost_before,omitempty"`
	Error  string `json:"error,omitempty"`
}

// TraceEventView is one event, and its line as the trace file prints it.
type TraceEventView struct {
	CPU  int    `json:"cpu"`
	TS   int64  `json:"ts_nsec"`
	PID  int32  `json:"pid"`
	Comm string `json:"comm"`
	// Type is the event's name (function, funcgraph_entry, print, ...).
	Type string `json:"type"`
	// Flags are the latency flags as the trace file prints them.
	Flags  string   `json:"latency"`
	IP     wire.Hex `json:"ip,omitempty"`
	Func   string   `json:"func,omitempty"`
	Parent string   `json:"parent,omitempty"`
	Text   string   `json:"text,omitempty"`
	// Line is the event as the trace file prints it.
	Line string `json:"line"`
}

// traceView reads the ring buffer and names everything.
func (s *Session) traceView(last int, cpu int) (TraceView, error) {
	tr, err := tracebuf.Read(s.Prog, tracebuf.Options{MaxEvents: last})
	if err != nil {
		return TraceView{}, err
	}
	comms := s.comms()
	v := TraceView{Tracer: tr.Tracer, Warnings: tr.Warnings}
	var all []tracebuf.Event
	for _, c := range tr.CPUs {
		cv := TraceCPUView{CPU: c.CPU, Pages: c.Pages, Events: len(c.Events), Missed: c.Missed}
		if c.Err != nil {
			cv.Error = c.Err.Error()
		}
		v.CPUs = append(v.CPUs, cv)
		if cpu < 0 || c.CPU == cpu {
			all = append(all, c.Events...)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].TS < all[j].TS })
	for i := range all {
		v.Events = append(v.Events, s.traceEvent(&all[i], comms))
	}
	return v, nil
}

// funcName names a code address as the trace file does: the symbol
// without offset.
func (s *Session) funcName(addr uint64) string {
	loc := s.resolve(addr)
	if loc.Symbol == nil {
		return fmt.Sprintf("0x%x", addr)
	}
	return loc.Symbol.Name
}

func (s *Session) traceEvent(e *tracebuf.Event, comms map[int64]string) TraceEventView {
	comm := comms[int64(e.PID)]
	if e.PID == 0 {
		comm = "<idle>"
	}
	if comm == "" {
		comm = "<...>"
	}
	ev := TraceEventView{CPU: e.CPU, TS: int64(e.TS), PID: e.PID, Comm: comm, Type: e.TypeName, Flags: e.LatFmt(), Text: e.Text}
	body := e.TypeName
	switch e.Type {
	case tracebuf.TraceFN:
		ev.IP, ev.Func, ev.Parent = wire.Hex(e.IP), s.funcName(e.IP), s.funcName(e.Parent)
		body = ev.Func + " <-" + ev.Parent
	case tracebuf.TraceGraphEnt:
		ev.IP, ev.Func = wire.Hex(e.IP), s.funcName(e.IP)
		body = fmt.Sprintf("%s%s() {", strings.Repeat("  ", int(min(max(e.Depth, 0), 32))), ev.Func)
	case tracebuf.TraceGraphRet:
		ev.IP, ev.Func = wire.Hex(e.IP), s.funcName(e.IP)
		body = fmt.Sprintf("%s} /* %s */", strings.Repeat("  ", int(min(max(e.Depth, 0), 32))), ev.Func)
	case tracebuf.TracePrint, tracebuf.TraceBPrint:
		ev.IP, ev.Func = wire.Hex(e.IP), s.funcName(e.IP)
		body = ev.Func + ": " + strings.TrimRight(e.Text, "\n")
	}
	ev.Line = fmt.Sprintf("%16s-%-7d [%03d] %s %12s: %s", comm, e.PID, e.CPU, ev.Flags, e.Time(), body)
	return ev
}

// comms maps PIDs to task names (the trace file's saved_cmdlines).
func (s *Session) comms() map[int64]string {
	out := map[int64]string{}
	for t, err := range s.Prog.ForEachTask() {
		if err != nil {
			break
		}
		out[t.PID] = t.Comm
	}
	return out
}

func cmdTrace(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	last := intFlag(fs, "n")
	v, err := c.S.traceView(last, intFlag(fs, "cpu"))
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if boolFlag(fs, "json") {
		return jsonWithWarnings(c, v, v.Warnings)
	}
	writeTrace(c.Out, &v)
	return nil
}

func writeTrace(w io.Writer, v *TraceView) {
	fmt.Fprintf(w, "# tracer: %s\n#\n", v.Tracer)
	for _, c := range v.CPUs {
		line := fmt.Sprintf("# CPU %d: %d events in %d pages", c.CPU, c.Events, c.Pages)
		if c.Missed {
			line += " (events were lost before these)"
		}
		if c.Error != "" {
			line += " -- " + c.Error
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "#\n#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n")
	for _, e := range v.Events {
		fmt.Fprintln(w, e.Line)
	}
	for _, x := range v.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

func traceFlags(fs *flag.FlagSet) {
	fs.Int("n", 0, "the last `N` events of each CPU (0: all)")
	fs.Int("cpu", -1, "only this `CPU`'s events")
	jsonFlag(fs)
}
