package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/triage"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// WhyView is `why --json`.
type WhyView struct {
	// Category is what kind of crash it is ("stub", "ftrace",
	// "livepatch", "ordinary", "no crash", ...).
	Category   string         `json:"category"`
	Panic      string         `json:"panic,omitempty"`
	Oops       string         `json:"oops,omitempty"`
	CPU        int            `json:"cpu"`
	PID        int64          `json:"pid,omitempty"`
	Comm       string         `json:"comm,omitempty"`
	Taint      string         `json:"taint,omitempty"`
	Trap       wire.Hex       `json:"trap,omitempty"`
	TrapName   string         `json:"trap_name,omitempty"`
	PC         *WhyCode       `json:"pc,omitempty"`
	LR         *WhyCode       `json:"lr,omitempty"`
	Frames     []WhyFrame     `json:"frames"`
	Related    []WhyFinding   `json:"related_findings"`
	Conclusion string         `json:"conclusion"`
	Fix        string         `json:"fix,omitempty"`
	Warnings   []string       `json:"-"` // the document's warnings
	LogLines   []string       `json:"log,omitempty"`
	Trace      []WhyTraceLine `json:"trace,omitempty"`
}

// WhyCode is an address of the crash path.
type WhyCode struct {
	Addr     wire.Hex `json:"addr"`
	Location string   `json:"location"`
	Where    string   `json:"where,omitempty"`
	// Livepatch says the address is in a livepatched function or a
	// livepatch's replacement of one, and which livepatch.
	Livepatch    string    `json:"livepatch,omitempty"`
	Found        []WhyInsn `json:"found"`
	Expected     []WhyInsn `json:"expected,omitempty"`
	ExpectedFrom string    `json:"expected_from,omitempty"`
	Pointer      string    `json:"pointer,omitempty"`
	Findings     []string  `json:"findings,omitempty"`
}

// WhyInsn is one instruction word.
type WhyInsn struct {
	Addr wire.Hex `json:"addr"`
	Word wire.Hex `json:"word"`
	Asm  string   `json:"asm"`
	// Bytes is the instruction's bytes in hex on x86_64 (variable
	// length; Word then holds the first four).
	Bytes string `json:"bytes,omitempty"`
}

// WhyFrame is one frame.
type WhyFrame struct {
	Level     int      `json:"level"`
	PC        wire.Hex `json:"pc"`
	Kind      string   `json:"kind"`
	Location  string   `json:"location"`
	Where     string   `json:"where,omitempty"`
	Livepatch string   `json:"livepatch,omitempty"`
	Ftrace    string   `json:"ftrace,omitempty"`
	Via       string   `json:"via,omitempty"`
	Findings  []string `json:"findings,omitempty"`
}

// WhyFinding is a finding on the crash path.
type WhyFinding struct {
	Rule     string         `json:"rule"`
	Severity audit.Severity `json:"severity"`
	Module   string         `json:"module"`
	Message  string         `json:"message"`
}

// WhyTraceLine is an ftrace ring-buffer event of the crashing CPU.
type WhyTraceLine struct {
	Text string `json:"text"`
}

func hx(v uint64) string { return fmt.Sprintf("%#x", v) }

func insns(is []triage.Insn) []WhyInsn {
	var out []WhyInsn
	for _, i := range is {
		wi := WhyInsn{Addr: wire.Hex(i.Addr), Word: wire.Hex(i.Word), Asm: i.Asm}
		if len(i.Bytes) != 4 && len(i.Bytes) > 0 {
			wi.Bytes = fmt.Sprintf("%x", i.Bytes)
		}
		out = append(out, wi)
	}
	return out
}

func whyCode(c *triage.Code) *WhyCode {
	if c == nil {
		return nil
	}
	return &WhyCode{Addr: wire.Hex(c.Addr), Location: c.Location, Where: c.Where, Livepatch: c.Livepatch, Found: insns(c.Found), Expected: insns(c.Expected), ExpectedFrom: c.ExpectedFrom, Pointer: c.Pointer, Findings: findingNotes(c.Findings)}
}

// NewWhyView formats an explanation.
func NewWhyView(e *triage.Explanation) WhyView {
	v := WhyView{Category: e.Category.String(), Panic: e.Panic.Message, Oops: e.Panic.Oops, CPU: e.CPU, Taint: e.Panic.Taint,
		TrapName: e.TrapName, PC: whyCode(e.PC), LR: whyCode(e.LR), Frames: []WhyFrame{}, Related: []WhyFinding{},
		Conclusion: e.Conclusion, Fix: e.Fix, Warnings: e.Warnings, LogLines: e.Panic.Lines}
	if e.Trap != 0 {
		v.Trap = wire.Hex(e.Trap)
	}
	if e.HaveTask {
		v.PID, v.Comm = e.Task.PID, e.Task.Comm
	} else {
		v.PID, v.Comm = e.Panic.PID, e.Panic.Comm
	}
	for _, f := range e.Frames {
		v.Frames = append(v.Frames, WhyFrame{Level: f.Level, PC: wire.Hex(f.PC), Kind: f.Kind, Location: f.Location, Where: f.Where,
			Livepatch: f.Livepatch, Ftrace: f.Ftrace, Via: f.Via, Findings: findingNotes(f.Findings)})
	}
	for _, f := range e.Related {
		v.Related = append(v.Related, WhyFinding{Rule: f.Rule, Severity: f.Severity, Module: f.Module, Message: f.Message})
	}
	return v
}

// WriteWhy prints the explanation as text.
func WriteWhy(w io.Writer, v *WhyView) {
	fmt.Fprintf(w, "WHY: %s\n\n", wrap(v.Conclusion, 100))
	if v.Fix != "" {
		fmt.Fprintf(w, "FIX: %s\n\n", v.Fix)
	}
	if v.Panic != "" {
		fmt.Fprintf(w, "PANIC: %s\n", v.Panic)
	}
	if v.Oops != "" {
		fmt.Fprintf(w, "REPORT: %s\n", v.Oops)
	}
	who := fmt.Sprintf("CPU %d", v.CPU)
	if v.Comm != "" {
		who += fmt.Sprintf("  PID %d  COMMAND %q", v.PID, v.Comm)
	}
	fmt.Fprintf(w, "CONTEXT: %s\n", who)
	if v.TrapName != "" {
		fmt.Fprintf(w, "TRAP: %#x %s\n", v.Trap, v.TrapName)
	}
	if v.Taint != "" {
		fmt.Fprintf(w, "TAINT: %s\n", v.Taint)
	}
	for _, c := range []struct {
		name string
		c    *WhyCode
	}{{"PC", v.PC}, {"LR", v.LR}} {
		if c.c == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %#x  %s\n", c.name, c.c.Addr, c.c.Location)
		if c.c.Where != "" {
			fmt.Fprintf(w, "   is %s\n", c.c.Where)
		}
		if c.c.Livepatch != "" {
			fmt.Fprintf(w, "   livepatch: %s\n", c.c.Livepatch)
		}
		exp := map[wire.Hex]WhyInsn{}
		for _, e := range c.c.Expected {
			exp[e.Addr] = e
		}
		for _, i := range c.c.Found {
			mark := "  "
			if i.Addr == c.c.Addr {
				mark = "=>"
			}
			word := fmt.Sprintf("%08x", i.Word)
			if i.Bytes != "" {
				word = fmt.Sprintf("%-16s", i.Bytes)
			}
			line := fmt.Sprintf("   %s %#x  %s  %-28s", mark, i.Addr, word, i.Asm)
			if e, ok := exp[i.Addr]; ok {
				if e.Word != i.Word {
					line += fmt.Sprintf(" << should be %08x  %s", e.Word, e.Asm)
				}
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
		if c.c.ExpectedFrom != "" && len(c.c.Expected) > 0 {
			fmt.Fprintf(w, "   (should be: %s)\n", c.c.ExpectedFrom)
		}
		if c.c.Pointer != "" {
			fmt.Fprintf(w, "   %s\n", c.c.Pointer)
		}
		for _, f := range c.c.Findings {
			fmt.Fprintf(w, "   << %s\n", f)
		}
	}
	if len(v.Frames) > 0 {
		fmt.Fprintf(w, "\nSTACK (from the crash):\n")
		for _, f := range v.Frames {
			fmt.Fprintf(w, " #%-2d %#x %s\n", f.Level, f.PC, f.Location)
			for _, n := range []struct{ k, v string }{{"is", f.Where}, {"livepatch", f.Livepatch}, {"ftrace", f.Ftrace}, {"called through", f.Via}} {
				if n.v != "" {
					fmt.Fprintf(w, "       %s: %s\n", n.k, n.v)
				}
			}
			for _, x := range f.Findings {
				fmt.Fprintf(w, "       << %s\n", x)
			}
		}
	}
	if len(v.Related) > 0 {
		fmt.Fprintf(w, "\nFINDINGS ON THE CRASH PATH:\n")
		for _, f := range v.Related {
			fmt.Fprintf(w, " %-8s %-20s %s\n", f.Severity, f.Rule, wrap(f.Message, 90))
		}
	}
	if len(v.Trace) > 0 {
		fmt.Fprintf(w, "\nLAST FTRACE EVENTS OF CPU %d:\n", v.CPU)
		for _, t := range v.Trace {
			fmt.Fprintf(w, " %s\n", t.Text)
		}
	}
	for _, x := range v.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

// Why explains the session's crash (the audit's report included).
func (s *Session) Why() WhyView {
	e := triage.Explain(s.A, s.Report())
	v := NewWhyView(e)
	// The crashing CPU's last ftrace events: what it ran just before.
	if e.CPU >= 0 {
		if tv, err := s.traceView(whyTraceEvents, e.CPU); err == nil {
			for _, ev := range tv.Events {
				v.Trace = append(v.Trace, WhyTraceLine{Text: ev.Line})
			}
		} else {
			v.Warnings = append(v.Warnings, fmt.Sprintf("ftrace ring buffer: %v", err))
		}
	}
	return v
}

// whyTraceEvents is how many of the crashing CPU's last events why shows.
const whyTraceEvents = 16

func cmdWhy(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	v := c.S.Why()
	if boolFlag(fs, "json") {
		return jsonWithWarnings(c, v, v.Warnings)
	}
	WriteWhy(c.Out, &v)
	return nil
}
