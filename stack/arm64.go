package stack

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// arm64 frame records (arch/arm64/kernel/stacktrace.c): each function
// with a frame pushes {fp, lr} and points x29 at it; the chain ends at
// the task's final record (a struct frame_record_meta in its pt_regs,
// type FRAME_META_TYPE_FINAL) and crosses an exception at a
// FRAME_META_TYPE_PT_REGS record (the pt_regs' stackframe), continuing
// from regs->pc and regs->regs[29] (kunwind_next_regs_pc()). Return
// addresses lose their pointer-authentication code as
// ptrauth_strip_kernel_insn_pac() does (NUMBER(KERNELPACMASK)).
const (
	arm64MetaFinal  = 1 // FRAME_META_TYPE_FINAL
	arm64MetaPtRegs = 2 // FRAME_META_TYPE_PT_REGS
)

type pacStripper interface{ StripPAC(uint64) uint64 }

// arm64Start is a context's pc, fp and lr (lr only for a CPU).
func arm64Start(p *kernel.Program, c Context) (pc, fp, lr uint64, err error) {
	if c.Start.HaveRegs {
		if len(c.Start.Regs) < 33 {
			return 0, 0, 0, fmt.Errorf("arm64 register note with %d registers", len(c.Start.Regs))
		}
		return c.Start.Regs[32], c.Start.Regs[29], c.Start.Regs[30], nil
	}
	// A blocked task: thread.cpu_context (cpu_switch_to() saved fp, sp
	// and pc there): thread_saved_fp(), thread_saved_pc().
	o, err := p.Object("struct task_struct", c.Task.Addr)
	if err != nil {
		return 0, 0, 0, err
	}
	get := func(path string) (uint64, error) {
		m, err := o.Member(path)
		if err != nil {
			return 0, err
		}
		return m.Uint()
	}
	pc, err1 := get("thread.cpu_context.pc")
	fp, err2 := get("thread.cpu_context.fp")
	if err := firstErr(err1, err2); err != nil {
		return 0, 0, 0, fmt.Errorf("task %#x: thread.cpu_context: %w", c.Task.Addr, err)
	}
	return pc, fp, 0, nil
}

func walkArm64(p *kernel.Program, c Context, opt Options) ([]Frame, error) {
	pc, fp, lr, err := arm64Start(p, c)
	if err != nil {
		return nil, err
	}
	strip := func(a uint64) uint64 {
		if s, ok := p.Arch.(pacStripper); ok {
			return s.StripPAC(a)
		}
		return a
	}
	max := opt.MaxFrames
	if max <= 0 {
		max = 256
	}
	regsOff, pcOff := uint64(0), uint64(0)
	haveRegs := false
	if o, err := kernel.NewObject(p.Context, "struct pt_regs", 0); err == nil {
		sf, e1 := o.Member("stackframe")
		pm, e2 := o.Member("pc")
		if e1 == nil && e2 == nil {
			regsOff, pcOff, haveRegs = sf.Addr, pm.Addr, true
		}
	}
	frames := []Frame{{SP: fp, PC: pc, Kind: KindNIP}}
	if c.Start.HaveRegs {
		// A leaf (no frame record of its own) leaves its caller only in
		// x30: show it unless it is the first record's return address or
		// lies in the function at pc (a stale x30 of a call already
		// returned from).
		lr = strip(lr)
		first := uint64(0)
		if fp != 0 && fp&7 == 0 {
			first, _ = p.ReadU64(fp + 8)
			first = strip(first)
		}
		if lr != 0 && lr != first && opt.FuncStart != nil {
			if ls, ok := opt.FuncStart(lr); ok {
				if ps, ok := opt.FuncStart(pc); !ok || ps != ls {
					frames = append(frames, Frame{SP: fp, PC: lr, Kind: KindLR})
				}
			}
		}
	}
	prev := uint64(0)
	for len(frames) < max {
		if fp == 0 {
			return frames, nil
		}
		if fp&7 != 0 {
			return frames, &Error{SP: fp, Msg: "frame pointer not 8-byte aligned"}
		}
		// Stacks grow down; each record is above the last on one stack
		// (16 KiB THREAD_SIZE blocks; a different block is another
		// stack: IRQ, overflow, SDEI).
		if prev != 0 && fp <= prev && fp>>14 == prev>>14 {
			return frames, &Error{SP: fp, Msg: fmt.Sprintf("frame record at %#x not above the previous one at %#x (a cycle or a corrupt chain)", fp, prev)}
		}
		prev = fp
		nfp, err1 := p.ReadU64(fp)
		nlr, err2 := p.ReadU64(fp + 8)
		if err := firstErr(err1, err2); err != nil {
			return frames, &Error{SP: fp, Addr: fp, Msg: "reading the frame record", Err: err}
		}
		if nfp == 0 && nlr == 0 {
			typ, err := p.ReadU64(fp + 16)
			if err != nil {
				return frames, &Error{SP: fp, Addr: fp + 16, Msg: "reading the frame_record_meta type", Err: err}
			}
			switch typ {
			case arm64MetaFinal:
				return frames, nil
			case arm64MetaPtRegs:
				if !haveRegs {
					return frames, &Error{SP: fp, Msg: "an exception's pt_regs record, and no struct pt_regs stackframe/pc in the debuginfo"}
				}
				regs := fp - regsOff
				rpc, err1 := p.ReadU64(regs + pcOff)
				rfp, err2 := p.ReadU64(regs + 29*8)
				if err := firstErr(err1, err2); err != nil {
					return frames, &Error{SP: fp, Addr: regs, Msg: "reading the exception's pt_regs", Err: err}
				}
				ex := &Exception{Addr: regs}
				ex.Regs.NIP, ex.Regs.GPR[1] = rpc, rfp
				if b, err := p.Read(regs, 34*8); err == nil {
					ex.Arm64 = make([]uint64, 34)
					for j := range ex.Arm64 {
						ex.Arm64[j] = p.Order.Uint64(b[8*j:])
					}
				}
				frames = append(frames, Frame{SP: rfp, PC: rpc, Kind: KindNIP, Exception: ex})
				fp, prev = rfp, 0
				continue
			default:
				return frames, &Error{SP: fp, Msg: fmt.Sprintf("frame_record_meta of unknown type %d", typ)}
			}
		}
		fp, pc = nfp, strip(nlr)
		if pc == 0 {
			return frames, nil
		}
		frames = append(frames, Frame{SP: fp, PC: pc, Kind: KindReturn})
	}
	return frames, &Error{SP: fp, Msg: fmt.Sprintf("stopped after %d frames", max), Err: ErrTooDeep}
}
