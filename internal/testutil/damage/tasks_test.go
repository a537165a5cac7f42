package damage

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/dump"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// TestCPUTasksUnreadable: CPU 1's paca->__current lies in memory the
// dump does not hold (a hole over its physical page). CPUTasks says so
// for CPU 1, with the fault, and still gives CPU 0; CurrentTasks, which
// drops errors, loses CPU 1 (why ps must use CPUTasks).
func TestCPUTasksUnreadable(t *testing.T) {
	p0, _, path, opts := goodProgram(t)
	good, err := p0.CPUTasks()
	if err != nil || len(good) != 2 {
		t.Fatalf("good dump: CPUTasks %v, %v; want the 2 CPUs of the guest (-smp 2)", good, err)
	}
	for _, c := range good {
		if c.Err != nil || c.Task == 0 {
			t.Fatalf("good dump: CPU %d: %v", c.CPU, c.Err)
		}
		task, err := p0.ReadTask(c.Task)
		// QEMU stopped the guest idle (both CPUs' register notes stop in
		// plpar_hcall_norets_notrace, the H_CEDE of pseries' idle loop):
		// each CPU runs its idle task, which init_idle() names
		// swapper/N, pid 0.
		if err != nil || task.Comm != fmt.Sprintf("swapper/%d", c.CPU) || task.PID != 0 {
			t.Errorf("good dump: CPU %d: task %#x: %+v, %v", c.CPU, c.Task, task, err)
		}
		t.Logf("CPU %d: paca %#x, task %#x %q pid %d", c.CPU, c.Paca, c.Task, task.Comm, task.PID)
	}
	o, err := kernel.NewObject(p0.Context, "struct paca_struct", good[1].Paca)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := o.Member("__current")
	if err != nil {
		t.Fatal(err)
	}
	v := NewVirt(p0)
	pa := cur.Addr - ppc64.PageOffset
	v.Mem.Hole(pa, pa+8)
	p := openDamaged(t, path, opts, v)
	got, err := p.CPUTasks()
	if err != nil || len(got) != 2 {
		t.Fatalf("damaged: CPUTasks %v, %v", got, err)
	}
	if got[0] != good[0] {
		t.Errorf("CPU 0: %+v, want %+v", got[0], good[0])
	}
	var ce *kernel.CPUTaskError
	f, isFault := dump.IsFault(got[1].Err)
	if !errors.As(got[1].Err, &ce) || ce.CPU != 1 || ce.Addr != cur.Addr || !isFault || got[1].Task != 0 {
		t.Fatalf("CPU 1: %+v, want a CPUTaskError at %#x wrapping a fault", got[1], cur.Addr)
	}
	if f.Addr != cur.Addr {
		t.Errorf("fault at %#x, want %#x", f.Addr, cur.Addr)
	}
	if s := got[1].Err.Error(); !strings.HasPrefix(s, "CPU 1: current task unreadable") || !strings.Contains(s, fmt.Sprintf("%#x", cur.Addr)) {
		t.Errorf("error text %q", s)
	}
	if m := p.CurrentTasks(); len(m) != 1 {
		t.Errorf("CurrentTasks: %v, want CPU 0 only", m)
	}
}
