package repl

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
)

// systemMap reads a symbol's address from the corpus kernel's System.map
// (the build's own nm output, independent of this tool).
func systemMap(t *testing.T, kernel, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(testcorpus.Require(t), "kernels", kernel, "System.map"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 3 && fs[2] == name {
			return "0x" + fs[0]
		}
	}
	t.Fatalf("%s not in System.map", name)
	return ""
}

func psJSON(t *testing.T, s *Session, line string) []PsView {
	t.Helper()
	var ps []PsView
	if err := decodeDoc([]byte(run(t, s, line)), &ps); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return ps
}

// TestPsSelectCorpus: ps PID|TASK|COMM, -k and -u against the kernel's
// own rules: rest_init() starts init (PID 1) and then kthreadd (PID 2)
// with kernel_thread(), so both have PPID 0; kthreadd forks every other
// kernel thread (kernel/kthread.c), so their real_parent is PID 2; init
// runs /init from the initramfs (the console's "Comm: init"), a user task;
// init_task (System.map) is CPU 0's idle task, PID 0.
func TestPsSelectCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	if ps := psJSON(t, s, "ps --json 1"); len(ps) != 1 || ps[0].Comm != "init" || ps[0].KernelThread || ps[0].PPID != 0 {
		t.Errorf("ps 1: %+v", ps)
	}
	if ps := psJSON(t, s, "ps --json kthreadd"); len(ps) != 1 || ps[0].PID != 2 || !ps[0].KernelThread || ps[0].PPID != 0 {
		t.Errorf("ps kthreadd: %+v", ps)
	}
	initTask := systemMap(t, "7.2.13-buggy", "init_task")
	if ps := psJSON(t, s, "ps --json "+initTask); len(ps) != 1 || ps[0].PID != 0 || !strings.HasPrefix(ps[0].Comm, "swapper") || !ps[0].KernelThread {
		t.Errorf("ps %s: %+v", initTask, ps)
	}
	all := psJSON(t, s, "ps --json")
	kern := psJSON(t, s, "ps -k --json")
	user := psJSON(t, s, "ps -u --json")
	if len(kern)+len(user) != len(all) || len(user) == 0 || len(kern) == 0 {
		t.Errorf("ps -k %d + ps -u %d != ps %d", len(kern), len(user), len(all))
	}
	for _, p := range kern {
		if p.Comm == "init" {
			t.Errorf("ps -k lists init")
		}
		if p.PID > 2 && !strings.HasPrefix(p.Comm, "swapper") && p.PPID != 2 {
			t.Errorf("kernel thread %d %s has PPID %d, not kthreadd's 2", p.PID, p.Comm, p.PPID)
		}
	}
	for _, p := range user {
		if p.Comm == "kthreadd" || p.KernelThread {
			t.Errorf("ps -u lists %+v", p)
		}
	}
	if ps := psJSON(t, s, "ps --json kworker/*"); len(ps) == 0 {
		t.Errorf("ps kworker/*: none")
	} else {
		for _, p := range ps {
			if !strings.HasPrefix(p.Comm, "kworker/") || p.PPID != 2 {
				t.Errorf("ps kworker/*: %+v", p)
			}
		}
	}
	if err := s.Exec(t.Context(), "ps 999999"); err == nil || !strings.Contains(err.Error(), "no such task") {
		t.Errorf("ps 999999: %v", err)
	}
}

// TestTaskForeachCorpus: task prints the task_struct of the task asked
// (members against the facts of TestPsSelectCorpus), foreach runs a
// command for each selected task.
func TestTaskForeachCorpus(t *testing.T) {
	const dir = "buggy-radix"
	s := corpusSession(t, dir)
	initTask := systemMap(t, "7.2.13-buggy", "init_task")
	out := run(t, s, "task -R pid,tgid,comm "+initTask)
	for _, want := range []string{"PID: 0 ", "TASK: " + strings.TrimPrefix(initTask, "0x"), "  pid = 0\n", "  tgid = 0\n", `  comm = "swapper`} {
		if !strings.Contains(out, want) {
			t.Errorf("task -R pid,tgid,comm init_task lacks %q:\n%s", want, out)
		}
	}
	out = run(t, s, "task 1")
	if !strings.HasPrefix(out, `PID: 1 `) || !strings.Contains(out, "struct task_struct {") || !strings.Contains(out, `comm = "init"`) {
		t.Errorf("task 1:\n%.400s", out)
	}
	// foreach kernel ps lists what ps -k lists.
	kern := psJSON(t, s, "ps -k --json")
	out = run(t, s, "foreach kernel ps")
	if n := strings.Count(out, "\n") - 1; n != len(kern) {
		t.Errorf("foreach kernel ps: %d rows, ps -k has %d", n, len(kern))
	}
	// foreach by name and by PID run task with the flags that follow it.
	out = run(t, s, "foreach kthreadd 1 task -R pid")
	if !strings.Contains(out, "  pid = 2\n") || !strings.Contains(out, "  pid = 1\n") || strings.Count(out, "PID: ") != 2 {
		t.Errorf("foreach kthreadd 1 task -R pid:\n%s", out)
	}
	// foreach STATE bt: one backtrace per task in that state.
	idle := 0
	for _, p := range psJSON(t, s, "ps --json") {
		if p.State == "ID" {
			idle++
		}
	}
	out = run(t, s, "foreach ID bt")
	if n := strings.Count(out, "PID: "); n != idle || idle == 0 {
		t.Errorf("foreach ID bt: %d headers, %d tasks in ID", n, idle)
	}
}
