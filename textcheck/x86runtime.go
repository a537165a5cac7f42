package textcheck

import (
	"encoding/binary"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/textpoke"
)

// x86StaticCalls is __static_call_transform() (arch/x86/kernel/static_call.c)
// for each of the module's static call sites, in its key's state. The
// sites are read from the module's own table in the dump
// (mod->static_call_sites: static_call_add_module() rewrote each key from
// the trampoline to the key, and sorted them), each key's func from the
// dump.
func x86StaticCalls(e *Env, fx *x86Finalize, cs *candidates, r *Result) {
	t := fx.img.Section(".static_call_sites")
	if t == nil || len(t.Want) == 0 {
		return
	}
	p := e.Prog
	tab, err := p.Read(t.Addr, len(t.Want))
	if err != nil {
		r.Incomplete = append(r.Incomplete, fmt.Sprintf(".static_call_sites at %#x unreadable (%v): static call sites not explained", t.Addr, err))
		return
	}
	st := fx.st
	scReturn, _ := p.SymbolAddr("__static_call_return")
	for off := 0; off+8 <= len(tab); off += 8 {
		ent := t.Addr + uint64(off)
		site := ent + uint64(int64(int32(binary.LittleEndian.Uint32(tab[off:]))))
		k := ent + 4 + uint64(int64(int32(binary.LittleEndian.Uint32(tab[off+4:]))))
		tail, key := k&1 != 0, k&^3
		cur := fx.bytesAt(site, 6)
		if cur == nil {
			if cur = fx.bytesAt(site, 5); cur == nil {
				continue
			}
		}
		sec := fx.img.SectionAt(site)
		if sec == nil || !sec.Compare {
			continue
		}
		fn, err := p.ReadU64(key)
		keyName := e.name(key)
		if err != nil {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("static call key %s at %#x unreadable: %v", keyName, key, err))
			cs.add(&Candidate{Addr: site, Len: 5, Loose: true, Mech: MechStaticCall, Mirrors: "__static_call_transform()",
				Why: "static call site, key unreadable: any call, jmp, nop5 or ret", Match: func([]byte) bool { return true }})
			continue
		}
		if st.has(featCallDepth) && !tail && fn != 0 {
			r.Incomplete = append(r.Incomplete, fmt.Sprintf("static call at %#x: callthunks_translate_call_dest() not modelled (X86_FEATURE_CALL_DEPTH)", site))
		}
		code := make([]byte, 6)
		n := 5
		jcc := len(cur) >= 6 && cur[0] == 0x0f && cur[1]&0xf0 == 0x80
		var what string
		switch {
		case !tail && fn != 0:
			textGen(code, 0xe8, site, fn)
			what = "CALL " + e.name(fn)
			switch {
			case fn == st.scReturn0 && fn != 0:
				copy(code, []byte{0x2e, 0x2e, 0x2e, 0x31, 0xc0})
				what = "__static_call_return0: xor5rax"
			case fn == st.warnTrap && fn != 0:
				copy(code, []byte{0x67, 0x48, 0x0f, 0xb9, 0x3a})
				what = "__WARN_trap: ud1 (warninsn)"
			}
		case !tail:
			copy(code, x86Nop5)
			what = "NOP (func NULL)"
		case jcc:
			f := fn
			if f == 0 {
				f = scReturn
				if st.has(featRethunk) {
					f = st.returnThunk
				}
			}
			code[0], code[1] = 0x0f, cur[1]
			binary.LittleEndian.PutUint32(code[2:], uint32(int32(int64(f-(site+6)))))
			n = 6
			what = "JCC " + e.name(f)
		case fn != 0:
			textGen(code, 0xe9, site, fn)
			what = "JMP " + e.name(fn)
		case fx.wantsRethunkAt(site):
			textGen(code, 0xe9, site, st.returnThunk)
			what = "RET through x86_return_thunk"
		default:
			copy(code, []byte{0xc3, 0xcc, 0xcc, 0xcc, 0xcc})
			what = "RET"
		}
		cs.add(&Candidate{Addr: site, Want: code[:n], Mech: MechStaticCall, Mirrors: "__static_call_transform()",
			Why: fmt.Sprintf("static call site of key %s (func %#x): %s", keyName, fn, what)})
	}
}

// x86JumpLabels is __jump_label_patch() for each __jump_table entry in
// compared text: JUMP_LABEL_JMP (static_key_enabled(key) ^ branch) a jmp
// of the site's size (2 or 5, arch_jump_entry_size()) to the target,
// else x86_nops[size].
func x86JumpLabels(e *Env, fx *x86Finalize, inText func(uint64) bool, cs *candidates, r *Result) {
	t := fx.img.Section("__jump_table")
	if t == nil {
		return
	}
	for _, j := range e.relativeJumpTable(fx.img.Order, t, r) {
		if !inText(j.Code) {
			continue
		}
		cur := fx.bytesAt(j.Code, 2)
		if cur == nil {
			continue
		}
		size := 2
		if b := fx.avail(j.Code); b != nil {
			if x, ok := decodeX86(b); ok && x.n == 5 {
				size = 5
			}
		}
		jmp := make([]byte, size)
		if size == 2 {
			textGen(jmp, 0xeb, j.Code, j.Target)
		} else {
			textGen(jmp, 0xe9, j.Code, j.Target)
		}
		nop := x86Nops[size]
		if e.jlErr != nil {
			for _, w := range [][]byte{jmp, nop} {
				cs.add(&Candidate{Addr: j.Code, Want: w, Mech: MechJumpLabel, Why: "key state not read: either state", Loose: true, Mirrors: "__jump_label_patch()"})
			}
			continue
		}
		if why := e.jumpLabelClaims(cs, j, e.keyState(j.Key), jmp, nop, "jmp", "__jump_label_patch()"); why != "" {
			r.Incomplete = append(r.Incomplete, why)
		}
	}
}

// x86Kprobes: an armed probe's first byte is int3 (arch_arm_kprobe():
// INT3_INSN_OPCODE, the original saved in kp->opcode); an optimized one
// a jmp rel32 to its detour buffer (arch_optimize_kprobes()); probes on
// ftrace sites (KPROBE_FLAG_FTRACE) change no text.
func x86Kprobes(e *Env, fx *x86Finalize, inText func(uint64) bool, cs *candidates, r *Result) {
	if e.kprobesErr != nil {
		r.Incomplete = append(r.Incomplete, "kprobes not all read: "+e.kprobesErr.Error())
		cs.add(&Candidate{Anywhere: true, Len: maxCandidateLen + 1, Match: func([]byte) bool { return false },
			MatchAt: func(_ uint64, b []byte) bool { return len(b) == 1 && b[0] == 0xcc }, Loose: true, Mech: MechKprobe,
			Why: "an int3 where kprobes could not be read (" + e.kprobesErr.Error() + ")", Mirrors: "arch_arm_kprobe()"})
	}
	for _, k := range e.kprobes {
		if !inText(k.At) || k.Flags&(kprobeGone|kprobeFtrace) != 0 {
			continue
		}
		sym := k.Symbol
		if sym == "" {
			sym = e.name(k.At)
		}
		what := fmt.Sprintf("struct kprobe at %#x (%s)", k.Addr, sym)
		switch {
		case k.Flags&kprobeDisabled != 0:
		case k.Flags&kprobeOptimized != 0:
			cs.add(&Candidate{Addr: k.At, Len: 5, Loose: true, Mech: MechKprobe, Why: what + ": optimized, jmp to its detour buffer", Mirrors: "arch_optimize_kprobes()",
				Match: func(b []byte) bool { return b[0] == 0xe9 }})
		default:
			why := what + ": armed, int3"
			if orig := fx.bytesAt(k.At, 1); orig != nil && byte(k.Opcode) != orig[0] {
				why += fmt.Sprintf(" (kp->opcode %#x, the text's byte %#x)", byte(k.Opcode), orig[0])
			} else {
				why += fmt.Sprintf(" (kp->opcode %#x saved)", byte(k.Opcode))
			}
			cs.add(&Candidate{Addr: k.At, Want: []byte{0xcc}, Mech: MechKprobe, Why: why, Mirrors: "arch_arm_kprobe()"})
		}
	}
}

// x86TextPoke: a site the text-poke batch in flight holds, in a state that
// batch's step passes through (textpoke.Batch.Explains), whatever
// queued it (ftrace, jump labels, static calls).
func x86TextPoke(e *Env, inText func(uint64) bool, cs *candidates, r *Result) {
	e.pokeOnce.Do(func() { e.poke, e.pokeErr = textpoke.Read(e.Prog) })
	if e.pokeErr != nil {
		if e.pokeErr != textpoke.ErrNotModelled {
			r.Incomplete = append(r.Incomplete, "text-poke batch unreadable: "+e.pokeErr.Error())
		}
		return
	}
	b := e.poke
	for i := range b.Entries {
		en := &b.Entries[i]
		if !inText(en.Addr) || en.Found == nil {
			continue
		}
		why, ok := b.Explains(en)
		if !ok {
			continue
		}
		cs.add(&Candidate{Addr: en.Addr, Want: append([]byte(nil), en.Found...), Mech: MechTextPoke, Why: why, Mirrors: "smp_text_poke_batch_finish()"})
	}
}
