package audit

import (
	"fmt"
	"github.com/kdump-inspect/kdump-inspect/arch"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/textcheck"
)

// The ftrace rules hold each record's call site and out-of-line stub
// against package ftrace's model of ftrace_init_nop() and
// ftrace_init_ool_stub() (the per-record verdicts are ftrace.StubCheck's
// typed differences); each rule reports its own fields: FTRACE-SITE the
// site, OOL-INSN the stub's instructions, FTRACE-OP a wrong ftrace_op,
// OOL-FTRACE-OP-NULL a NULL one. Entries a call stub lies over are
// OOL-OVERLAP's.

// maxPlaces bounds the places one finding names (the vmlinux's own OOL
// arrays hold tens of thousands of stubs).
const maxPlaces = 16

// oolArrays returns the OOL arrays of the check's subject: a module's
// ool_stubs, or the vmlinux's ftrace_ool_stub_text arrays.
func oolArrays(c *Check) ([]*ftrace.OOLArray, *ftrace.State, bool) {
	if !c.Set.Features.OutOfLine {
		c.NotApplicable("no out-of-line ftrace stubs on this kernel")
		return nil, nil, false
	}
	if c.Mod != nil {
		if _, ok := c.OOL(); !ok {
			return nil, nil, false
		}
	}
	st, ok := c.Ftrace()
	if !ok {
		return nil, nil, false
	}
	owner := c.Subject
	if owner == "vmlinux" {
		owner = ""
	}
	var out []*ftrace.OOLArray
	for _, arr := range st.OOLArrays(owner) {
		if len(arr.Warnings) > 0 && len(arr.Stubs) == 0 && arr.Unused < arr.Count {
			c.CannotCheck("%s: %s", arr.Name, strings.Join(arr.Warnings, "; "))
			continue
		}
		out = append(out, arr)
	}
	if len(out) == 0 && c.cov.Status == Ran {
		c.NotApplicable("no ftrace OOL stubs in use")
	}
	return out, st, true
}

// underAStub says whether a module's OOL entry lies under a .stubs stub
// (OOL-OVERLAP's finding, not this rule's).
func underAStub(c *Check, idx int) bool {
	if c.Mod == nil || c.Mod.Stubs == nil {
		return false
	}
	return underStub(c.Mod.Stubs, idx)
}

// forOwnStubs calls f on each OOL entry of the subject's arrays that is
// this rule's to judge: not under a .stubs stub (OOL-OVERLAP's), and in
// the vmlinux not an entry a module's call stub overlays.
func forOwnStubs(c *Check, f func(*ftrace.OOLArray, *ftrace.StubCheck)) {
	arrs, _, ok := oolArrays(c)
	if !ok {
		return
	}
	for _, arr := range arrs {
		for i := range arr.Stubs {
			sc := &arr.Stubs[i]
			if underAStub(c, sc.Index) || (c.Mod == nil && sc.OverlaySlot >= 0) {
				continue
			}
			f(arr, sc)
		}
	}
}

func has(diffs []ftrace.Field, f ftrace.Field) bool {
	for _, d := range diffs {
		if d == f {
			return true
		}
	}
	return false
}

// entryPlace is an OOL entry of an ftrace array as a place.
func entryPlace(c *Check, arr *ftrace.OOLArray, sc *ftrace.StubCheck) Place {
	return Place{Kind: PlaceOOL, Owner: arr.Owner, Array: arr.Name, Index: sc.Index, Addr: sc.Addr, Size: oolSize}
}

func recDesc(sc *ftrace.StubCheck) string {
	if sc.Record == nil {
		return ""
	}
	flags := strings.Join(sc.Record.Flags.Names(), "|")
	if flags == "" {
		flags = "none"
	}
	return fmt.Sprintf(" (%s+%#x, rec->ip %#x, flags %s)", sc.Record.Func, sc.Record.Off, sc.Record.IP, flags)
}

// checkFtraceSite: FTRACE-SITE.
func checkFtraceSite(c *Check) {
	if !c.Set.Features.OutOfLine {
		checkMprofileSites(c)
		return
	}
	arrs, _, ok := oolArrays(c)
	if !ok {
		return
	}
	unread := 0
	for _, arr := range arrs {
		for i := range arr.Stubs {
			sc := &arr.Stubs[i]
			if sc.Record == nil {
				continue
			}
			if !sc.Found.SiteKnown {
				unread++
				continue
			}
			if !has(sc.Diffs, ftrace.FieldSite) {
				continue
			}
			ip := sc.Record.IP
			c.Report(Finding{Places: []Place{{Kind: PlaceSite, Owner: arr.Owner, Addr: ip, Size: 4}, entryPlace(c, arr, sc)},
				Words: []Word{{Addr: ip, Size: 4, Label: "site at rec->ip", Found: uint64(sc.Found.Site), FoundAsm: ppc64.Disasm(sc.Found.Site, ip),
					HasExpected: true, Expected: uint64(sc.Expected.Site), ExpectedAsm: ppc64.Disasm(sc.Expected.Site, ip)}},
				Mark: "site not as its record says: " + ppc64.Disasm(sc.Expected.Site, ip) + " expected",
				Message: fmt.Sprintf("%s: the call site of %s[%d]%s holds %s where the record's state needs %s",
					c.Subject, arr.Name, sc.Index, recDesc(sc), ppc64.Disasm(sc.Found.Site, ip), ppc64.Disasm(sc.Expected.Site, ip))})
		}
	}
	if unread > 0 {
		c.Partial("%d call sites unreadable", unread)
	}
}

// checkOOLInsn: OOL-INSN, from the records' model when the records can be
// read, else from the array alone (the branch targets then unknown).
func checkOOLInsn(c *Check) {
	if c.Mod != nil {
		if _, ok := c.OOL(); !ok {
			return
		}
		if st, err := c.A.Ftrace(); st == nil || c.A.Prog == nil {
			c.Partial("ftrace records unreadable (%v): the stubs checked against the template only", err)
			oolInsnArrayOnly(c)
			return
		}
	}
	forOwnStubs(c, func(arr *ftrace.OOLArray, sc *ftrace.StubCheck) {
		var words []Word
		var which []string
		for _, d := range sc.Diffs {
			k, ok := d.Insn()
			if !ok {
				continue
			}
			pc := sc.Addr + ftrace.OOLInsnOffset + uint64(k)*4
			w := Word{Addr: pc, Size: 4, Label: fmt.Sprintf("%s[%d].%s", arr.Name, sc.Index, d), Found: uint64(sc.Found.Insn[k]), FoundAsm: ppc64.Disasm(sc.Found.Insn[k], pc)}
			if sc.Expected.InsnKnown[k] {
				w.HasExpected, w.Expected, w.ExpectedAsm = true, uint64(sc.Expected.Insn[k]), ppc64.Disasm(sc.Expected.Insn[k], pc)
			}
			words = append(words, w)
			which = append(which, d.String())
		}
		if len(words) == 0 {
			return
		}
		c.Report(Finding{Places: []Place{entryPlace(c, arr, sc)}, Words: words, Mark: strings.Join(which, ", ") + " not as ftrace_init_ool_stub() writes",
			Message: fmt.Sprintf("%s: %s[%d] at %#x%s is not mflr r0; bl <tramp>; mtlr r0; b <rec->ip+4>: %s differ",
				c.Subject, arr.Name, sc.Index, sc.Addr, recDesc(sc), strings.Join(which, ", "))})
	})
}

// oolInsnArrayOnly: OOL-INSN without records: each used entry against
// the template with the module's trampolines as call targets.
func oolInsnArrayOnly(c *Check) {
	s, m := c.Mod.Stubs, c.Mod.Module
	for i := range s.OOL {
		o := &s.OOL[i]
		if uint64(o.Index) >= m.Arch.OOLStubIndex || underStub(s, o.Index) {
			continue
		}
		var bad []Word
		chk := func(k int, want uint32, ok bool, what string) {
			if !ok {
				pc := o.Addr + 8 + uint64(k)*4
				w := Word{Addr: pc, Size: 4, Label: fmt.Sprintf("ftrace[%d].insn[%d]", o.Index, k), Found: uint64(o.Insn[k]), FoundAsm: ppc64.Disasm(o.Insn[k], pc), ExpectedAsm: what}
				if want != 0 {
					w.HasExpected, w.Expected = true, uint64(want)
				}
				bad = append(bad, w)
			}
		}
		chk(0, mflrR0, o.Insn[0] == mflrR0, "mflr r0")
		chk(1, 0, o.CallOK && (o.CallTarget == m.Arch.Tramp || o.CallTarget == m.Arch.TrampRegs), "bl mod->arch.tramp or tramp_regs")
		chk(2, mtlrR0, o.Insn[2] == mtlrR0, "mtlr r0")
		chk(3, 0, o.ReturnOK && m.Contains(o.ReturnTarget), "b <rec->ip+4> in this module")
		if len(bad) > 0 {
			c.Report(Finding{Places: []Place{oolPlace(m.Name, o)}, Words: bad, Mark: "not mflr r0; bl <tramp>; mtlr r0; b <ip+4>",
				Message: fmt.Sprintf("%s: ftrace_ool_stub[%d] at %#x is not mflr r0; bl <tramp>; mtlr r0; b <rec->ip+4>", m.Name, o.Index, o.Addr)})
		}
	}
}

// checkFtraceOp: FTRACE-OP, a non-NULL ftrace_op other than the model's.
func checkFtraceOp(c *Check) {
	forOwnStubs(c, func(arr *ftrace.OOLArray, sc *ftrace.StubCheck) {
		if !has(sc.Diffs, ftrace.FieldOp) || sc.Found.Op == 0 {
			return
		}
		c.Report(Finding{Places: []Place{entryPlace(c, arr, sc)}, Mark: "ftrace_op: " + sc.Expected.OpReason + " expected",
			Words: []Word{{Addr: sc.Addr, Size: 8, Label: fmt.Sprintf("%s[%d].ftrace_op", arr.Name, sc.Index), Found: sc.Found.Op,
				HasExpected: true, Expected: sc.Expected.Op, ExpectedAsm: sc.Expected.OpReason}},
			Message: fmt.Sprintf("%s: %s[%d] at %#x%s has ftrace_op %#x, the model %#x (%s)",
				c.Subject, arr.Name, sc.Index, sc.Addr, recDesc(sc), sc.Found.Op, sc.Expected.Op, sc.Expected.OpReason)})
	})
}

// checkOOLOpNull: OOL-FTRACE-OP-NULL. Modules: every used entry of the
// array (records or not); the vmlinux: the stubs its records use.
func checkOOLOpNull(c *Check) {
	if c.Mod == nil {
		checkVmlinuxOpNull(c)
		return
	}
	s, ok := c.OOL()
	if !ok {
		return
	}
	if c.Set.Prog == nil || !c.Set.Prog.Features.OOLFtraceOp {
		c.NotApplicable("struct ftrace_ool_stub has no ftrace_op on this kernel")
		return
	}
	m := c.Mod.Module
	var places []Place
	var words []Word
	nop, nopErr := c.Set.Prog.SymbolAddr("ftrace_nop_ops")
	for i := range s.OOL {
		o := &s.OOL[i]
		if underStub(s, o.Index) || uint64(o.Index) >= m.Arch.OOLStubIndex || o.FtraceOp != 0 {
			continue
		}
		places = append(places, oolPlace(m.Name, o))
		w := Word{Addr: o.Addr, Size: 8, Label: fmt.Sprintf("ftrace[%d].ftrace_op", o.Index), Found: 0}
		if nopErr == nil {
			w.HasExpected, w.Expected, w.ExpectedAsm = true, nop, "&ftrace_nop_ops (while idle)"
		}
		words = append(words, w)
	}
	if len(places) > 0 {
		var names []string
		for _, p := range places {
			names = append(names, p.String())
		}
		c.Report(Finding{Places: places, Words: words, Mark: "ftrace_op NULL",
			Message: fmt.Sprintf("%s: %d of %d ftrace_ool_stub entries have ftrace_op = NULL (%s): ftrace_init_nop() did not call ftrace_rec_set_nop_ops()",
				m.Name, len(places), len(s.OOL), strings.Join(names, ", "))})
	}
}

func checkVmlinuxOpNull(c *Check) {
	if !c.Set.Prog.Features.OOLFtraceOp {
		c.NotApplicable("struct ftrace_ool_stub has no ftrace_op on this kernel")
		return
	}
	arrs, _, ok := oolArrays(c)
	if !ok {
		return
	}
	for _, arr := range arrs {
		var places []Place
		n := 0
		for i := range arr.Stubs {
			sc := &arr.Stubs[i]
			if sc.Status == ftrace.StubOpNull {
				// The vmlinux has thousands: name the first few.
				if n++; n <= maxPlaces {
					places = append(places, entryPlace(c, arr, sc))
				}
			}
		}
		if n == 0 {
			continue
		}
		more := ""
		if n > maxPlaces {
			more = fmt.Sprintf(" (the first %d named)", maxPlaces)
		}
		c.Report(Finding{Places: places, Mark: "ftrace_op NULL",
			Message: fmt.Sprintf("vmlinux: %d of the %s stubs in use have ftrace_op = NULL%s: ftrace_init_nop() did not call ftrace_rec_set_nop_ops()", n, arr.Name, more)})
	}
}

// checkMprofileSites: FTRACE-SITE on kernels without OOL stubs: each
// record's `bl _mcount` site is a nop while disabled and a bl to the
// module's trampoline stub (or the vmlinux's ftrace_caller) while
// enabled, after mflr r0 (ftrace.SiteCheck).
func checkMprofileSites(c *Check) {
	st, ok := c.Ftrace()
	if !ok {
		return
	}
	owner := c.Subject
	if owner == "vmlinux" {
		owner = ""
	}
	n, unchecked := 0, 0
	var why string
	sites := st.SiteChecks(c.Set, owner)
	for i := range sites {
		sc := &sites[i]
		r := sc.Record
		n++
		if sc.Unchecked != "" {
			unchecked++
			why = sc.Unchecked
			continue
		}
		if !sc.Mismatch {
			continue
		}
		flags := strings.Join(r.Flags.Names(), "|")
		if flags == "" {
			flags = "none"
		}
		if sc.Size > 0 {
			// A fixed-size site (x86_64, arm64): bytes, decoded by the
			// architecture; on arm64 also the word before it and the
			// CALL_OPS literal.
			reportCallSite(c, sc, flags)
			continue
		}
		words := []Word{{Addr: r.IP, Size: 4, Label: "site at rec->ip", Found: uint64(sc.Found), FoundAsm: ppc64.Disasm(sc.Found, r.IP),
			HasExpected: true, Expected: uint64(sc.Want[0]), ExpectedAsm: sc.WantWhy}}
		if !sc.PrevOK {
			words = append(words, Word{Addr: r.IP - 4, Size: 4, Label: "rec->ip - 4", Found: uint64(sc.Prev), FoundAsm: ppc64.Disasm(sc.Prev, r.IP-4), ExpectedAsm: "mflr r0 (or std r0,16(r1))"})
		}
		c.Report(Finding{Places: []Place{{Kind: PlaceSite, Owner: r.Module, Addr: r.IP, Size: 4}}, Words: words,
			Mark: "site not as its record says: " + sc.WantWhy + " expected",
			Message: fmt.Sprintf("%s: the call site of %s+%#x (rec->ip %#x, flags %s) holds %s where the record's state needs %s",
				c.Subject, r.Func, r.Off, r.IP, flags, ppc64.Disasm(sc.Found, r.IP), sc.WantWhy)})
	}
	switch {
	case n == 0:
		c.NotApplicable("no ftrace records")
	case unchecked == n:
		c.CannotCheck("none of the %d sites checked: %s", n, why)
	case unchecked > 0:
		c.Partial("%d of %d sites not checked: %s", unchecked, n, why)
	}
}

// disasmBytes decodes b at pc with the dump's architecture.
func disasmBytes(c *Check, b []byte, pc uint64) string {
	if d, ok := c.A.Prog.Arch.(arch.Disassembler); ok && len(b) > 0 {
		t, _ := d.Disasm(b, pc)
		return t
	}
	return fmt.Sprintf("% x", b)
}

// leValue is up to 8 bytes as a little-endian number (for a Word).
func leValue(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0 && i < 8; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func inFlightNote(s string) string {
	if s == "" {
		return ""
	}
	return "; " + s
}

// reportCallSite reports a fixed-size site that is not as its record
// says: the site itself, the word before it (ftrace_init_nop()'s mov x9,
// x30 on arm64) and the CALL_OPS literal (ftrace_rec_set_ops(),
// arch/arm64/kernel/ftrace.c), whichever differ.
func reportCallSite(c *Check, sc *ftrace.SiteCheck, flags string) {
	r := sc.Record
	found := disasmBytes(c, sc.FoundBytes, r.IP)
	siteOK := false
	for _, w := range sc.WantBytes {
		siteOK = siteOK || string(w) == string(sc.FoundBytes)
	}
	var words []Word
	var what []string
	if !siteOK && kprobeExplains(c, r.IP, sc.WantBytes[0]) {
		siteOK = true
	}
	if !siteOK {
		words = append(words, Word{Addr: r.IP, Size: sc.Size, Label: "site at rec->ip", Found: leValue(sc.FoundBytes), FoundAsm: found,
			HasExpected: true, Expected: leValue(sc.WantBytes[0]), ExpectedAsm: disasmBytes(c, sc.WantBytes[0], r.IP)})
		what = append(what, fmt.Sprintf("holds %s where the record's state needs %s%s", found, sc.WantWhy, inFlightNote(sc.InFlight)))
	}
	if !sc.PrevOK && len(sc.PrefixWant) > 0 && !kprobeExplains(c, sc.PrefixAddr, sc.PrefixWant) {
		f := disasmBytes(c, sc.PrefixFound, sc.PrefixAddr)
		if len(sc.PrefixFound) == 0 {
			f = "(unreadable)"
		}
		words = append(words, Word{Addr: sc.PrefixAddr, Size: len(sc.PrefixWant), Label: "before the site (ftrace_init_nop)", Found: leValue(sc.PrefixFound), FoundAsm: f,
			HasExpected: true, Expected: leValue(sc.PrefixWant), ExpectedAsm: disasmBytes(c, sc.PrefixWant, sc.PrefixAddr)})
		what = append(what, fmt.Sprintf("has %s before it where ftrace_init_nop() writes %s", f, disasmBytes(c, sc.PrefixWant, sc.PrefixAddr)))
	}
	if sc.LiteralChecked && sc.Literal != sc.LiteralWant {
		words = append(words, Word{Addr: sc.LiteralAddr, Size: 8, Label: "CALL_OPS literal", Found: sc.Literal, FoundAsm: c.A.Resolve(sc.Literal).String(),
			HasExpected: true, Expected: sc.LiteralWant, ExpectedAsm: sc.LiteralWhy})
		what = append(what, fmt.Sprintf("has ops literal %#x (%s) at %#x where ftrace_rec_set_ops() leaves %s", sc.Literal, c.A.Resolve(sc.Literal), sc.LiteralAddr, sc.LiteralWhy))
	}
	if len(words) == 0 {
		return
	}
	mark := "site not as its record says: " + sc.WantWhy + " expected"
	if siteOK {
		mark = "site's surroundings not as its record says"
	}
	c.Report(Finding{Places: []Place{{Kind: PlaceSite, Owner: r.Module, Addr: r.IP, Size: uint64(sc.Size)}}, Words: words,
		Mark: mark,
		Message: fmt.Sprintf("%s: the call site of %s+%#x (rec->ip %#x, flags %s) %s",
			c.Subject, r.Func, r.Off, r.IP, flags, strings.Join(what, "; "))})
}

// kprobeExplains says whether an armed kprobe sits at addr with want as
// its saved instruction (arch_arm_kprobe() replaced it by a breakpoint;
// kp->opcode keeps it): the word is then as the kernel left it.
func kprobeExplains(c *Check, addr uint64, want []byte) bool {
	if len(want) != 4 {
		return false
	}
	kps, _ := textcheck.ReadKprobes(c.A.Prog)
	for _, k := range kps {
		if k.At == addr && k.Armed() && uint64(k.Opcode) == leValue(want) {
			return true
		}
	}
	return false
}
