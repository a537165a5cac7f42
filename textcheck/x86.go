package textcheck

import (
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// x86Candidates gathers the claims of every mechanism that changes an
// x86_64 module's text after apply_relocate_add().
func x86Candidates(e *Env, a *modules.Analysis, img *Image, inText func(uint64) bool, cs *candidates, r *Result) {
	x86FtraceCandidates(e, a.Module.Name, img, cs, r)
	e.x86Once.Do(func() { e.x86 = readX86State(e.Prog) })
	fx := &x86Finalize{img: img, st: e.x86, mod: a, prog: e.Prog, scratch: map[*ImageSection][]byte{}, r: r}
	x86Patches(e, fx, inText, cs, r)
}

// x86Patches claims what every x86_64 text, a module's or the vmlinux's,
// may hold after load: the patches fx replays (module_finalize() or
// alternative_instructions()), then jump labels, static calls, kprobes
// and the text-poke batch.
func x86Patches(e *Env, fx *x86Finalize, inText func(uint64) bool, cs *candidates, r *Result) {
	fx.run()
	fx.candidates(cs)
	x86JumpLabels(e, fx, inText, cs, r)
	x86StaticCalls(e, fx, cs, r)
	x86Kprobes(e, fx, inText, cs, r)
	x86TextPoke(e, inText, cs, r)
}

// x86FtraceCandidates: each record's 5-byte site as ftrace_replace_code()
// leaves it (package ftrace's SiteChecks: the nop, a call to
// ftrace_caller/ftrace_regs_caller or the ops' trampoline, or the
// text-poke batch's step).
func x86FtraceCandidates(e *Env, owner string, img *Image, cs *candidates, r *Result) {
	if e.Ftrace == nil {
		e.ftraceNotRead(r, x86FtraceFallback(img, cs))
		return
	}
	for _, c := range e.Ftrace.SiteChecks(e.Set, owner) {
		ip := c.Record.IP
		siteWantCandidates(cs, &c, "ftrace_replace_code()")
		if c.InFlight != "" && !c.Mismatch && c.FoundBytes != nil {
			// the batch's step explains the bytes found (textpoke.Batch.Explains)
			cs.add(&Candidate{Addr: ip, Want: c.FoundBytes, Mech: MechTextPoke, Why: c.InFlight, Mirrors: "smp_text_poke_batch_finish()"})
		}
		if c.Unchecked != "" && len(c.WantBytes) == 0 {
			cs.add(&Candidate{Addr: ip, Len: 5, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_modify_call()",
				Why:   "record " + c.Record.Func + ": " + c.Unchecked + ": the nop, or any call or jmp",
				Match: func(b []byte) bool { return string(b) == string(x86Nop5) || b[0] == 0xe8 || b[0] == 0xe9 }})
		}
	}
}

// x86FtraceFallback: without the records, the sites of __mcount_loc (each
// a relocated address) accept the nop or any call/jmp.
func x86FtraceFallback(img *Image, cs *candidates) int {
	t := img.Section("__mcount_loc")
	if t == nil {
		return 0
	}
	n := 0
	for off := 0; off+8 <= len(t.Want); off += 8 {
		site := img.Order.Uint64(t.Want[off:])
		n++
		cs.add(&Candidate{Addr: site, Len: 5, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_init_nop()/ftrace_make_call()",
			Why:   "an ftrace call site listed in __mcount_loc, its record not read: the nop or a call",
			Match: func(b []byte) bool { return string(b) == string(x86Nop5) || b[0] == 0xe8 || b[0] == 0xe9 }})
	}
	return n
}

var x86Nop5 = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}
