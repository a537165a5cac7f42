package ftrace

import (
	"fmt"
	"testing"
)

// TestTransitionBodies follows klp_check_stack_func()
// (kernel/livepatch/transition.c): unpatching checks the transition
// patch's own new functions; patching checks what it replaces: the
// original when its klp_func is alone on the klp_ops func_stack, else the
// new function of the klp_func below it (list_next_entry(func,
// stack_node)).
func TestTransitionBodies(t *testing.T) {
	const (
		oldFn = 0xc000000000425680
		newA  = 0xc008000000100000 // patch A's replacement
		newB  = 0xc008000000200000 // patch B's replacement
	)
	fA := KlpFunc{Addr: 0xa0, OldName: "cmdline_proc_show", OldFunc: oldFn, OldSize: 0x60, NewFunc: newA, NewSize: 0x40}
	fB := KlpFunc{Addr: 0xb0, OldName: "cmdline_proc_show", OldFunc: oldFn, OldSize: 0x60, NewFunc: newB, NewSize: 0x50}
	other := KlpFunc{Addr: 0xb8, OldName: "meminfo_proc_show", OldFunc: 0xc000000000426000, OldSize: 0x100, NewFunc: newB + 0x100, NewSize: 0x30}
	pA := KlpPatch{Addr: 0x1000, ModName: "A", Objects: []KlpObject{{Funcs: []KlpFunc{fA}}}}
	pB := KlpPatch{Addr: 0x2000, ModName: "B", Objects: []KlpObject{{Funcs: []KlpFunc{fB, other}}}}
	body := func(bs []Body) string { return fmt.Sprint(bs) }
	want := func(bs ...Body) string { return fmt.Sprint(bs) }

	// B on top of A for cmdline_proc_show; B alone for meminfo_proc_show.
	lp := &Livepatch{Patches: []KlpPatch{pA, pB}, HasTargetState: true,
		Ops: []KlpOps{{Stack: []uint64{fB.Addr, fA.Addr}}, {Stack: []uint64{other.Addr}}}}

	lp.TransitionPatch, lp.TargetState = pB.Addr, 1 // enabling B
	if got, w := body(lp.TransitionBodies()), want(
		Body{newA, newA + 0x40, "cmdline_proc_show", true, "A", pA.Addr},
		Body{0xc000000000426000, 0xc000000000426100, "meminfo_proc_show", false, "B", pB.Addr}); got != w {
		t.Errorf("patching B over A:\n got %s\nwant %s", got, w)
	}
	lp.TargetState = 0 // disabling B
	if got, w := body(lp.TransitionBodies()), want(
		Body{newB, newB + 0x50, "cmdline_proc_show", true, "B", pB.Addr},
		Body{newB + 0x100, newB + 0x130, "meminfo_proc_show", true, "B", pB.Addr}); got != w {
		t.Errorf("unpatching B:\n got %s\nwant %s", got, w)
	}
	lp.TransitionPatch, lp.TargetState = pA.Addr, 1 // A alone at the bottom
	if got, w := body(lp.TransitionBodies()), want(Body{oldFn, oldFn + 0x60, "cmdline_proc_show", false, "A", pA.Addr}); got != w {
		t.Errorf("patching A:\n got %s\nwant %s", got, w)
	}
	lp.TransitionPatch = 0
	if bs := lp.TransitionBodies(); bs != nil {
		t.Errorf("no transition: %v", bs)
	}
}
