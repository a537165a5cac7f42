package repl

import (
	"fmt"
)

// TimerCPUView is one CPU's timers.
type TimerCPUView struct {
	CPU    int         `json:"cpu"`
	Clk    []uint64    `json:"wheel_clk"`
	Wheel  []TimerView `json:"timers"`
	HR     []TimerView `json:"hrtimers"`
	Errors []string    `json:"errors,omitempty"`
}

// TimerView is one timer.
type TimerView struct {
	Expires  int64  `json:"expires"`
	Timer    uint64 `json:"timer"`
	Function string `json:"function"`
	Base     int    `json:"base"`
}

func cmdTimer(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	cpus, err := c.S.Prog.Timers()
	if err != nil {
		return fmt.Errorf("timer: %w", err)
	}
	jiffies := "?"
	if v, err := c.S.Prog.Variable("jiffies"); err == nil {
		if j, err := v.Uint(); err == nil {
			jiffies = fmt.Sprint(j)
		}
	}
	var out []TimerCPUView
	for _, ct := range cpus {
		v := TimerCPUView{CPU: ct.CPU, Clk: ct.Clk}
		for _, t := range ct.Wheel {
			v.Wheel = append(v.Wheel, TimerView{Expires: t.Expires, Timer: t.Addr, Function: c.S.textSym(t.Function), Base: t.Base})
		}
		for _, t := range ct.HR {
			v.HR = append(v.HR, TimerView{Expires: t.Expires, Timer: t.Addr, Function: c.S.textSym(t.Function), Base: t.Base})
		}
		for _, e := range ct.Errors {
			v.Errors = append(v.Errors, e.Error())
		}
		out = append(out, v)
	}
	if boolFlag(fs, "json") {
		return c.JSON(map[string]any{"jiffies": jiffies, "cpus": out})
	}
	c.Printf("JIFFIES: %s\n", jiffies)
	for _, v := range out {
		c.Printf("\nTIMER_BASES[%d]: clk %v\n", v.CPU, v.Clk)
		c.Printf("  %20s  %-16s  %s\n", "EXPIRES", "TIMER_LIST", "FUNCTION")
		for _, t := range v.Wheel {
			c.Printf("  %20d  %016x  %s\n", t.Expires, t.Timer, t.Function)
		}
		if len(v.Wheel) == 0 {
			c.Printf("  (no timers)\n")
		}
		c.Printf("HRTIMER_BASES[%d]:\n", v.CPU)
		c.Printf("  %20s  %-16s  %s\n", "EXPIRES (ns)", "HRTIMER", "FUNCTION")
		for _, t := range v.HR {
			c.Printf("  %20d  %016x  %s (clock base %d)\n", t.Expires, t.Timer, t.Function, t.Base)
		}
		if len(v.HR) == 0 {
			c.Printf("  (no hrtimers)\n")
		}
		for _, e := range v.Errors {
			c.Printf("  (not read: %s)\n", e)
		}
	}
	return nil
}
