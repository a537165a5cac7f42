package kernel

import (
	"errors"
	"fmt"
	"iter"
)

// Task is the part of a struct task_struct that ps and bt show.
type Task struct {
	Addr  uint64
	PID   int64
	TGID  int64
	Comm  string
	State uint64 // __state (state before 5.14)
	// KSP is thread.ksp (x86: thread.sp): the stack pointer saved when
	// the task was last switched out (stale while it runs on a CPU).
	KSP uint64
	// Stack is task->stack, the base of its kernel stack.
	Stack uint64
	// PatchState is task->patch_state (CONFIG_LIVEPATCH; HasPatchState):
	// KLP_TRANSITION_IDLE -1, UNPATCHED 0, PATCHED 1.
	PatchState    int64
	HasPatchState bool
}

// ReadTask reads the members of the task_struct at addr.
func (p *Program) ReadTask(addr uint64) (Task, error) {
	t := Task{Addr: addr}
	o, err := p.Object("struct task_struct", addr)
	if err != nil {
		return t, err
	}
	get := func(path string) (uint64, error) {
		m, err := o.Member(path)
		if err != nil {
			return 0, err
		}
		return m.Uint()
	}
	pid, err := get("pid")
	if err != nil {
		return t, err
	}
	t.PID = int64(int32(pid))
	if tgid, err := get("tgid"); err == nil {
		t.TGID = int64(int32(tgid))
	}
	// Feature-detect: the member is __state since v5.14, state before.
	if st, err := get("__state"); err == nil {
		t.State = st
	} else if st, err := get("state"); err == nil {
		t.State = st
	}
	if c, err := o.Member("comm"); err == nil {
		t.Comm, _ = c.CString(16)
	}
	if v, err := get("thread.ksp"); err == nil {
		t.KSP = v
	} else if v, err := get("thread.sp"); err == nil {
		t.KSP = v // x86: thread.sp, at the struct inactive_task_frame
	}
	if m, err := o.Member("stack"); err == nil {
		t.Stack, _ = m.Pointer()
	}
	if m, err := o.Member("patch_state"); err == nil {
		if v, err := m.Int(); err == nil {
			t.PatchState, t.HasPatchState = v, true
		}
	}
	return t, nil
}

// ForEachTask yields every task: the processes on init_task.tasks (the
// kernel's for_each_process()) and each one's threads on
// signal->thread_head (for_each_thread()), as for_each_process_thread()
// does. Both walks are cycle-checked and capped (ListForEachEntry). The
// idle tasks of CPUs other than 0 are on neither list: see CPUCurrent.
func (p *Program) ForEachTask() iter.Seq2[Task, error] {
	return func(yield func(Task, error) bool) {
		init, err := p.SymbolAddr("init_task")
		if err != nil {
			yield(Task{}, err)
			return
		}
		head, err := memberAddr(p.Context, init, "struct task_struct", "tasks")
		if err != nil {
			yield(Task{}, err)
			return
		}
		// init_task is the list head itself and is yielded first.
		if t, err := p.ReadTask(init); !yield(t, err) {
			return
		}
		for proc, err := range ListForEachEntry(p.Context, head, "struct task_struct", "tasks") {
			if err != nil {
				yield(Task{}, err)
				return
			}
			if !p.yieldThreads(proc.Addr, yield) {
				return
			}
		}
	}
}

// yieldThreads yields the threads of the process at leader (the leader
// first); without signal->thread_head (it came with for_each_thread() in
// v3.14) the leader alone.
func (p *Program) yieldThreads(leader uint64, yield func(Task, error) bool) bool {
	o, err := p.Object("struct task_struct", leader)
	if err != nil {
		return yield(Task{}, err)
	}
	sig, err := o.Member("signal")
	if err == nil {
		var sa uint64
		if sa, err = sig.Pointer(); err == nil {
			var so Object
			if so, err = p.Object("struct signal_struct", sa); err == nil {
				var th Object
				if th, err = so.Member("thread_head"); err == nil {
					n := 0
					for thr, err := range ListForEachEntry(p.Context, th.Addr, "struct task_struct", "thread_node") {
						if err != nil {
							return yield(Task{}, fmt.Errorf("threads of task %#x: %w", leader, err))
						}
						n++
						if !yield(p.ReadTask(thr.Addr)) {
							return false
						}
					}
					if n > 0 {
						return true
					}
				}
			}
		}
	}
	return yield(p.ReadTask(leader))
}

// memberAddr returns &((typeName *)addr)->member.
func memberAddr(ctx *Context, addr uint64, typeName, member string) (uint64, error) {
	o, err := NewObject(ctx, typeName, addr)
	if err != nil {
		return 0, err
	}
	m, err := o.Member(member)
	if err != nil {
		return 0, err
	}
	return m.Addr, nil
}

// pacaAddr is paca_ptrs[cpu], the address of cpu's struct paca_struct.
func (p *Program) pacaAddr(cpu int) (uint64, error) {
	if n := p.NrCPUIDs(); n > 0 && cpu >= n {
		return 0, fmt.Errorf("cpu %d: nr_cpu_ids is %d", cpu, n)
	}
	pp, err := p.Variable("paca_ptrs")
	if err != nil {
		return 0, err
	}
	arr, err := pp.Pointer()
	if err != nil {
		return 0, err
	}
	paca, err := p.ReadU64(arr + 8*uint64(cpu))
	if err != nil {
		return 0, fmt.Errorf("paca_ptrs[%d]: %w", cpu, err)
	}
	return paca, nil
}

// CPUCurrent returns the task running on cpu: paca_ptrs[cpu]->__current
// (ppc64 keeps current in the PACA, arch/powerpc/include/asm/current.h).
func (p *Program) CPUCurrent(cpu int) (uint64, error) {
	cur, err := p.pacaMember(cpu, "__current")
	if err != nil {
		return 0, err
	}
	return cur.Pointer()
}

// pacaMember is paca_ptrs[cpu]->member.
func (p *Program) pacaMember(cpu int, member string) (Object, error) {
	paca, err := p.pacaAddr(cpu)
	if err != nil {
		return Object{}, err
	}
	o, err := p.Object("struct paca_struct", paca)
	if err != nil {
		return Object{}, err
	}
	return o.Member(member)
}

// PacaAddrs reads paca_ptrs[0..nr_cpu_ids) in one read: the address of
// every CPU's struct paca_struct.
func (p *Program) PacaAddrs() ([]uint64, error) {
	n := max(p.NrCPUIDs(), 1)
	pp, err := p.Variable("paca_ptrs")
	if err != nil {
		return nil, err
	}
	arr, err := pp.Pointer()
	if err != nil {
		return nil, err
	}
	b, err := p.Read(arr, 8*n)
	if err != nil {
		return nil, fmt.Errorf("paca_ptrs[0..%d): %w", n, err)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = p.Order.Uint64(b[8*i:])
	}
	return out, nil
}

// PacaCPU returns the CPU whose PACA is at paca (paca_ptrs[cpu] == paca).
// In kernel mode a ppc64 CPU keeps its PACA's address in r13, so this maps
// a register note to its CPU without trusting the note's order or pr_pid.
func (p *Program) PacaCPU(paca uint64) (int, bool) {
	pacas, err := p.PacaAddrs()
	if err != nil || paca == 0 {
		return 0, false
	}
	for cpu, a := range pacas {
		if a == paca {
			return cpu, true
		}
	}
	return 0, false
}

// CPUTask is the task running on one CPU (see CPUTasks for where it is
// read), or why that could not be read.
type CPUTask struct {
	CPU  int
	Paca uint64 // ppc64: paca_ptrs[CPU]; 0 when NULL or not ppc64
	Task uint64 // the task_struct; 0 when Err is set
	// Err says why the CPU's current task is unknown: its PACA pointer
	// is NULL, or reading __current faulted (the error wraps the
	// *dump.Fault: errors.As gives its address and reason), or it is
	// NULL.
	Err error
}

// CPUTaskError is the Err of a CPUTask.
type CPUTaskError struct {
	CPU  int
	Addr uint64 // the address read (&paca->__current), 0 for a NULL PACA
	Msg  string // "paca_ptrs[1] is NULL", "__current is NULL", ...
	Err  error  // the read's error (a *dump.Fault), or nil
}

func (e *CPUTaskError) Error() string {
	s := fmt.Sprintf("CPU %d: current task unreadable: %s", e.CPU, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CPUTaskError) Unwrap() error { return e.Err }

// CPUTasks reads the task running on every CPU below nr_cpu_ids, one
// entry per CPU in order, from where the architecture keeps current
// (feature-detected by symbol): ppc64's PACA (paca_ptrs[cpu]->__current,
// arch/powerpc/include/asm/current.h); x86_64's per-CPU current_task
// (arch/x86/include/asm/current.h; pcpu_hot.current_task in the kernels
// that grouped the hot per-CPU variables); elsewhere (arm64 keeps current
// in sp_el0, which no dump records) the scheduler's view,
// per_cpu(runqueues, cpu).curr, as crash and drgn do. A CPU whose current
// task cannot be read has Err set (a *CPUTaskError); the error return is
// for what stops every CPU: the array or variable itself unreadable, or
// its type missing from the debuginfo.
func (p *Program) CPUTasks() ([]CPUTask, error) {
	if _, err := p.SymbolAddr("paca_ptrs"); err == nil {
		return p.pacaCPUTasks()
	}
	n := max(p.NrCPUIDs(), 1)
	// where(cpu) is the address of cpu's current-task pointer and its
	// name for messages.
	var where func(cpu int) (uint64, string, error)
	if a, err := p.SymbolAddr("current_task"); err == nil {
		where = func(cpu int) (uint64, string, error) {
			pa, err := p.PerCPUPtr(a, cpu)
			return pa, fmt.Sprintf("per_cpu(current_task, %d)", cpu), err
		}
	} else if a, err := p.SymbolAddr("pcpu_hot"); err == nil {
		o, err := NewObject(p.Context, "struct pcpu_hot", 0)
		if err != nil {
			return nil, err
		}
		m, err := o.offsetOnly("current_task")
		if err != nil {
			return nil, err
		}
		where = func(cpu int) (uint64, string, error) {
			pa, err := p.PerCPUPtr(a+m.Addr, cpu)
			return pa, fmt.Sprintf("per_cpu(pcpu_hot, %d).current_task", cpu), err
		}
	} else if a, err := p.SymbolAddr("runqueues"); err == nil {
		o, err := NewObject(p.Context, "struct rq", 0)
		if err != nil {
			return nil, err
		}
		m, err := o.offsetOnly("curr")
		if err != nil {
			return nil, err
		}
		where = func(cpu int) (uint64, string, error) {
			pa, err := p.PerCPUPtr(a+m.Addr, cpu)
			return pa, fmt.Sprintf("per_cpu(runqueues, %d).curr", cpu), err
		}
	} else {
		return nil, errors.New("no paca_ptrs, current_task, pcpu_hot or runqueues symbol: the CPUs' current tasks cannot be found")
	}
	out := make([]CPUTask, n)
	for cpu := range out {
		t := CPUTask{CPU: cpu}
		addr, name, err := where(cpu)
		if err != nil {
			t.Err = &CPUTaskError{CPU: cpu, Msg: name, Err: err}
			out[cpu] = t
			continue
		}
		switch cur, err := p.ReadU64(addr); {
		case err != nil:
			t.Err = &CPUTaskError{CPU: cpu, Addr: addr, Msg: fmt.Sprintf("reading %s at %#x", name, addr), Err: err}
		case cur == 0:
			t.Err = &CPUTaskError{CPU: cpu, Addr: addr, Msg: fmt.Sprintf("%s at %#x is NULL", name, addr)}
		default:
			t.Task = cur
		}
		out[cpu] = t
	}
	return out, nil
}

// pacaCPUTasks is CPUTasks on ppc64: paca_ptrs[cpu]->__current.
func (p *Program) pacaCPUTasks() ([]CPUTask, error) {
	pacas, err := p.PacaAddrs()
	if err != nil {
		return nil, err
	}
	o, err := NewObject(p.Context, "struct paca_struct", 0)
	if err != nil {
		return nil, err
	}
	m, err := o.offsetOnly("__current")
	if err != nil {
		return nil, err
	}
	out := make([]CPUTask, len(pacas))
	for cpu, paca := range pacas {
		t := CPUTask{CPU: cpu, Paca: paca}
		switch cur, err := p.ReadU64(paca + m.Addr); {
		case paca == 0:
			t.Err = &CPUTaskError{CPU: cpu, Msg: fmt.Sprintf("paca_ptrs[%d] is NULL", cpu)}
		case err != nil:
			t.Err = &CPUTaskError{CPU: cpu, Addr: paca + m.Addr, Msg: fmt.Sprintf("reading paca_ptrs[%d]->__current at %#x", cpu, paca+m.Addr), Err: err}
		case cur == 0:
			t.Err = &CPUTaskError{CPU: cpu, Addr: paca + m.Addr, Msg: fmt.Sprintf("paca_ptrs[%d]->__current at %#x is NULL", cpu, paca+m.Addr)}
		default:
			t.Task = cur
		}
		out[cpu] = t
	}
	return out, nil
}

// CurrentTasks maps the task running on each CPU below nr_cpu_ids
// (paca_ptrs[cpu]->__current, where readable) to that CPU. The idle tasks
// of CPUs other than 0 are on no task list; this finds them. It leaves
// out the CPUs whose current task cannot be read, silently: a view that
// lists CPUs must use CPUTasks, which says which and why.
func (p *Program) CurrentTasks() map[uint64]int {
	out := map[uint64]int{}
	ts, _ := p.CPUTasks()
	for _, t := range ts {
		if t.Err == nil {
			out[t.Task] = t.CPU
		}
	}
	return out
}

// NrCPUIDs is nr_cpu_ids (capped at 1<<14), or 0 when unreadable.
func (p *Program) NrCPUIDs() int {
	nv, err := p.Variable("nr_cpu_ids")
	if err != nil {
		return 0
	}
	v, err := nv.Uint()
	if err != nil {
		return 0
	}
	return int(min(v, 1<<14))
}
