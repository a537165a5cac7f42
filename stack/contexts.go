package stack

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
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
	pacas, _ := p.PacaAddrs()
	return noteCPU(p, i, pacas)
}

func noteCPU(p *kernel.Program, i int, pacas []uint64) int {
	pr := p.Dump.CPUs[i]
	for cpu, a := range pacas {
		if a != 0 && a == pr.GPR[13] {
			return cpu
		}
	}
	if p.Dump.Format == dump.ELFQEMU && pr.PID > 0 {
		return int(pr.PID) - 1
	}
	return i
}

// CPUContext is the context of register note i, with the task running on
// its CPU (paca->__current) when readable.
func CPUContext(p *kernel.Program, i int) Context {
	pacas, _ := p.PacaAddrs()
	return cpuContext(p, i, noteCPU(p, i, pacas), p.CurrentTasks())
}

// cpuContext builds note i's context for cpu; current is CurrentTasks.
func cpuContext(p *kernel.Program, i, cpu int, current map[uint64]int) Context {
	pr := p.Dump.CPUs[i]
	c := Context{CPU: cpu, Note: i, Start: Start{SP: pr.SP, NIP: pr.PC, LR: pr.Link, R0: pr.GPR[0], HaveRegs: true, Regs: pr.Regs}}
	for cur, on := range current {
		if on == cpu {
			if t, err := p.ReadTask(cur); err == nil {
				c.Task, c.HasTask = t, true
			}
			break
		}
	}
	return c
}

// TaskContext is the context of task t: its CPU's registers when it is
// running on a CPU with a register note, else its thread.ksp (marked
// stale when it runs on a CPU without one).
func TaskContext(p *kernel.Program, t kernel.Task) Context {
	current := p.CurrentTasks()
	cpu, running := current[t.Addr]
	if running {
		pacas, _ := p.PacaAddrs()
		for i := range p.Dump.CPUs {
			if noteCPU(p, i, pacas) == cpu {
				return cpuContext(p, i, cpu, current)
			}
		}
	}
	c := Context{CPU: -1, Note: -1, Task: t, HasTask: true, Start: Start{SP: t.KSP}}
	if running {
		c.CPU, c.Stale = cpu, true
	}
	return c
}

// AllContexts is every CPU with a register note, then every task not
// running on one of them (for_each_process_thread order), then the tasks
// running on a CPU without a register note that the task list does not
// hold (the idle tasks, swapper/N; by address): the one enumeration of
// every task, which the audit, bt's callers and `klp --tasks` share. The
// task list error, if any, comes with the other contexts. The PACAs and
// the running tasks are read once.
func AllContexts(p *kernel.Program) ([]Context, error) {
	var out []Context
	pacas, _ := p.PacaAddrs()
	current := p.CurrentTasks()
	seen := map[uint64]bool{}
	for i := range p.Dump.CPUs {
		c := cpuContext(p, i, noteCPU(p, i, pacas), current)
		if c.HasTask {
			seen[c.Task.Addr] = true
		}
		out = append(out, c)
	}
	stale := func(t kernel.Task) {
		seen[t.Addr] = true
		c := Context{CPU: -1, Note: -1, Task: t, HasTask: true, Start: Start{SP: t.KSP}}
		if cpu, ok := current[t.Addr]; ok {
			c.CPU, c.Stale = cpu, true
		}
		out = append(out, c)
	}
	var listErr error
	for t, err := range p.ForEachTask() {
		if err != nil {
			listErr = err
			break
		}
		if !seen[t.Addr] {
			stale(t)
		}
	}
	cur := make([]uint64, 0, len(current))
	for a := range current {
		cur = append(cur, a)
	}
	slices.Sort(cur)
	for _, a := range cur {
		if !seen[a] {
			if t, err := p.ReadTask(a); err == nil {
				stale(t)
			}
		}
	}
	return out, listErr
}

// Unwound is a context and its frames (none for a stale context).
type Unwound struct {
	Context
	Frames []Frame
	Err    error // why the walk stopped early
}

// WalkAll unwinds every context of AllContexts that is not stale, with
// the vmlinux's CFI: what the audit's stack rules and the example
// generator read. The task-list error, if any, comes with what was read.
//
// Without a frame layout (no struct pt_regs in the DWARF) the contexts come
// without frames, and the error says why.
func WalkAll(p *kernel.Program) ([]Unwound, error) {
	return WalkAllWith(p, nil)
}

// WalkAllWith is WalkAll with the module set at hand: on x86_64 the ORC
// unwinder reads each module's table through it (without it, module
// frames are unwound by the frame-pointer guess and marked unreliable).
func WalkAllWith(p *kernel.Program, set *modules.Set, opts ...Options) ([]Unwound, error) {
	switch arch.UnwindOf(p.Arch) {
	case arch.UnwindORC:
		var tramp func(uint64) (uint64, bool)
		for _, o := range opts {
			if o.Trampoline != nil {
				tramp = o.Trampoline
			}
		}
		return walkAllX86(p, set, tramp)
	case arch.UnwindFrameRecords:
		ctxs, err := AllContexts(p)
		opt := Options{FuncStart: funcStartOf(p)}
		out := make([]Unwound, len(ctxs))
		for i, c := range ctxs {
			out[i].Context = c
			if !c.Stale {
				out[i].Frames, out[i].Err = walkArm64(p, c, opt)
			}
		}
		return out, err
	}
	l, lerr := LayoutFor(p.Context, p.ELFv1())
	ctxs, err := AllContexts(p)
	opt := Options{CFI: VmlinuxCFI(p).RuleFunc(), FuncStart: FuncStartWith(p, set)}
	out := make([]Unwound, len(ctxs))
	for i, c := range ctxs {
		out[i].Context = c
		switch {
		case lerr != nil:
			out[i].Err = lerr
		case !c.Stale:
			out[i].Frames, out[i].Err = Walk(p.Mem(), l, c.Start, opt)
		}
	}
	if lerr != nil {
		err = errors.Join(fmt.Errorf("stack frames not read: %w", lerr), err)
	}
	return out, err
}

func walkAllX86(p *kernel.Program, set *modules.Set, tramp func(uint64) (uint64, bool)) ([]Unwound, error) {
	ctxs, err := AllContexts(p)
	u := newX86Unwinder(p, set)
	u.tramp = tramp
	out := make([]Unwound, len(ctxs))
	for i, c := range ctxs {
		out[i].Context = c
		if !c.Stale {
			out[i].Frames, out[i].Err = u.walk(c)
		}
	}
	if u.vmlinux == nil {
		err = errors.Join(fmt.Errorf("stack frames not read: %w", u.err), err)
	}
	return out, err
}

// FuncStartWith gives the start of the function holding pc, and whether
// pc is kernel or module text (Options.FuncStart): by the module set's
// resolver (the vmlinux's without a set); inside a module's .stubs, which
// holds code without symbols, each slot is its own function. bt and
// WalkAll unwind with it, so both find the same frames.
func FuncStartWith(p *kernel.Program, set *modules.Set) func(uint64) (uint64, bool) {
	r := p.Resolver
	if set != nil && set.Resolver != nil {
		r = set.Resolver
	}
	if r == nil {
		return nil
	}
	return func(pc uint64) (uint64, bool) {
		loc := r.Lookup(pc)
		if loc.Symbol == nil {
			if set != nil {
				if a := set.StubsAt(pc); a != nil {
					st := a.Stubs
					return st.Base + (pc-st.Base)/modules.StubEntrySize*modules.StubEntrySize, true
				}
			}
			return 0, false
		}
		return pc - loc.Off, loc.Symbol.Kind == 'T' || loc.Symbol.Kind == 't' || loc.Module != ""
	}
}

// funcStartOf gives the start of the vmlinux function holding pc (the
// symbol table's), for Options.FuncStart.
func funcStartOf(p *kernel.Program) func(uint64) (uint64, bool) {
	return func(pc uint64) (uint64, bool) {
		s, off, ok := p.Syms.ByAddr(pc)
		if !ok || s.Kind != 'T' && s.Kind != 't' {
			return 0, false
		}
		return pc - off, true
	}
}
