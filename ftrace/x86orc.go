package ftrace

import (
	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// X86TrampolineSource is orc_ftrace_find()'s mapping
// (arch/x86/kernel/unwind_orc.c): an address inside an ftrace_ops
// trampoline the kernel allocated stands for the same offset in the code
// it was copied from (ftrace_regs_caller with FTRACE_OPS_FL_SAVE_REGS,
// else ftrace_caller), whose ORC entries describe it. ok is false outside
// every trampoline.
func (s *State) X86TrampolineSource(p *kernel.Program) func(ip uint64) (uint64, bool) {
	if !arch.Has(p.Arch, arch.OpsTrampolines) {
		return nil
	}
	type span struct{ lo, hi, src uint64 }
	var spans []span
	saveRegs := opsFlag(p, "FTRACE_OPS_FL_SAVE_REGS", 1<<2)
	sym := func(n string) uint64 { return symbolOrZero(p, n) }
	caller, callerEnd := sym("ftrace_caller"), sym("ftrace_caller_end")
	regs, regsEnd := sym("ftrace_regs_caller"), sym("ftrace_regs_caller_end")
	for _, o := range s.OpsList {
		if o.Trampoline == 0 {
			continue
		}
		start, end := caller, callerEnd
		if o.Flags&saveRegs != 0 {
			start, end = regs, regsEnd
		}
		if start == 0 || end <= start || end-start > 4096 {
			continue
		}
		spans = append(spans, span{o.Trampoline, o.Trampoline + (end - start), start})
	}
	if len(spans) == 0 {
		return nil
	}
	return func(ip uint64) (uint64, bool) {
		for _, sp := range spans {
			if ip >= sp.lo && ip < sp.hi {
				return sp.src + (ip - sp.lo), true
			}
		}
		return 0, false
	}
}
