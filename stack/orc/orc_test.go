package orc

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestDecodeEntry: struct orc_entry as arch/x86/include/asm/orc_types.h
// lays it out little-endian: s16 sp_offset, s16 bp_offset, then sp_reg:4,
// bp_reg:4, type:3, signal:1 from the low bits up.
func TestDecodeEntry(t *testing.T) {
	// sp_offset 16, bp_offset -16, sp_reg ORC_REG_SP (3), bp_reg
	// ORC_REG_PREV_SP (8), type ORC_TYPE_CALL (2), signal 1.
	w := uint16(3) | 8<<4 | 2<<8 | 1<<11
	b := []byte{16, 0, 0xf0, 0xff, byte(w), byte(w >> 8)}
	e := DecodeEntry(b)
	if e.SPOffset != 16 || e.BPOffset != -16 || e.SPReg != RegSP || e.BPReg != RegPrevSP || e.Type != TypeCall || !e.Signal {
		t.Errorf("DecodeEntry = %+v", e)
	}
}

type mem map[uint64]uint64

func (m mem) read(a uint64, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for i := 0; i < n; i += 8 {
		v, ok := m[a+uint64(i)]
		if !ok {
			return nil, errors.New("not mapped")
		}
		out = binary.LittleEndian.AppendUint64(out, v)
	}
	return out[:n], nil
}

// TestWalkCallAndRegs: a call frame (the caller's sp 16 above, return
// address just below it), then a pt_regs frame (ORC_TYPE_REGS: the
// interrupted ip and sp in struct pt_regs at the caller's sp), then the
// end of the stack; the frames are those unwind_next_frame() yields.
func TestWalkCallAndRegs(t *testing.T) {
	const (
		f0 = 0xffffffff81000010 // in a leaf: sp + 8 is the caller's sp
		f1 = 0xffffffff81000110 // returns into an asm entry whose ORC is REGS
		f2 = 0xffffffff81000210 // the interrupted PC, end of stack
		sp = 0xffffc90000003f00
	)
	m := mem{
		sp: f1, // return address
		// pt_regs at sp+8: ip at +128, cs at +136, sp at +152
		sp + 8 + 128: f2, sp + 8 + 136: 0x10, sp + 8 + 152: sp + 0x100, sp + 8 + 32: 0,
	}
	find := func(ip uint64) (Entry, bool, error) {
		switch {
		case ip >= 0xffffffff81000000 && ip < 0xffffffff81000100:
			return Entry{Type: TypeCall, SPReg: RegSP, SPOffset: 8}, true, nil
		case ip >= 0xffffffff81000100 && ip < 0xffffffff81000200:
			return Entry{Type: TypeRegs, SPReg: RegSP, SPOffset: 0}, true, nil
		case ip >= 0xffffffff81000200 && ip < 0xffffffff81000300:
			return Entry{Type: TypeEndOfStack}, true, nil
		}
		return Entry{}, false, nil
	}
	frames, err := Walk(Start{IP: f0, SP: sp, Regs: make([]uint64, 21)}, Options{Find: find, Read: m.read})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 || frames[1].PC != f1 || frames[1].SP != sp+8 || frames[2].PC != f2 || frames[2].RegsAddr != sp+8 || frames[2].SP != sp+0x100 {
		t.Errorf("frames %+v", frames)
	}
}

// TestWalkStopsOnLoop: a return address that leads back to the same
// stack pointer is the "stack going in the wrong direction" error, never
// a hang.
func TestWalkStopsOnLoop(t *testing.T) {
	const sp = 0xffffc90000003f00
	m := mem{sp - 8: 0xffffffff81000010}
	find := func(uint64) (Entry, bool, error) { return Entry{Type: TypeCall, SPReg: RegSP, SPOffset: 0}, true, nil }
	_, err := Walk(Start{IP: 0xffffffff81000010, SP: sp}, Options{Find: find, Read: m.read})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzORCWalk: any table and any memory unwind without a panic, within
// MaxFrames.
func FuzzORCWalk(f *testing.F) {
	f.Add([]byte{16, 0, 0xf0, 0xff, 0x83, 0x02}, []byte{1, 2, 3, 4, 5, 6, 7, 8}, uint64(0xffffffff81000010), uint64(0xffffc90000003f00))
	f.Fuzz(func(t *testing.T, table, memory []byte, ip, sp uint64) {
		n := len(table) / EntrySize
		if n > 64 {
			n = 64
		}
		find := func(pc uint64) (Entry, bool, error) {
			if n == 0 {
				return Entry{}, false, nil
			}
			i := int(pc % uint64(n))
			return DecodeEntry(table[i*EntrySize:]), true, nil
		}
		read := func(a uint64, k int) ([]byte, error) {
			if len(memory) == 0 || k > 4096 {
				return nil, errors.New("unmapped")
			}
			out := make([]byte, k)
			for i := range out {
				out[i] = memory[(a+uint64(i))%uint64(len(memory))]
			}
			return out, nil
		}
		fr, _ := Walk(Start{IP: ip, SP: sp}, Options{Find: find, Read: read, MaxFrames: 64})
		if len(fr) > 64 {
			t.Fatalf("%d frames past MaxFrames", len(fr))
		}
	})
}
