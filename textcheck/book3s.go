package textcheck

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Mechanisms that change only the vmlinux's text.
const (
	MechSecurity      Mechanism = "security fixup"
	MechOOLStub       Mechanism = "ftrace OOL stub"
	MechFtraceTramp   Mechanism = "ftrace trampoline"
	MechFtraceCall    Mechanism = "ftrace_call"
	MechDataInText    Mechanism = "data in text"
	MechBarrierNospec Mechanism = "barrier_nospec fixup"
)

// Instruction words of lib/feature-fixups.c's sequences.
const (
	ppcSync    uint32 = 0x7c0004ac
	ppcEieioH  uint32 = 0x7c0006ac | 0x02000000 // eieio + bit 6 hint
	ppcOri31   uint32 = 0x63ff0000              // ori r31,r31,0: speculation barrier
	ppcOri30   uint32 = 0x63de0000              // ori r30,r30,0: L1d flush
	ppcMflrR10 uint32 = 0x7d4802a6
	ppcMtlrR10 uint32 = 0x7d4803a6
	ppcLdR10   uint32 = 0xe94d0000 // ld r10,0(r13)
	ppcLdR13   uint32 = 0xe9ad0000 // ld r13,0(r13)
	ppcBlr     uint32 = 0x4e800020
	ppcB16     uint32 = 0x48000010 // PPC_RAW_BRANCH(16)

	sprnHSPRG0 = 0x130
	sprnHSPRG1 = 0x131
	sprnSPRG1  = 0x111
	sprnSPRG2  = 0x112
	sprnTRIG2  = 0x372

	cpuFtrHVMode = 0x2000 // CPU_FTR_HVMODE (asm/cputable.h)
)

func sprField(spr uint32) uint32  { return (spr&0x1f)<<16 | (spr>>5&0x1f)<<11 }
func mtspr(spr, rs uint32) uint32 { return 0x7c0003a6 | rs<<21 | sprField(spr) }
func mfspr(rt, spr uint32) uint32 { return 0x7c0002a6 | rt<<21 | sprField(spr) }

// The flush and barrier types (enum stf_barrier_type, enum
// l1d_flush_type), read from DWARF when it has them.
type flushTypes struct {
	stfNone, stfFallback, stfEieio, stfSyncOri uint64
	l1dNone, l1dFallback, l1dOri, l1dMttrig    uint64
}

func readFlushTypes(p *kernel.Program) flushTypes {
	t := flushTypes{1, 2, 4, 8, 1, 2, 4, 8} // security_features.h, setup.h (4.17 to 7.2)
	ts := typesOf(p)
	get := func(name string, into *uint64) {
		if v, err := ts.EnumConstant(name); err == nil {
			*into = uint64(v)
		}
	}
	get("STF_BARRIER_NONE", &t.stfNone)
	get("STF_BARRIER_FALLBACK", &t.stfFallback)
	get("STF_BARRIER_EIEIO", &t.stfEieio)
	get("STF_BARRIER_SYNC_ORI", &t.stfSyncOri)
	get("L1D_FLUSH_NONE", &t.l1dNone)
	get("L1D_FLUSH_FALLBACK", &t.l1dFallback)
	get("L1D_FLUSH_ORI", &t.l1dOri)
	get("L1D_FLUSH_MTTRIG", &t.l1dMttrig)
	return t
}

// seq is one sequence a fixup may write at a site, with the state it
// stands for.
type seq struct {
	words []uint32
	state string
}

// perType is the sequence a fixup writes for each flush or barrier type
// in types, the type its state.
func perType(types []uint64, seqOf func(types uint64) []uint32) []seq {
	var out []seq
	for _, st := range types {
		out = append(out, seq{seqOf(st), fmt.Sprintf("type %#x", st)})
	}
	return out
}

// patchTable returns the destinations of a table of `long` offsets, each
// relative to its own entry (do_patch_fixups()).
func patchTable(p *kernel.Program, f fileReader, name string) ([]uint64, error) {
	start, err1 := p.SymbolAddr("__start___" + name)
	stop, err2 := p.SymbolAddr("__stop___" + name)
	if err1 != nil || err2 != nil {
		return nil, nil // this kernel has no such fixups
	}
	if stop < start || stop-start > 1<<20 {
		return nil, fmt.Errorf("__start___%s..__stop___%s: %#x..%#x", name, name, start, stop)
	}
	b, err := f(start, int(stop-start))
	if err != nil {
		return nil, err
	}
	o := p.Order
	var out []uint64
	for off := 0; off+8 <= len(b); off += 8 {
		out = append(out, start+uint64(off)+o.Uint64(b[off:]))
	}
	return out, nil
}

type fileReader func(addr uint64, n int) ([]byte, error)

// readBool/readU32 read a static variable by its symbol.
func readVar(p *kernel.Program, name string, size int) (uint64, error) {
	a, err := p.SymbolAddr(name)
	if err != nil {
		return 0, err
	}
	b, err := p.Read(a, size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 4:
		return uint64(p.Order.Uint32(b)), nil
	}
	return p.Order.Uint64(b), nil
}

// securityCandidates models the Spectre/Meltdown/L1TF patching of
// lib/feature-fixups.c (book3s64): do_stf_entry_barrier_fixups(),
// do_stf_exit_barrier_fixups(), do_rfi_flush_fixups(),
// do_entry_flush_fixups() (entry and scv entry), do_uaccess_flush_fixups()
// and do_barrier_nospec_fixups(). Each site may hold the sequence of the
// state the kernel's variables say (stf_barrier, stf_enabled_flush_types,
// rfi_flush, enabled_flush_types, barrier_nospec_enabled); where a state
// variable is not in the symbol table (entry_flush, uaccess_flush are
// static), the enabled and disabled sequences are both legal.
func securityCandidates(e *Env, rf fileReader, cs *candidates, r *Result) {
	p := e.Prog
	o := p.Order
	t := readFlushTypes(p)
	hv := e.features.CPUErr == nil && e.features.CPU&cpuFtrHVMode != 0
	sym := func(n string) uint64 { a, _ := p.SymbolAddr(n); return a }

	stfSeq := func(types uint64, fallback uint64, dest uint64) []uint32 {
		w := []uint32{ppc64.PPC_RAW_NOP, ppc64.PPC_RAW_NOP, ppc64.PPC_RAW_NOP}
		switch {
		case types&t.stfFallback != 0:
			bl, err := ppc64.EncodeBranch(dest+4, fallback, true)
			if err != nil {
				return nil
			}
			w = []uint32{ppcMflrR10, bl, ppcMtlrR10}
		case types&t.stfEieio != 0:
			w[0] = ppcEieioH
		case types&t.stfSyncOri != 0:
			w = []uint32{ppcSync, ppcLdR10, ppcOri31}
		}
		return w
	}
	stfExitSeq := func(types uint64) []uint32 {
		w := make([]uint32, 6)
		for i := range w {
			w[i] = ppc64.PPC_RAW_NOP
		}
		switch {
		case types&t.stfFallback != 0 || types&t.stfSyncOri != 0:
			if hv {
				w = []uint32{mtspr(sprnHSPRG1, 13), mfspr(13, sprnHSPRG0), ppcSync, ppcLdR13, ppcOri31, mfspr(13, sprnHSPRG1)}
			} else {
				w = []uint32{mtspr(sprnSPRG2, 13), mfspr(13, sprnSPRG1), ppcSync, ppcLdR13, ppcOri31, mfspr(13, sprnSPRG2)}
			}
		case types&t.stfEieio != 0:
			w[0] = ppcEieioH
		}
		return w
	}
	l1dTail := func(types uint64, n int) []uint32 {
		var w []uint32
		if types&t.l1dOri != 0 {
			w = append(w, ppcOri31, ppcOri30)
		}
		if types&t.l1dMttrig != 0 {
			w = append(w, mtspr(sprnTRIG2, 0))
		}
		for len(w) < n {
			w = append(w, ppc64.PPC_RAW_NOP)
		}
		return w[:n]
	}
	entrySeq := func(types, fallback, dest uint64) []uint32 {
		if types == t.l1dFallback {
			bl, err := ppc64.EncodeBranch(dest+4, fallback, true)
			if err != nil {
				return nil
			}
			return []uint32{ppcMflrR10, bl, ppcMtlrR10}
		}
		return l1dTail(types, 3)
	}
	uaccessSeq := func(types uint64) []uint32 {
		w := l1dTail(types, 3)
		if types == t.l1dFallback {
			return append(w, ppc64.PPC_RAW_NOP)
		}
		return append(w, ppcBlr)
	}
	rfiSeq := func(types uint64) []uint32 {
		w := l1dTail(types, 3)
		if types&t.l1dFallback != 0 && types&(t.l1dOri|t.l1dMttrig) == 0 {
			w[0] = ppcB16
		}
		return w
	}

	// States: what the variables say, or every state when unreadable.
	stfAll := []uint64{t.stfNone, t.stfFallback, t.stfEieio, t.stfSyncOri}
	l1dAll := []uint64{t.l1dNone, t.l1dFallback, t.l1dOri, t.l1dMttrig, t.l1dOri | t.l1dMttrig}
	var stfStates []uint64
	stfWhy := ""
	if on, err := readVar(p, "stf_barrier", 1); err == nil {
		if types, err := readVar(p, "stf_enabled_flush_types", 4); err == nil {
			stfStates, stfWhy = []uint64{t.stfNone}, "stf_barrier off"
			if on != 0 {
				stfStates, stfWhy = []uint64{types}, fmt.Sprintf("stf_barrier on, stf_enabled_flush_types %#x", types)
			}
		}
	}
	if stfStates == nil {
		stfStates, stfWhy = stfAll, "stf barrier state unreadable: any type"
	}
	l1dTypes, l1dErr := readVar(p, "enabled_flush_types", 4)
	var rfiStates, maybeStates []uint64
	rfiWhy, maybeWhy := "", ""
	if l1dErr == nil {
		maybeStates, maybeWhy = []uint64{t.l1dNone, l1dTypes}, fmt.Sprintf("enabled_flush_types %#x, on or off (the on/off flag is static)", l1dTypes)
		if on, err := readVar(p, "rfi_flush", 1); err == nil {
			rfiStates, rfiWhy = []uint64{t.l1dNone}, "rfi_flush off"
			if on != 0 {
				rfiStates, rfiWhy = []uint64{l1dTypes}, fmt.Sprintf("rfi_flush on, enabled_flush_types %#x", l1dTypes)
			}
		} else {
			rfiStates, rfiWhy = maybeStates, maybeWhy
		}
	} else {
		rfiStates, rfiWhy = l1dAll, "flush state unreadable: any type"
		maybeStates, maybeWhy = l1dAll, rfiWhy
	}

	add := func(table, mirrors, why string, gen func(dest uint64) []seq) {
		dests, err := patchTable(p, rf, table)
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("%s: %v", table, err))
			return
		}
		for _, d := range dests {
			for _, s := range gen(d) {
				if s.words == nil {
					continue
				}
				b := make([]byte, 4*len(s.words))
				for i, w := range s.words {
					o.PutUint32(b[4*i:], w)
				}
				cs.add(&Candidate{Addr: d, Want: b, Mech: MechSecurity, Mirrors: mirrors, Loose: len(gen(d)) > 1,
					Why: fmt.Sprintf("%s site: %s (%s)", strings.TrimSuffix(table, "_fixup"), s.state, why)})
			}
		}
	}
	stfFallback := sym("stf_barrier_fallback")
	add("stf_entry_barrier_fixup", "do_stf_entry_barrier_fixups()", stfWhy, func(d uint64) []seq {
		return perType(stfStates, func(st uint64) []uint32 { return stfSeq(st, stfFallback, d) })
	})
	add("stf_exit_barrier_fixup", "do_stf_exit_barrier_fixups()", stfWhy, func(uint64) []seq { return perType(stfStates, stfExitSeq) })
	add("rfi_flush_fixup", "do_rfi_flush_fixups()", rfiWhy, func(uint64) []seq { return perType(rfiStates, rfiSeq) })
	for _, ent := range []struct{ table, fallback string }{{"entry_flush_fixup", "entry_flush_fallback"}, {"scv_entry_flush_fixup", "scv_entry_flush_fallback"}} {
		fb := sym(ent.fallback)
		add(ent.table, "do_entry_flush_fixups()", maybeWhy, func(d uint64) []seq {
			return perType(maybeStates, func(st uint64) []uint32 { return entrySeq(st, fb, d) })
		})
	}
	add("uaccess_flush_fixup", "do_uaccess_flush_fixups()", maybeWhy, func(uint64) []seq { return perType(maybeStates, uaccessSeq) })
	// barrier_nospec: ori r31,r31,0 when enabled, else nop.
	nospec := []seq{{[]uint32{ppcOri31}, "enabled"}, {[]uint32{ppc64.PPC_RAW_NOP}, "disabled"}}
	nospecWhy := "barrier_nospec_enabled unreadable: either"
	if v, err := readVar(p, "barrier_nospec_enabled", 1); err == nil {
		if v != 0 {
			nospec, nospecWhy = nospec[:1], "barrier_nospec_enabled"
		} else {
			nospec, nospecWhy = nospec[1:], "barrier_nospec_enabled false"
		}
	}
	add("barrier_nospec_fixup", "do_barrier_nospec_fixups()", nospecWhy, func(uint64) []seq { return nospec })
}

// oolStubCandidates: the vmlinux's ftrace_ool_stub_text arrays are zeros
// in the file and written at boot: each stub in use holds what the ftrace
// model expects (ftrace_op and insn[]). One region per array; the stub
// under a unit is found by index.
func oolStubCandidates(e *Env, o binary.ByteOrder, cs *candidates) {
	if e.Ftrace == nil {
		return
	}
	const size = 24 // struct ftrace_ool_stub: ftrace_op, insn[4]
	for _, arr := range e.Ftrace.OOLArrays("") {
		if arr.Count == 0 || len(arr.Stubs) == 0 {
			continue
		}
		type stub struct {
			want  [size]byte
			known [size]bool
		}
		byIndex := make(map[int]*stub, len(arr.Stubs))
		for i := range arr.Stubs {
			c := &arr.Stubs[i]
			st := &stub{}
			o.PutUint64(st.want[:], c.Expected.Op)
			for j := range 8 {
				st.known[j] = true
			}
			for j := range 4 {
				o.PutUint32(st.want[8+4*j:], c.Expected.Insn[j])
				for k := range 4 {
					st.known[8+4*j+k] = c.Expected.InsnKnown[j]
				}
			}
			byIndex[c.Index] = st
		}
		base := arr.Base
		cs.add(&Candidate{Addr: base, Len: arr.Count * size, Mech: MechOOLStub, Loose: false,
			Why:     fmt.Sprintf("%s: ftrace_op and insn[] as ftrace_init_ool_stub() and the record's state set them", arr.Name),
			Mirrors: "ftrace_init_ool_stub(), ftrace_rec_set_nop_ops()/ftrace_rec_update_ops()",
			Match:   func([]byte) bool { return false },
			MatchAt: func(addr uint64, found []byte) bool {
				for i := range found {
					a := addr + uint64(i) - base
					st := byIndex[int(a/size)]
					if st == nil {
						return false // a stub no record uses: the file's zeros
					}
					if off := a % size; st.known[off] && st.want[off] != found[i] {
						return false
					}
				}
				return true
			}})
	}
}

// ftraceTextCandidates: ftrace_dyn_arch_init() writes a kernel-TOC stub
// to the ftrace entry into ftrace_tramp_text; ftrace_update_ftrace_func()
// points ftrace_call and ftrace_regs_call at ftrace_trace_function on
// kernels without CALL_OPS; ftrace_modify_ftrace_graph_caller() flips
// ftrace_graph_call between ftrace_graph_stub and ftrace_graph_caller.
func ftraceTextCandidates(e *Env, cs *candidates) {
	p := e.Prog
	o := p.Order
	sym := func(n string) uint64 { a, _ := p.SymbolAddr(n); return a }
	if tt := sym("ftrace_tramp_text"); tt != 0 {
		toc := sym(".TOC.")
		paca := uint16(e.Set.Features.PacaKernelTOC)
		for _, n := range []string{"ftrace_regs_caller", "ftrace_caller"} {
			a := sym(n)
			if a == 0 || toc == 0 {
				continue
			}
			ws, err := ppc64.FtraceTrampStubWords(paca, toc, a)
			if err != nil || len(ws) < 5 {
				continue
			}
			b := make([]byte, 20)
			for i := range 5 {
				o.PutUint32(b[4*i:], ws[i])
			}
			cs.add(&Candidate{Addr: tt, Want: b, Mech: MechFtraceTramp, Why: "kernel-TOC stub to " + n, Mirrors: "ftrace_dyn_arch_init()"})
		}
	}
	funcs := map[uint64]string{}
	if v, err := readVar(p, "ftrace_trace_function", 8); err == nil && v != 0 {
		funcs[v] = "ftrace_trace_function"
	}
	for _, n := range []string{"ftrace_stub", "ftrace_ops_list_func", "ftrace_ops_no_ops"} {
		if a := sym(n); a != 0 {
			funcs[a] = n
		}
	}
	for _, site := range []string{"ftrace_call", "ftrace_regs_call"} {
		ip := sym(site)
		if ip == 0 {
			continue
		}
		for f, n := range funcs {
			for _, entry := range []uint64{f, f + localEntry(p, f)} {
				if bl, err := ppc64.EncodeBranch(ip, entry, true); err == nil {
					cs.add(&Candidate{Addr: ip, Want: word(o, bl), Mech: MechFtraceCall, Why: fmt.Sprintf("%s: bl %s (%s)", site, e.name(f), n), Mirrors: "ftrace_update_ftrace_func()"})
				}
			}
		}
	}
	if ip := sym("ftrace_graph_call"); ip != 0 {
		for _, n := range []string{"ftrace_graph_stub", "ftrace_graph_caller"} {
			if a := sym(n); a != 0 {
				if b, err := ppc64.EncodeBranch(ip, a, false); err == nil {
					cs.add(&Candidate{Addr: ip, Want: word(o, b), Mech: MechFtraceCall, Why: "ftrace_graph_call: b " + n, Mirrors: "ftrace_modify_ftrace_graph_caller()"})
				}
			}
		}
	}
}

func localEntry(p *kernel.Program, addr uint64) uint64 {
	if s, off, ok := p.Syms.ByAddr(addr); ok && off == 0 {
		return s.LocalEntry
	}
	return 0
}

// dataInText: words of .head.text that are data the kernel writes
// (head_64.S): the secondary CPUs' spin loop release and acknowledge.
func dataInText(e *Env, cs *candidates) {
	for _, n := range []string{"__secondary_hold_spinloop", "__secondary_hold_acknowledge"} {
		if a, err := e.Prog.SymbolAddr(n); err == nil {
			cs.add(&Candidate{Addr: a, Len: 8, Match: func([]byte) bool { return true }, Mech: MechDataInText, Why: n + ": a variable in head_64.S, written while CPUs start", Mirrors: "smp_release_cpus()"})
		}
	}
}
