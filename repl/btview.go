package repl

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/symbols"

	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/stack"
	"github.com/kdump-inspect/kdump-inspect/wire"
)

// BtFrame is one frame of a backtrace view.
type BtFrame struct {
	Level int      `json:"level"`
	SP    wire.Hex `json:"sp"`
	PC    wire.Hex `json:"pc"`
	// Kind is how the PC was found: NIP, LR or return.
	Kind     string `json:"kind"`
	Location string `json:"location"`
	// Note says what the PC is when it is not plain text: which .stubs
	// slot or OOL ftrace stub, which ftrace call site.
	Note      string       `json:"note,omitempty"`
	Exception *BtException `json:"exception,omitempty"`
	// File and Line (bt -l) are the source position of the call: PC
	// itself for a NIP frame, PC-4 (the branch-and-link) for the others.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Words (bt -f) are the frame's doublewords from SP up to its back
	// chain (at most maxFrameWords), on the last line of each SP.
	Words []wire.Hex `json:"words,omitempty"`
}

// maxFrameWords bounds what bt -f prints of one frame.
const maxFrameWords = 64

// BtException is an interrupt frame.
type BtException struct {
	// Regs is the address of the pt_regs.
	Regs wire.Hex     `json:"regs"`
	Trap wire.Hex     `json:"trap"`
	NIP  wire.Hex     `json:"nip"`
	LR   wire.Hex     `json:"lr"`
	MSR  wire.Hex     `json:"msr"`
	GPR  [32]wire.Hex `json:"gpr"`
	// User: the interrupted context is user mode (MSR_PR).
	User bool `json:"user"`
	// X86 is the x86_64 pt_regs (struct pt_regs order, r15 ... ss);
	// X86Partial when only its iret frame was saved.
	X86        []wire.Hex `json:"x86_regs,omitempty"`
	X86Partial bool       `json:"x86_partial,omitempty"`
	// Arm64 is the arm64 pt_regs' x0..x30, sp, pc, pstate.
	Arm64 []wire.Hex `json:"arm64_regs,omitempty"`
}

// BtView is the backtrace of one task.
type BtView struct {
	// CPU is the CPU the task runs on, -1 when none.
	CPU    int       `json:"cpu"`
	PID    int64     `json:"pid"`
	Task   wire.Hex  `json:"task"`
	Comm   string    `json:"comm"`
	Frames []BtFrame `json:"frames"`
	Error  string    `json:"error,omitempty"`
	// Warning says when the frames cannot be trusted (a running task
	// unwound from its stale thread.ksp).
	Warning string `json:"warning,omitempty"`
}

func cmdBt(c *Call) error {
	fs := c.Flags()
	pos, err := c.Parse(fs)
	if err != nil {
		return err
	}
	s := c.S
	layout, err := stack.LayoutFor(s.Prog.Context, s.Prog.ELFv1())
	if err != nil && stack.NeedsLayout(s.Prog) {
		return fmt.Errorf("bt: %w", err)
	}
	var views []BtView
	cpus := s.Prog.Dump.CPUs
	switch {
	case stringFlag(fs, "c") != "":
		for _, a := range strings.Split(stringFlag(fs, "c"), ",") {
			n, err := strconv.Atoi(a)
			note := -1
			for i := range cpus {
				if err == nil && stack.NoteCPU(s.Prog, i) == n {
					note = i
				}
			}
			if note < 0 {
				return &UsageError{Cmd: "bt", Msg: fmt.Sprintf("no registers of CPU %q in the dump (it has %d register notes)", a, len(cpus))}
			}
			views = append(views, s.btContext(layout, stack.CPUContext(s.Prog, note)))
		}
	case len(pos) > 0:
		for _, a := range pos {
			v, err := s.btTaskArg(layout, a)
			if err != nil {
				return err
			}
			views = append(views, v)
		}
	default: // every CPU, as crash's bt -a
		if len(cpus) == 0 {
			return errors.New("bt: the dump holds no CPU registers (NT_PRSTATUS); name a PID or task")
		}
		for i := range cpus {
			views = append(views, s.btContext(layout, stack.CPUContext(s.Prog, i)))
		}
	}
	if boolFlag(fs, "l") {
		s.addBtLines(views)
	}
	if boolFlag(fs, "f") {
		s.addFrameWords(views)
	}
	if boolFlag(fs, "json") {
		return c.JSON(views)
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(c.Out)
		}
		writeBt(c.Out, v, s.textSym)
	}
	return nil
}

// btContext unwinds one context.
func (s *Session) btContext(l stack.Layout, c stack.Context) BtView {
	v := BtView{CPU: c.CPU, PID: -1}
	if c.HasTask {
		v.Task, v.PID, v.Comm = wire.Hex(c.Task.Addr), c.Task.PID, c.Task.Comm
	}
	frames, err := stack.WalkContext(s.Prog, s.A.ModulesIfLoaded(), l, c, s.btOptions())
	s.fillBt(&v, frames, err)
	if c.Stale {
		v.Warning = fmt.Sprintf("running on CPU %d, whose registers the dump lacks: unwound from thread.ksp, saved at its last switch; the frames may be stale", c.CPU)
	}
	return v
}

// btTaskArg unwinds the task named by a PID or a task_struct address. A
// task running on a CPU is unwound from that CPU's registers; any other
// from thread.ksp.
func (s *Session) btTaskArg(l stack.Layout, arg string) (BtView, error) {
	var addr uint64
	if pid, err := strconv.ParseInt(arg, 10, 64); err == nil && !strings.HasPrefix(arg, "0x") && len(arg) < 12 {
		found := false
		for t, err := range s.Prog.ForEachTask() {
			if err != nil {
				return BtView{}, fmt.Errorf("bt: %w", err)
			}
			if t.PID == pid {
				addr, found = t.Addr, true
				break
			}
		}
		if !found {
			return BtView{}, fmt.Errorf("bt: no task with PID %d", pid)
		}
	} else {
		a, err := s.ParseAddr(arg)
		if err != nil {
			return BtView{}, &UsageError{Cmd: "bt", Msg: fmt.Sprintf("%q is neither a PID nor a task address", arg)}
		}
		addr = a
	}
	t, err := s.Prog.ReadTask(addr)
	if err != nil {
		return BtView{}, fmt.Errorf("bt: task %#x: %w", addr, err)
	}
	return s.btContext(l, stack.TaskContext(s.Prog, t)), nil
}

func (s *Session) btOptions() stack.Options {
	o := stack.Options{CFI: stack.VmlinuxCFI(s.Prog).RuleFunc(), FuncStart: s.funcStart}
	if arch.Has(s.Prog.Arch, arch.OpsTrampolines) {
		if st, err := s.A.Ftrace(); err == nil && st != nil {
			o.Trampoline = st.X86TrampolineSource(s.Prog)
		}
	}
	return o
}

// funcStart is the start of the function holding pc, and whether pc is
// kernel or module text (stack.FuncStartWith: what WalkAll uses too).
func (s *Session) funcStart(pc uint64) (uint64, bool) {
	if f := stack.FuncStartWith(s.Prog, s.Modules()); f != nil {
		return f(pc)
	}
	return 0, false
}

func (s *Session) fillBt(v *BtView, frames []stack.Frame, err error) {
	for i, f := range frames {
		loc := s.resolve(f.PC)
		if f.Kind == stack.KindReturn || f.Kind == stack.KindLR {
			loc = symbols.ReturnLocation(s.resolve, f.PC)
		}
		bf := BtFrame{Level: i, SP: wire.Hex(f.SP), PC: wire.Hex(f.PC), Kind: f.Kind.String(), Location: loc.String(), Note: s.pcNote(f.PC)}
		if e := f.Exception; e != nil {
			bf.Exception = &BtException{Regs: wire.Hex(e.Addr), Trap: wire.Hex(e.Regs.Trap), NIP: wire.Hex(e.Regs.NIP), LR: wire.Hex(e.Regs.Link), MSR: wire.Hex(e.Regs.MSR), User: e.Regs.User()}
			for k, g := range e.Regs.GPR {
				bf.Exception.GPR[k] = wire.Hex(g)
			}
			for _, r := range e.X86 {
				bf.Exception.X86 = append(bf.Exception.X86, wire.Hex(r))
			}
			bf.Exception.X86Partial = e.X86Partial
			for _, r := range e.Arm64 {
				bf.Exception.Arm64 = append(bf.Exception.Arm64, wire.Hex(r))
			}
			if len(e.Arm64) == 34 {
				bf.Exception.User = e.Arm64[33]&0xf == 0 // PSTATE.M: EL0t
			}
			if len(e.X86) == 21 {
				bf.Exception.User = e.X86[17]&3 == 3 // cs RPL 3
			}
		}
		v.Frames = append(v.Frames, bf)
	}
	if err != nil {
		v.Error = err.Error()
	}
}

// addFrameWords reads each frame's doublewords for bt -f: from SP to the
// back chain (the caller's frame), once per SP, on the last frame at it.
func (s *Session) addFrameWords(views []BtView) {
	for i := range views {
		fr := views[i].Frames
		for j := range fr {
			if j+1 < len(fr) && fr[j+1].SP == fr[j].SP {
				continue
			}
			sp := uint64(fr[j].SP)
			n := uint64(4)
			if bc, err := s.Prog.ReadU64(sp); err == nil && bc > sp && bc-sp <= 8*maxFrameWords {
				n = (bc - sp) / 8
			} else if err == nil && bc > sp {
				n = maxFrameWords
			}
			for k := uint64(0); k < n; k++ {
				w, err := s.Prog.ReadU64(sp + 8*k)
				if err != nil {
					break
				}
				fr[j].Words = append(fr[j].Words, wire.Hex(w))
			}
		}
	}
}

// addBtLines fills File and Line from the DWARF line tables of the
// vmlinux or the module's .ko (as dis -l).
func (s *Session) addBtLines(views []BtView) {
	for i := range views {
		for j := range views[i].Frames {
			f := &views[i].Frames[j]
			pc := uint64(f.PC)
			if f.Kind != "NIP" {
				pc -= 4
			}
			fn := uint64(0)
			if loc := s.resolve(pc); loc.Symbol != nil {
				fn = pc - loc.Off
			}
			if sl, ok, err := s.sourceLine(pc, fn); err == nil && ok {
				f.File, f.Line = sl.File, sl.Line
			}
		}
	}
}

// pcNote says what a PC inside a module's .stubs is (which OOL ftrace stub
// and the function it serves, or which ppc64_stub_entry and its target),
// or marks an ftrace call site; then what the audit found there.
func (s *Session) pcNote(pc uint64) string {
	n := s.pcWhere(pc)
	var fs []*audit.Finding
	for _, f := range s.Report().At(pc) {
		if f.Rule != "EXEC-IN-FLAGGED-STUB" { // that finding is this very frame
			fs = append(fs, f)
		}
	}
	if notes := findingNotes(fs); len(notes) > 0 {
		n = strings.TrimSpace(n + " << " + strings.Join(notes, "; "))
	}
	return n
}

// pcWhere names where a PC lies (analysis.Where: the model's
// classification).
func (s *Session) pcWhere(pc uint64) string { return s.A.Where(pc).String() }

// trapName names the common ppc64 interrupt vectors (the TRAP value of
// pt_regs; arch/powerpc/include/asm/interrupt.h).
func trapName(t uint64) string {
	if short, _, ok := ppc64.TrapName(t); ok {
		return short
	}
	return "interrupt"
}

// textSym names x when it is an address in kernel or module text (for the
// words of bt -f), else "".
func (s *Session) textSym(x uint64) string {
	if _, ok := s.funcStart(x); !ok {
		return ""
	}
	return s.resolve(x).String()
}

func writeBt(w io.Writer, v BtView, symOf func(uint64) string) {
	cpu := "-"
	if v.CPU >= 0 {
		cpu = strconv.Itoa(v.CPU)
	}
	fmt.Fprintf(w, "PID: %-6d TASK: %x  CPU: %s  COMMAND: %q\n", v.PID, v.Task, cpu, v.Comm)
	if v.Warning != "" {
		fmt.Fprintf(w, "     (%s)\n", v.Warning)
	}
	for _, f := range v.Frames {
		line := fmt.Sprintf(" #%-2d [%x] %s at %x", f.Level, f.SP, f.Location, f.PC)
		switch f.Kind {
		case "LR":
			line += " (LR)"
		case "CFI":
			line += " (CFI: return address in r0 or the stack)"
		}
		if f.Note != "" {
			line += "  " + f.Note
		}
		fmt.Fprintln(w, line)
		if f.File != "" {
			fmt.Fprintf(w, "     %s: %d\n", f.File, f.Line)
		}
		for k := 0; k < len(f.Words); k += 2 {
			line := fmt.Sprintf("     %x: %016x", uint64(f.SP)+8*uint64(k), f.Words[k])
			if k+1 < len(f.Words) {
				line += fmt.Sprintf(" %016x", f.Words[k+1])
			}
			var syms []string
			for _, x := range f.Words[k:min(k+2, len(f.Words))] {
				if name := symOf(uint64(x)); name != "" {
					syms = append(syms, name)
				}
			}
			if len(syms) > 0 {
				line += "  " + strings.Join(syms, ", ")
			}
			fmt.Fprintln(w, line)
		}
		if e := f.Exception; e != nil && e.X86 != nil {
			writeX86Regs(w, e)
		} else if e != nil && e.Arm64 != nil {
			writeArm64Regs(w, e, symOf)
		} else if e != nil {
			mode := "kernel"
			if e.User {
				mode = "user"
			}
			fmt.Fprintf(w, "     [%s exception frame %#x (%s) at %x]\n", mode, e.Trap, trapName(uint64(e.Trap)), e.Regs)
			fmt.Fprintf(w, "      NIP: %016x  LR: %016x  MSR: %016x\n", e.NIP, e.LR, e.MSR)
			for r := 0; r < 32; r += 4 {
				fmt.Fprintf(w, "      R%-2d: %016x %016x %016x %016x\n", r, e.GPR[r], e.GPR[r+1], e.GPR[r+2], e.GPR[r+3])
			}
		}
	}
	if v.Error != "" {
		fmt.Fprintf(w, "     (stopped: %s)\n", v.Error)
	}
}

// PsView is one task line.
type PsView struct {
	PID  int64 `json:"pid"`
	TGID int64 `json:"tgid"`
	// CPU is -1 unless the task runs on a CPU at the dump.
	CPU  int      `json:"cpu"`
	Task wire.Hex `json:"task"`
	// State is __state as /proc shows it: RU, IN, UN, ID, ST, TR, DE, ZO.
	State  string `json:"state"`
	Comm   string `json:"comm"`
	Active bool   `json:"active"`
	// PPID is real_parent->tgid; KernelThread PF_KTHREAD (ps.go).
	PPID         int64 `json:"ppid"`
	KernelThread bool  `json:"kernel_thread"`
}

// taskState names __state as the kernel's task_state_array does
// (fs/proc/array.c); TASK_NOLOAD (0x400) with TASK_UNINTERRUPTIBLE is "I".
func taskState(st uint64) string {
	switch {
	case st == 0:
		return "RU"
	case st&0x402 == 0x402:
		return "ID"
	case st&1 != 0:
		return "IN"
	case st&2 != 0:
		return "UN"
	case st&4 != 0:
		return "ST"
	case st&8 != 0:
		return "TR"
	case st&0x80 != 0:
		return "DE"
	}
	return fmt.Sprintf("%#x", st)
}

// writeX86Regs prints an x86_64 exception frame as crash does.
func writeX86Regs(w io.Writer, e *BtException) {
	r := e.X86 // r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss
	mode := "kernel"
	if e.User {
		mode = "user"
	}
	if e.X86Partial {
		fmt.Fprintf(w, "     [%s-mode iret frame at %x]\n", mode, e.Regs+16*8)
		fmt.Fprintf(w, "    RIP: %016x  RSP: %016x  RFLAGS: %08x\n", r[16], r[19], r[18])
		fmt.Fprintf(w, "    CS: %04x  SS: %04x\n", r[17], r[20])
		return
	}
	fmt.Fprintf(w, "     [%s-mode exception frame (struct pt_regs) at %x]\n", mode, e.Regs)
	fmt.Fprintf(w, "    RIP: %016x  RSP: %016x  RFLAGS: %08x\n", r[16], r[19], r[18])
	fmt.Fprintf(w, "    RAX: %016x  RBX: %016x  RCX: %016x\n", r[10], r[5], r[11])
	fmt.Fprintf(w, "    RDX: %016x  RSI: %016x  RDI: %016x\n", r[12], r[13], r[14])
	fmt.Fprintf(w, "    RBP: %016x   R8: %016x   R9: %016x\n", r[4], r[9], r[8])
	fmt.Fprintf(w, "    R10: %016x  R11: %016x  R12: %016x\n", r[7], r[6], r[3])
	fmt.Fprintf(w, "    R13: %016x  R14: %016x  R15: %016x\n", r[2], r[1], r[0])
	fmt.Fprintf(w, "    ORIG_RAX: %016x  CS: %04x  SS: %04x\n", r[15], r[17], r[20])
}

// writeArm64Regs prints an arm64 exception frame as crash does.
func writeArm64Regs(w io.Writer, e *BtException, symOf func(uint64) string) {
	r := e.Arm64 // x0..x30, sp, pc, pstate
	mode := "kernel"
	if e.User {
		mode = "user"
	}
	fmt.Fprintf(w, "     [%s-mode exception frame (struct pt_regs) at %x]\n", mode, e.Regs)
	named := func(v wire.Hex) string {
		if n := symOf(uint64(v)); n != "" {
			return fmt.Sprintf("%016x  [%s]", uint64(v), n)
		}
		return fmt.Sprintf("%016x", uint64(v))
	}
	fmt.Fprintf(w, "     PC: %s\n", named(r[32]))
	fmt.Fprintf(w, "     LR: %s\n", named(r[30]))
	fmt.Fprintf(w, "     SP: %016x  PSTATE: %08x\n", r[31], r[33])
	for i := 29; i >= 0; i -= 3 {
		var parts []string
		for j := i; j > i-3 && j >= 0; j-- {
			parts = append(parts, fmt.Sprintf("X%d: %016x", j, r[j]))
		}
		fmt.Fprintf(w, "    %s\n", strings.Join(parts, "  "))
	}
}
