package stack

import "testing"

// TestContextsIdleWithoutNote: a CPU whose register note the dump lacks
// still has its running task in AllContexts — the idle task swapper/N,
// which no task list holds — as a stale context, once, and WalkAll does
// not unwind it (klp --tasks and KLP-TRANSITION see the same tasks).
func TestContextsIdleWithoutNote(t *testing.T) {
	p := openExample(t)
	all, err := AllContexts(p)
	if err != nil {
		t.Fatal(err)
	}
	// The CPU whose note holds an idle task (PID 0).
	drop := -1
	var idle uint64
	for _, c := range all {
		if c.Note >= 0 && c.HasTask && c.Task.PID == 0 {
			drop, idle = c.Note, c.Task.Addr
		}
	}
	if drop < 0 {
		t.Fatal("no CPU of the example runs its idle task")
	}
	cpus := p.Dump.CPUs
	defer func() { p.Dump.CPUs = cpus }()
	p.Dump.CPUs = append(cpus[:drop:drop], cpus[drop+1:]...)
	got, err := AllContexts(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Errorf("%d contexts without note %d, %d with it", len(got), drop, len(all))
	}
	n := 0
	for _, c := range got {
		if c.HasTask && c.Task.Addr == idle {
			n++
			if !c.Stale || c.CPU < 0 || c.Note >= 0 {
				t.Errorf("idle task %#x: CPU %d note %d stale %v; want a stale context of its CPU", idle, c.CPU, c.Note, c.Stale)
			}
		}
	}
	if n != 1 {
		t.Errorf("idle task %#x in %d contexts, want 1", idle, n)
	}
	us, _ := WalkAll(p)
	for _, u := range us {
		if u.HasTask && u.Task.Addr == idle && len(u.Frames) != 0 {
			t.Errorf("stale idle task unwound: %d frames", len(u.Frames))
		}
	}
}
