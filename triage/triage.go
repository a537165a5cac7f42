// Package triage explains a crash from a dump (`why`): the panic and the
// report before it in the printk log, the crashing CPU's registers and
// stack, each address held against the models (which .stubs slot, OOL
// stub, ftrace site or freed init text it lies in, and what the loader or
// ftrace would have put there) and against the audit's findings, the
// livepatch and ftrace state of every function on the stack, and a
// conclusion naming the finding that explains the crash and its upstream
// fix — or saying plainly that nothing connects the crash to stubs,
// ftrace or livepatch, with the ordinary triage.
//
// It decides from the analysis and the audit's report; it does not read
// the dump itself beyond code words and the log (package kernel), and it
// does not print (package repl formats an Explanation).
//
// Layer: judges (docs/ARCHITECTURE.md).
package triage

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/analysis"
	"github.com/kdump-inspect/kdump-inspect/arch"
	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/audit"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/stack"
	"github.com/kdump-inspect/kdump-inspect/symbols"
	"github.com/kdump-inspect/kdump-inspect/textpoke"
)

// Category is what kind of crash it was.
type Category int

const (
	// Ordinary: nothing connects the crash to stubs, ftrace or livepatch.
	Ordinary Category = iota
	// StubCrash: the CPU was in (or called through) a .stubs slot or OOL
	// stub that a rule flags.
	StubCrash
	// FtraceCrash: a flagged ftrace call site or OOL stub, no stub slot.
	FtraceCrash
	// LivepatchCrash: in or through livepatch code that a rule flags, or
	// a stale livepatch stub.
	LivepatchCrash
	// NoCrash: the log has no panic and no CPU is in a fault.
	NoCrash
)

func (c Category) String() string {
	return [...]string{"ordinary", "stub", "ftrace", "livepatch", "no crash"}[c]
}

// Insn is one instruction word; From says which model wrote an expected
// word.
type Insn struct {
	Addr uint64
	Word uint32
	Asm  string
	From string
	// Bytes is the instruction's bytes on architectures whose
	// instructions are not one 4-byte word (x86_64: Word then holds
	// the first four, little-endian).
	Bytes []byte
}

// x86Insns decodes the instructions around addr on x86_64: from the
// start of its function when that is at most 512 bytes before (so that
// the decoding is in step with the code), else from addr; the two
// before addr and the two after it.
func x86Insns(a *analysis.Analysis, d arch.Disassembler, addr uint64) []Insn {
	start := addr
	if loc := a.Resolve(addr); loc.Symbol != nil && loc.Off <= 512 {
		start = addr - loc.Off
	}
	b, err := a.Prog.Read(start, int(addr-start)+48)
	if err != nil {
		if b, err = a.Prog.Read(addr, 32); err != nil {
			return nil
		}
		start = addr
	}
	var all []Insn
	at := -1
	for off := 0; off < len(b) && len(all) < 512; {
		t, n := d.Disasm(b[off:], start+uint64(off))
		x := start + uint64(off)
		if x == addr {
			at = len(all)
		}
		w := make([]byte, 4)
		copy(w, b[off:min(off+n, len(b))])
		all = append(all, Insn{Addr: x, Word: uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16 | uint32(w[3])<<24, Asm: t, Bytes: append([]byte(nil), b[off:min(off+n, len(b))]...)})
		off += n
	}
	if at < 0 {
		if start != addr {
			// Out of step (addr is not an instruction boundary from the
			// function's start): decode from addr itself.
			return x86InsnsFrom(a, d, addr)
		}
		return nil
	}
	return all[max(0, at-2):min(len(all), at+3)]
}

func x86InsnsFrom(a *analysis.Analysis, d arch.Disassembler, addr uint64) []Insn {
	b, err := a.Prog.Read(addr, 32)
	if err != nil {
		return nil
	}
	var out []Insn
	for off := 0; off < len(b) && len(out) < 3; {
		t, n := d.Disasm(b[off:], addr+uint64(off))
		w := make([]byte, 4)
		copy(w, b[off:min(off+n, len(b))])
		out = append(out, Insn{Addr: addr + uint64(off), Word: uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16 | uint32(w[3])<<24, Asm: t, Bytes: append([]byte(nil), b[off:min(off+n, len(b))]...)})
		off += n
	}
	return out
}

// Code is an address of the crash path held against the models.
type Code struct {
	Addr     uint64
	Location string // symbol+off [module], or .stubs+off
	// Where is what the models say the address is (analysis.Where).
	Where string
	// Livepatch says the address is in a livepatched function or in a
	// replacement, and by which livepatch (as Frame.Livepatch).
	Livepatch string
	// Found are the words around the address (Addr-8 .. Addr+8).
	Found []Insn
	// Expected are the words the loader or ftrace would have put at
	// Found's addresses, where a model knows them; ExpectedFrom says
	// which model ("create_stub() for slot 5 -> tgt_secret").
	Expected     []Insn
	ExpectedFrom string
	// Pointer, when the doubleword at Addr is the address of a kernel
	// object ("&global_ops"): code that is a pointer was written over.
	Pointer  string
	Findings []*audit.Finding
}

// Frame is one frame of the crashing context's stack.
type Frame struct {
	Level    int
	PC       uint64
	Kind     string
	Location string
	Where    string
	// Livepatch says the function is patched or is a replacement, and by
	// which patch; Ftrace the state of its record.
	Livepatch string
	Ftrace    string
	// Via names the .stubs slot or OOL stub the call at this return
	// address branched through ("ppc64_stub_entry[5] of klp_stub_bug").
	Via      string
	Findings []*audit.Finding
}

// Explanation is `why`: the crash, explained.
type Explanation struct {
	Panic    Panic
	Category Category
	// CPU and Task of the crashing context (CPU -1 unknown).
	CPU      int
	Task     kernel.Task
	HaveTask bool
	// Trap is the exception's vector (0 for a direct panic), Exception
	// its registers.
	Trap      uint64
	TrapName  string
	Exception *stack.Regs
	PC, LR    *Code
	Frames    []Frame
	// Related are the audit's findings on the crash path, gravest first.
	Related    []*audit.Finding
	Conclusion string
	Fix        string
	Warnings   []string
}

// panicFuncs are the functions a panicking CPU sits in; the crash is
// where they were called from.
var panicFuncs = map[string]bool{"panic": true, "vpanic": true, "do_panic_on_target_cpu": true, "nmi_panic": true,
	"die": true, "oops_end": true, "__die": true, "crash_kexec": true, "__crash_kexec": true, "dump_stack_lvl": true,
	"rtas_os_term": true, "pseries_panic": true, "ppc_panic_platform_handler": true, "notifier_call_chain": true,
	"atomic_notifier_call_chain": true, "do_enter_rtas": true, "rtas_call_unlocked": true}

// Explain explains the crash in a's dump, with rep the audit of it.
func Explain(a *analysis.Analysis, rep *audit.Report) *Explanation {
	e := &Explanation{CPU: -1}
	recs, _, err := kernel.ReadLog(a.Prog)
	if err != nil {
		e.Warnings = append(e.Warnings, fmt.Sprintf("printk log unreadable: %v", err))
	}
	e.Panic = FindPanic(recs)
	ctxs, werr := a.Stacks()
	if werr != nil {
		e.Warnings = append(e.Warnings, fmt.Sprintf("stacks: %v", werr))
	}
	u, frames := crashContext(a, e.Panic, ctxs)
	if u == nil {
		if !e.Panic.Found {
			e.Category = NoCrash
			e.Conclusion = "The log holds no panic and no CPU is stopped in a fault: the dump was taken from a running system (a live dump, a QEMU dump-guest-memory, a hang). Use bt -a and log to see what each CPU was doing."
			e.Conclusion += textPokeNote(a, ctxs)
			return e
		}
		e.Warnings = append(e.Warnings, "no CPU's stack holds the panic or the oops's registers (the dump has no register notes, or they are not of the crash)")
	} else {
		e.CPU, e.Task, e.HaveTask = u.CPU, u.Task, u.HasTask
	}
	if e.CPU < 0 && e.Panic.CPU >= 0 {
		e.CPU = e.Panic.CPU
	}
	// The exception that crashed: the oops's registers.
	var exc *stack.Exception
	for _, f := range frames {
		if f.Exception != nil && !f.Exception.Regs.User() {
			exc = f.Exception
			break
		}
	}
	var pc, lr uint64
	switch {
	case exc != nil:
		e.Exception, e.Trap = &exc.Regs, exc.Regs.Trap&^0xf
		pc, lr = exc.Regs.NIP, exc.Regs.Link
	case e.Panic.HaveRegs:
		pc, lr, e.Trap = e.Panic.NIP, e.Panic.LR, e.Panic.Trap
	}
	if e.Trap != 0 {
		e.TrapName = TrapName(e.Trap)
	}
	// Frames from the crash on: after the exception frame, or after the
	// panic functions for a direct panic.
	start := 0
	for i, f := range frames {
		if f.Exception != nil && !f.Exception.Regs.User() {
			start = i + 1
			break
		}
		if loc := frameLoc(a, f); loc.Symbol != nil && panicFuncs[loc.Symbol.Name] {
			start = i + 1
		}
	}
	direct := exc == nil && pc == 0 && start < len(frames)
	if direct {
		pc = frames[start].PC // a direct panic: its caller
	}
	st, _ := a.Ftrace()
	if pc != 0 {
		e.PC = code(a, rep, st, pc)
		if direct {
			// A return address: after a call to a noreturn panic() at
			// the end of the caller it lies past the caller.
			e.PC.Location = frameLoc(a, frames[start]).String()
		}
	}
	if lr != 0 && exc != nil {
		e.LR = code(a, rep, st, lr)
	}
	for i := start; i < len(frames); i++ {
		f := frames[i]
		if f.Exception != nil && f.Exception.Regs.User() {
			e.Frames = append(e.Frames, frame(a, rep, st, i, f))
			break // the rest is user space
		}
		e.Frames = append(e.Frames, frame(a, rep, st, i, f))
	}
	e.Related = related(e)
	conclude(e)
	return e
}

// crashContext finds the crashing CPU's context: the one whose stack holds
// a kernel-mode exception with the oops's NIP, else the CPU the log names
// with the panic functions on its stack, else any CPU in the panic.
func crashContext(a *analysis.Analysis, p Panic, ctxs []stack.Unwound) (*stack.Unwound, []stack.Frame) {
	var byLog, inPanic *stack.Unwound
	for i := range ctxs {
		u := &ctxs[i]
		if u.CPU < 0 {
			continue
		}
		for _, f := range u.Frames {
			if ex := f.Exception; ex != nil && p.HaveRegs && ex.Regs.NIP == p.NIP && !ex.Regs.User() {
				return u, u.Frames
			}
			if loc := frameLoc(a, f); loc.Symbol != nil && (loc.Symbol.Name == "vpanic" || loc.Symbol.Name == "panic") {
				if inPanic == nil {
					inPanic = u
				}
				if u.CPU == p.CPU {
					byLog = u
				}
			}
		}
	}
	switch {
	case byLog != nil:
		return byLog, byLog.Frames
	case inPanic != nil:
		return inPanic, inPanic.Frames
	}
	return nil, nil
}

// code reads the words around addr and holds them against the models.
func code(a *analysis.Analysis, rep *audit.Report, st *ftrace.State, addr uint64) *Code {
	w := a.Where(addr)
	c := &Code{Addr: addr, Location: w.Loc.String(), Where: w.String(), Livepatch: livepatchAt(st, addr), Findings: rep.At(addr)}
	if iw, ok := a.Prog.Arch.(arch.InsnWords); ok {
		for x := addr - 8; x <= addr+8; x += 4 {
			if b, err := a.Prog.Read(x, 4); err == nil {
				c.Found = append(c.Found, Insn{Addr: x, Word: a.Prog.Order.Uint32(b), Asm: iw.DisasmWord(b, x), Bytes: b})
			}
		}
	} else if d, ok := a.Prog.Arch.(arch.Disassembler); ok {
		c.Found = x86Insns(a, d, addr)
	}
	if v, err := a.Prog.ReadU64(addr &^ 7); err == nil {
		if loc := a.Resolve(v); loc.Symbol != nil && loc.Off == 0 && !loc.Symbol.Func() {
			c.Pointer = fmt.Sprintf("the doubleword at %#x is %#x = &%s", addr&^7, v, loc.Symbol.Name)
		}
	}
	// What the loader put in the slot (the model, else the template of
	// the stub found there) and what ftrace keeps in an OOL stub; where
	// both speak for a word, the stub that lies on top (the slot) wins.
	type want struct {
		word uint32
		from string
	}
	exp := map[uint64]want{}
	if w.OOL != nil && st != nil {
		for _, arr := range st.AllOOL() {
			for _, sc := range arr.Stubs {
				if sc.Addr != w.OOL.Addr {
					continue
				}
				served := w.Served
				if served == "" {
					served = fmt.Sprintf("ftrace_ool_stub[%d]", w.OOL.Index)
				}
				for k := range 4 {
					if sc.Expected.InsnKnown[k] {
						exp[sc.Addr+ftrace.OOLInsnOffset+uint64(k)*4] = want{sc.Expected.Insn[k], "ftrace_init_ool_stub() for " + served}
					}
				}
			}
		}
	}
	if sl := w.Slot; sl != nil && (w.Kind == analysis.InStubSlot || w.Kind == analysis.InOOLStub) {
		var words []uint32
		var what string
		switch {
		case sl.Expected != nil && sl.Expected.Kind.IsStub():
			words = sl.Expected.Words
			what = fmt.Sprintf("the loader model (a %s stub in slot %d -> %s)", sl.Expected.Kind, sl.Index, sl.Expected.TargetName)
		case sl.Kind.IsStub():
			words, _ = ppc64.CallStubWords(ppc64.ELFv2, sl.Addr, w.Module.Stubs.R2)
			what = fmt.Sprintf("create_stub() (the template for slot %d, a %s stub to %s)", sl.Index, sl.Kind, strings.TrimPrefix(w.SlotTarget, " to "))
		}
		for k, v := range words {
			exp[sl.Addr+uint64(k)*4] = want{v, what}
		}
	}
	if w.Kind == analysis.AtFtraceSite && st != nil {
		for _, arr := range st.AllOOL() {
			for _, sc := range arr.Stubs {
				if sc.Record != nil && sc.Record.IP == addr {
					exp[addr] = want{sc.Expected.Site, "ftrace (the site for the record's flags)"}
				}
			}
		}
	}
	var from []string
	for _, f := range c.Found {
		if x, ok := exp[f.Addr]; ok {
			c.Expected = append(c.Expected, Insn{Addr: f.Addr, Word: x.word, Asm: ppc64.Disasm(x.word, f.Addr), From: x.from})
			if len(from) == 0 || from[len(from)-1] != x.from {
				from = append(from, x.from)
			}
		}
	}
	c.ExpectedFrom = strings.Join(from, "; ")
	return c
}

// livepatchAt says whether addr lies in the old or the new body of a
// klp_func (ftrace.Livepatch.Bodies), "" when in neither.
func livepatchAt(st *ftrace.State, addr uint64) string {
	out := ""
	if st == nil || st.Livepatch == nil {
		return out
	}
	for _, b := range st.Livepatch.Bodies() {
		if addr >= b.Lo && addr < b.Hi {
			if b.New {
				out = fmt.Sprintf("replacement of %s (livepatch %s)", b.Func, b.Patch)
			} else {
				out = fmt.Sprintf("patched by livepatch %s: calls go to its replacement", b.Patch)
			}
		}
	}
	return out
}

// frame describes one frame: where, livepatch and ftrace state, the stub
// its call went through, the findings on it.
func frame(a *analysis.Analysis, rep *audit.Report, st *ftrace.State, i int, f stack.Frame) Frame {
	w := a.Where(f.PC)
	fr := Frame{Level: i, PC: f.PC, Kind: f.Kind.String(), Location: frameLoc(a, f).String(), Where: w.String(), Findings: rep.At(f.PC)}
	if w.Loc.Symbol != nil && st != nil {
		fn := f.PC - w.Loc.Off
		fr.Livepatch = livepatchAt(st, f.PC)
		if r := recordIn(st, fn, fn+w.Loc.Symbol.Size); r != nil && r.Flags.Has(ftrace.FL_ENABLED) {
			fr.Ftrace = "traced: ftrace record " + strings.Join(r.Flags.Names(), "|")
		}
	}
	// A return address: the call before it may have gone through a stub.
	if f.Kind == stack.KindReturn || f.Kind == stack.KindLR {
		if insn, err := a.Prog.ReadU32(f.PC - 4); err == nil {
			if t, link, ok := ppc64.BranchTarget(insn, f.PC-4); ok && link {
				if tw := a.Where(t); tw.Kind == analysis.InStubSlot || tw.Kind == analysis.InOOLStub {
					fr.Via = tw.String()
					fr.Findings = append(fr.Findings, rep.At(t)...)
				}
			}
		}
	}
	return fr
}

// recordIn is the first ftrace record in [lo, hi).
func recordIn(st *ftrace.State, lo, hi uint64) *ftrace.Record {
	for ip := lo; ip < hi && ip < lo+64; ip += 4 {
		if r := st.RecordAt(ip); r != nil {
			return r
		}
	}
	return nil
}

// related gathers the findings on the crash path, once each, gravest first.
func related(e *Explanation) []*audit.Finding {
	seen := map[*audit.Finding]bool{}
	var out []*audit.Finding
	add := func(fs []*audit.Finding) {
		for _, f := range fs {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	if e.PC != nil {
		add(e.PC.Findings)
	}
	if e.LR != nil {
		add(e.LR.Findings)
	}
	for _, f := range e.Frames {
		add(f.Findings)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity > out[j].Severity })
	return out
}

var stubRules = map[string]bool{"OOL-OVERLAP": true, "STUB-TEMPLATE": true, "LOADER-MODEL": true, "OOL-RESERVE": true, "OOL-SENTINEL": true, "STUB-TARGET": true, "STUB-DUP": true, "STUB-COUNT": true}
var ftraceRules = map[string]bool{"FTRACE-SITE": true, "FTRACE-OP": true, "OOL-INSN": true, "OOL-FTRACE-OP-NULL": true}
var klpRules = map[string]bool{"KLP-FUNC": true, "KLP-STALE-STUB": true, "KLP-TRANSITION": true}

// conclude writes the category, the conclusion and the fix.
func conclude(e *Explanation) {
	who := "the crashing CPU"
	if e.CPU >= 0 {
		who = fmt.Sprintf("CPU %d", e.CPU)
	}
	if e.HaveTask {
		who += fmt.Sprintf(" (PID %d, %s)", e.Task.PID, e.Task.Comm)
	} else if e.Panic.Comm != "" {
		who += fmt.Sprintf(" (PID %d, %s)", e.Panic.PID, e.Panic.Comm)
	}
	what := "panicked"
	switch {
	case e.Panic.Oops != "" && e.TrapName != "":
		what = fmt.Sprintf("took a %s (%s)", e.TrapName, e.Panic.Oops)
	case e.Panic.Oops != "":
		what = e.Panic.Oops
	case e.TrapName != "":
		what = "took a " + e.TrapName
	case e.Panic.Found:
		what = fmt.Sprintf("called panic(%q)", e.Panic.Message)
	}
	where := ""
	if e.PC != nil {
		where = fmt.Sprintf(" at %#x %s", e.PC.Addr, e.PC.Location)
		if e.PC.Where != "" {
			where += " = " + e.PC.Where
		}
	}
	var main *audit.Finding
	for _, f := range e.Related {
		if f.Rule == "EXEC-IN-FLAGGED-STUB" || f.Severity < audit.Error {
			continue
		}
		if main == nil || f.Severity > main.Severity {
			main = f
		}
	}
	if main == nil {
		e.Category = Ordinary
		e.Conclusion = fmt.Sprintf("%s %s%s. Nothing connects this crash to module stubs, ftrace or livepatch: no finding of the audit lies on its path (PC, LR, the stack, the stubs the calls went through). Ordinary triage: the panic says %q", who, what, where, e.Panic.Message)
		if e.PC != nil && e.PC.Livepatch != "" {
			// The PC in a livepatch's code is no finding: the patch is
			// wired as the kernel would have it, and the fault is the
			// code's own.
			e.Conclusion = fmt.Sprintf("%s %s%s, in the %s. The livepatch is wired as the kernel would have it: no finding of the audit lies on its path (PC, LR, the stack, the stubs the calls went through), so the fault is that code's own. Ordinary triage: the panic says %q", who, what, where, e.PC.Livepatch, e.Panic.Message)
		}
		if e.Panic.Taint != "" {
			e.Conclusion += "; taint " + e.Panic.Taint
		}
		e.Conclusion += "; see the stack below and log."
		return
	}
	switch {
	case stubRules[main.Rule]:
		e.Category = StubCrash
	case ftraceRules[main.Rule]:
		e.Category = FtraceCrash
	case klpRules[main.Rule]:
		e.Category = LivepatchCrash
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s.", who, what, where)
	if e.PC != nil && len(e.PC.Expected) > 0 {
		var got, want []string
		from := ""
		for _, x := range e.PC.Found {
			for _, y := range e.PC.Expected {
				if y.Addr == x.Addr && y.Word != x.Word && x.Addr >= e.PC.Addr {
					got = append(got, fmt.Sprintf("%08x (%s)", x.Word, x.Asm))
					want = append(want, fmt.Sprintf("%08x (%s)", y.Word, y.Asm))
					if from == "" {
						from = y.From
					}
				}
			}
		}
		if len(got) > 0 {
			fmt.Fprintf(&b, " It executed %s where %s had written %s.", strings.Join(got, ", "), from, strings.Join(want, ", "))
		}
	}
	if e.PC != nil && e.PC.Pointer != "" {
		fmt.Fprintf(&b, " Those words are data: %s.", e.PC.Pointer)
	}
	fmt.Fprintf(&b, " %s explains it: %s.", main.Rule, strings.TrimSuffix(main.Message, "."))
	var also []string
	for _, f := range e.Related {
		if f != main && f.Rule != "EXEC-IN-FLAGGED-STUB" && f.Severity >= audit.Error && f.Module == main.Module {
			also = append(also, fmt.Sprintf("%s (%s)", f.Rule, f.Mark))
		}
	}
	if len(also) > 0 {
		fmt.Fprintf(&b, " Also on this path: %s.", strings.Join(also, "; "))
	}
	e.Conclusion = b.String()
	e.Fix = main.Fix
}

// TrapName names the ppc64 interrupt vectors (the TRAP value of pt_regs;
// arch/powerpc/include/asm/interrupt.h).
func TrapName(t uint64) string {
	if _, long, ok := ppc64.TrapName(t); ok {
		return long
	}
	return fmt.Sprintf("interrupt %#x", t)
}

// frameLoc names a frame's PC; a return address as
// symbols.ReturnLocation does (a noreturn call at the end of a function).
func frameLoc(a *analysis.Analysis, f stack.Frame) symbols.Location {
	if f.Kind == stack.KindReturn || f.Kind == stack.KindLR {
		return symbols.ReturnLocation(a.Resolve, f.PC)
	}
	return a.Resolve(f.PC)
}

// int3Funcs are the x86 int3 path's functions (arch/x86/kernel/traps.c,
// alternative.c): a CPU with one on its stack hit a breakpoint.
var int3Funcs = map[string]bool{"exc_int3": true, "do_int3": true, "do_int3_user": true, "smp_text_poke_int3_handler": true, "poke_int3_handler": true}

// textPokeNote says, on x86_64, whether a text-poke batch was in flight
// (package textpoke) and which CPUs are in the int3 handler: what the
// text was becoming when the dump was taken.
func textPokeNote(a *analysis.Analysis, ctxs []stack.Unwound) string {
	p := a.Prog
	if !arch.Has(p.Arch, arch.TextPokeBatch) {
		return ""
	}
	var out string
	if b, err := textpoke.Read(p); err == nil && b.NrEntries > 0 {
		out = " A text-poke batch was in flight: " + b.Summary() + " (textpoke lists its sites)."
	}
	for _, u := range ctxs {
		if u.CPU < 0 || u.Stale {
			continue
		}
		for _, f := range u.Frames {
			if loc := frameLoc(a, f); loc.Symbol != nil && int3Funcs[loc.Symbol.Name] {
				out += fmt.Sprintf(" CPU %d is in the int3 handler (%s).", u.CPU, loc)
				break
			}
		}
	}
	return out
}
