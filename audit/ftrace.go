package audit

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/ftrace"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/ppc64"
)

// Ftrace turns package ftrace's verdicts into findings: every OOL stub
// (modules' and the vmlinux's own) held against the model of
// ftrace_init_nop()/ftrace_init_ool_stub() record by record, and the
// livepatch checks of seed 001. Stubs overwritten by a call stub are left
// to OOL-OVERLAP and NULL ftrace_ops of modules to OOL-FTRACE-OP-NULL, so
// one fault is reported once.
func Ftrace(r *Report, set *modules.Set, st *ftrace.State) {
	for _, arr := range st.OOL {
		owner := arr.Owner
		if owner == "" {
			owner = "vmlinux"
		}
		var nulls []string
		for _, c := range arr.Stubs {
			switch c.Status {
			case ftrace.StubOpNull:
				if arr.Owner == "" {
					nulls = append(nulls, fmt.Sprintf("%s[%d]", arr.Name, c.Index))
				}
			case ftrace.StubMismatch:
				r.add(stubFinding(owner, arr, c))
			case ftrace.StubOverwritten:
				// A call stub on top is OOL-OVERLAP's; anything else that
				// broke insn[0] is this stub's own fault.
				if c.OverlaySlot < 0 {
					if len(c.Diffs) == 0 {
						c.Diffs = []string{"insn[0]"}
					}
					r.add(stubFinding(owner, arr, c))
				}
			}
		}
		if len(nulls) > 0 {
			ex := nulls
			if len(ex) > 8 {
				ex = append(append([]string{}, nulls[:8]...), fmt.Sprintf("... %d more", len(nulls)-8))
			}
			r.add(Finding{Rule: "OOL-FTRACE-OP-NULL", Module: "vmlinux", Slots: ex,
				Message: fmt.Sprintf("vmlinux: %d of the %s stubs in use have ftrace_op = NULL: ftrace_init_nop() did not call ftrace_rec_set_nop_ops()", len(nulls), arr.Name)})
		}
	}
	for _, k := range st.KlpFunc {
		if len(k.Problems) == 0 {
			continue
		}
		obj := k.Object
		if obj == "" {
			obj = "vmlinux"
		}
		r.add(Finding{Rule: "KLP-FUNC", Module: k.Patch, Addrs: []uint64{k.WantIP},
			Slots:   []string{fmt.Sprintf("%s:%s", obj, k.Func.OldName)},
			Message: fmt.Sprintf("%s: patched function %s (%s): %s", k.Patch, k.Func.OldName, obj, strings.Join(k.Problems, "; "))})
	}
}

func stubFinding(owner string, arr *ftrace.OOLArray, c ftrace.StubCheck) Finding {
	rule := "OOL-INSN"
	for _, d := range c.Diffs {
		if d == "site" {
			rule = "FTRACE-SITE"
			break
		}
		if d == "ftrace_op" && len(c.Diffs) == 1 {
			rule = "FTRACE-OP"
		}
	}
	fn := ""
	var words []Word
	if c.Record != nil {
		flags := strings.Join(c.Record.Flags.Names(), "|")
		if flags == "" {
			flags = "none"
		}
		fn = fmt.Sprintf(" (%s+%#x, rec->ip %#x, flags %s)", c.Record.Func, c.Record.Off, c.Record.IP, flags)
	}
	for _, d := range c.Diffs {
		switch {
		case d == "site" && c.Record != nil:
			words = append(words, Word{Addr: c.Record.IP, Size: 4, Label: "site at rec->ip", Found: uint64(c.Found.Site), FoundAsm: ppc64.Disasm(c.Found.Site, c.Record.IP),
				HasExpected: true, Expected: uint64(c.Expected.Site), ExpectedAsm: ppc64.Disasm(c.Expected.Site, c.Record.IP)})
		case strings.HasPrefix(d, "insn["):
			var i int
			fmt.Sscanf(d, "insn[%d]", &i)
			pc := c.Addr + 8 + uint64(i)*4
			w := Word{Addr: pc, Size: 4, Label: fmt.Sprintf("%s[%d].%s", arr.Name, c.Index, d), Found: uint64(c.Found.Insn[i]), FoundAsm: ppc64.Disasm(c.Found.Insn[i], pc)}
			if c.Expected.InsnKnown[i] {
				w.HasExpected, w.Expected, w.ExpectedAsm = true, uint64(c.Expected.Insn[i]), ppc64.Disasm(c.Expected.Insn[i], pc)
			}
			words = append(words, w)
		case d == "ftrace_op":
			words = append(words, Word{Addr: c.Addr, Size: 8, Label: fmt.Sprintf("%s[%d].ftrace_op", arr.Name, c.Index), Found: c.Found.Op,
				HasExpected: true, Expected: c.Expected.Op, ExpectedAsm: c.Expected.OpReason})
		}
	}
	return Finding{Rule: rule, Module: owner, Addrs: []uint64{c.Addr}, Slots: []string{fmt.Sprintf("ftrace[%d]", c.Index)}, Words: words,
		Message: fmt.Sprintf("%s: %s[%d] at %#x%s differs from the model in %s", owner, arr.Name, c.Index, c.Addr, fn, strings.Join(c.Diffs, ", "))}
}
