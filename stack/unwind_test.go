package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// mem is sparse doubleword memory; unset words fault. Words read in
// memOrder (the tests run once per byte order).
type mem map[uint64]uint64

var memOrder binary.ByteOrder = binary.LittleEndian

func (m mem) ReadAt(p []byte, addr uint64) (int, error) {
	for i := 0; i < len(p); i += 8 {
		v, ok := m[addr+uint64(i)]
		if !ok {
			return i, fmt.Errorf("no data at %#x", addr+uint64(i))
		}
		memOrder.PutUint64(p[i:], v)
	}
	return len(p), nil
}

// The ELFv2 layout of a 7.x kernel: STACK_INT_FRAME_MARKER 32,
// STACK_INT_FRAME_REGS 48 (arch/powerpc/include/asm/ptrace.h), and struct
// pt_regs as arch/powerpc/include/asm/ptrace.h lays out user_pt_regs:
// gpr[32], nip, msr, orig_gpr3, ctr, link, xer, ccr, softe, trap.
var testLayout = Layout{
	Order: binary.LittleEndian, MarkerOff: 32, RegsOff: 48, Marker: 0x53474552,
	GPR: 0, NIP: 256, MSR: 264, CTR: 280, Link: 288, XER: 296, CCR: 304, Trap: 320, RegsSize: 352,
}

// Functions of the synthetic kernel, 0x100 bytes each.
const (
	fLeaf   = 0xc000000000010000 // frameless leaf (like plpar_hcall_norets)
	fIdle   = 0xc000000000010100 // calls fLeaf
	fLoop   = 0xc000000000010200 // calls fIdle
	fStart  = 0xc000000000010300 // bottom of the stack
	fIntr   = 0xc000000000010400 // interrupt entry code
	fWork   = 0xc000000000010500 // interrupted kernel code
	stackHi = 0xc000000000a98000
)

func funcStart(pc uint64) (uint64, bool) {
	if pc < 0xc000000000010000 || pc >= 0xc000000000010600 {
		return 0, false
	}
	return pc &^ 0xff, true
}

// frame writes a frame at sp: back chain, and the LR save doubleword (the
// return address into the frame's owner, written by its callee).
func (m mem) frame(sp, backchain, lrSave uint64) {
	m[sp] = backchain
	m[sp+8] = 0
	m[sp+16] = lrSave
	m[sp+24] = 0
	m[sp+32] = 0 // marker slot
}

func pcs(fr []Frame) []string {
	var s []string
	for _, f := range fr {
		s = append(s, fmt.Sprintf("%s@%x:%x", f.Kind, f.SP, f.PC))
	}
	return s
}

func want(t *testing.T, got []Frame, w ...string) {
	t.Helper()
	g := pcs(got)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("frames\n got %v\nwant %v", g, w)
	}
}

// idleStack: fLeaf (no frame) at NIP, LR into fIdle; fIdle's frame at sp0,
// fLoop's at sp1, fStart's at sp2 with a NULL back chain.
func idleStack() (mem, Start) {
	m := mem{}
	sp0, sp1, sp2 := uint64(stackHi-0x300), uint64(stackHi-0x200), uint64(stackHi-0x100)
	m.frame(sp0, sp1, 0xdead) // stale LR save: never shown
	m.frame(sp1, sp2, fLoop+0x20)
	m.frame(sp2, 0, fStart+0x40)
	return m, Start{SP: sp0, NIP: fLeaf + 0x18, LR: fIdle + 0x80, HaveRegs: true}
}

func TestWalkLeafAtNIP(t *testing.T) {
	m, st := idleStack()
	fr := mustWalk(t, m, testLayout, st, Options{FuncStart: funcStart})
	want(t, fr,
		"NIP@c000000000a97d00:c000000000010018",
		"LR@c000000000a97d00:c000000000010180",
		"return@c000000000a97e00:c000000000010220",
		"return@c000000000a97f00:c000000000010340")
}

// When the function at NIP made a frame and saved LR, LR equals the first
// saved return address and is not shown twice.
func TestWalkLRAlreadySaved(t *testing.T) {
	m, st := idleStack()
	st.NIP, st.LR = fIdle+0x10, fLoop+0x20
	fr := mustWalk(t, m, testLayout, st, Options{FuncStart: funcStart})
	want(t, fr,
		"NIP@c000000000a97d00:c000000000010110",
		"return@c000000000a97e00:c000000000010220",
		"return@c000000000a97f00:c000000000010340")
	// LR in the same function as NIP (it called something that returned).
	st.LR = fIdle + 0x40
	fr, _ = Walk(m, testLayout, st, Options{FuncStart: funcStart})
	if len(fr) != 3 {
		t.Errorf("LR inside NIP's function shown: %v", pcs(fr))
	}
}

// A kernel-mode interrupt frame: the walk shows it and goes on from the
// pt_regs' r1, NIP and LR; a user-mode one ends the walk.
func TestWalkExceptionFrames(t *testing.T) {
	m := mem{}
	sp0 := uint64(stackHi - 0x800) // handler's frame
	spE := uint64(stackHi - 0x600) // interrupt entry frame with pt_regs
	spW := uint64(stackHi - 0x200) // interrupted function's frame
	spB := uint64(stackHi - 0x100)
	m.frame(sp0, spE, 0)
	m.frame(spE, spW, fIntr+0x30)
	m[spE+32] = testLayout.Marker
	regs := spE + 48
	for i := uint64(0); i < 352; i += 8 {
		m[regs+i] = 0
	}
	m[regs+8*1] = spW                // gpr[1]
	m[regs+256] = fWork + 0x44       // nip
	m[regs+264] = 0x8000000000001033 // msr: kernel
	m[regs+288] = fLoop + 0x10       // link: fWork had not saved LR yet
	m[regs+320] = 0x901              // trap: decrementer
	m.frame(spW, spB, 0x1234)        // stale
	m.frame(spB, 0, fStart+0x8)

	st := Start{SP: sp0, NIP: fIdle + 0x8, LR: fIntr + 0x30, HaveRegs: true}
	fr := mustWalk(t, m, testLayout, st, Options{FuncStart: funcStart})
	want(t, fr,
		"NIP@c000000000a97800:c000000000010108",
		"return@c000000000a97a00:c000000000010430",
		"NIP@c000000000a97e00:c000000000010544",
		"LR@c000000000a97e00:c000000000010210",
		"return@c000000000a97f00:c000000000010308")
	e := fr[1].Exception
	if e == nil || e.Addr != spE+48 || e.Regs.Trap != 0x901 || e.Regs.GPR[1] != spW || e.Regs.User() {
		t.Fatalf("exception frame %+v", e)
	}

	// The same frame from user mode (MSR_PR) ends the walk there.
	m[regs+264] = 0x800000000000d033
	fr, err := Walk(m, testLayout, st, Options{FuncStart: funcStart})
	if err != nil || len(fr) != 2 || fr[1].Exception == nil || !fr[1].Exception.Regs.User() {
		t.Fatalf("user exception: %v, %v", pcs(fr), err)
	}
}

// A switched-out task: the walk starts at thread.ksp without registers and
// skips the LR save doubleword of that first frame.
func TestWalkFromKSP(t *testing.T) {
	m, st := idleStack()
	fr := mustWalk(t, m, testLayout, Start{SP: st.SP}, Options{FuncStart: funcStart})
	want(t, fr,
		"return@c000000000a97e00:c000000000010220",
		"return@c000000000a97f00:c000000000010340")
}

func TestWalkHostile(t *testing.T) {
	var se *Error
	m, st := idleStack()

	// A back chain that points back at an earlier frame.
	m[stackHi-0x100] = stackHi - 0x300
	fr, err := Walk(m, testLayout, st, Options{FuncStart: funcStart})
	if !errors.As(err, &se) || se.SP != stackHi-0x300 || len(fr) != 4 {
		t.Errorf("loop: %v frames, err %v", pcs(fr), err)
	}

	// Misaligned and non-kernel back chains.
	for _, bad := range []uint64{stackHi - 0x108, 0x7fff0000} {
		m, st := idleStack()
		m[stackHi-0x200] = bad
		if _, err := Walk(m, testLayout, st, Options{}); !errors.As(err, &se) || se.SP != bad {
			t.Errorf("back chain %#x: err %v", bad, err)
		}
	}

	// An unreadable frame: the error names the address.
	m, st = idleStack()
	delete(m, stackHi-0x100)
	fr, err = Walk(m, testLayout, st, Options{FuncStart: funcStart})
	if !errors.As(err, &se) || se.Addr != stackHi-0x100 || len(fr) != 3 {
		t.Errorf("unreadable: %v, err %v", pcs(fr), err)
	}

	// A long chain is capped.
	m = mem{}
	for i := uint64(0); i < 1000; i++ {
		m.frame(stackHi+i*0x20, stackHi+(i+1)*0x20, fLoop)
	}
	_, err = Walk(m, testLayout, Start{SP: stackHi}, Options{MaxFrames: 50})
	if !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep chain: err %v", err)
	}
}

func FuzzUnwind(f *testing.F) {
	f.Add(make([]byte, 64), uint64(0), uint64(0))
	f.Add([]byte("REGS\x00\x00\x00\x00"), uint64(8), uint64(0xc000000000010000))
	f.Fuzz(func(t *testing.T, b []byte, spOff, nip uint64) {
		// The fuzz bytes are the stack, at stackHi.
		m := mem{}
		for i := 0; i+8 <= len(b) && i < 1<<16; i += 8 {
			m[stackHi+uint64(i)] = binary.LittleEndian.Uint64(b[i:])
		}
		fr, _ := Walk(m, testLayout, Start{SP: stackHi + spOff%uint64(len(b)+16), NIP: nip, LR: nip, HaveRegs: true}, Options{FuncStart: funcStart})
		if len(fr) > 3*256 {
			t.Fatalf("%d frames", len(fr))
		}
	})
}

// TestWalkBigEndian runs the walks on a big-endian kernel's memory: the
// marker is the doubleword that reads "REGS" in memory
// (STACK_FRAME_REGS_MARKER is defined per byte order for that), and
// LayoutFor would pick it from the context's order.
func TestWalkBigEndian(t *testing.T) {
	saved, savedLayout := memOrder, testLayout
	defer func() { memOrder, testLayout = saved, savedLayout }()
	memOrder = binary.BigEndian
	testLayout.Order = binary.BigEndian
	testLayout.Marker = uint64(binary.BigEndian.Uint32([]byte("REGS")))
	if testLayout.Marker != 0x52454753 {
		t.Fatalf("big-endian marker %#x, want 0x52454753 (asm/ptrace.h)", testLayout.Marker)
	}
	t.Run("leaf", TestWalkLeafAtNIP)
	t.Run("exception", TestWalkExceptionFrames)
	t.Run("ksp", TestWalkFromKSP)
}

// TestWalkCFIEpilogue: a CPU stopped in an epilogue after addi r1,r1,N and
// ld r0,16(r1): the function's frame is gone, the return address is in r0,
// and LR still points into the function itself from an earlier call. The
// LR rule alone loses the caller; the CFI (CFA = r1, return address in r0)
// keeps it.
func TestWalkCFIEpilogue(t *testing.T) {
	m, st := idleStack()
	// fIdle has popped its frame: r1 is its caller fLoop's frame (sp1).
	st.SP = stackHi - 0x200
	st.NIP, st.LR, st.R0 = fIdle+0x90, fIdle+0x40, fLoop+0x20
	// Without CFI: LR is in NIP's function, so no second frame, and the
	// walk goes on at fLoop's caller: fLoop is lost.
	fr := mustWalk(t, m, testLayout, st, Options{FuncStart: funcStart})
	want(t, fr,
		"NIP@c000000000a97e00:c000000000010190",
		"return@c000000000a97f00:c000000000010340")
	cfi := func(pc uint64) (CFIRule, bool) {
		if pc == st.NIP {
			return CFIRule{CFAOffset: 0, RA: RAInR0}, true
		}
		return CFIRule{}, false
	}
	fr = mustWalk(t, m, testLayout, st, Options{FuncStart: funcStart, CFI: cfi})
	want(t, fr,
		"NIP@c000000000a97e00:c000000000010190",
		"CFI@c000000000a97e00:c000000000010220",
		"return@c000000000a97f00:c000000000010340")
}

// TestWalkCFIFrameNotSaved: right after stdu, before std r0: the function
// has its frame (CFA = r1 + 0x100) but the return address is still in r0,
// and the caller's LR save doubleword holds a stale value; the CFI puts
// r0 there.
func TestWalkCFIFrameNotSaved(t *testing.T) {
	m, st := idleStack()
	m[stackHi-0x200+16] = 0xdead // sp1's LR save: not written yet
	st.NIP, st.R0 = fIdle+0x10, fLoop+0x20
	cfi := func(pc uint64) (CFIRule, bool) { return CFIRule{CFAOffset: 0x100, RA: RAInR0}, true }
	fr := mustWalk(t, m, testLayout, st, Options{FuncStart: funcStart, CFI: cfi})
	want(t, fr,
		"NIP@c000000000a97d00:c000000000010110",
		"return@c000000000a97e00:c000000000010220",
		"return@c000000000a97f00:c000000000010340")
}

// mustWalk is Walk for the cases that must not fail.
func mustWalk(t *testing.T, m mem, l Layout, st Start, opt Options) []Frame {
	t.Helper()
	fr, err := Walk(m, l, st, opt)
	if err != nil {
		t.Fatal(err)
	}
	return fr
}
