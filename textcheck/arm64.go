package textcheck

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/elfobj"

	a64 "github.com/kdump-inspect/kdump-inspect/arch/arm64"
	"github.com/kdump-inspect/kdump-inspect/modules"
	"github.com/kdump-inspect/kdump-inspect/reloc"
)

// Module text on arm64: apply_relocate_add() of arch/arm64/kernel/module.c
// (reloc.ARM64) in the order module_frob_arch_sections() leaves the
// relocations, out-of-range CALL26/JUMP26 through module_emit_plt_entry()
// and, with ARM64_WORKAROUND_843419, ADRPs at a forbidden offset made ADR
// or sent through module_emit_veneer_for_adrp() (arch/arm64/kernel/
// module-plts.c); the .plt and .text.ftrace_trampoline sections rebuilt as
// the loader fills them (NOBITS in memory, one byte in the .ko). Then the
// run-time mechanisms: module_finalize()'s apply_alternatives_module()
// (arch/arm64/kernel/alternative.c), ftrace call sites (ftrace_init_nop(),
// ftrace_make_call()/ftrace_make_nop(), the CALL_OPS literal), jump labels
// (arch_jump_label_transform()), kprobes (brk #0x4).

// a64PLTSec is struct mod_plt_sec as module_emit_plt_entry() advances it.
type a64PLTSec struct {
	addr     uint64
	num, max int
	known    bool // addr and max known
	slots    map[int]a64.PLTEntry
}

// a64Loader is the module loader's PLT state during apply_relocations().
type a64Loader struct {
	erratum    bool
	core, init a64PLTSec
	problems   []string
}

func (l *a64Loader) forbidden(loc uint64) bool {
	return l.erratum && loc&0xfff >= 0xff8
}

func (s *a64PLTSec) slotAddr(i int) uint64 { return s.addr + uint64(i*a64.PLTEntrySize) }

func pltTarget(e a64.PLTEntry, pc uint64) (uint64, bool) { return a64.DecodePLT(e, pc) }

// emit is module_emit_plt_entry().
func (l *a64Loader) emit(s *a64PLTSec, val uint64) (uint64, error) {
	if !s.known {
		return 0, fmt.Errorf("the PLT section's address or size is unknown")
	}
	i := s.num
	j := i - 1
	if l.forbidden(s.slotAddr(i)) {
		i++
	}
	if i > s.max {
		return 0, fmt.Errorf("PLT slot %d past plt_max_entries %d", i, s.max)
	}
	e := a64.GetPLTEntry(val, s.slotAddr(i))
	s.slots[i] = e
	if j >= 0 {
		if p, ok := s.slots[j]; ok && p[1] == e[1] && p[2] == e[2] {
			t1, ok1 := pltTarget(p, s.slotAddr(j))
			t2, ok2 := pltTarget(e, s.slotAddr(i))
			if ok1 && ok2 && t1 == t2 {
				return s.slotAddr(j), nil
			}
		}
	}
	s.num += i - j
	if s.num > s.max {
		return 0, fmt.Errorf("plt_num_entries %d past plt_max_entries %d (the kernel refuses the module)", s.num, s.max)
	}
	return s.slotAddr(i), nil
}

// veneer is module_emit_veneer_for_adrp().
func (l *a64Loader) veneer(s *a64PLTSec, loc, page uint64, rd uint32) (uint64, error) {
	if !s.known {
		return 0, fmt.Errorf("the PLT section's address or size is unknown")
	}
	i := s.num
	s.num++
	if s.num > s.max {
		return 0, fmt.Errorf("plt_num_entries %d past plt_max_entries %d", s.num, s.max)
	}
	if l.forbidden(s.slotAddr(i)) {
		i = s.num
		s.num++
	}
	at := s.slotAddr(i)
	br, err := a64.BranchImm(at+8, loc+4, false)
	if err != nil {
		return 0, err
	}
	s.slots[i] = a64.PLTEntry{a64.Adrp(at, page, rd), a64.AddImm(rd, rd, uint32(page%4096)), br}
	return at, nil
}

// a64CountPLTs is count_plts() over the module's executable sections'
// relocations in the loader's order: plt_max_entries of core (not init)
// and init sections, with or without the erratum 843419 workaround.
func a64CountPLTs(f *elfobj.File, ko *modules.KoImage, syms []reloc.Symbol, erratum bool) (core, init int) {
	for _, rs := range ko.Relas {
		if rs.Target <= 0 || rs.Target >= len(f.Sections) || f.Sections[rs.Target].Flags&elfobj.SHF_EXECINSTR == 0 {
			continue
		}
		relas := a64Relas(f, rs, syms, true)
		ret := 0
		for i, r := range relas {
			switch elfobj.R_AARCH64(r.Type) {
			case elfobj.R_AARCH64_JUMP26, elfobj.R_AARCH64_CALL26:
				if int(r.Sym) < len(syms) && int(syms[r.Sym].Shndx) == rs.Target {
					break
				}
				dup := i > 0 && relas[i-1].Type == r.Type && relas[i-1].Sym == r.Sym && relas[i-1].Addend == r.Addend
				if r.Addend != 0 || !dup {
					ret++
				}
			case elfobj.R_AARCH64_ADR_PREL_PG_HI21_NC, elfobj.R_AARCH64_ADR_PREL_PG_HI21:
				if !erratum {
					break
				}
				z := 0
				for (r.Off|7)>>z&1 == 1 {
					z++
				}
				if uint64(2)<<z > 4096 {
					ret++
				}
			}
		}
		if erratum {
			ret += (ret + 4096/a64.PLTEntrySize - 1) / (4096 / a64.PLTEntrySize)
		}
		if strings.HasPrefix(f.Sections[rs.Target].Name, ".init") {
			init += ret
		} else {
			core += ret
		}
	}
	return
}

// a64Relas converts a RELA section's entries in the .ko's own order (the
// parsed image sorts them as ppc64's loader does) and, when the target is
// executable, puts them in module_frob_arch_sections()'s order.
func a64Relas(f *elfobj.File, rs modules.RelaSection, syms []reloc.Symbol, exec bool) []reloc.Rela {
	var relas []reloc.Rela
	if rs.FromMemory || rs.Index <= 0 || rs.Index >= len(f.Sections) {
		relas = make([]reloc.Rela, len(rs.Relas))
		for i, r := range rs.Relas {
			relas[i] = reloc.Rela{Off: r.Off, Type: r.Type(), Sym: r.Sym(), Addend: r.Addend}
		}
	} else {
		data, err := f.Sections[rs.Index].Data()
		if err != nil || len(data)/24 != len(rs.Relas) {
			data = nil
		}
		o := f.ByteOrder
		for off := 0; off+24 <= len(data); off += 24 {
			info := o.Uint64(data[off+8:])
			relas = append(relas, reloc.Rela{Off: o.Uint64(data[off:]), Type: uint32(info), Sym: uint32(info >> 32), Addend: int64(o.Uint64(data[off+16:]))})
		}
	}
	if exec {
		relas = reloc.ARM64Order(relas, syms, rs.Target)
	}
	return relas
}

// newA64Loader sets up the PLT state as module_frob_arch_sections() leaves
// it: plt_max_entries from the dump (mod->arch.core, .init), the erratum
// 843419 workaround inferred from them (count_plts() counts differently
// with it: extra entries for ADRP veneers and one spare per page).
func newA64Loader(set *modules.Set, a *modules.Analysis, f *elfobj.File, ko *modules.KoImage, syms []reloc.Symbol) *a64Loader {
	l := &a64Loader{core: a64PLTSec{slots: map[int]a64.PLTEntry{}}, init: a64PLTSec{slots: map[int]a64.PLTEntry{}}}
	c0, i0 := a64CountPLTs(f, ko, syms, false)
	c1, i1 := a64CountPLTs(f, ko, syms, true)
	l.core.max, l.init.max = c0, i0
	if pl := a.PLT; pl != nil {
		l.core.max, l.init.max = int(pl.Core.Max), int(pl.Init.Max)
		switch {
		case c0 == c1 && i0 == i1:
			// the workaround changes nothing this module holds
		case int(pl.Core.Max) == c1 && int(pl.Init.Max) == i1:
			l.erratum = true
		case int(pl.Core.Max) == c0 && int(pl.Init.Max) == i0:
		default:
			l.problems = append(l.problems, fmt.Sprintf("plt_max_entries core %d init %d in the dump; count_plts() of the .ko gives %d/%d (%d/%d with erratum 843419)",
				pl.Core.Max, pl.Init.Max, c0, i0, c1, i1))
		}
	} else if a.PLTErr != nil {
		l.problems = append(l.problems, "module PLTs unread: "+a.PLTErr.Error())
	}
	l.core.addr, l.core.known = a.Module.SectionAddr(".plt")
	l.init.addr, l.init.known = a.Module.SectionAddr(".init.plt")
	return l
}

// applier is reloc.ARM64 for relocations into the section named sec
// (within_module_init() by the section's name).
func (l *a64Loader) applier(order binary.ByteOrder, sec string) *reloc.ARM64 {
	s := &l.core
	if strings.HasPrefix(sec, ".init") {
		s = &l.init
	}
	return &reloc.ARM64{Order: order, Forbidden: l.forbidden,
		PLT:    func(_, val uint64) (uint64, error) { return l.emit(s, val) },
		Veneer: func(loc, page uint64, rd uint32) (uint64, error) { return l.veneer(s, loc, page, rd) }}
}

// finish writes what the loader put in the sections the .ko holds as one
// byte: .plt (plt_max_entries + 1 entries, zeroed memory, the emitted
// ones filled) and .text.ftrace_trampoline (module_init_ftrace_plt():
// get_plt_entry(FTRACE_ADDR)).
func (l *a64Loader) finish(set *modules.Set, a *modules.Analysis, img *Image) {
	img.Problems = append(img.Problems, l.problems...)
	if s := img.Section(".plt"); s != nil && l.core.known {
		s.Want = make([]byte, (l.core.max+1)*a64.PLTEntrySize)
		for i, e := range l.core.slots {
			if i <= l.core.max {
				for k, w := range e {
					a64.Order.PutUint32(s.Want[i*a64.PLTEntrySize+4*k:], w)
				}
			}
		}
		if pl := a.PLT; pl != nil && int(pl.Core.Num) != l.core.num {
			img.Problems = append(img.Problems, fmt.Sprintf("mod->arch.core.plt_num_entries is %d, the relocations emit %d", pl.Core.Num, l.core.num))
		}
	}
	if s := img.Section(".text.ftrace_trampoline"); s != nil {
		caller, err := set.Prog.SymbolAddr("ftrace_caller")
		if err != nil {
			s.Compare, s.Skip = false, "no ftrace_caller (FTRACE_ADDR) to rebuild the ftrace PLT"
			return
		}
		e := a64.GetPLTEntry(caller, s.Addr)
		s.Want = make([]byte, a64.PLTEntrySize)
		for k, w := range e {
			a64.Order.PutUint32(s.Want[4*k:], w)
		}
	}
}

// arm64Candidates gathers the claims of every mechanism that changes an
// arm64 module's text after apply_relocate_add().
func arm64Candidates(e *Env, a *modules.Analysis, img *Image, inText func(uint64) bool, cs *candidates, r *Result) {
	arm64Alternatives(e, img, cs, r)
	arm64Ftrace(e, a.Module.Name, img, cs, r)
	arm64JumpLabels(e, img, inText, cs, r)
	arm64Kprobes(e, img, inText, cs, r)
	if addr, err := e.Prog.SymbolAddr("dynamic_scs_enabled"); err == nil {
		if ks := e.keyState(addr); ks.Err != nil || ks.Enabled > 0 {
			r.Incomplete = append(r.Incomplete, "dynamic shadow call stack enabled (or its key unreadable): scs_patch() of paciasp/autiasp is not modelled")
		}
	}
}

func a64Word(w uint32) []byte { return a64.Order.AppendUint32(nil, w) }

// arm64Ftrace: each record's site (package ftrace's SiteChecks: nop, or
// bl to ftrace_caller, its ops' trampoline or the module's ftrace PLT),
// ftrace_init_nop()'s mov x9, x30 before it, and the CALL_OPS literal
// ftrace_rec_set_ops() keeps at ALIGN_DOWN(ip - 12, 8).
func arm64Ftrace(e *Env, owner string, img *Image, cs *candidates, r *Result) {
	if e.Ftrace == nil {
		e.ftraceNotRead(r, arm64FtraceFallback(img, cs))
		return
	}
	for _, c := range e.Ftrace.SiteChecks(e.Set, owner) {
		ip := c.Record.IP
		siteWantCandidates(cs, &c, "ftrace_make_call()/ftrace_make_nop()")
		if c.Unchecked != "" && len(c.WantBytes) == 0 {
			cs.add(&Candidate{Addr: ip, Len: 4, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_modify_call()",
				Why: "record " + c.Record.Func + ": " + c.Unchecked + ": the nop or any bl", Match: a64NopOrBL})
		}
		if c.PrefixAddr != 0 && len(c.PrefixWant) > 0 {
			cs.add(&Candidate{Addr: c.PrefixAddr, Want: c.PrefixWant, Mech: MechFtracePrologue, Mirrors: "ftrace_init_nop()",
				Why: "record " + c.Record.Func + ": mov x9, x30 before the site"})
		}
		switch {
		case c.LiteralChecked:
			cs.add(&Candidate{Addr: c.LiteralAddr, Want: u64Bytes(img.Order, c.LiteralWant), Mech: MechFtrace, Mirrors: "ftrace_rec_set_ops()",
				Why: fmt.Sprintf("record %s: CALL_OPS literal %#x (%s)", c.Record.Func, c.LiteralWant, c.LiteralWhy)})
		case c.LiteralAddr != 0:
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("record %s: CALL_OPS literal not checked: %s", c.Record.Func, c.LiteralUnknown))
			cs.add(&Candidate{Addr: c.LiteralAddr, Len: 8, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_rec_set_ops()",
				Why: "CALL_OPS literal, its ops unknown: " + c.LiteralUnknown, Match: func([]byte) bool { return true }})
		}
	}
}

// a64NopOrBL: the word is a nop or any bl.
func a64NopOrBL(b []byte) bool {
	w := a64.Order.Uint32(b)
	return w == a64.Nop || w&0xfc000000 == 0x94000000
}

// arm64FtraceFallback: without the records, each entry of
// __patchable_function_entries (a relocated address) accepts any ops in
// its CALL_OPS literal and a nop, mov x9, x30 or any bl in each word up
// to the site; it returns how many entries.
func arm64FtraceFallback(img *Image, cs *candidates) int {
	t := img.Section("__patchable_function_entries")
	if t == nil {
		return 0
	}
	n := 0
	for off := 0; off+8 <= len(t.Want); off += 8 {
		ent := img.Order.Uint64(t.Want[off:])
		n++
		// ftrace_call_adjust(): the literal's two words, [bti c,] mov x9, x30, the site
		cs.add(&Candidate{Addr: ent, Len: 8, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_rec_set_ops()",
			Why: "CALL_OPS literal, records not read: any ops", Match: func([]byte) bool { return true }})
		for k := uint64(8); k <= 16; k += 4 {
			cs.add(&Candidate{Addr: ent + k, Len: 4, Loose: true, Mech: MechFtrace, Mirrors: "ftrace_init_nop()/ftrace_make_call()",
				Why:   "an ftrace site, its record not read: nop, mov x9, x30 or a bl",
				Match: func(b []byte) bool { return a64NopOrBL(b) || a64.Order.Uint32(b) == a64.MovX9LR }})
		}
	}
	return n
}

// arm64JumpLabels is arch_jump_label_transform() (arch/arm64/kernel/
// jump_label.c) for each __jump_table entry in compared text:
// JUMP_LABEL_JMP a `b target` (aarch64_insn_gen_branch_imm NOLINK), else
// aarch64_insn_gen_nop().
func arm64JumpLabels(e *Env, img *Image, inText func(uint64) bool, cs *candidates, r *Result) {
	t := img.Section("__jump_table")
	if t == nil {
		return
	}
	for _, j := range e.relativeJumpTable(img.Order, t, r) {
		if !inText(j.Code) {
			continue
		}
		b, err := a64.BranchImm(j.Code, j.Target, false)
		if err != nil {
			continue
		}
		if e.jlErr != nil {
			for _, w := range []uint32{b, a64.Nop} {
				cs.add(&Candidate{Addr: j.Code, Want: a64Word(w), Mech: MechJumpLabel, Why: "key state not read: either state", Loose: true, Mirrors: "arch_jump_label_transform()"})
			}
			continue
		}
		if why := e.jumpLabelClaims(cs, j, e.keyState(j.Key), a64Word(b), a64Word(a64.Nop), "b", "arch_jump_label_transform()"); why != "" {
			r.Incomplete = append(r.Incomplete, why)
		}
	}
}

// arm64Kprobes: an armed probe's word is brk #0x4 (arch_arm_kprobe():
// KPROBES_BRK_IMM), and kp->opcode (arch_prepare_kprobe() saved the word
// it replaced) must be what the text holds there without the probe: the
// relocated .ko word or another mechanism's (ftrace's mov x9, x30).
func arm64Kprobes(e *Env, img *Image, inText func(uint64) bool, cs *candidates, r *Result) {
	if e.kprobesErr != nil {
		r.Incomplete = append(r.Incomplete, "kprobes not all read: "+e.kprobesErr.Error())
		cs.add(&Candidate{Anywhere: true, Len: maxCandidateLen + 1, Match: func([]byte) bool { return false },
			MatchAt: func(_ uint64, b []byte) bool { return len(b) == 4 && a64.Order.Uint32(b) == a64.BrkKprobe }, Loose: true, Mech: MechKprobe,
			Why: "a brk #0x4 where kprobes could not be read (" + e.kprobesErr.Error() + ")", Mirrors: "arch_arm_kprobe()"})
	}
	for _, k := range e.kprobes {
		if !inText(k.At) || k.Flags&(kprobeGone|kprobeFtrace|kprobeDisabled) != 0 {
			continue
		}
		sym := k.Symbol
		if sym == "" {
			sym = e.name(k.At)
		}
		what := fmt.Sprintf("struct kprobe at %#x (%s): armed, brk #0x4, kp->opcode %#08x", k.Addr, sym, k.Opcode)
		var orig []uint32
		if s := img.SectionAt(k.At); s != nil && k.At+4 <= s.Addr+uint64(len(s.Want)) {
			orig = append(orig, a64.Order.Uint32(s.Want[k.At-s.Addr:]))
		}
		for _, c := range cs.byAddr[k.At] {
			if c.Match == nil && len(c.Want) == 4 {
				orig = append(orig, a64.Order.Uint32(c.Want))
			}
		}
		saved := false
		for _, c := range cs.byAddr[k.At] {
			// a mechanism whose state was not read (ftrace without its
			// records): the saved word is one it could have written
			saved = saved || c.Match != nil && c.Len == 4 && c.Match(a64Word(k.Opcode))
		}
		for _, w := range orig {
			saved = saved || w == k.Opcode
		}
		if !saved {
			cs.add(&Candidate{Addr: k.At, Len: 4, Mech: MechKprobe, Mirrors: "arch_arm_kprobe()", Match: func([]byte) bool { return false },
				Why: what + fmt.Sprintf(", but the word it replaced should be one of %#08x", orig)})
			continue
		}
		cs.add(&Candidate{Addr: k.At, Want: a64Word(a64.BrkKprobe), Mech: MechKprobe, Why: what + " saved", Mirrors: "arch_arm_kprobe()"})
	}
}

// ARM64_CB_BIT (arch/arm64/include/asm/alternative-macros.h).
const a64CBBit = 1 << 15

// arm64Alternatives is apply_alternatives_module() → __apply_alternatives()
// with every capability in the mask: each struct alt_instr {s32
// orig_offset, alt_offset; u16 cpucap; u8 orig_len, alt_len} of the
// module's .altinstructions whose cpucap is set in system_cpucaps
// (cpus_have_cap()) is patched — a callback's (ARM64_CB_BIT) by the
// callback (alt_cb_patch_nops() modelled: nops), else patch_alternative()
// with get_alt_insn()'s branch and ADRP fix-ups.
func arm64Alternatives(e *Env, img *Image, cs *candidates, r *Result) {
	t := img.Section(".altinstructions")
	if t == nil || len(t.Want) == 0 {
		return
	}
	p := e.Prog
	nops, _ := p.SymbolAddr("alt_cb_patch_nops")
	o := img.Order
	unmodelled := map[string]int{}
	var cbOrder []string
	defer func() {
		for _, cb := range cbOrder {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("alternatives: callback %s not modelled: its %d sites (cpucap set) accept any content", cb, unmodelled[cb]))
		}
	}()
	for off := 0; off+12 <= len(t.Want); off += 12 {
		ent := t.Addr + uint64(off)
		orig := ent + uint64(int64(int32(o.Uint32(t.Want[off:]))))
		repl := ent + 4 + uint64(int64(int32(o.Uint32(t.Want[off+4:]))))
		cpucap := o.Uint16(t.Want[off+8:])
		origLen, altLen := int(t.Want[off+10]), int(t.Want[off+11])
		cap := cpucap &^ a64CBBit
		sec := img.SectionAt(orig)
		if sec == nil || !sec.Compare || origLen == 0 || origLen%4 != 0 {
			continue
		}
		on, err := a64CpusHaveCap(p, cap)
		why := fmt.Sprintf("alt_instr at %#x, cpucap %d", ent, cap)
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: system_cpucaps unreadable (%v): either state accepted", why, err))
			cs.add(&Candidate{Addr: orig, Len: origLen, Loose: true, Mech: MechAlternative, Mirrors: "__apply_alternatives()",
				Why: why + ": cpucap state unknown, any replacement", Match: func([]byte) bool { return true }})
			continue
		}
		if !on {
			continue
		}
		nr := origLen / 4
		if cpucap&a64CBBit != 0 {
			if repl == nops && nops != 0 {
				var w []byte
				for range nr {
					w = append(w, a64Word(a64.Nop)...)
				}
				cs.add(&Candidate{Addr: orig, Want: w, Mech: MechAlternative, Mirrors: "alt_cb_patch_nops()",
					Why: why + " set: callback alt_cb_patch_nops, nops"})
				continue
			}
			if sec.Addr <= orig && orig+uint64(origLen) <= sec.Addr+uint64(len(sec.Want)) {
				ow := make([]uint32, nr)
				for i := range ow {
					ow[i] = a64.Order.Uint32(sec.Want[orig-sec.Addr+uint64(4*i):])
				}
				if fn, cbWhy, ok := e.a64Callback(repl, orig); ok {
					want, err := fn(ow)
					if err != nil {
						r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: callback %s: %v: any content accepted", why, cbWhy, err))
						cs.add(&Candidate{Addr: orig, Len: origLen, Loose: true, Mech: MechAlternative, Mirrors: cbWhy,
							Why: why + " set: callback " + cbWhy + " not computed: " + err.Error(), Match: func([]byte) bool { return true }})
						continue
					}
					var w []byte
					for _, x := range want {
						w = append(w, a64Word(x)...)
					}
					cs.add(&Candidate{Addr: orig, Want: w, Mech: MechAlternative, Mirrors: cbWhy, Why: why + " set: callback " + cbWhy})
					continue
				}
			}
			cb := e.name(repl)
			if unmodelled[cb] == 0 {
				cbOrder = append(cbOrder, cb)
			}
			unmodelled[cb]++
			cs.add(&Candidate{Addr: orig, Len: origLen, Loose: true, Mech: MechAlternative, Mirrors: "__apply_alternatives()",
				Why: why + " set: callback " + e.name(repl) + " not modelled", Match: func([]byte) bool { return true }})
			continue
		}
		rs := img.SectionAt(repl)
		if rs == nil || altLen != origLen || repl+uint64(altLen) > rs.Addr+uint64(len(rs.Want)) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: replacement %#x (%d bytes for %d) not in the image", why, repl, altLen, origLen))
			continue
		}
		var w []byte
		for i := range nr {
			pc, rp := orig+uint64(4*i), repl+uint64(4*i)
			insn := a64.Order.Uint32(rs.Want[rp-rs.Addr:])
			w = append(w, a64Word(getAltInsn(insn, pc, rp, repl, uint64(altLen)))...)
		}
		cs.add(&Candidate{Addr: orig, Want: w, Mech: MechAlternative, Mirrors: "patch_alternative()",
			Why: why + " set: the replacement at " + e.name(repl)})
	}
}

// getAltInsn is get_alt_insn(): a branch out of the replacement sequence
// re-aimed from its new place, an ADRP's page re-based.
func getAltInsn(insn uint32, pc, rp, repl, altLen uint64) uint32 {
	if target, _, ok := a64.BranchTarget(a64Word(insn), rp); ok {
		if target >= repl && target <= repl+altLen {
			return insn
		}
		return setBranchOffset(insn, int64(target-pc))
	}
	if insn&0x9f000000 == 0x90000000 { // adrp
		imm := (insn>>29)&3 | (insn>>5&0x7ffff)<<2
		off := int64(int32(imm<<11)>>11) << 12
		target := (rp &^ 0xfff) + uint64(off)
		n := int64(target-(pc&^0xfff)) >> 12
		v := uint32(n) & 0x1fffff
		return insn&^(3<<29|0x7ffff<<5) | (v&3)<<29 | (v>>2)<<5
	}
	return insn
}

// setBranchOffset is aarch64_set_branch_offset().
func setBranchOffset(insn uint32, off int64) uint32 {
	switch {
	case insn&0x7c000000 == 0x14000000: // b, bl
		return insn&^0x3ffffff | uint32(off>>2)&0x3ffffff
	case insn&0x7e000000 == 0x36000000: // tbz, tbnz
		return insn&^(0x3fff<<5) | (uint32(off>>2)&0x3fff)<<5
	default: // b.cond, cbz, cbnz
		return insn&^(0x7ffff<<5) | (uint32(off>>2)&0x7ffff)<<5
	}
}

func u64Bytes(o binary.ByteOrder, v uint64) []byte {
	b := make([]byte, 8)
	o.PutUint64(b, v)
	return b
}
