package stack_test

import (
	"testing"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testcorpus"
	"github.com/kdump-inspect/kdump-inspect/internal/testutil/testprog"
)

// TestORCThroughOpsTrampoline: bench/x86-corpus's livepatch-kaslr
// inflight-01 caught CPU 1 writing a text-poke batch (step 2, refs set:
// the host's monitor truth) while the function tracer, entered through
// global_ops' allocated trampoline, was recording a traced function on
// the way. ORC has no entries for trampoline memory; unwind_orc.c's
// orc_ftrace_find() uses ftrace_caller's at the same offset. With that
// mapping the walk crosses the trampoline and reaches
// smp_text_poke_batch_finish() — the function that must be on a CPU while
// the batch's refs are set (arch/x86/kernel/alternative.c) — and the
// system call under it (drgn 0.3.0 stops at the trampoline).
func TestORCThroughOpsTrampoline(t *testing.T) {
	dir := testcorpus.Corpora(t, "x86", "livepatch-kaslr", "inflight-01")
	p := testprog.OpenWithVmlinux(t, dir, "vmcore.elf.zst")
	a := analysis.New(p)
	st, err := a.Ftrace()
	if err != nil {
		t.Fatal(err)
	}
	var tramp uint64
	for _, o := range st.OpsList {
		if o.Name == "global_ops" {
			tramp = o.Trampoline
		}
	}
	us, _ := a.Stacks()
	for _, u := range us {
		if u.CPU != 1 || u.Stale {
			continue
		}
		var through, finish, syscall bool
		for _, f := range u.Frames {
			through = through || tramp != 0 && f.PC >= tramp && f.PC < tramp+4096
			if s, _, ok := p.Syms.ByAddr(f.PC); ok {
				finish = finish || s.Name == "smp_text_poke_batch_finish"
				syscall = syscall || s.Name == "do_syscall_64"
			}
		}
		if !through || !finish || !syscall {
			t.Errorf("CPU 1: through global_ops' trampoline %v, smp_text_poke_batch_finish %v, do_syscall_64 %v (%d frames, stopped: %v)", through, finish, syscall, len(u.Frames), u.Err)
		}
		return
	}
	t.Error("CPU 1 not unwound")
}
