package audit

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

const (
	stubSize = modules.StubEntrySize
	oolSize  = modules.OOLStubSize
	mflrR0   = 0x7c0802a6
	mtlrR0   = 0x7c0803a6
)

// slotPlace is a .stubs slot as a place.
func slotPlace(owner string, sl *modules.Slot) Place {
	return Place{Kind: PlaceSlot, Owner: owner, Array: ".stubs", Index: sl.Index, Addr: sl.Addr, Size: stubSize}
}

// oolPlace is an entry of a module's ool_stubs as a place.
func oolPlace(owner string, o *modules.OOLStub) Place {
	return Place{Kind: PlaceOOL, Owner: owner, Array: "ool_stubs", Index: o.Index, Addr: o.Addr, Size: oolSize}
}

// checkStubTemplate: STUB-TEMPLATE. A slot with the stub magic outside
// the OOL array that is no stub, and a call stub whose template words for
// its slot were overwritten after the loader wrote it.
func checkStubTemplate(c *Check) {
	s, ok := c.Stubs()
	if !ok {
		return
	}
	name := c.Subject
	for i := range s.Slots {
		sl := &s.Slots[i]
		switch {
		case sl.Kind == modules.SlotGarbage && sl.Magic == modules.STUB_MAGIC && !sl.InOOL:
			c.Report(Finding{Places: []Place{slotPlace(name, sl)}, Mark: "stub magic, not a stub",
				Message: fmt.Sprintf("%s: slot %d at %#x has the stub magic but not create_stub()'s instructions for this slot", name, sl.Index, sl.Addr)})
		case sl.Kind.IsStub() && len(sl.TemplateDiffs) > 0:
			want, _ := ppc64.CallStubWords(ppc64.ELFv2, sl.Addr, s.R2)
			var words []Word
			var which []string
			for _, k := range sl.TemplateDiffs {
				a := sl.Addr + uint64(k)*4
				which = append(which, fmt.Sprintf("jump[%d]", k))
				words = append(words, Word{Addr: a, Size: 4, Label: fmt.Sprintf("ppc64[%d].jump[%d]", sl.Index, k),
					Found: uint64(sl.Jump[k]), FoundAsm: ppc64.Disasm(sl.Jump[k], a),
					HasExpected: true, Expected: uint64(want[k]), ExpectedAsm: ppc64.Disasm(want[k], a)})
			}
			c.Report(Finding{Places: []Place{slotPlace(name, sl)}, Words: words, Mark: "call stub overwritten: " + strings.Join(which, ", "),
				Message: fmt.Sprintf("%s: the %s stub in slot %d at %#x (funcdata %#x -> %s) has %s overwritten since the loader wrote it: a call through it executes those words",
					name, sl.Kind, sl.Index, sl.Addr, sl.Funcdata, targetName(sl), strings.Join(which, ", "))})
		}
	}
}

func targetName(sl *modules.Slot) string {
	if sl.TargetName != "" {
		return sl.TargetName
	}
	return fmt.Sprintf("%#x", sl.Funcdata)
}

// usedSlots is how many slots from the start stub_for_addr() considers
// handed out: stub_count where the loader counts, else up to the first
// slot whose funcdata is zero (the sentinel scan).
func usedSlots(m *modules.Module, s *modules.Stubs) int {
	if m.Arch.HasStubCount {
		return int(min(m.Arch.StubCount, uint64(len(s.Slots))))
	}
	for i, sl := range s.Slots {
		if sl.Funcdata == 0 {
			return i
		}
	}
	return len(s.Slots)
}

// checkStubDup: STUB-DUP.
func checkStubDup(c *Check) {
	s, ok := c.Stubs()
	if !ok {
		return
	}
	seen := map[uint64]int{}
	used := usedSlots(c.Mod.Module, s)
	for i := range s.Slots[:used] {
		sl := &s.Slots[i]
		if sl.Kind != modules.SlotCall && sl.Kind != modules.SlotKlp {
			continue
		}
		if prev, dup := seen[sl.Funcdata]; dup {
			c.Report(Finding{Places: []Place{slotPlace(c.Subject, &s.Slots[prev]), slotPlace(c.Subject, sl)}, Mark: fmt.Sprintf("same target as slot %d", prev),
				Message: fmt.Sprintf("%s: slots %d and %d both call %#x (%s)", c.Subject, prev, sl.Index, sl.Funcdata, sl.TargetName)})
		}
		seen[sl.Funcdata] = sl.Index
	}
}

// checkStubTarget: STUB-TARGET (livepatch modules' stubs into nothing are
// KLP-STALE-STUB's).
func checkStubTarget(c *Check) {
	s, ok := c.Stubs()
	if !ok {
		return
	}
	for i := range s.Slots {
		sl := &s.Slots[i]
		if sl.Kind != modules.SlotCall && sl.Kind != modules.SlotKlp {
			continue
		}
		if !live(c.Set, sl.Funcdata) {
			if c.Mod.Module.Livepatch {
				continue
			}
			c.Report(Finding{Places: []Place{slotPlace(c.Subject, sl)}, Mark: "calls into no live code",
				Message: fmt.Sprintf("%s: slot %d calls %#x, which lies in neither the vmlinux nor a live module (a target unloaded since?)", c.Subject, sl.Index, sl.Funcdata)})
			continue
		}
		loc := c.Set.Resolver.Lookup(sl.Funcdata)
		if loc.Symbol == nil || loc.Off != 0 || !loc.Symbol.Func() {
			c.Report(Finding{Places: []Place{slotPlace(c.Subject, sl)}, Mark: "target is not a function start",
				Message: fmt.Sprintf("%s: slot %d's funcdata %#x (%s) is not the start of a function", c.Subject, sl.Index, sl.Funcdata, loc)})
		}
	}
}

// checkKlpStaleStub: KLP-STALE-STUB (seed 003).
func checkKlpStaleStub(c *Check) {
	if !c.Mod.Module.Livepatch {
		c.NotApplicable("not a livepatch module")
		return
	}
	s, ok := c.Stubs()
	if !ok {
		return
	}
	for i := range s.Slots {
		sl := &s.Slots[i]
		if (sl.Kind == modules.SlotCall || sl.Kind == modules.SlotKlp) && !live(c.Set, sl.Funcdata) {
			c.Report(Finding{Places: []Place{slotPlace(c.Subject, sl)}, Mark: "stale livepatch stub",
				Message: fmt.Sprintf("%s: slot %d calls %#x, which lies in neither the vmlinux nor a live module (a target unloaded since?)", c.Subject, sl.Index, sl.Funcdata)})
		}
	}
}

func live(set *modules.Set, addr uint64) bool {
	return inVmlinux(set, addr) || set.ByAddr(addr) != nil
}

func inVmlinux(set *modules.Set, addr uint64) bool {
	if set.Prog == nil {
		return false
	}
	lo, err1 := set.Prog.SymbolAddr("_stext")
	hi, err2 := set.Prog.SymbolAddr("_end")
	return err1 == nil && err2 == nil && addr >= lo && addr < hi
}

// checkStubCount: STUB-COUNT (seed 003).
func checkStubCount(c *Check) {
	m := c.Mod.Module
	if !m.Arch.HasStubCount {
		c.NotApplicable("this kernel's loader keeps no stub_count (sentinel scan)")
		return
	}
	s, ok := c.Stubs()
	if !ok {
		return
	}
	if s.SizeSource != modules.SizeFromKlpInfo && s.SizeSource != modules.SizeFromKo {
		c.CannotCheck(".stubs size unknown (%s): the kernel keeps it only for livepatch modules; the .ko gives it", s.SizeSource)
		return
	}
	if m.Arch.StubCount*stubSize > s.Size {
		// The slots written past the section, over whatever follows it
		// (the module's next section: its code, in seed 003's crash).
		var places []Place
		for i := s.Size / stubSize; i < m.Arch.StubCount && i < s.Size/stubSize+64; i++ {
			places = append(places, Place{Kind: PlaceSlot, Owner: c.Subject, Array: ".stubs", Index: int(i), Addr: s.Base + i*stubSize, Size: stubSize, Part: "(past the end of .stubs)"})
		}
		c.Report(Finding{Places: places, Mark: "stub written past the end of .stubs",
			Message: fmt.Sprintf("%s: stub_count %d needs %d bytes but .stubs is %d bytes (%s): stubs were written past the section", m.Name, m.Arch.StubCount, m.Arch.StubCount*stubSize, s.Size, s.SizeSource)})
	}
}

// oolRange returns the slot range of the OOL array: first slot and count.
func oolRange(s *modules.Stubs) (first, n int) {
	return int(s.OOLOff / stubSize), int((s.OOLEnd - s.OOLOff + stubSize - 1) / stubSize)
}

// checkOOLReserve: OOL-RESERVE.
func checkOOLReserve(c *Check) {
	s, ok := c.OOL()
	if !ok {
		return
	}
	m := c.Mod.Module
	first, n := oolRange(s)
	// Where the array must start: after the last call/trampoline stub the
	// loader made before setup_ftrace_ool_stubs() (the model's count).
	if model, why := c.model(); model != nil {
		if why != "" {
			c.Partial("%s", why)
		}
		if want := model.StubCountAtOOL; want >= 0 && first != want {
			c.Report(Finding{Places: []Place{{Kind: PlaceSlot, Owner: m.Name, Array: ".stubs", Index: first, Addr: m.Arch.OOLStubs, Size: stubSize}},
				Mark: fmt.Sprintf("ool_stubs should start at slot %d", want),
				Message: fmt.Sprintf("%s: ool_stubs = %#x is slot %d of .stubs; the loader had made %d call/trampoline stubs, so it must be slot %d (%#x)",
					m.Name, m.Arch.OOLStubs, first, want, want, s.Base+uint64(want)*stubSize)})
		}
	} else {
		c.Partial("where the array must start needs the loader model: %s", why)
	}
	if !m.Arch.HasStubCount {
		return // the sentinel loader's reservation is OOL-SENTINEL's
	}
	if end := first + n; int(m.Arch.StubCount) < end {
		c.Report(Finding{Places: []Place{{Kind: PlaceObject, Owner: m.Name, Label: fmt.Sprintf("ppc64[%d..%d]", first, end-1), Addr: m.Arch.OOLStubs, Size: uint64(n) * stubSize}},
			Mark: "OOL array not counted in stub_count",
			Message: fmt.Sprintf("%s: the OOL array (%d ftrace_ool_stub, slots %d..%d) is not counted in stub_count = %d: the next stub_for_addr() writes a call stub at slot %d, inside the array",
				m.Name, len(s.OOL), first, end-1, m.Arch.StubCount, m.Arch.StubCount)})
	}
}

// checkOOLSentinel: OOL-SENTINEL, on sentinel-scanning loaders: funcdata
// positions inside the array that read as zero are slots stub_for_addr()
// would hand out again.
func checkOOLSentinel(c *Check) {
	m := c.Mod.Module
	if m.Arch.HasStubCount {
		c.NotApplicable("this kernel's stub_for_addr() counts stubs (stub_count): no sentinel scan")
		return
	}
	// Every stub a module's own relocations need is made before
	// module_finalize() sets up the OOL array; only a livepatch module's
	// .klp.rela.MODULE sections, applied when MODULE loads
	// (klp_init_object_loaded()), call stub_for_addr() afterwards.
	if objs := laterKlpObjects(c); len(objs) == 0 {
		c.NotApplicable("no stub is made after the OOL array is set up: the module has no livepatch relocations against a module")
		return
	}
	s, ok := c.OOL()
	if !ok {
		return
	}
	var places []Place
	var words []Word
	for i := range s.Slots {
		sl := &s.Slots[i]
		if !sl.InOOL || sl.Funcdata != 0 {
			continue
		}
		places = append(places, slotPlace(m.Name, sl))
		words = append(words, Word{Addr: sl.Addr + 32, Size: 8, Label: fmt.Sprintf("ppc64[%d].funcdata", sl.Index), Found: 0})
	}
	if len(places) > 0 {
		c.Report(Finding{Places: places, Words: words, Mark: "funcdata 0 inside ool_stubs: a free slot to stub_for_addr()",
			Message: fmt.Sprintf("%s: %d slot(s) inside the OOL array read funcdata = 0: the sentinel scan in stub_for_addr() would reuse them and overwrite ftrace_ool_stub entries", m.Name, len(places))})
	}
}

// laterKlpObjects names the modules whose loading would apply more of this
// livepatch module's relocations (.klp.rela.MODULE.* sections, from the
// .ko or from klp_info's section headers).
func laterKlpObjects(c *Check) []string {
	m := c.Mod.Module
	if !m.Livepatch {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(obj string) {
		if obj != "" && obj != "vmlinux" && !seen[obj] {
			seen[obj] = true
			out = append(out, obj)
		}
	}
	if c.Mod.Debuginfo != nil {
		for _, r := range c.Mod.Debuginfo.Image.Relas {
			if r.Livepatch {
				add(r.Object)
			}
		}
	}
	for _, h := range m.KlpSechdrs {
		if obj, ok := strings.CutPrefix(h.Name, ".klp.rela."); ok {
			if i := strings.Index(obj, "."); i > 0 {
				add(obj[:i])
			}
		}
	}
	return out
}

// oolParts names the OOL entries a byte range [lo, hi) of .stubs covers,
// wholly or partly with the members covered, as places.
func oolParts(owner string, s *modules.Stubs, lo, hi uint64) []Place {
	var out []Place
	for j := range s.OOL {
		elo := s.OOLOff + uint64(j)*oolSize
		ehi := elo + oolSize
		a, b := max(lo, elo), min(hi, ehi)
		if a >= b {
			continue
		}
		p := oolPlace(owner, &s.OOL[j])
		if a == elo && b == ehi {
			p.Part = "(all 24 bytes)"
		} else {
			p.Part = fmt.Sprintf("%s (%d of 24 bytes)", memberRange(a-elo, b-elo), b-a)
		}
		out = append(out, p)
	}
	return out
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

// checkOOLOverlap: OOL-OVERLAP, seed 000's crash: a stub inside the OOL
// array (intact, or damaged since by ftrace writing an ftrace_op over it).
func checkOOLOverlap(c *Check) {
	s, ok := c.OOL()
	if !ok {
		return
	}
	name := c.Subject
	for i := range s.Slots {
		sl := &s.Slots[i]
		if !sl.InOOL || !sl.Kind.IsStub() {
			continue
		}
		off := sl.Addr - s.Base
		parts := oolParts(name, s, off, off+stubSize)
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
		var cov []string
		for _, p := range parts {
			cov = append(cov, p.String())
		}
		damaged := ""
		if len(sl.TemplateDiffs) > 0 {
			damaged = fmt.Sprintf(" (its jump%v overwritten since: see STUB-TEMPLATE)", sl.TemplateDiffs)
		}
		c.Report(Finding{Places: append([]Place{slotPlace(name, sl)}, parts...), Words: words,
			Mark: fmt.Sprintf("%s stub (slot %d -> %s) inside ool_stubs", sl.Kind, sl.Index, targetName(sl)),
			Message: fmt.Sprintf("%s: a %s stub (funcdata %#x -> %s) sits at slot %d (%#x, ool_stubs+%#x), inside the OOL array%s; it overwrote %s",
				name, sl.Kind, sl.Funcdata, targetName(sl), sl.Index, sl.Addr, off-s.OOLOff, damaged, strings.Join(cov, ", "))})
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

// underStub reports whether OOL entry j shares bytes with a slot that holds
// a stub (that is OOL-OVERLAP's finding).
func underStub(s *modules.Stubs, j int) bool {
	elo := s.OOLOff + uint64(j)*oolSize
	for _, sl := range s.Slots {
		if !sl.InOOL || !sl.Kind.IsStub() {
			continue
		}
		off := sl.Addr - s.Base
		if off < elo+oolSize && elo < off+stubSize {
			return true
		}
	}
	return false
}

// checkLoaderModel: LOADER-MODEL, the model's stubs against the dump word
// for word.
func checkLoaderModel(c *Check) {
	model, ok := c.Model()
	if !ok {
		return
	}
	s, ok := c.Stubs()
	if !ok {
		return
	}
	name := c.Subject
	for _, e := range model.Stubs {
		i := e.Slot
		if i >= len(s.Slots) {
			c.Report(Finding{Places: []Place{{Kind: PlaceSlot, Owner: name, Array: ".stubs", Index: i, Addr: s.Base + uint64(i)*stubSize, Size: stubSize}},
				Mark:    "beyond .stubs",
				Message: fmt.Sprintf("%s: the loader would put the stub for %s at slot %d, beyond the %d slots of .stubs", name, e.TargetName, i, len(s.Slots))})
			continue
		}
		sl := &s.Slots[i]
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
		c.Report(Finding{Places: []Place{slotPlace(name, sl)}, Words: words, Mark: fmt.Sprintf("differs from the model: %s -> %s", e.Kind, e.TargetName),
			Message: fmt.Sprintf("%s: the correct loader puts the %s stub for %s at slot %d (%#x); the dump holds a %s slot there%s",
				name, e.Kind, e.TargetName, i, sl.Addr, sl.Kind, where)})
	}
}

// checkPastSentinel: STUB-PAST-SENTINEL.
func checkPastSentinel(c *Check) {
	m := c.Mod.Module
	if m.Arch.HasStubCount {
		c.NotApplicable("this kernel's stub_for_addr() counts stubs (stub_count): no sentinel scan")
		return
	}
	s, ok := c.Stubs()
	if !ok {
		return
	}
	first := -1
	for i := range s.Slots {
		sl := &s.Slots[i]
		if sl.InOOL {
			continue
		}
		if first < 0 {
			if sl.Funcdata == 0 {
				first = i
			}
			continue
		}
		if sl.Kind != modules.SlotFree {
			c.Report(Finding{Places: []Place{slotPlace(c.Subject, sl)}, Mark: fmt.Sprintf("past the sentinel (slot %d is free)", first),
				Message: fmt.Sprintf("%s: slot %d (%s, funcdata %#x) lies past slot %d, the first with a zero funcdata: stub_for_addr() stops its scan there, so the loader did not write it", c.Subject, sl.Index, sl.Kind, sl.Funcdata, first)})
		}
	}
}

// checkFtraceTramp: FTRACE-TRAMP.
func checkFtraceTramp(c *Check) {
	m := c.Mod.Module
	if !m.Arch.HasTramp {
		c.NotApplicable("no mod->arch.tramp on this kernel")
		return
	}
	if m.Arch.HasOOL && m.Arch.Tramp == 0 && m.Arch.OOLStubCount == 0 {
		c.NotApplicable("the module has no ftrace call sites")
		return
	}
	s, ok := c.Stubs()
	if !ok {
		return
	}
	p := c.Set.Prog
	if p == nil {
		c.CannotCheck("no program: ftrace_caller's address unknown")
		return
	}
	for _, t := range []struct {
		name   string
		addr   uint64
		kind   modules.SlotKind
		target string
	}{{"tramp", m.Arch.Tramp, modules.SlotTramp, "ftrace_caller"}, {"tramp_regs", m.Arch.TrampRegs, modules.SlotTrampRegs, "ftrace_regs_caller"}} {
		if t.addr == 0 {
			if t.name == "tramp_regs" {
				if _, err := p.SymbolAddr("ftrace_regs_caller"); err != nil {
					continue // no DYNAMIC_FTRACE_WITH_REGS
				}
			}
			c.Report(Finding{Places: []Place{{Kind: PlaceObject, Owner: c.Subject, Label: "mod->arch." + t.name}}, Mark: "mod->arch." + t.name + " is NULL",
				Message: fmt.Sprintf("%s: mod->arch.%s is NULL: module_finalize_ftrace() failed or the field was overwritten; an enabled call site cannot reach %s", c.Subject, t.name, t.target)})
			continue
		}
		want, err := p.SymbolAddr(t.target)
		if err != nil {
			c.Partial("no %s symbol", t.target)
			continue
		}
		sl, in := s.SlotAt(t.addr)
		switch {
		case !in || sl.Addr != t.addr:
			c.Report(Finding{Places: []Place{{Kind: PlaceObject, Owner: c.Subject, Addr: t.addr, Size: 4, Label: "mod->arch." + t.name}}, Mark: "mod->arch." + t.name + " is not a .stubs slot",
				Message: fmt.Sprintf("%s: mod->arch.%s = %#x is not the start of a slot of .stubs [%#x, %#x)", c.Subject, t.name, t.addr, s.Base, s.Base+s.Size)})
		case sl.Kind != t.kind || sl.Funcdata != want:
			c.Report(Finding{Places: []Place{slotPlace(c.Subject, sl)}, Mark: "not the stub to " + t.target,
				Message: fmt.Sprintf("%s: mod->arch.%s = %#x is slot %d, a %s slot with funcdata %#x, not create_ftrace_stub()'s stub to %s (%#x)", c.Subject, t.name, t.addr, sl.Index, sl.Kind, sl.Funcdata, t.target, want)})
		}
	}
}
