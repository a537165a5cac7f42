package kernel

import (
	"fmt"
	"strings"
)

// System is the system summary crash's sys prints, from the kernel's own
// variables and its log.
type System struct {
	// CPUs is __num_online_cpus, CPUIDs nr_cpu_ids.
	CPUs, CPUIDs int
	// Tasks counts the task list and the tasks running on a CPU (the idle
	// tasks are on no list).
	Tasks                               int
	Nodename, Release, Version, Machine string // init_uts_ns
	// Memory is totalram_pages * PAGE_SIZE, in bytes.
	Memory int64
	// LoadAvg is avenrun[] (1, 5 and 15 minutes).
	LoadAvg []float64
	// LastLog is the newest printk record's timestamp, in seconds.
	LastLog float64
	// Panic is the first panic or oops message of the log.
	Panic string
	// Errors are what could not be read ("WHAT: why").
	Errors []string
}

// panicMarkers are the first words of the kernel's own crash messages
// (kernel/panic.c, arch/powerpc/kernel/traps.c die(), lib/bug.c).
var panicMarkers = []string{"Kernel panic - not syncing:", "Oops:", "BUG:", "kernel BUG at", "Unable to handle kernel"}

// ReadSystem reads the system summary; what cannot be read is named in
// System.Errors and left zero.
func ReadSystem(p *Program) System {
	v := System{CPUIDs: p.NrCPUIDs()}
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
	recs, _, err := ReadLog(p)
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
