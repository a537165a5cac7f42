package repl

import (
	"flag"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

// IRQView is one interrupt of `irq`.
type IRQView struct {
	IRQ   int64    `json:"irq"`
	Desc  wire.Hex `json:"irq_desc"`
	HWIRQ int64    `json:"hwirq"`
	Chip  string   `json:"chip,omitempty"`
	// Count is kstat_irqs summed over the CPUs.
	Count   int64           `json:"count"`
	Actions []IRQActionView `json:"actions"`
	Errors  []string        `json:"errors,omitempty"`
}

// IRQActionView is one handler.
type IRQActionView struct {
	Action wire.Hex `json:"irqaction"`
	Name   string   `json:"name"`
	// Handler and ThreadFn are the handler and thread function by symbol.
	Handler  string `json:"handler"`
	ThreadFn string `json:"thread_fn,omitempty"`
}

func irqFlags(fs *flag.FlagSet) {
	fs.Bool("a", false, "every descriptor, also those without a handler")
	jsonFlag(fs)
}

func cmdIRQ(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	irqs, ierr := c.S.Prog.IRQs()
	want := map[uint64]bool{}
	for _, a := range pos {
		n, err := parseNum(a)
		if err != nil {
			return &UsageError{Cmd: "irq", Msg: "bad IRQ number " + a}
		}
		want[n] = true
	}
	var out []IRQView
	for _, q := range irqs {
		if len(want) > 0 && !want[q.Number] || len(want) == 0 && !boolFlag(fs, "a") && len(q.Actions) == 0 {
			continue
		}
		v := IRQView{IRQ: int64(q.Number), Desc: wire.Hex(q.Desc), HWIRQ: int64(q.HWIRQ), Chip: q.Chip, Count: int64(q.Count)}
		for _, a := range q.Actions {
			av := IRQActionView{Action: wire.Hex(a.Addr), Name: a.Name, Handler: c.S.textSym(a.Handler)}
			if a.ThreadFn != 0 {
				av.ThreadFn = c.S.textSym(a.ThreadFn)
			}
			v.Actions = append(v.Actions, av)
		}
		for _, e := range q.Errs {
			v.Errors = append(v.Errors, e.Error())
		}
		out = append(out, v)
	}
	if ierr != nil {
		ierr = fmt.Errorf("irq: the descriptor tree: %w", ierr)
	}
	if boolFlag(fs, "json") {
		return c.JSONPartial(out, ierr)
	}
	c.Printf("%4s  %-16s  %6s  %-12s %10s  %s\n", "IRQ", "IRQ_DESC", "HWIRQ", "CHIP", "COUNT", "ACTION")
	for _, v := range out {
		var acts []string
		for _, a := range v.Actions {
			s := fmt.Sprintf("%q %s", a.Name, a.Handler)
			if a.ThreadFn != "" {
				s += " thread " + a.ThreadFn
			}
			acts = append(acts, s)
		}
		if len(acts) == 0 {
			acts = []string{"(no handler)"}
		}
		c.Printf("%4d  %016x  %6d  %-12s %10d  %s\n", v.IRQ, v.Desc, v.HWIRQ, v.Chip, v.Count, strings.Join(acts, "; "))
		for _, e := range v.Errors {
			c.Printf("      (not read: %s)\n", e)
		}
	}
	return ierr
}
