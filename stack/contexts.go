package stack

import (
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Context is where a walk can start: a CPU from its register note, or a
// task switched out at thread.ksp.
type Context struct {
	CPU     int // -1: not a CPU (a switched-out task)
	Note    int // the register note, for a CPU
	Task    kernel.Task
	HasTask bool
	Start   Start
	// Stale: the task is running on a CPU whose registers the dump does
	// not hold, so the walk starts from thread.ksp, saved when the task
	// was last switched out; the stack above it has been reused since.
	Stale bool
}

// NoteCPU says which CPU register note i belongs to: the CPU whose PACA r13
// points at (in the kernel a ppc64 CPU keeps its PACA there), else, in a
// QEMU dump, pr_pid - 1 (QEMU writes the vCPU index + 1), else i (a
// kernel's notes are in CPU order, but offline CPUs leave gaps).
func NoteCPU(p *kernel.Program, i int) int {
	pr := p.Dump.CPUs[i]
	if cpu, ok := p.PacaCPU(pr.GPR[13]); ok {
		return cpu
	}
	if p.Dump.Format == dump.ELFQEMU && pr.PID > 0 {
		return int(pr.PID) - 1
	}
	return i
}

// CPUContext is the context of register note i, with the task running on
// its CPU (paca->__current) when readable.
func CPUContext(p *kernel.Program, i int) Context {
	pr := p.Dump.CPUs[i]
	c := Context{CPU: NoteCPU(p, i), Note: i, Start: Start{SP: pr.GPR[1], NIP: pr.NIP, LR: pr.Link, R0: pr.GPR[0], HaveRegs: true}}
	if cur, err := p.CPUCurrent(c.CPU); err == nil && cur != 0 {
		if t, err := p.ReadTask(cur); err == nil {
			c.Task, c.HasTask = t, true
		}
	}
	return c
}

// TaskContext is the context of task t: its CPU's registers when it is
// running on a CPU with a register note, else its thread.ksp.
func TaskContext(p *kernel.Program, t kernel.Task) Context {
	for i := range p.Dump.CPUs {
		if cur, err := p.CPUCurrent(NoteCPU(p, i)); err == nil && cur == t.Addr {
			return CPUContext(p, i)
		}
	}
	c := Context{CPU: -1, Note: -1, Task: t, HasTask: true, Start: Start{SP: t.KSP}}
	if cpu, running := p.CurrentTasks()[t.Addr]; running {
		c.CPU, c.Stale = cpu, true
	}
	return c
}

// AllContexts is every CPU with a register note, then every task not
// running on one of them (for_each_process_thread order). The task list
// error, if any, comes with the contexts read before it.
func AllContexts(p *kernel.Program) ([]Context, error) {
	var out []Context
	running := map[uint64]bool{}
	for i := range p.Dump.CPUs {
		c := CPUContext(p, i)
		if c.HasTask {
			running[c.Task.Addr] = true
		}
		out = append(out, c)
	}
	current := p.CurrentTasks()
	for t, err := range p.ForEachTask() {
		if err != nil {
			return out, err
		}
		if !running[t.Addr] {
			running[t.Addr] = true
			c := Context{CPU: -1, Note: -1, Task: t, HasTask: true, Start: Start{SP: t.KSP}}
			if cpu, ok := current[t.Addr]; ok {
				c.CPU, c.Stale = cpu, true
			}
			out = append(out, c)
		}
	}
	return out, nil
}
