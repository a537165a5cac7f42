package stack

import (
	"errors"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/damage"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// example is the committed extract of the corpus's buggy-radix dump: it
// holds every CPU's and task's stack (internal/extract walks them).
const example = "../testdata/example/buggy-radix/vmcore.zst"

func openExample(t testing.TB) *kernel.Program {
	t.Helper()
	p, err := kernel.Open([]string{example}, kernel.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("opening the example: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func initTask(t testing.TB, p *kernel.Program) kernel.Task {
	t.Helper()
	for tk, err := range p.ForEachTask() {
		if err != nil {
			t.Fatal(err)
		}
		if tk.PID == 1 {
			return tk
		}
	}
	t.Fatal("no PID 1")
	return kernel.Task{}
}

// TestContextsDamaged: a task list whose next pointer loops back, and a
// stack whose back chain loops, stop with typed errors after what could be
// read; nothing hangs.
func TestContextsDamaged(t *testing.T) {
	p := openExample(t)
	good := p.Context.Mem
	defer func() { p.Context.Mem = good }()
	all, err := AllContexts(p)
	if err != nil || len(all) < 30 {
		t.Fatalf("undamaged: %d contexts, %v", len(all), err)
	}

	// init's task list node pointing at itself: a cycle.
	it := initTask(t, p)
	tasks, err := p.Object("struct task_struct", it.Addr)
	if err != nil {
		t.Fatal(err)
	}
	node, err := tasks.Member("tasks.next")
	if err != nil {
		t.Fatal(err)
	}
	m := damage.NewMemory(good, false)
	b := make([]byte, 8)
	p.Order.PutUint64(b, node.Addr) // init's own tasks node: next -> itself
	m.Patch(node.Addr, b)
	p.Context.Mem = m
	got, err := AllContexts(p)
	var le *kernel.ListError
	if !errors.As(err, &le) || le.Kind != kernel.ListCycle || len(got) == 0 {
		t.Errorf("looped task list: %d contexts, err %v; want a cycle error", len(got), err)
	}

	// init's first frame's back chain pointing at itself.
	m = damage.NewMemory(good, false)
	p.Order.PutUint64(b, it.KSP)
	m.Patch(it.KSP, b)
	p.Context.Mem = m
	l, err := LayoutFor(p.Context, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Walk(p.Mem(), l, Start{SP: it.KSP}, Options{})
	var se *Error
	if !errors.As(err, &se) || se.SP != it.KSP {
		t.Errorf("looped back chain: err %v", err)
	}
}

// FuzzContextsOverDamage overwrites up to 256 bytes of a real kernel's
// task list, a sleeping task's stack or the PACA pointers with fuzz bytes,
// then finds every context and unwinds it: nothing may panic or hang, and
// no walk exceeds its cap.
func FuzzContextsOverDamage(f *testing.F) {
	p := openExample(f)
	good := p.Context.Mem
	it := initTask(f, p)
	paca, err := p.SymbolAddr("paca_ptrs")
	if err != nil {
		f.Fatal(err)
	}
	pacaArr, err := p.ReadU64(paca)
	if err != nil {
		f.Fatal(err)
	}
	layout, err := LayoutFor(p.Context, false)
	if err != nil {
		f.Fatal(err)
	}
	regions := []struct{ at, size uint64 }{
		{it.Addr, 4096},       // init's task_struct: tasks, signal, thread.ksp
		{it.KSP, 2048},        // its stack from the switch frame up
		{pacaArr, 64},         // paca_ptrs[]
		{it.KSP + 0x700, 512}, // the system-call frame and its pt_regs
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, uint16(0), uint8(0))
	f.Add([]byte("REGS\x00\x00\x00\x00"), uint16(0x40), uint8(1))
	f.Add([]byte{0xc0, 0, 0, 0, 0, 0, 0, 0xc0}, uint16(8), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, at uint16, which uint8) {
		r := regions[int(which)%len(regions)]
		m := damage.NewMemory(good, false)
		m.Patch(r.at+uint64(at)%r.size, data[:min(len(data), 256)])
		p.Context.Mem = m
		defer func() { p.Context.Mem = good }()
		ctxs, _ := AllContexts(p)
		if len(ctxs) > 1<<12 {
			t.Fatalf("%d contexts from a 43-task kernel", len(ctxs))
		}
		for _, c := range ctxs {
			fr, _ := Walk(p.Mem(), layout, c.Start, Options{})
			if len(fr) > 3*256 {
				t.Fatalf("%d frames", len(fr))
			}
		}
	})
}
