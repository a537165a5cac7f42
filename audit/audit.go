package audit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/ppc64"
)

// Word is one word a finding is about: where, as what, expected and found.
type Word struct {
	Addr        uint64 `json:"addr"`
	Label       string `json:"label"` // "ppc64[5].jump[0] = ftrace[0].ftrace_op"
	Size        int    `json:"size"`  // 4 or 8
	Found       uint64 `json:"found"`
	FoundAsm    string `json:"found_asm,omitempty"`
	HasExpected bool   `json:"has_expected"`
	Expected    uint64 `json:"expected"`
	ExpectedAsm string `json:"expected_asm,omitempty"`
}

// Finding is one failed rule at one place.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Module   string   `json:"module,omitempty"`
	Addrs    []uint64 `json:"addrs,omitempty"`
	Slots    []string `json:"slots,omitempty"`
	Words    []Word   `json:"words,omitempty"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// Options select rules.
type Options struct {
	Only []string
	Skip []string
}

func (o Options) enabled(id string) bool {
	for _, s := range o.Skip {
		if s == id {
			return false
		}
	}
	if len(o.Only) == 0 {
		return true
	}
	for _, s := range o.Only {
		if s == id {
			return true
		}
	}
	return false
}

// Report is the audit of one dump.
type Report struct {
	Findings []Finding `json:"findings"`
	Modules  int       `json:"modules"`
	Warnings []string  `json:"warnings,omitempty"`
	// Fatal says why the modules could not be audited at all (the module
	// list could not be read): an empty Findings then means nothing.
	Fatal   string `json:"fatal,omitempty"`
	opts    Options
	records bool // the ftrace record-level model checks the OOL stubs
}

func (r *Report) add(f Finding) {
	if !r.opts.enabled(f.Rule) {
		return
	}
	rule, _ := RuleByID(f.Rule)
	if f.Severity == 0 {
		f.Severity = rule.Severity
	}
	if f.Fix == "" {
		f.Fix = rule.Fix.String()
	}
	r.Findings = append(r.Findings, f)
}

// Max returns the highest severity found, and false when there is none.
func (r *Report) Max() (Severity, bool) {
	var m Severity
	for i, f := range r.Findings {
		if i == 0 || f.Severity > m {
			m = f.Severity
		}
	}
	return m, len(r.Findings) > 0
}

// Count returns how many findings are at or above sev.
func (r *Report) Count(sev Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= sev {
			n++
		}
	}
	return n
}

const (
	stubSize = modules.StubEntrySize
	oolSize  = modules.OOLStubSize
	mflrR0   = 0x7c0802a6
	mtlrR0   = 0x7c0803a6
)

// Modules audits every module of a set from what package modules read
// alone (no ftrace records: the OOL stubs are checked as an array).
func Modules(set *modules.Set, opts Options) *Report {
	return auditModules(set, opts, false)
}

// auditModules audits every module; with records, the OOL instruction
// check is left to the record-level model (Ftrace), which knows each
// stub's record and so its exact branch targets.
func auditModules(set *modules.Set, opts Options, records bool) *Report {
	r := &Report{opts: opts, Modules: len(set.Modules), records: records}
	if set.ListErr != nil {
		if len(set.Modules) == 0 {
			r.Fatal = fmt.Sprintf("no module could be read: %v", set.ListErr)
		} else {
			r.Warnings = append(r.Warnings, fmt.Sprintf("module list incomplete after %d modules: %v", len(set.Modules), set.ListErr))
		}
	}
	for _, a := range set.Modules {
		auditModule(r, set, a)
	}
	r.sort()
	return r
}

func (r *Report) sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		if r.Findings[i].Severity != r.Findings[j].Severity {
			return r.Findings[i].Severity > r.Findings[j].Severity
		}
		return r.Findings[i].Module < r.Findings[j].Module
	})
}

func auditModule(r *Report, set *modules.Set, a *modules.Analysis) {
	m, s := a.Module, a.Stubs
	for _, w := range m.Warnings {
		r.Warnings = append(r.Warnings, m.Name+": "+w)
	}
	if a.Debuginfo == nil {
		r.add(Finding{Rule: "NO-DEBUGINFO", Module: m.Name, Message: fmt.Sprintf("%s: no .ko at hand; only the invariants that need none were checked", m.Name)})
	} else if a.ModelErr != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: loader model: %v", m.Name, a.ModelErr))
	}
	if s == nil {
		if a.StubsErr != nil {
			r.Warnings = append(r.Warnings, a.StubsErr.Error())
		}
		return
	}
	for _, w := range s.Warnings {
		r.Warnings = append(r.Warnings, m.Name+": "+w)
	}
	sizeKnown := s.SizeSource == modules.SizeFromKlpInfo || s.SizeSource == modules.SizeFromKo

	// STUB-COUNT
	if m.Arch.HasStubCount && sizeKnown && m.Arch.StubCount*stubSize > s.Size {
		r.add(Finding{Rule: "STUB-COUNT", Module: m.Name, Addrs: []uint64{s.Base},
			Message: fmt.Sprintf("%s: stub_count %d needs %d bytes but .stubs is %d bytes (%s): stubs were written past the section", m.Name, m.Arch.StubCount, m.Arch.StubCount*stubSize, s.Size, s.SizeSource)})
	}

	oolFirst := int(s.OOLOff / stubSize)
	oolSlots := int((s.OOLEnd - s.OOLOff + stubSize - 1) / stubSize)
	if len(s.OOL) > 0 {
		auditReserve(r, a, oolFirst, oolSlots)
		auditOverlap(r, a)
		auditOOLEntries(r, set, a)
	}
	auditSlots(r, set, a)
	auditModel(r, a)
}

// auditReserve: OOL-RESERVE (and OOL-SENTINEL on sentinel-scanning kernels).
func auditReserve(r *Report, a *modules.Analysis, oolFirst, oolSlots int) {
	m, s := a.Module, a.Stubs
	// Where the array must start: after the last call/trampoline stub the
	// loader made before setup_ftrace_ool_stubs() (the model's count, else
	// the stubs below the array as the dump shows them).
	want := -1
	if a.Model != nil {
		want = a.Model.StubCountAtOOL
	}
	if want >= 0 && oolFirst != want {
		r.add(Finding{Rule: "OOL-RESERVE", Module: m.Name, Addrs: []uint64{m.Arch.OOLStubs},
			Slots: []string{fmt.Sprintf("ppc64[%d]", oolFirst)},
			Message: fmt.Sprintf("%s: ool_stubs = %#x is slot %d of .stubs; the loader had made %d call/trampoline stubs, so it must be slot %d (%#x)",
				m.Name, m.Arch.OOLStubs, oolFirst, want, want, s.Base+uint64(want)*stubSize)})
	}
	if m.Arch.HasStubCount {
		end := oolFirst + oolSlots
		if int(m.Arch.StubCount) < end {
			r.add(Finding{Rule: "OOL-RESERVE", Module: m.Name, Addrs: []uint64{m.Arch.OOLStubs},
				Slots: []string{fmt.Sprintf("ppc64[%d..%d]", oolFirst, end-1)},
				Message: fmt.Sprintf("%s: the OOL array (%d ftrace_ool_stub, slots %d..%d) is not counted in stub_count = %d: the next stub_for_addr() writes a call stub at slot %d, inside the array",
					m.Name, len(s.OOL), oolFirst, end-1, m.Arch.StubCount, m.Arch.StubCount)})
		}
		return
	}
	// Sentinel-scanning loader: funcdata positions inside the array that
	// read as zero are slots stub_for_addr() would hand out again.
	var free []string
	var words []Word
	for _, sl := range s.Slots {
		if !sl.InOOL || sl.Funcdata != 0 {
			continue
		}
		free = append(free, fmt.Sprintf("ppc64[%d]", sl.Index))
		words = append(words, Word{Addr: sl.Addr + 32, Size: 8, Label: fmt.Sprintf("ppc64[%d].funcdata", sl.Index), Found: 0})
	}
	if len(free) > 0 {
		r.add(Finding{Rule: "OOL-SENTINEL", Module: m.Name, Slots: free, Words: words,
			Message: fmt.Sprintf("%s: %d slot(s) inside the OOL array read funcdata = 0: the sentinel scan in stub_for_addr() would reuse them and overwrite ftrace_ool_stub entries", m.Name, len(free))})
	}
}

// coverage names the OOL entries a byte range [lo, hi) of .stubs covers,
// wholly or partly with the members covered.
func coverage(s *modules.Stubs, lo, hi uint64) (names []string) {
	for j := range s.OOL {
		elo := s.OOLOff + uint64(j)*oolSize
		ehi := elo + oolSize
		a, b := max(lo, elo), min(hi, ehi)
		if a >= b {
			continue
		}
		if a == elo && b == ehi {
			names = append(names, fmt.Sprintf("ftrace[%d] (all 24 bytes)", j))
			continue
		}
		names = append(names, fmt.Sprintf("ftrace[%d].%s (%d of 24 bytes)", j, memberRange(a-elo, b-elo), b-a))
	}
	return names
}

// memberRange names ftrace_ool_stub members in [a, b) bytes.
func memberRange(a, b uint64) string {
	var parts []string
	if a < 8 {
		parts = append(parts, "ftrace_op")
	}
	i0, i1 := max(a, 8), b
	if i1 > i0 {
		first, last := (i0-8)/4, (i1-8-1)/4
		if first == last {
			parts = append(parts, fmt.Sprintf("insn[%d]", first))
		} else {
			parts = append(parts, fmt.Sprintf("insn[%d..%d]", first, last))
		}
	}
	return strings.Join(parts, "+")
}

// auditOverlap: OOL-OVERLAP, seed 000's crash: a whole call stub inside
// the OOL array.
func auditOverlap(r *Report, a *modules.Analysis) {
	m, s := a.Module, a.Stubs
	for _, sl := range s.Slots {
		if !sl.InOOL {
			continue
		}
		switch sl.Kind {
		case modules.SlotCall, modules.SlotKlp, modules.SlotTramp, modules.SlotTrampRegs:
		default:
			continue
		}
		off := sl.Addr - s.Base
		cov := coverage(s, off, off+stubSize)
		var words []Word
		for k := uint64(0); k < stubSize; k += 4 {
			rel := off + k - s.OOLOff
			lbl := fmt.Sprintf("ppc64[%d].%s", sl.Index, stubFieldName(k))
			if off+k >= s.OOLOff && rel < uint64(len(s.OOL))*oolSize {
				lbl += fmt.Sprintf(" = ftrace[%d].%s", rel/oolSize, oolFieldName(rel%oolSize))
			}
			w := s.Order.Uint32(s.Raw[off+k:])
			words = append(words, Word{Addr: sl.Addr + k, Size: 4, Label: lbl, Found: uint64(w), FoundAsm: ppc64.Disasm(w, sl.Addr+k)})
		}
		target := sl.TargetName
		if target == "" {
			target = fmt.Sprintf("%#x", sl.Funcdata)
		}
		r.add(Finding{Rule: "OOL-OVERLAP", Module: m.Name, Addrs: []uint64{sl.Addr},
			Slots: append([]string{fmt.Sprintf("ppc64[%d]", sl.Index)}, cov...), Words: words,
			Message: fmt.Sprintf("%s: a %s stub (funcdata %#x -> %s) sits at slot %d (%#x, ool_stubs+%#x), inside the OOL array; it overwrote %s",
				m.Name, sl.Kind, sl.Funcdata, target, sl.Index, sl.Addr, off-s.OOLOff, strings.Join(cov, ", "))})
	}
}

func stubFieldName(off uint64) string {
	switch {
	case off < 28:
		return fmt.Sprintf("jump[%d]", off/4)
	case off < 32:
		return "magic"
	case off < 36:
		return "funcdata(lo)"
	}
	return "funcdata(hi)"
}

func oolFieldName(off uint64) string {
	switch {
	case off < 4:
		return "ftrace_op(lo)"
	case off < 8:
		return "ftrace_op(hi)"
	}
	return fmt.Sprintf("insn[%d]", (off-8)/4)
}

// overwritten reports whether OOL entry j shares bytes with a slot that
// holds a whole stub (those are reported by OOL-OVERLAP).
func overwritten(s *modules.Stubs, j int) bool {
	elo := s.OOLOff + uint64(j)*oolSize
	for _, sl := range s.Slots {
		if !sl.InOOL {
			continue
		}
		switch sl.Kind {
		case modules.SlotCall, modules.SlotKlp, modules.SlotTramp, modules.SlotTrampRegs:
			off := sl.Addr - s.Base
			if off < elo+oolSize && elo < off+stubSize {
				return true
			}
		}
	}
	return false
}

// auditOOLEntries: OOL-FTRACE-OP-NULL, and OOL-INSN from the array alone
// when no record-level model runs.
func auditOOLEntries(r *Report, set *modules.Set, a *modules.Analysis) {
	m, s := a.Module, a.Stubs
	var nulls []string
	var nullWords []Word
	for _, o := range s.OOL {
		if overwritten(s, o.Index) {
			continue
		}
		used := uint64(o.Index) < m.Arch.OOLStubIndex
		if set.Prog != nil && set.Prog.Features.OOLFtraceOp && used && o.FtraceOp == 0 {
			nulls = append(nulls, fmt.Sprintf("ftrace[%d]", o.Index))
			w := Word{Addr: o.Addr, Size: 8, Label: fmt.Sprintf("ftrace[%d].ftrace_op", o.Index), Found: 0}
			if a, err := set.Prog.SymbolAddr("ftrace_nop_ops"); err == nil {
				w.HasExpected, w.Expected, w.ExpectedAsm = true, a, "&ftrace_nop_ops (while idle)"
			}
			nullWords = append(nullWords, w)
		}
		if !used || r.records {
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
			r.add(Finding{Rule: "OOL-INSN", Module: m.Name, Addrs: []uint64{o.Addr}, Slots: []string{fmt.Sprintf("ftrace[%d]", o.Index)}, Words: bad,
				Message: fmt.Sprintf("%s: ftrace_ool_stub[%d] at %#x is not mflr r0; bl <tramp>; mtlr r0; b <ip+4>", m.Name, o.Index, o.Addr)})
		}
	}
	if len(nulls) > 0 {
		r.add(Finding{Rule: "OOL-FTRACE-OP-NULL", Module: m.Name, Slots: nulls, Words: nullWords,
			Message: fmt.Sprintf("%s: %d of %d ftrace_ool_stub entries have ftrace_op = NULL (%s): ftrace_init_nop() did not call ftrace_rec_set_nop_ops()",
				m.Name, len(nulls), len(s.OOL), strings.Join(nulls, ", "))})
	}
}

// auditSlots: STUB-TEMPLATE, STUB-TARGET, STUB-DUP, KLP-STALE-STUB.
func auditSlots(r *Report, set *modules.Set, a *modules.Analysis) {
	m, s := a.Module, a.Stubs
	seen := map[uint64]int{}
	for _, sl := range s.Slots {
		switch sl.Kind {
		case modules.SlotGarbage:
			if sl.Magic == modules.STUB_MAGIC && !sl.InOOL {
				r.add(Finding{Rule: "STUB-TEMPLATE", Module: m.Name, Addrs: []uint64{sl.Addr}, Slots: []string{fmt.Sprintf("ppc64[%d]", sl.Index)},
					Message: fmt.Sprintf("%s: slot %d at %#x has the stub magic but not create_stub()'s instructions for this slot", m.Name, sl.Index, sl.Addr)})
			}
		case modules.SlotCall, modules.SlotKlp:
			if int(sl.Index) < int(m.Arch.StubCount) {
				if prev, dup := seen[sl.Funcdata]; dup {
					r.add(Finding{Rule: "STUB-DUP", Module: m.Name, Addrs: []uint64{sl.Addr}, Slots: []string{fmt.Sprintf("ppc64[%d]", prev), fmt.Sprintf("ppc64[%d]", sl.Index)},
						Message: fmt.Sprintf("%s: slots %d and %d both call %#x (%s)", m.Name, prev, sl.Index, sl.Funcdata, sl.TargetName)})
				}
				seen[sl.Funcdata] = sl.Index
			}
			live := inVmlinux(set, sl.Funcdata) || set.ByAddr(sl.Funcdata) != nil
			if !live {
				rule := "STUB-TARGET"
				if m.Livepatch {
					rule = "KLP-STALE-STUB"
				}
				r.add(Finding{Rule: rule, Module: m.Name, Addrs: []uint64{sl.Addr}, Slots: []string{fmt.Sprintf("ppc64[%d]", sl.Index)},
					Message: fmt.Sprintf("%s: slot %d calls %#x, which lies in neither the vmlinux nor a live module (a target unloaded since?)", m.Name, sl.Index, sl.Funcdata)})
				continue
			}
			loc := set.Resolver.Lookup(sl.Funcdata)
			if loc.Symbol == nil || loc.Off != 0 || !loc.Symbol.Func() {
				r.add(Finding{Rule: "STUB-TARGET", Module: m.Name, Addrs: []uint64{sl.Addr}, Slots: []string{fmt.Sprintf("ppc64[%d]", sl.Index)},
					Message: fmt.Sprintf("%s: slot %d's funcdata %#x (%s) is not the start of a function", m.Name, sl.Index, sl.Funcdata, loc)})
			}
		}
	}
}

func inVmlinux(set *modules.Set, addr uint64) bool {
	if set.Prog == nil {
		return false
	}
	lo, err1 := set.Prog.SymbolAddr("_stext")
	hi, err2 := set.Prog.SymbolAddr("_end")
	return err1 == nil && err2 == nil && addr >= lo && addr < hi
}

// auditModel: LOADER-MODEL, the model's stubs against the dump word for word.
func auditModel(r *Report, a *modules.Analysis) {
	m, s := a.Module, a.Stubs
	if a.Model == nil {
		return
	}
	for _, e := range a.Model.Stubs {
		i := e.Slot
		if i >= len(s.Slots) {
			r.add(Finding{Rule: "LOADER-MODEL", Module: m.Name, Slots: []string{fmt.Sprintf("ppc64[%d]", i)},
				Message: fmt.Sprintf("%s: the loader would put the stub for %s at slot %d, beyond the %d slots of .stubs", m.Name, e.TargetName, i, len(s.Slots))})
			continue
		}
		sl := s.Slots[i]
		if len(sl.Mismatch) == 0 {
			continue
		}
		var words []Word
		for _, k := range sl.Mismatch {
			switch {
			case k < 7:
				words = append(words, Word{Addr: sl.Addr + uint64(k)*4, Size: 4, Label: fmt.Sprintf("ppc64[%d].jump[%d]", i, k),
					Found: uint64(sl.Jump[k]), FoundAsm: ppc64.Disasm(sl.Jump[k], sl.Addr+uint64(k)*4),
					HasExpected: true, Expected: uint64(e.Words[k]), ExpectedAsm: ppc64.Disasm(e.Words[k], sl.Addr+uint64(k)*4)})
			case k == 7:
				words = append(words, Word{Addr: sl.Addr + 28, Size: 4, Label: fmt.Sprintf("ppc64[%d].magic", i), Found: uint64(sl.Magic), HasExpected: true, Expected: modules.STUB_MAGIC})
			default:
				words = append(words, Word{Addr: sl.Addr + 32, Size: 8, Label: fmt.Sprintf("ppc64[%d].funcdata", i), Found: sl.Funcdata, HasExpected: true, Expected: e.Target, ExpectedAsm: e.TargetName})
			}
		}
		where := ""
		for _, o := range s.Slots {
			if o.Index != i && (o.Kind == modules.SlotCall || o.Kind == modules.SlotKlp) && o.Funcdata == e.Target {
				where = fmt.Sprintf("; the dump has that stub at slot %d (%#x)", o.Index, o.Addr)
			}
		}
		r.add(Finding{Rule: "LOADER-MODEL", Module: m.Name, Addrs: []uint64{sl.Addr}, Slots: []string{fmt.Sprintf("ppc64[%d]", i)}, Words: words,
			Message: fmt.Sprintf("%s: the correct loader puts the %s stub for %s at slot %d (%#x); the dump holds a %s slot there%s",
				m.Name, e.Kind, e.TargetName, i, sl.Addr, sl.Kind, where)})
	}
}
