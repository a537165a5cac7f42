package textcheck

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

const (
	ppcLwsync    uint32 = 0x7c2004ac // PPC_INST_LWSYNC
	ppcTrap      uint32 = 0x7fe00008 // BREAKPOINT_INSTRUCTION: PPC_RAW_TRAP()
	ppcStdR0R1   uint32 = 0xf8010010 // std r0,16(r1)
	ppcLdTOCv2   uint32 = 0xe8410018 // ld r2,24(r1)
	ppcLdTOCv1   uint32 = 0xe8410028 // ld r2,40(r1)
	fixupEntry          = 48         // struct fixup_entry: six longs
	cpuFtrLwsync        = 0x80       // CPU_FTR_LWSYNC (asm/cputable.h, 6.1 to 7.2)
)

func word(o binary.ByteOrder, w uint32) []byte {
	b := make([]byte, 4)
	o.PutUint32(b, w)
	return b
}

// Features are the values ppc64's fixups test: cur_cpu_spec->cpu_features
// and ->mmu_features, powerpc_firmware_features.
type Features struct {
	CPU, MMU, FW          uint64
	CPUErr, MMUErr, FWErr error
}

// ReadFeatures reads the fixups' feature words from the dump.
func ReadFeatures(p *kernel.Program) Features {
	var f Features
	spec, err := p.Variable("cur_cpu_spec")
	if err == nil {
		var s kernel.Object
		if s, err = spec.Deref(); err == nil {
			var o kernel.Object
			if o, f.CPUErr = s.Member("cpu_features"); f.CPUErr == nil {
				f.CPU, f.CPUErr = o.Uint()
			}
			if o, f.MMUErr = s.Member("mmu_features"); f.MMUErr == nil {
				f.MMU, f.MMUErr = o.Uint()
			}
		}
	}
	if err != nil {
		f.CPUErr, f.MMUErr = err, err
	}
	if v, err := p.Variable("powerpc_firmware_features"); err == nil {
		f.FW, f.FWErr = v.Uint()
	} else {
		f.FWErr = err
	}
	return f
}

// translateBranch is translate_branch() (lib/code-patching.c): a relative
// branch copied from src to dest keeps its target.
func translateBranch(w uint32, src, dest uint64) (uint32, bool) {
	target, _, ok := ppc64.BranchTarget(w, src)
	if !ok {
		return 0, false
	}
	off := int64(target - dest)
	switch w >> 26 {
	case 18: // create_branch(): flags keep LK and AA
		if w&2 != 0 {
			return w, true // absolute: unchanged
		}
		if !ppc64.IsOffsetInBranchRange(off) {
			return 0, false
		}
		return ppc64.PPC_INST_BRANCH | uint32(off)&ppc64.PPC_LI_MASK | w&3, true
	case 16: // create_cond_branch(): 0x40000000 | (flags & 0x3FF0003) | (offset & 0xFFFC)
		if w&2 != 0 {
			return w, true
		}
		if off < -0x8000 || off > 0x7fff || off&3 != 0 {
			return 0, false
		}
		return 0x40000000 | w&0x3ff0003 | uint32(off)&0xfffc, true
	}
	return 0, false
}

// fixups applies ppc64's load-time feature fixups to a scratch copy of
// the image, in the kernel's order, so that nested sections (an
// alternative that holds a fixup of its own, as __arch_hweight16's does)
// come out as the kernel's: the inner entry, earlier in the table, patches
// the alternative before the outer entry copies it. Each word that ends
// different from the relocated image becomes a candidate.
type fixups struct {
	img     *Image
	scratch map[*ImageSection][]byte
	why     map[uint64]*Candidate
}

func newFixups(img *Image) *fixups {
	return &fixups{img: img, scratch: map[*ImageSection][]byte{}, why: map[uint64]*Candidate{}}
}

func (fx *fixups) bytesAt(addr uint64) ([]byte, bool) {
	s := fx.img.SectionAt(addr)
	if s == nil || addr+4 > s.Addr+uint64(len(s.Want)) {
		return nil, false
	}
	b, ok := fx.scratch[s]
	if !ok {
		b = append([]byte(nil), s.Want...)
		fx.scratch[s] = b
	}
	return b[addr-s.Addr:], true
}

func (fx *fixups) read(addr uint64) (uint32, bool) {
	b, ok := fx.bytesAt(addr)
	if !ok {
		return 0, false
	}
	return fx.img.Order.Uint32(b), true
}

func (fx *fixups) write(addr uint64, w uint32, c Candidate) bool {
	b, ok := fx.bytesAt(addr)
	if !ok {
		return false
	}
	fx.img.Order.PutUint32(b, w)
	c.Addr, c.Want = addr, word(fx.img.Order, w)
	fx.why[addr] = &c
	return true
}

// table is do_feature_fixups() (lib/feature-fixups.c) over one fixup
// table: an entry whose feature test fails has [start, end) replaced by
// its alternative (branches leaving the alternative translated) and nops.
func (fx *fixups) table(table string, value uint64, valueErr error, valueName string, r *Result) {
	t := fx.img.Section(table)
	if t == nil {
		return
	}
	if valueErr != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: %s unreadable (%v): its fixups cannot be modelled", table, valueName, valueErr))
		r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s not modelled: %s unreadable", table, valueName))
		return
	}
	o := fx.img.Order
	for off := 0; off+fixupEntry <= len(t.Want); off += fixupEntry {
		e := t.Want[off:]
		ent := t.Addr + uint64(off)
		mask, val := o.Uint64(e), o.Uint64(e[8:])
		start := ent + o.Uint64(e[16:])
		end := ent + o.Uint64(e[24:])
		altStart := ent + o.Uint64(e[32:])
		altEnd := ent + o.Uint64(e[40:])
		if value&mask == val {
			continue // the feature is as the default code assumes
		}
		why := fmt.Sprintf("%s entry at %#x: %s %#x & mask %#x != %#x: alternative", table, ent, valueName, value, mask, val)
		if altEnd-altStart > end-start || end < start || end-start > 4096 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s entry at %#x: sizes the kernel refuses (WARN, left unpatched)", table, ent))
			continue
		}
		c := Candidate{Mech: MechFeatureFixup, Why: why, Mirrors: "patch_feature_section()"}
		dest := start
		for src := altStart; src < altEnd; src, dest = src+4, dest+4 {
			w, ok := fx.read(src)
			if !ok {
				r.Problems = append(r.Problems, fmt.Sprintf("%s entry at %#x: alternative at %#x is in no section of the image", table, ent, src))
				break
			}
			if tgt, _, ok := ppc64.BranchTarget(w, src); ok && (tgt < altStart || tgt > altEnd) {
				nw, ok := translateBranch(w, src, dest)
				if !ok {
					r.Problems = append(r.Problems, fmt.Sprintf("%s entry at %#x: branch at %#x cannot be translated", table, ent, src))
					break
				}
				w = nw
			}
			fx.write(dest, w, c)
		}
		c.Why += " (nop fill)"
		for ; dest < end; dest += 4 {
			fx.write(dest, ppc64.PPC_RAW_NOP, c)
		}
	}
}

// lwsync is do_lwsync_fixups(): with CPU_FTR_LWSYNC, each listed sync
// becomes lwsync.
func (fx *fixups) lwsync(cpu uint64, cpuErr error, r *Result) {
	t := fx.img.Section("__lwsync_fixup")
	if t == nil {
		return
	}
	if cpuErr != nil {
		r.Incomplete = append(r.Incomplete, "__lwsync_fixup not modelled: cpu_features unreadable")
		return
	}
	if cpu&cpuFtrLwsync == 0 {
		return
	}
	o := fx.img.Order
	c := Candidate{Mech: MechLwsync, Why: fmt.Sprintf("cpu_features %#x has CPU_FTR_LWSYNC: sync → lwsync", cpu), Mirrors: "do_lwsync_fixups()"}
	for off := 0; off+8 <= len(t.Want); off += 8 {
		fx.write(t.Addr+uint64(off)+o.Uint64(t.Want[off:]), ppcLwsync, c)
	}
}

// candidates adds a claim for every word the fixups changed.
func (fx *fixups) candidates(cs *candidates) {
	for addr, c := range fx.why {
		s := fx.img.SectionAt(addr)
		if s == nil {
			continue
		}
		if string(s.Want[addr-s.Addr:addr-s.Addr+4]) != string(c.Want) {
			cs.add(c)
		}
	}
}

// applyFixups runs module_finalize()'s (and apply_feature_fixups()'s)
// fixups on img: __ftr_fixup, __mmu_ftr_fixup, __fw_ftr_fixup, then
// __lwsync_fixup.
func applyFixups(img *Image, f Features, cs *candidates, r *Result) {
	fx := newFixups(img)
	fx.table("__ftr_fixup", f.CPU, f.CPUErr, "cpu_features", r)
	fx.table("__mmu_ftr_fixup", f.MMU, f.MMUErr, "mmu_features", r)
	fx.table("__fw_ftr_fixup", f.FW, f.FWErr, "powerpc_firmware_features", r)
	fx.lwsync(f.CPU, f.CPUErr, r)
	fx.candidates(cs)
}

// ftraceCandidates: each record's site in its state (package ftrace's
// models); on kernels with patchable entries and no OOL stubs,
// ftrace_init_nop() also writes `mflr r0` over the nop at ip-4, and with
// gcc 5's `mflr r0; std r0,16(r1); bl _mcount` it makes the std a nop.
func ftraceCandidates(env *Env, owner string, img *Image, cs *candidates) {
	if env.Ftrace == nil {
		return
	}
	o := img.Order
	for _, w := range env.Ftrace.SiteWants(env.Set, owner) {
		ip := w.Record.IP
		for _, x := range w.Words {
			cs.add(&Candidate{Addr: ip, Want: word(o, x), Mech: MechFtrace,
				Why: fmt.Sprintf("record %s flags %s: %s", w.Record.Func, w.Record.Flags.Letters(), w.Why), Mirrors: "ftrace_make_call()/ftrace_make_nop()"})
		}
		if w.Unmodelled != "" {
			cs.add(&Candidate{Addr: ip, Len: 4, Match: func(b []byte) bool { _, _, ok := ppc64.BranchTarget(o.Uint32(b), ip); return ok },
				Mech: MechFtrace, Loose: true, Why: "record " + w.Record.Func + ": " + w.Unmodelled + ": any branch", Mirrors: "ftrace_modify_call()"})
		}
		if env.Set.Features.OutOfLine {
			continue
		}
		prev := ip - 4
		if s := img.SectionAt(prev); s != nil {
			switch o.Uint32(s.Want[prev-s.Addr:]) {
			case ppc64.PPC_RAW_NOP:
				cs.add(&Candidate{Addr: prev, Want: word(o, ppc64.PPC_RAW_MFLR_R0), Mech: MechFtracePrologue,
					Why: "patchable entry: mflr r0 before the site", Mirrors: "ftrace_init_nop()"})
			case ppcStdR0R1:
				cs.add(&Candidate{Addr: prev, Want: word(o, ppc64.PPC_RAW_NOP), Mech: MechFtracePrologue,
					Why: "gcc 5's std r0,16(r1) before bl _mcount made a nop", Mirrors: "ftrace_init_nop()"})
			}
		}
	}
}

// stubCallCandidates: a call the loader routes through .stubs may land on
// another slot than the model's when that slot holds an intact stub to
// the same target (no model, or a layout the model does not mirror); a
// livepatch call whose object is not loaded may keep an earlier load's
// branch into .stubs, and its ld r2 (never cleared on ppc64).
func stubCallCandidates(env *Env, a *modules.Analysis, img *Image, cs *candidates) {
	o := img.Order
	st := a.Stubs
	ldTOC := ppcLdTOCv2
	if env.Set.Features.ELFv1 {
		ldTOC = ppcLdTOCv1
	}
	for _, c := range img.Calls {
		site := c.Section.Addr + c.Off
		c := c
		if c.Pending {
			var lo, hi uint64
			if st != nil {
				lo, hi = st.Base, st.Base+st.Size
			}
			why := fmt.Sprintf("livepatch relocation against %s (not loaded now): an earlier load's branch into .stubs stays (clear_relocate_add() is a no-op on ppc64)", c.Object)
			cs.add(&Candidate{Addr: site, Len: 4, Loose: true, Mech: MechKlpStale, Why: why, Mirrors: "klp_apply_section_relocs()",
				Match: func(b []byte) bool {
					t, link, ok := ppc64.BranchTarget(o.Uint32(b), site)
					return ok && link && t >= lo && t < hi
				}})
			if c.RestoreR2 {
				cs.add(&Candidate{Addr: site + 4, Want: word(o, ldTOC), Mech: MechKlpStale, Why: why + ": restore_r2()'s ld r2", Mirrors: "restore_r2()"})
			}
			continue
		}
		if st == nil {
			continue
		}
		cs.add(&Candidate{Addr: site, Len: 4, Mech: MechStubCall, Mirrors: "stub_for_addr()",
			Why: fmt.Sprintf("call to %s (%#x) through a .stubs slot holding an intact stub to it", c.Name, c.Target),
			Match: func(b []byte) bool {
				t, _, ok := ppc64.BranchTarget(o.Uint32(b), site)
				if !ok {
					return false
				}
				sl, ok := st.SlotAt(t)
				return ok && sl.Addr == t && sl.Kind.IsStub() && !sl.InOOL && sl.Target == c.Target && len(sl.TemplateDiffs) == 0
			}})
		if c.Stub == 0 && c.RestoreR2 {
			cs.add(&Candidate{Addr: site + 4, Want: word(o, ldTOC), Mech: MechStubCall, Why: "restore_r2()'s ld r2 after the call", Mirrors: "restore_r2()"})
		}
	}
}

// ftraceFallbackCandidates: without the ftrace records, the call sites are
// still known from the .ko — __patchable_function_entries (the nops
// -fpatchable-function-entry leaves, relocated to their addresses) or
// __mcount_loc (recordmcount's list of `bl _mcount`) — but not their
// state: each site (and the word after a patchable entry, and the one
// before an _mcount call) accepts any word ftrace writes there: a nop,
// mflr r0, or a branch. Loose: the state is not known.
func ftraceFallbackCandidates(img *Image, cs *candidates) int {
	o := img.Order
	ftraceWord := func(b []byte) bool {
		w := o.Uint32(b)
		return w == ppc64.PPC_RAW_NOP || w == ppc64.PPC_RAW_MFLR_R0 || w>>26 == 18
	}
	n := 0
	for _, name := range []string{"__patchable_function_entries", "__mcount_loc"} {
		t := img.Section(name)
		if t == nil {
			continue
		}
		for off := 0; off+8 <= len(t.Want); off += 8 {
			site := o.Uint64(t.Want[off:])
			n++
			for _, a := range []uint64{site - 4, site, site + 4} {
				cs.add(&Candidate{Addr: a, Len: 4, Match: ftraceWord, Loose: true, Mech: MechFtrace,
					Why: "an ftrace call site listed in " + name + ", its record not read: a nop, mflr r0 or a branch", Mirrors: "ftrace_init_nop()/ftrace_make_call()"})
			}
		}
	}
	return n
}
