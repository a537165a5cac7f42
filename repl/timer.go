package repl

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

// TimerCPUView is one CPU's timers.
type TimerCPUView struct {
	CPU int `json:"cpu"`
	// Clk is each timer base's clk (jiffies).
	Clk    []int64     `json:"wheel_clk"`
	Wheel  []TimerView `json:"timers"`
	HR     []TimerView `json:"hrtimers"`
	Errors []string    `json:"errors,omitempty"`
}

// TimerView is one timer.
type TimerView struct {
	// Expires is in jiffies (a timer_list) or ns of its clock (an
	// hrtimer).
	Expires  int64    `json:"expires"`
	Timer    wire.Hex `json:"timer"`
	Function string   `json:"function"`
	// Base is the timer base or hrtimer clock base index.
	Base int `json:"base"`
}

// TimersView is `timer --json`.
type TimersView struct {
	// Jiffies is jiffies at the dump, absent when unread.
	Jiffies *int64         `json:"jiffies,omitempty"`
	CPUs    []TimerCPUView `json:"cpus"`
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
	var tv TimersView
	if v, err := c.S.Prog.Variable("jiffies"); err == nil {
		if j, err := v.Uint(); err == nil {
			jiffies = fmt.Sprint(j)
			jv := int64(j)
			tv.Jiffies = &jv
		}
	}
	var out []TimerCPUView
	for _, ct := range cpus {
		v := TimerCPUView{CPU: ct.CPU}
		for _, k := range ct.Clk {
			v.Clk = append(v.Clk, int64(k))
		}
		for _, t := range ct.Wheel {
			v.Wheel = append(v.Wheel, TimerView{Expires: t.Expires, Timer: wire.Hex(t.Addr), Function: c.S.textSym(t.Function), Base: t.Base})
		}
		for _, t := range ct.HR {
			v.HR = append(v.HR, TimerView{Expires: t.Expires, Timer: wire.Hex(t.Addr), Function: c.S.textSym(t.Function), Base: t.Base})
		}
		for _, e := range ct.Errors {
			v.Errors = append(v.Errors, e.Error())
		}
		out = append(out, v)
	}
	if boolFlag(fs, "json") {
		tv.CPUs = out
		return c.JSON(tv)
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
