// Package orc unwinds x86_64 kernel stacks with the ORC tables, as
// arch/x86/kernel/unwind_orc.c does: for each return address the
// rightmost .orc_unwind_ip entry at or below it (__orc_find) says where the
// previous frame's stack pointer is (sp_reg + sp_offset, possibly through
// memory), whether the frame is a call (the return address just below
// it), a full pt_regs (an interrupt or exception: the interrupted
// context's ip and sp in it) or the iret frame alone, and where the
// caller's frame pointer was saved.
//
// It reads tables through a lookup the caller gives (the vmlinux's from its
// file or the dump's memory, each module's from mod->arch.orc_unwind*) and
// the stack through a memory reader; it does not read task or module
// structures (package stack does). Where no ORC entry covers an address it
// falls back to the frame-pointer entry the kernel uses (orc_fp_entry) and
// marks the rest of the walk unreliable, as unwind_next_frame() does.
//
// Layer: models (docs/ARCHITECTURE.md).
package orc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Registers (ORC_REG_*) and types (ORC_TYPE_*), arch/x86/include/asm/orc_types.h.
const (
	RegUndefined  = 0
	RegAX         = 1
	RegDX         = 2
	RegSP         = 3
	RegBP         = 4
	RegDI         = 5
	RegR10        = 6
	RegR13        = 7
	RegPrevSP     = 8
	RegSPIndirect = 9
	RegBPIndirect = 10

	TypeUndefined   = 0
	TypeEndOfStack  = 1
	TypeCall        = 2
	TypeRegs        = 3
	TypeRegsPartial = 4
)

// EntrySize is sizeof(struct orc_entry) (__packed).
const EntrySize = 6

// Entry is one struct orc_entry.
type Entry struct {
	SPOffset, BPOffset int16
	SPReg, BPReg, Type uint8
	Signal             bool
}

// DecodeEntry decodes a little-endian struct orc_entry (the bitfields
// in __LITTLE_ENDIAN_BITFIELD order: sp_reg:4, bp_reg:4, type:3, signal:1).
func DecodeEntry(b []byte) Entry {
	w := binary.LittleEndian.Uint16(b[4:])
	return Entry{SPOffset: int16(binary.LittleEndian.Uint16(b)), BPOffset: int16(binary.LittleEndian.Uint16(b[2:])),
		SPReg: uint8(w & 0xf), BPReg: uint8(w >> 4 & 0xf), Type: uint8(w >> 8 & 7), Signal: w>>11&1 != 0}
}

// fpEntry is orc_fp_entry: what a frame-pointer function's frame looks
// like (the caller's sp 16 above bp, its bp saved at bp).
var fpEntry = Entry{Type: TypeCall, SPReg: RegBP, SPOffset: 16, BPReg: RegPrevSP, BPOffset: -16}

// Table is one ORC table (the vmlinux's, or one module's) read through
// Word: IP(i) is &ip_table[i] + ip_table[i] (orc_ip()), Entry(i) the i-th
// orc_entry.
type Table struct {
	N     int
	IP    func(i int) (uint64, error)
	Entry func(i int) (Entry, error)
}

// MaxEntries bounds a table's entry count (the 7.2 distro vmlinux has
// about 400,000).
const MaxEntries = 1 << 23

// MemTable is a table in memory: n entries of int ip[] at ipAddr and
// struct orc_entry[] at unwindAddr, read with read.
func MemTable(read func(addr uint64, n int) ([]byte, error), ipAddr, unwindAddr uint64, n int) (*Table, error) {
	if n < 0 || n > MaxEntries {
		return nil, fmt.Errorf("ORC table at %#x: %d entries, more than %d: damaged", ipAddr, n, MaxEntries)
	}
	return &Table{N: n,
		IP: func(i int) (uint64, error) {
			a := ipAddr + 4*uint64(i)
			b, err := read(a, 4)
			if err != nil {
				return 0, err
			}
			return a + uint64(int64(int32(binary.LittleEndian.Uint32(b)))), nil
		},
		Entry: func(i int) (Entry, error) {
			b, err := read(unwindAddr+EntrySize*uint64(i), EntrySize)
			if err != nil {
				return Entry{}, err
			}
			return DecodeEntry(b), nil
		}}, nil
}

// Find is __orc_find(): the entry of the rightmost ip at or below ip.
// ok is false when the table is empty or ip lies below its first entry
// (the kernel then takes entry 0; a dump reader says "not covered").
func (t *Table) Find(ip uint64) (Entry, bool, error) {
	if t == nil || t.N == 0 {
		return Entry{}, false, nil
	}
	first, last, found := 0, t.N-1, -1
	for first <= last {
		mid := first + (last-first)/2
		v, err := t.IP(mid)
		if err != nil {
			return Entry{}, false, err
		}
		if v <= ip {
			found, first = mid, mid+1
		} else {
			last = mid - 1
		}
	}
	if found < 0 {
		return Entry{}, false, nil
	}
	e, err := t.Entry(found)
	return e, err == nil, err
}

// pt_regs offsets on x86_64 (arch/x86/include/asm/ptrace.h), the order
// of PRSTATUS's user_regs_struct too.
const (
	regsBP   = 32
	regsR10  = 56
	regsAX   = 80
	regsDX   = 96
	regsDI   = 112
	regsR13  = 16
	regsIP   = 128
	regsSP   = 152
	iretOff  = regsIP // IRET_FRAME_OFFSET
	ptRegsSz = 168
)

// Start is where a walk begins: a CPU's registers (Regs, when the dump
// has its full pt_regs-shaped set) or a switched-out task's ip, sp and bp.
type Start struct {
	IP, SP, BP uint64
	// Regs is the full register set in pt_regs order (PRSTATUS's
	// user_regs_struct), nil for a task switched out.
	Regs []uint64
}

// Frame is one frame of a walk.
type Frame struct {
	PC, SP uint64
	// RegsAddr is the pt_regs (interrupt or exception frame) this frame's
	// PC and SP were read from; 0 for a call frame.
	RegsAddr uint64
	// Partial: only the iret frame of those pt_regs is saved.
	Partial bool
	// Unreliable: no ORC entry covered a PC at or before this frame; the
	// frame-pointer guess was used (unwind_next_frame()'s state->error).
	Unreliable bool
}

// Error stops a walk.
type Error struct {
	PC, SP uint64
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("ORC unwind at pc %#x sp %#x: %s", e.PC, e.SP, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrTooDeep is wrapped when a walk reaches MaxFrames.
var ErrTooDeep = errors.New("too many frames")

// Options of a walk.
type Options struct {
	// Find gives the ORC entry for a text address (the vmlinux's table or
	// its module's); ok false when none covers it.
	Find func(ip uint64) (Entry, bool, error)
	// Read reads memory.
	Read func(addr uint64, n int) ([]byte, error)
	// MaxFrames (default 256).
	MaxFrames int
}

// Walk unwinds from st, as unwind_next_frame() does, and returns the
// frames: the first is st itself. It stops at an end-of-stack entry, at
// user mode (a pt_regs whose cs has RPL 3), at a zero return address, or
// with an *Error.
func Walk(st Start, opt Options) ([]Frame, error) {
	max := opt.MaxFrames
	if max <= 0 {
		max = 256
	}
	u64 := func(a uint64) (uint64, error) {
		b, err := opt.Read(a, 8)
		if err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b), nil
	}
	ip, sp, bp := st.IP, st.SP, st.BP
	var regs uint64          // the pt_regs address of the current frame, 0 if none
	full := st.Regs != nil   // regs (or st.Regs) is a full set
	var prevRegs uint64      // a full pt_regs before a partial one
	cpuRegs := st.Regs       // the CPU's own registers, for the first frame
	signal := st.Regs != nil // the first PC is where the CPU stopped, not a return address
	unreliable := false
	frames := []Frame{{PC: ip, SP: sp}}
	getReg := func(off int) (uint64, bool) {
		switch {
		case cpuRegs != nil && off/8 < len(cpuRegs):
			return cpuRegs[off/8], true
		case regs != 0 && full:
			v, err := u64(regs + uint64(off))
			return v, err == nil
		case prevRegs != 0:
			v, err := u64(prevRegs + uint64(off))
			return v, err == nil
		}
		return 0, false
	}
	for len(frames) < max {
		look := ip - 1
		if signal {
			look = ip
		}
		e, ok, err := opt.Find(look)
		if err != nil {
			return frames, &Error{PC: ip, SP: sp, Msg: "reading the ORC table", Err: err}
		}
		if !ok {
			e, unreliable = fpEntry, true
		} else {
			switch e.Type {
			case TypeUndefined:
				return frames, &Error{PC: ip, SP: sp, Msg: "ORC entry undefined here (unwind_next_frame() stops: no reliable caller)"}
			case TypeEndOfStack:
				return frames, nil
			}
		}
		signal = e.Signal
		var nsp uint64
		indirect := false
		switch e.SPReg {
		case RegSP:
			nsp = sp + uint64(int64(e.SPOffset))
		case RegBP:
			nsp = bp + uint64(int64(e.SPOffset))
		case RegSPIndirect:
			nsp, indirect = sp, true
		case RegBPIndirect:
			nsp, indirect = bp+uint64(int64(e.SPOffset)), true
		case RegAX, RegDX, RegDI, RegR10, RegR13:
			off := map[uint8]int{RegAX: regsAX, RegDX: regsDX, RegDI: regsDI, RegR10: regsR10, RegR13: regsR13}[e.SPReg]
			v, ok := getReg(off)
			if !ok {
				return frames, &Error{PC: ip, SP: sp, Msg: fmt.Sprintf("the caller's sp is in register %d, which no saved pt_regs holds here", e.SPReg)}
			}
			nsp = v
		default:
			return frames, &Error{PC: ip, SP: sp, Msg: fmt.Sprintf("unknown ORC sp register %d", e.SPReg)}
		}
		if indirect {
			v, err := u64(nsp)
			if err != nil {
				return frames, &Error{PC: ip, SP: sp, Msg: "reading the indirect sp", Err: err}
			}
			nsp = v
			if e.SPReg == RegSPIndirect {
				nsp += uint64(int64(e.SPOffset))
			}
		}
		cpuRegs = nil
		var f Frame
		switch e.Type {
		case TypeCall:
			ra, err := u64(nsp - 8)
			if err != nil {
				return frames, &Error{PC: ip, SP: nsp, Msg: "reading the return address", Err: err}
			}
			ip, sp = ra, nsp
			regs, prevRegs, full = 0, 0, false
			f = Frame{PC: ip, SP: sp}
		case TypeRegs:
			nip, err1 := u64(nsp + regsIP)
			nsp2, err2 := u64(nsp + regsSP)
			if err := errors.Join(err1, err2); err != nil {
				return frames, &Error{PC: ip, SP: nsp, Msg: "reading pt_regs", Err: err}
			}
			regs, prevRegs, full = nsp, 0, true
			ip, sp = nip, nsp2
			f = Frame{PC: ip, SP: sp, RegsAddr: regs}
			if cs, err := u64(regs + regsIP + 8); err == nil && cs&3 == 3 {
				frames = append(frames, f)
				return frames, nil // user mode: the end of the kernel stack
			}
		case TypeRegsPartial:
			nip, err1 := u64(nsp)
			nsp2, err2 := u64(nsp + regsSP - iretOff)
			if err := errors.Join(err1, err2); err != nil {
				return frames, &Error{PC: ip, SP: nsp, Msg: "reading the iret frame", Err: err}
			}
			if full {
				prevRegs = regs
			}
			regs, full = nsp-iretOff, false
			ip, sp = nip, nsp2
			f = Frame{PC: ip, SP: sp, RegsAddr: regs, Partial: true}
			if cs, err := u64(nsp + 8); err == nil && cs&3 == 3 {
				frames = append(frames, f)
				return frames, nil
			}
		default:
			return frames, &Error{PC: ip, SP: nsp, Msg: fmt.Sprintf("unknown ORC entry type %d", e.Type)}
		}
		switch e.BPReg {
		case RegUndefined:
			if regs != 0 && full {
				if v, err := u64(regs + regsBP); err == nil {
					bp = v
				}
			}
		case RegPrevSP:
			v, err := u64(nsp + uint64(int64(e.BPOffset)))
			if err != nil {
				return frames, &Error{PC: ip, SP: sp, Msg: "reading the saved bp", Err: err}
			}
			bp = v
		case RegBP:
			v, err := u64(bp + uint64(int64(e.BPOffset)))
			if err != nil {
				return frames, &Error{PC: ip, SP: sp, Msg: "reading the saved bp", Err: err}
			}
			bp = v
		default:
			return frames, &Error{PC: ip, SP: sp, Msg: fmt.Sprintf("unknown ORC bp register %d", e.BPReg)}
		}
		f.Unreliable = unreliable
		if ip == 0 {
			return frames, nil
		}
		// The stack grows down: a caller's frame is above its callee's
		// on the same stack (unwind_next_frame()'s "stack going in the
		// wrong direction"); kernel stacks are THREAD_SIZE (16 KiB)
		// aligned, so a frame in another 16 KiB block switched stacks
		// (call_on_irqstack(), an exception).
		if prev := frames[len(frames)-1].SP; f.RegsAddr == 0 && sp <= prev && (sp-8)>>14 == (prev-8)>>14 {
			return frames, &Error{PC: ip, SP: sp, Msg: "stack going in the wrong direction (bad ORC data or a corrupt stack)"}
		}
		frames = append(frames, f)
	}
	return frames, &Error{PC: ip, SP: sp, Msg: fmt.Sprintf("stopped after %d frames", max), Err: ErrTooDeep}
}
