package repl

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"strings"
)

// SysView is the system summary crash's sys prints.
type SysView struct {
	Kernel   string   `json:"kernel"`
	Dumpfile []string `json:"dumpfile"`
	// CPUs is __num_online_cpus.
	CPUs     int    `json:"cpus"`
	CPUIDs   int    `json:"nr_cpu_ids"`
	Tasks    int    `json:"tasks"`
	Nodename string `json:"nodename"`
	Release  string `json:"release"`
	Version  string `json:"version"`
	Machine  string `json:"machine"`
	// Memory is totalram_pages * PAGE_SIZE, in bytes.
	Memory int64 `json:"memory"`
	// LoadAvg is avenrun[] (1, 5 and 15 minutes).
	LoadAvg []float64 `json:"load_average"`
	// LastLog is the newest printk record's timestamp, in seconds.
	LastLog float64 `json:"last_log_seconds,omitempty"`
	// Panic is the panic or oops message of the log.
	Panic string `json:"panic,omitempty"`
	// Errors are what could not be read (the document's warnings).
	Errors []string `json:"-"`
}

// panicMarkers are the first words of the kernel's own crash messages
// (kernel/panic.c, arch/powerpc/kernel/traps.c die(), lib/bug.c).
var panicMarkers = []string{"Kernel panic - not syncing:", "Oops:", "BUG:", "kernel BUG at", "Unable to handle kernel"}

func (s *Session) sysView() SysView {
	p := s.Prog
	v := SysView{Kernel: p.VmlinuxPath(), Dumpfile: p.Dump.Paths, CPUIDs: p.NrCPUIDs()}
	if p.NoVmlinux() {
		v.Kernel = "(" + kernel.NoVmlinuxReason + ")"
	}
	fail := func(what string, err error) { v.Errors = append(v.Errors, fmt.Sprintf("%s: %v", what, err)) }
	if o, err := p.Variable("__num_online_cpus"); err != nil {
		fail("__num_online_cpus", err)
	} else if m, err := o.Member("counter"); err != nil {
		fail("__num_online_cpus", err)
	} else if n, err := m.Int(); err != nil {
		fail("__num_online_cpus", err)
	} else {
		v.CPUs = int(n)
	}
	seen := map[uint64]bool{}
	for t, err := range p.ForEachTask() {
		if err != nil {
			fail("task list", err)
			break
		}
		seen[t.Addr] = true
	}
	for cur := range p.CurrentTasks() {
		seen[cur] = true
	}
	v.Tasks = len(seen)
	if uts, err := p.Variable("init_uts_ns"); err != nil {
		fail("init_uts_ns", err)
	} else {
		for _, f := range []struct {
			m   string
			dst *string
		}{{"nodename", &v.Nodename}, {"release", &v.Release}, {"version", &v.Version}, {"machine", &v.Machine}} {
			if o, err := uts.Member("name." + f.m); err == nil {
				*f.dst, _ = o.CString(65)
			}
		}
	}
	if o, err := p.Variable("_totalram_pages"); err != nil {
		fail("_totalram_pages", err)
	} else if m, err := o.Member("counter"); err == nil {
		if n, err := m.Int(); err == nil && n > 0 {
			v.Memory = n * int64(p.PageSize)
		}
	}
	// avenrun[] is fixed point with FSHIFT 11 bits of fraction
	// (include/linux/sched/loadavg.h).
	if o, err := p.Variable("avenrun"); err != nil {
		fail("avenrun", err)
	} else {
		for i := range 3 {
			if e, err := o.Index(int64(i)); err == nil {
				if n, err := e.Uint(); err == nil {
					v.LoadAvg = append(v.LoadAvg, float64(n)/(1<<11))
				}
			}
		}
	}
	recs, _, err := kernel.ReadLog(p)
	if err != nil {
		fail("log", err)
	}
	if len(recs) > 0 {
		v.LastLog = float64(recs[len(recs)-1].TsNsec) / 1e9
	}
	for _, r := range recs {
		for _, m := range panicMarkers {
			if i := strings.Index(r.Text, m); i >= 0 && v.Panic == "" {
				v.Panic = strings.TrimSpace(r.Text[i:])
			}
		}
	}
	return v
}

func cmdSys(c *Call) error {
	fs := c.Flags()
	if _, err := c.Parse(fs); err != nil {
		return err
	}
	v := c.S.sysView()
	if boolFlag(fs, "json") {
		for _, e := range v.Errors {
			c.Warn("unread: %s", e)
		}
		return c.JSON(v)
	}
	load := make([]string, len(v.LoadAvg))
	for i, l := range v.LoadAvg {
		load[i] = fmt.Sprintf("%.2f", l)
	}
	c.Printf("      KERNEL: %s\n", v.Kernel)
	c.Printf("    DUMPFILE: %s\n", strings.Join(v.Dumpfile, ", "))
	c.Printf("        CPUS: %d (nr_cpu_ids %d)\n", v.CPUs, v.CPUIDs)
	c.Printf("    LAST LOG: [%.6f] (the newest printk record; the kernel's uptime is at least this)\n", v.LastLog)
	c.Printf("LOAD AVERAGE: %s\n", strings.Join(load, ", "))
	c.Printf("       TASKS: %d\n", v.Tasks)
	c.Printf("    NODENAME: %s\n", v.Nodename)
	c.Printf("     RELEASE: %s\n", v.Release)
	c.Printf("     VERSION: %s\n", v.Version)
	c.Printf("     MACHINE: %s\n", v.Machine)
	c.Printf("      MEMORY: %d MiB\n", v.Memory>>20)
	if v.Panic != "" {
		c.Printf("       PANIC: %q\n", v.Panic)
	} else {
		c.Printf("       PANIC: none in the log (a dump taken without a panic, or the log lost it)\n")
	}
	for _, e := range v.Errors {
		c.Printf("     (unread: %s)\n", e)
	}
	return nil
}
