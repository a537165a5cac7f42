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

// sysView is the system summary (kernel.ReadSystem) with the files the
// session reads.
func (s *Session) sysView() SysView {
	p := s.Prog
	m := kernel.ReadSystem(p)
	v := SysView{Kernel: p.VmlinuxPath(), Dumpfile: p.Dump.Paths, CPUs: m.CPUs, CPUIDs: m.CPUIDs, Tasks: m.Tasks,
		Nodename: m.Nodename, Release: m.Release, Version: m.Version, Machine: m.Machine, Memory: m.Memory,
		LoadAvg: m.LoadAvg, LastLog: m.LastLog, Panic: m.Panic, Errors: m.Errors}
	if p.NoVmlinux() {
		v.Kernel = "(" + kernel.NoVmlinuxReason + ")"
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
