package ftrace

import (
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/arch/x86"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// X86TrampCheck holds one ftrace_ops' allocated trampoline against what
// create_trampoline() (arch/x86/kernel/ftrace.c) makes: a copy of
// ftrace_caller (ftrace_regs_caller with FTRACE_OPS_FL_SAVE_REGS) up to
// its _end label, with text_poke_apply_relocation() keeping every
// relative target absolute; the "movq function_trace_op(%rip), %rdx" at
// *_op_ptr pointed at the ops pointer stored after the code; the call at
// ftrace_call/ftrace_regs_call to ftrace_ops_get_func(ops) (ops->func, or
// ftrace_ops_assist_func for ops that need recursion protection); with
// SAVE_REGS, the "jnz 1f" at ftrace_regs_caller_jmp turned into a 2-byte
// nop; then RET; INT3 (or a jmp to the return thunk) and the ops pointer.
type X86TrampCheck struct {
	Ops  *Ops
	Addr uint64 // ops->trampoline
	Size uint64 // the code copied (end - start)
	Regs bool   // copied from ftrace_regs_caller
	// Problems name each place where the trampoline is not what
	// create_trampoline() makes ("" none); Unchecked says why it could
	// not be compared.
	Problems  []X86TrampProblem
	Unchecked string
}

// X86TrampProblem is one difference.
type X86TrampProblem struct {
	Addr        uint64
	Found, Want string
}

// x86 flags of struct ftrace_ops (include/linux/ftrace.h enum).
func opsFlag(p *kernel.Program, name string, def uint64) uint64 {
	if v, err := p.Types.EnumConstant(name); err == nil {
		return uint64(v)
	}
	return def
}

// CheckX86Trampolines checks every ops with an allocated trampoline.
func (s *State) CheckX86Trampolines(p *kernel.Program) []X86TrampCheck {
	if !arch.Has(p.Arch, arch.OpsTrampolines) {
		return nil
	}
	saveRegs := opsFlag(p, "FTRACE_OPS_FL_SAVE_REGS", 1<<2)
	allocTramp := opsFlag(p, "FTRACE_OPS_FL_ALLOC_TRAMP", 1<<11)
	var out []X86TrampCheck
	for _, o := range s.OpsList {
		if o.Trampoline == 0 || o.Flags&allocTramp == 0 {
			continue
		}
		out = append(out, s.checkX86Tramp(p, o, o.Flags&saveRegs != 0))
	}
	return out
}

func (s *State) checkX86Tramp(p *kernel.Program, o *Ops, regs bool) X86TrampCheck {
	c := X86TrampCheck{Ops: o, Addr: o.Trampoline, Regs: regs}
	names := []string{"ftrace_caller", "ftrace_caller_end", "ftrace_caller_op_ptr", "ftrace_call"}
	if regs {
		names = []string{"ftrace_regs_caller", "ftrace_regs_caller_end", "ftrace_regs_caller_op_ptr", "ftrace_regs_call", "ftrace_regs_caller_jmp"}
	}
	addrs := make([]uint64, len(names))
	for i, n := range names {
		a, err := p.SymbolAddr(n)
		if err != nil {
			c.Unchecked = fmt.Sprintf("no %s symbol: the trampoline's source is unknown", n)
			return c
		}
		addrs[i] = a
	}
	start, end, opPtr, call := addrs[0], addrs[1], addrs[2], addrs[3]
	if end <= start || end-start > 4096 {
		c.Unchecked = fmt.Sprintf("%s..%s is %d bytes", names[0], names[1], int64(end-start))
		return c
	}
	c.Size = end - start
	orig, err1 := p.Read(start, int(c.Size))
	tramp, err2 := p.Read(o.Trampoline, int(c.Size)+2+8+5)
	if err1 != nil || err2 != nil {
		c.Unchecked = fmt.Sprintf("unreadable: %v", errors.Join(err1, err2))
		return c
	}
	// The ops pointer sits RET_SIZE after the code: 5 with
	// CONFIG_MITIGATION_RETPOLINE (room for a jmp to the return thunk),
	// else 1 + CONFIG_MITIGATION_SLS. Which one this kernel was built
	// with shows in the movq at *_op_ptr; it must be one of them.
	opsPtr := uint64(0)
	if t, m, ok := x86.RelTarget(tramp[opPtr-start:], o.Trampoline+(opPtr-start)); ok && m == 7 {
		for _, rs := range []uint64{1, 2, 5} {
			if t == o.Trampoline+c.Size+rs {
				opsPtr = t
			}
		}
	}
	if opsPtr == 0 {
		opsPtr = o.Trampoline + c.Size + 5 // report against the retpoline layout
	}
	thunkTail := tramp[c.Size] == x86.Jmp32Opcode // cpu_wants_rethunk_at()
	bad := func(at uint64, found, want string) {
		c.Problems = append(c.Problems, X86TrampProblem{Addr: at, Found: found, Want: want})
	}
	assist, _ := p.SymbolAddr("ftrace_ops_assist_func")
	for off := 0; off < int(c.Size); {
		src, dst := start+uint64(off), o.Trampoline+uint64(off)
		ob, tb := orig[off:], tramp[off:]
		_, n, _ := x86.RelTarget(ob, src)
		if n == 0 {
			n = 1
		}
		n = min(n, int(c.Size)-off)
		switch {
		case regs && src == addrs[4]:
			if tb[0] != 0x66 || tb[1] != 0x90 {
				bad(dst, fmt.Sprintf("% x", tb[:2]), "66 90 (the jnz 1f nopped: no direct-call test on a trampoline)")
			}
			n = 2
		case src == opPtr:
			if t, m, ok := x86.RelTarget(tb, dst); !ok || m != 7 || tb[0] != 0x48 || tb[1] != 0x8b || tb[2] != 0x15 || t != opsPtr {
				bad(dst, fmt.Sprintf("% x", tb[:7]), fmt.Sprintf("movq %#x(%%rip), %%rdx: the ops pointer stored after the code", opsPtr))
			}
			n = 7
		case src == call:
			t, call, ok := x86.BranchTarget(tb, dst)
			if !ok || !call || t != o.Func && (assist == 0 || t != assist) {
				bad(dst, fmt.Sprintf("% x", tb[:5]), fmt.Sprintf("call %#x (ftrace_ops_get_func(): %s)", o.Func, o.FuncName))
			}
			n = 5
		default:
			want, _, wok := x86.RelTarget(ob, src)
			got, m, gok := x86.RelTarget(tb, dst)
			switch {
			case wok && wantsRelocation(want, start, end):
				// A target inside the copied code moves with it.
				if !gok || m != n || got != want-start+o.Trampoline {
					bad(dst, fmt.Sprintf("% x", tb[:n]), fmt.Sprintf("the relative reference of % x moved with the copy", ob[:n]))
				}
			case wok:
				if !gok || m != n || got != want {
					bad(dst, fmt.Sprintf("% x", tb[:n]), fmt.Sprintf("a reference to %#x (text_poke_apply_relocation() keeps targets outside the copy)", want))
				}
			default:
				if string(ob[:n]) != string(tb[:n]) {
					bad(dst, fmt.Sprintf("% x", tb[:n]), fmt.Sprintf("% x, as at %#x in %s", ob[:n], src, names[0]))
				}
			}
		}
		off += n
	}
	tail := tramp[c.Size:]
	switch {
	case thunkTail:
		if t, call, ok := x86.BranchTarget(tail, o.Trampoline+c.Size); !ok || call {
			bad(o.Trampoline+c.Size, fmt.Sprintf("% x", tail[:5]), "ret; int3, or jmp to the return thunk")
		} else if rt, err := p.SymbolAddr("__x86_return_thunk"); err == nil && t != rt {
			if loc, _, ok := p.Syms.ByAddr(t); !ok || loc.Name == "" {
				bad(o.Trampoline+c.Size, fmt.Sprintf("jmp %#x", t), "jmp to the return thunk (x86_return_thunk)")
			}
		}
	case tail[0] != x86.RetOpcode || opsPtr-(o.Trampoline+c.Size) > 1 && tail[1] != x86.Int3Opcode:
		bad(o.Trampoline+c.Size, fmt.Sprintf("% x", tail[:2]), "c3 cc (ret; int3)")
	}
	switch v, err := p.ReadU64(opsPtr); {
	case err != nil:
		c.Unchecked = fmt.Sprintf("the ops pointer at %#x unreadable: %v", opsPtr, err)
	case v != o.Addr:
		bad(opsPtr, fmt.Sprintf("%#x", v), fmt.Sprintf("the ops %#x (%s)", o.Addr, o.Name))
	}
	return c
}

func wantsRelocation(target, start, end uint64) bool { return target >= start && target < end }
