package stack

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kdump-inspect/kdump-inspect/internal/testutil/damage"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// example is the committed extract of the corpus's buggy-radix dump: it
// holds every CPU's and task's stack (internal/gen/extract walks them).
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

func frameNames(t *testing.T, p *kernel.Program, fr []Frame) []string {
	t.Helper()
	var out []string
	for _, f := range fr {
		loc := p.Resolver.Lookup(f.PC)
		if loc.Symbol == nil {
			out = append(out, fmt.Sprintf("%#x", f.PC))
			continue
		}
		out = append(out, loc.Symbol.Name)
	}
	return out
}

// TestExampleStacks unwinds the committed examples (no ../shared needed):
// the boot CPU idles in rest_init -> cpu_startup_entry -> do_idle
// (init/main.c), entered from start_kernel and start_here_common
// (head_64.S), on the corpus kernel and on Debian's, radix and hash; the
// corpus kernel's second CPU from start_secondary (smp.c); and init's
// system call ends in the interrupt frame whose pt_regs the guest console
// printed as "REGS: c00000000245fe80 TRAP: 3000" (the corpus's
// buggy-radix/console.log), from user mode.
func TestExampleStacks(t *testing.T) {
	boot := []string{"do_idle", "cpu_startup_entry", "rest_init", "start_kernel", "start_here_common"}
	for _, ex := range []string{example, "../testdata/example/distro-4k/vmcore-radix.zst", "../testdata/example/distro-4k/vmcore-hash.zst"} {
		t.Run(filepath.Base(filepath.Dir(ex))+"/"+filepath.Base(ex), func(t *testing.T) {
			p, err := kernel.Open([]string{ex}, kernel.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			l, err := LayoutFor(p.Context, false)
			if err != nil {
				t.Fatal(err)
			}
			for i := range p.Dump.CPUs {
				c := CPUContext(p, i)
				fr, err := Walk(p.Mem(), l, c.Start, Options{})
				if err != nil {
					t.Fatalf("cpu %d: %v", c.CPU, err)
				}
				names := frameNames(t, p, fr)
				want := boot
				if c.CPU == 1 {
					want = []string{"do_idle", "cpu_startup_entry", "start_secondary", "start_secondary_prolog"}
				}
				if k := slices.Index(names, want[0]); k < 0 || !slices.Equal(names[k:], want) || names[0] != "plpar_hcall_norets_notrace" {
					t.Errorf("cpu %d: %v, want plpar_hcall_norets_notrace first and %v last", c.CPU, names, want)
				}
				if !c.HasTask || c.Task.PID != 0 {
					t.Errorf("cpu %d runs %+v, want an idle task", c.CPU, c.Task)
				}
			}
			if ex != example {
				return
			}
			fr, err := Walk(p.Mem(), l, TaskContext(p, initTask(t, p)).Start, Options{})
			if err != nil {
				t.Fatal(err)
			}
			e := fr[len(fr)-1].Exception
			if e == nil || e.Addr != 0xc00000000245fe80 || e.Regs.Trap != 0x3000 || !e.Regs.User() {
				t.Errorf("init's last frame %+v, exception %+v", fr[len(fr)-1], e)
			}
		})
	}
}
