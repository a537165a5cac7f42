// Package stack unwinds ppc64 kernel stacks the way the kernel's own
// show_stack() (arch/powerpc/kernel/process.c) does: by the ABI back chain
// (the first doubleword of every frame points at the caller's frame), the
// LR save doubleword of each frame (STACK_FRAME_LR_SAVE), and the "REGS"
// marker that interrupt entry leaves in a frame holding a struct pt_regs.
//
// It reads memory through a one-method interface and never trusts it: every
// frame pointer is checked for alignment, for a kernel address and against
// the frames already seen, and the walk is capped. For the first frame of
// a context it follows DWARF call-frame information when the caller gives
// it (CFI, read by the reader symbols.ParseFrames dispatches to), and otherwise the kernel's
// own rule for the LR register (see Walk). It does not name addresses;
// callers resolve Frame.PC to symbols.
//
// Layer: models (docs/ARCHITECTURE.md).
package stack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Layout is what the walk needs to know about the kernel's frames and its
// struct pt_regs, all read from DWARF and the ABI (LayoutFor).
type Layout struct {
	Order binary.ByteOrder
	// MarkerOff and RegsOff are STACK_INT_FRAME_MARKER and
	// STACK_INT_FRAME_REGS (arch/powerpc/include/asm/ptrace.h): where an
	// interrupt frame holds STACK_FRAME_REGS_MARKER and its pt_regs.
	MarkerOff, RegsOff uint64
	// Marker is STACK_FRAME_REGS_MARKER as a doubleword in memory order:
	// the bytes "REGS" in either byte order.
	Marker uint64
	// Offsets of struct pt_regs members, and its size.
	GPR, NIP, MSR, CTR, Link, XER, CCR, Trap, RegsSize uint64
}

// LayoutFor builds the layout from a kernel's DWARF: struct pt_regs for the
// register offsets, and the ABI for the frame constants (ELFv1 kernels,
// told by mod_arch_specific.start_opd, have a 112-byte minimum frame, ELFv2
// 32 bytes).
func LayoutFor(ctx *kernel.Context, elfv1 bool) (Layout, error) {
	l := Layout{Order: ctx.Order}
	min := uint64(32) // STACK_FRAME_MIN_SIZE, ELFv2
	l.MarkerOff, l.RegsOff = min, min+16
	if elfv1 {
		min = 112
		l.MarkerOff, l.RegsOff = min-16, min
	}
	// STACK_FRAME_REGS_MARKER is defined per byte order so that memory
	// always shows "REGS".
	l.Marker = uint64(ctx.Order.Uint32([]byte("REGS")))
	regs, err := kernel.NewObject(ctx, "struct pt_regs", 0)
	if err != nil {
		return l, err
	}
	l.RegsSize = uint64(regs.Size())
	for _, m := range []struct {
		name string
		dst  *uint64
	}{{"gpr", &l.GPR}, {"nip", &l.NIP}, {"msr", &l.MSR}, {"ctr", &l.CTR}, {"link", &l.Link}, {"xer", &l.XER}, {"ccr", &l.CCR}, {"trap", &l.Trap}} {
		o, err := regs.Member(m.name)
		if err != nil {
			return l, fmt.Errorf("struct pt_regs: %w", err)
		}
		*m.dst = o.Addr
	}
	if l.RegsSize < l.Trap+8 || l.RegsSize > 4096 {
		return l, fmt.Errorf("struct pt_regs of %d bytes does not hold trap at %#x", l.RegsSize, l.Trap)
	}
	return l, nil
}

// Regs are the registers of an interrupt frame's struct pt_regs (or of a
// CPU's NT_PRSTATUS).
type Regs struct {
	GPR                                 [32]uint64
	NIP, MSR, CTR, Link, XER, CCR, Trap uint64
}

// msrPR is MSR_PR (arch/powerpc/include/asm/reg.h, MSR_PR_LG 14): the
// interrupted context was user mode.
const msrPR = 1 << 14

// User reports whether the registers are of user mode.
func (r *Regs) User() bool { return r.MSR&msrPR != 0 }

// Kind says where a frame's PC came from.
type Kind int

const (
	// KindNIP: the first frame of a context, PC is the NIP register (of
	// the CPU, or of an interrupt frame's pt_regs).
	KindNIP Kind = iota + 1
	// KindLR: PC is the LR register: the function at NIP had not made a
	// frame of its own (a leaf), so LR is its caller's place.
	KindLR
	// KindReturn: PC is the return address saved in the frame's LR save
	// doubleword by the function it called.
	KindReturn
	// KindCFI: the caller of the function at NIP, where the call-frame
	// information (.debug_frame) says its return address is: r0 (in an
	// epilogue, after ld r0,16(r1)) or the LR save doubleword.
	KindCFI
)

func (k Kind) String() string {
	switch k {
	case KindNIP:
		return "NIP"
	case KindLR:
		return "LR"
	case KindReturn:
		return "return"
	case KindCFI:
		return "CFI"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Frame is one line of a backtrace.
type Frame struct {
	SP   uint64 // the stack frame (r1) the PC belongs to
	PC   uint64
	Kind Kind
	// Exception is set on the frame that holds an interrupt's pt_regs:
	// the frames after it are those of the interrupted context.
	Exception *Exception
}

// Exception is an interrupt frame: the pt_regs at Addr.
type Exception struct {
	Addr uint64
	Regs Regs
	// X86 is an x86_64 pt_regs (r15 ... ss, 21 words in struct pt_regs
	// order; Regs then holds only NIP = rip and GPR[1] = rsp). X86Partial:
	// only the iret frame (ip, cs, flags, sp, ss: words 16..20) was saved.
	X86        []uint64
	X86Partial bool
	// Arm64 is an arm64 pt_regs' user_pt_regs (x0..x30, sp, pc, pstate;
	// Regs then holds only NIP = pc and GPR[1] = x29).
	Arm64 []uint64
}

// Start is where a walk begins: a CPU's registers (HaveRegs), or a
// switched-out task's saved stack pointer (thread.ksp) alone.
type Start struct {
	SP, NIP, LR uint64
	R0          uint64 // gpr[0], where an epilogue keeps the return address
	HaveRegs    bool
	// Regs is the CPU's whole register note (pr_reg as stored), for
	// architectures that unwind with more than SP and PC (x86_64's ORC
	// reads bp and, in asm, other registers).
	Regs []uint64
}

// RASource says where the return address of the function at a PC is.
type RASource int

const (
	RAInLR     RASource = iota + 1 // still in the link register
	RAInR0                         // copied to r0 (mflr r0, or ld r0 in an epilogue)
	RAInMemory                     // saved at CFA + RAOffset (the caller's LR save doubleword)
)

// CFIRule is what the call-frame information says at a PC: the CFA (the
// caller's r1) is r1 + CFAOffset (0 while the function has no frame of its
// own), and where the return address is.
type CFIRule struct {
	CFAOffset int64
	RA        RASource
	RAOffset  int64
}

// Options tune a walk.
type Options struct {
	// MaxFrames caps the frames walked (default 256).
	MaxFrames int
	// FuncStart gives the start of the function holding pc, and whether
	// pc is kernel or module text at all. Walk uses it to decide whether
	// the LR register adds a frame (see Walk); nil means "unknown", and LR
	// is then shown whenever it differs from the first saved return
	// address.
	FuncStart func(pc uint64) (uint64, bool)
	// CFI, when set, gives the call-frame information at a NIP; where it
	// answers, Walk follows it for the first frame of a context instead of
	// the LR rule (see Walk).
	CFI func(pc uint64) (CFIRule, bool)
	// Trampoline, on x86_64, maps an address inside an ftrace_ops
	// trampoline to the code it was copied from, whose ORC entries
	// describe it (ftrace.State.X86TrampolineSource); nil: none.
	Trampoline func(ip uint64) (uint64, bool)
}

// Error stops a walk: the frame pointer SP (or the word at Addr) is bad.
type Error struct {
	SP   uint64
	Addr uint64 // the address read, when a read failed
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("stack frame %#x: %s", e.SP, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTooDeep is wrapped by the Error of a walk stopped by MaxFrames.
var ErrTooDeep = errors.New("too many frames")

type walker struct {
	mem  kernel.Reader
	l    Layout
	opt  Options
	seen map[uint64]bool
	out  []Frame
	// raAt/ra: the return address of the frame at raAt is known from CFI
	// (not yet in its LR save doubleword).
	raAt, ra uint64
}

func (w *walker) u64(sp, addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := w.mem.ReadAt(b[:], addr); err != nil {
		return 0, &Error{SP: sp, Addr: addr, Msg: fmt.Sprintf("cannot read %#x", addr), Err: err}
	}
	return w.l.Order.Uint64(b[:]), nil
}

func (w *walker) regs(sp, addr uint64) (Regs, error) {
	var r Regs
	b := make([]byte, w.l.RegsSize)
	if _, err := w.mem.ReadAt(b, addr); err != nil {
		return r, &Error{SP: sp, Addr: addr, Msg: fmt.Sprintf("cannot read pt_regs at %#x", addr), Err: err}
	}
	at := func(off uint64) uint64 { return w.l.Order.Uint64(b[off:]) }
	for i := range r.GPR {
		r.GPR[i] = at(w.l.GPR + 8*uint64(i))
	}
	r.NIP, r.MSR, r.CTR, r.Link = at(w.l.NIP), at(w.l.MSR), at(w.l.CTR), at(w.l.Link)
	r.XER, r.CCR, r.Trap = at(w.l.XER), at(w.l.CCR), at(w.l.Trap)
	return r, nil
}

// check refuses a frame pointer that cannot be one: misaligned, outside
// the kernel's address space, or seen before (a loop).
func (w *walker) check(sp uint64) error {
	switch {
	case sp&15 != 0:
		return &Error{SP: sp, Msg: "not 16-byte aligned"}
	case sp < 0xc000000000000000:
		return &Error{SP: sp, Msg: "not a kernel address"}
	case w.seen[sp]:
		return &Error{SP: sp, Msg: "back chain loops: frame seen before"}
	case len(w.seen) >= w.opt.MaxFrames:
		return &Error{SP: sp, Msg: fmt.Sprintf("stopped after %d frames", w.opt.MaxFrames), Err: ErrTooDeep}
	}
	w.seen[sp] = true
	return nil
}

func (w *walker) sameFunc(a, b uint64) bool {
	if w.opt.FuncStart == nil {
		return false
	}
	fa, oka := w.opt.FuncStart(a)
	fb, okb := w.opt.FuncStart(b)
	return oka && okb && fa == fb
}

func (w *walker) isText(pc uint64) bool {
	if w.opt.FuncStart == nil {
		return pc >= 0xc000000000000000
	}
	_, ok := w.opt.FuncStart(pc)
	return ok
}

// Walk unwinds from start and returns the frames, innermost first. It
// stops without error at a NULL back chain (the bottom of every kernel
// stack) or at an interrupt frame from user mode; any other stop returns
// the frames so far and an *Error.
//
// With registers, the first frame is NIP at r1. If the function at NIP is
// a leaf that made no frame, its caller is only in the LR register: LR is
// shown as a second frame at r1 when it is text, lies in another function
// than NIP, and is not the first return address on the stack (which it
// equals when the function at NIP did make a frame and saved LR) — the
// kernel's show_stack() rule (it skips a first entry equal to LR). The LR
// save doubleword of the frame at r1 itself is never used: nothing has
// written it for the current call (the kernel prints it as
// "(unreliable)"). After an interrupt frame the walk goes on from the
// pt_regs' r1, NIP and LR by the same rule.
//
// With Options.CFI answering for the NIP, the call-frame information
// decides instead: without a frame of its own (CFA = r1) the caller is at
// r1 with the return address from LR, r0 or memory as the CFI says (this
// finds the caller in an epilogue, where LR may already be stale); with a
// frame, a return address not yet saved (LR or r0) is the caller's, at the
// back chain.
func Walk(mem kernel.Reader, l Layout, start Start, opt Options) ([]Frame, error) {
	if opt.MaxFrames <= 0 {
		opt.MaxFrames = 256
	}
	w := &walker{mem: mem, l: l, opt: opt, seen: map[uint64]bool{}}
	err := w.context(start)
	return w.out, err
}

func (w *walker) context(st Start) error {
	for {
		next, err := w.segment(st)
		if err != nil || next == nil {
			return err
		}
		st = *next
	}
}

// segment walks one context (a CPU's, a task's, or an interrupted one) up
// to its end or to an interrupt frame, which starts the next context.
func (w *walker) segment(st Start) (*Start, error) {
	sp := st.SP
	if err := w.check(sp); err != nil {
		return nil, err
	}
	if st.HaveRegs {
		w.out = append(w.out, Frame{SP: sp, PC: st.NIP, Kind: KindNIP})
	}
	for first := true; ; first = false {
		newsp, err := w.u64(sp, sp)
		if err != nil {
			return nil, err
		}
		if !first {
			ip := w.ra
			if sp != w.raAt {
				if ip, err = w.u64(sp, sp+16); err != nil {
					return nil, err
				}
			}
			w.raAt = 0
			w.out = append(w.out, Frame{SP: sp, PC: ip, Kind: KindReturn})
		} else if rule, ok := w.cfi(st); ok {
			if err := w.cfiCaller(st, rule, sp, newsp); err != nil {
				return nil, err
			}
		} else if st.HaveRegs && st.LR != 0 && w.isText(st.LR) && !w.sameFunc(st.LR, st.NIP) {
			// Is LR the first saved return address (the function at NIP
			// made a frame and saved it), or a frameless leaf's caller?
			saved := uint64(0)
			if newsp != 0 {
				saved, _ = w.u64(newsp, newsp+16)
			}
			if saved != st.LR {
				w.out = append(w.out, Frame{SP: sp, PC: st.LR, Kind: KindLR})
			}
		}
		if marker, err := w.u64(sp, sp+w.l.MarkerOff); err == nil && marker == w.l.Marker {
			regs, err := w.regs(sp, sp+w.l.RegsOff)
			if err != nil {
				return nil, err
			}
			if len(w.out) == 0 || w.out[len(w.out)-1].SP != sp {
				// A switched-out task's first frame: hang the exception on
				// the return address the frame holds.
				ip, err := w.u64(sp, sp+16)
				if err != nil {
					return nil, err
				}
				w.out = append(w.out, Frame{SP: sp, PC: ip, Kind: KindReturn})
			}
			w.out[len(w.out)-1].Exception = &Exception{Addr: sp + w.l.RegsOff, Regs: regs}
			if regs.User() {
				return nil, nil
			}
			return &Start{SP: regs.GPR[1], NIP: regs.NIP, LR: regs.Link, R0: regs.GPR[0], HaveRegs: true}, nil
		}
		if newsp == 0 {
			return nil, nil
		}
		if err := w.check(newsp); err != nil {
			return nil, err
		}
		sp = newsp
	}
}

// cfi asks Options.CFI about the first frame of a context with registers.
func (w *walker) cfi(st Start) (CFIRule, bool) {
	if !st.HaveRegs || w.opt.CFI == nil {
		return CFIRule{}, false
	}
	r, ok := w.opt.CFI(st.NIP)
	if !ok || r.CFAOffset < 0 || r.RA < RAInLR || r.RA > RAInMemory {
		return CFIRule{}, false
	}
	return r, true
}

// cfiCaller places the caller of the function at NIP by its CFI rule.
func (w *walker) cfiCaller(st Start, r CFIRule, sp, newsp uint64) error {
	ra := func(cfa uint64) (uint64, error) {
		switch r.RA {
		case RAInLR:
			return st.LR, nil
		case RAInR0:
			return st.R0, nil
		}
		return w.u64(sp, cfa+uint64(r.RAOffset))
	}
	if r.CFAOffset == 0 { // no frame yet (or any more): the caller's is at r1
		pc, err := ra(sp)
		if err != nil {
			return err
		}
		kind := KindCFI
		if r.RA == RAInLR {
			kind = KindLR
		}
		if w.isText(pc) {
			w.out = append(w.out, Frame{SP: sp, PC: pc, Kind: kind})
		}
		return nil
	}
	if r.RA != RAInMemory && newsp != 0 { // a frame, the return address not saved yet
		w.raAt, w.ra = newsp, st.LR
		if r.RA == RAInR0 {
			w.ra = st.R0
		}
	}
	return nil
}
