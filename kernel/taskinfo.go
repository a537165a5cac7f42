package kernel

// PF_KTHREAD is the task->flags bit of a kernel thread
// (include/linux/sched.h, 0x00200000 since v2.6.27; flags are #defines,
// absent from DWARF and BTF).
const PF_KTHREAD = 0x00200000

// TaskDetail is what ps and foreach need of a task beyond Task: its
// flags, its mm and its parent.
type TaskDetail struct {
	Flags    uint64
	HasFlags bool
	MM       uint64 // task->mm: 0 for kernel threads (and exited tasks)
	// PPID is task->real_parent->tgid, what /proc/PID/status calls
	// PPid; -1 when unreadable.
	PPID int64
}

// Kthread says the task is a kernel thread: PF_KTHREAD in task->flags
// (set for the idle tasks and every thread kthreadd forks), or, when the
// flags cannot be read, no mm.
func (d TaskDetail) Kthread() bool {
	if d.HasFlags {
		return d.Flags&PF_KTHREAD != 0
	}
	return d.MM == 0
}

// ReadTaskDetail reads flags, mm and real_parent->tgid of the
// task_struct at addr; what cannot be read stays zero (PPID -1).
func (p *Program) ReadTaskDetail(addr uint64) (TaskDetail, error) {
	d := TaskDetail{PPID: -1}
	o, err := p.Object("struct task_struct", addr)
	if err != nil {
		return d, err
	}
	if m, err := o.Member("flags"); err == nil {
		if v, err := m.Uint(); err == nil {
			d.Flags, d.HasFlags = v, true
		}
	}
	if m, err := o.Member("mm"); err == nil {
		d.MM, _ = m.Pointer()
	}
	if m, err := o.Member("real_parent->tgid"); err == nil {
		if v, err := m.Int(); err == nil {
			d.PPID = v
		}
	}
	return d, nil
}
