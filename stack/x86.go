package stack

import (
	"fmt"
	"sync"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/stack/orc"
)

// x86Unwinder walks x86_64 stacks with ORC (package orc): the vmlinux's
// table read from the dump's memory between __start_orc_unwind_ip and
// __stop_orc_unwind_ip (so that a dump with a stripped or minimal vmlinux
// unwinds too), each module's from mod->arch.orc_unwind_ip, orc_unwind and
// num_orcs.
type x86Unwinder struct {
	p       *kernel.Program
	set     *modules.Set
	vmlinux *orc.Table
	err     error
	mu      sync.Mutex
	mods    map[uint64]*orc.Table // by struct module address
	// tramp maps an address in an ftrace_ops trampoline to the code it
	// was copied from (ftrace.State.X86TrampolineSource); nil: none known.
	tramp func(uint64) (uint64, bool)
}

func newX86Unwinder(p *kernel.Program, set *modules.Set) *x86Unwinder {
	u := &x86Unwinder{p: p, set: set, mods: map[uint64]*orc.Table{}}
	start, err1 := p.SymbolAddr("__start_orc_unwind_ip")
	stop, err2 := p.SymbolAddr("__stop_orc_unwind_ip")
	unw, err3 := p.SymbolAddr("__start_orc_unwind")
	switch {
	case err1 != nil || err2 != nil || err3 != nil:
		u.err = fmt.Errorf("no ORC tables in the vmlinux's symbols (__start_orc_unwind_ip, __stop_orc_unwind_ip, __start_orc_unwind): a kernel without CONFIG_UNWINDER_ORC")
	case stop < start || (stop-start)%4 != 0:
		u.err = fmt.Errorf("ORC ip table %#x..%#x: not a whole number of entries", start, stop)
	default:
		u.vmlinux, u.err = orc.MemTable(p.Read, start, unw, int((stop-start)/4))
	}
	return u
}

// find is orc_find(): the module's table for module text, else the
// vmlinux's.
func (u *x86Unwinder) find(ip uint64) (orc.Entry, bool, error) {
	if u.set != nil {
		if a := u.set.ByAddr(ip); a != nil {
			t, err := u.moduleTable(a.Module)
			if err != nil {
				return orc.Entry{}, false, err
			}
			return t.Find(ip)
		}
	}
	if u.vmlinux == nil {
		return orc.Entry{}, false, u.err
	}
	if _, _, ok := u.p.Syms.ByAddr(ip); !ok {
		// orc_ftrace_find(): an ops trampoline has its source's entries.
		if u.tramp != nil {
			if src, ok := u.tramp(ip); ok {
				return u.vmlinux.Find(src)
			}
		}
		return orc.Entry{}, false, nil // not kernel text: the fp guess
	}
	return u.vmlinux.Find(ip)
}

func (u *x86Unwinder) moduleTable(m *modules.Module) (*orc.Table, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.mods[m.Addr]; ok {
		return t, nil
	}
	get := func(path string) (uint64, error) {
		o, err := m.Obj.Member(path)
		if err != nil {
			return 0, err
		}
		return o.Uint()
	}
	ip, err1 := get("arch.orc_unwind_ip")
	unw, err2 := get("arch.orc_unwind")
	n, err3 := get("arch.num_orcs")
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("module %s: mod->arch ORC table: %w", m.Name, err)
	}
	t, err := orc.MemTable(u.p.Read, ip, unw, int(min(n, orc.MaxEntries+1)))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", m.Name, err)
	}
	u.mods[m.Addr] = t
	return t, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// start is where a context's walk begins: a CPU's registers, or a
// switched-out task's struct inactive_task_frame at thread.sp
// (arch/x86/include/asm/switch_to.h: r15, r14, r13, r12, bx, bp,
// ret_addr), as __unwind_start() reads it.
func (u *x86Unwinder) start(c Context) (orc.Start, error) {
	if c.Start.HaveRegs {
		st := orc.Start{IP: c.Start.NIP, SP: c.Start.SP, Regs: c.Start.Regs}
		if len(c.Start.Regs) > 4 {
			st.BP = c.Start.Regs[4]
		}
		return st, nil
	}
	ksp := c.Start.SP
	bpOff, raOff, size := uint64(40), uint64(48), uint64(56)
	if o, err := kernel.NewObject(u.p.Context, "struct inactive_task_frame", ksp); err == nil {
		if m, err := o.Member("bp"); err == nil {
			bpOff = m.Addr - ksp
		}
		if m, err := o.Member("ret_addr"); err == nil {
			raOff = m.Addr - ksp
		}
		size = uint64(o.Size())
	}
	bp, err1 := u.p.ReadU64(ksp + bpOff)
	ra, err2 := u.p.ReadU64(ksp + raOff)
	if err := firstErr(err1, err2); err != nil {
		return orc.Start{}, &Error{SP: ksp, Msg: "reading the task's inactive_task_frame at thread.sp", Err: err}
	}
	return orc.Start{IP: ra, SP: ksp + size, BP: bp}, nil
}

func (u *x86Unwinder) walk(c Context) ([]Frame, error) {
	st, err := u.start(c)
	if err != nil {
		return nil, err
	}
	ofs, err := orc.Walk(st, orc.Options{Find: u.find, Read: u.p.Read})
	out := make([]Frame, len(ofs))
	for i, f := range ofs {
		out[i] = Frame{SP: f.SP, PC: f.PC, Kind: KindReturn}
		if i == 0 && c.Start.HaveRegs {
			out[i].Kind = KindNIP
		}
		if f.RegsAddr != 0 {
			// The PC and SP came from the pt_regs of an interrupt or
			// exception; Regs holds only those two (NIP: rip, GPR[1]:
			// rsp) on x86_64.
			ex := &Exception{Addr: f.RegsAddr, X86Partial: f.Partial}
			ex.Regs.NIP, ex.Regs.GPR[1] = f.PC, f.SP
			from, n := uint64(0), 21
			if f.Partial {
				from = 16 * 8 // the iret frame: ip, cs, flags, sp, ss
			}
			if b, err := u.p.Read(f.RegsAddr+from, n*8-int(from)); err == nil {
				ex.X86 = make([]uint64, n)
				for j := int(from / 8); j < n; j++ {
					ex.X86[j] = u.p.Order.Uint64(b[(j-int(from/8))*8:])
				}
			}
			out[i].Kind, out[i].Exception = KindNIP, ex
		}
	}
	if err != nil {
		return out, err
	}
	return out, nil
}

var x86Unwinders sync.Map // *kernel.Program → *x86Unwinder

// WalkContext unwinds one context with the architecture's unwinder: ORC
// on x86_64 (the module tables through set; nil leaves module frames to
// the frame-pointer guess), else the back chain with layout l.
func WalkContext(p *kernel.Program, set *modules.Set, l Layout, c Context, opt Options) ([]Frame, error) {
	switch arch.UnwindOf(p.Arch) {
	case arch.UnwindORC:
		v, ok := x86Unwinders.Load(p)
		if !ok || v.(*x86Unwinder).set != set {
			v = newX86Unwinder(p, set)
			x86Unwinders.Store(p, v)
		}
		u := v.(*x86Unwinder)
		if opt.Trampoline != nil {
			u.tramp = opt.Trampoline
		}
		if u.vmlinux == nil {
			return nil, u.err
		}
		return u.walk(c)
	case arch.UnwindFrameRecords:
		return walkArm64(p, c, opt)
	}
	return Walk(p.Mem(), l, c.Start, opt)
}

// NeedsLayout says whether the dump's architecture unwinds with a
// Layout (LayoutFor): ppc64's back chain does, x86_64's ORC does not.
func NeedsLayout(p *kernel.Program) bool {
	return arch.UnwindOf(p.Arch) == arch.UnwindBackChain
}
