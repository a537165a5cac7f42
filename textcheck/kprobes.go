package textcheck

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// Kprobe is one registered struct kprobe of kprobe_table.
type Kprobe struct {
	Addr   uint64 // &struct kprobe
	At     uint64 // kp->addr
	Symbol string
	Flags  uint32
	Opcode uint32
}

// KPROBE_FLAG_* (include/linux/kprobes.h, 6.1 to 7.2).
const (
	kprobeGone      = 1
	kprobeDisabled  = 2
	kprobeOptimized = 4
	kprobeFtrace    = 8
)

// kprobeTableSize is KPROBE_TABLE_SIZE (kernel/kprobes.c: 1 << 6); the
// table's DWARF array bound is preferred.
const kprobeTableSize = 64

// maxKprobes bounds the walk of a hostile table.
const maxKprobes = 1 << 16

// ReadKprobes walks kprobe_table's hash chains (cycle-checked, bounded).
// A kernel without kprobes has no table: nil, nil.
func ReadKprobes(p *kernel.Program) ([]Kprobe, error) {
	table, err := p.SymbolAddr("kprobe_table")
	if err != nil {
		return nil, nil
	}
	ts := typesOf(p)
	hl, err := ts.Offsetof("struct kprobe", "hlist")
	if err != nil {
		return nil, fmt.Errorf("struct kprobe: %w", err)
	}
	offAddr, err1 := ts.Offsetof("struct kprobe", "addr")
	offFlags, err2 := ts.Offsetof("struct kprobe", "flags")
	offOp, err3 := ts.Offsetof("struct kprobe", "opcode")
	offSym, _ := ts.Offsetof("struct kprobe", "symbol_name")
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, fmt.Errorf("struct kprobe members: %v %v %v", err1, err2, err3)
	}
	size := kprobeTableSize
	if v, err := p.Variable("kprobe_table"); err == nil {
		if n := v.Size() / 8; n > 0 && n <= 1<<12 {
			size = int(n)
		}
	}
	var out []Kprobe
	seen := map[uint64]bool{}
	for i := range size {
		node, err := p.ReadU64(table + uint64(8*i))
		if err != nil {
			return out, fmt.Errorf("kprobe_table[%d] at %#x: %w", i, table+uint64(8*i), err)
		}
		for node != 0 {
			if seen[node] || len(out) >= maxKprobes {
				return out, fmt.Errorf("kprobe_table[%d]: chain loops or exceeds %d probes at %#x", i, maxKprobes, node)
			}
			seen[node] = true
			kp := node - uint64(hl)
			k := Kprobe{Addr: kp}
			var e error
			if k.At, e = p.ReadU64(kp + uint64(offAddr)); e != nil {
				return out, fmt.Errorf("kprobe at %#x: %w", kp, e)
			}
			if k.Flags, e = p.ReadU32(kp + uint64(offFlags)); e != nil {
				return out, fmt.Errorf("kprobe at %#x: %w", kp, e)
			}
			k.Opcode, _ = p.ReadU32(kp + uint64(offOp))
			if offSym > 0 {
				if sp, e := p.ReadU64(kp + uint64(offSym)); e == nil && sp != 0 {
					if b, e := p.Read(sp, 64); e == nil {
						for j, c := range b {
							if c == 0 {
								k.Symbol = string(b[:j])
								break
							}
						}
					}
				}
			}
			out = append(out, k)
			if node, e = p.ReadU64(node); e != nil { // hlist_node.next
				return out, fmt.Errorf("kprobe hlist node at %#x: %w", kp+uint64(hl), e)
			}
		}
	}
	return out, nil
}

// kprobeCandidates: an armed probe's address holds the breakpoint
// (arch_arm_kprobe(): ppc64 `trap`); an optimized one a branch to its
// detour buffer (arch_optimize_kprobes()); probes on ftrace sites
// (KPROBE_FLAG_FTRACE) change no text.
func kprobeCandidates(env *Env, inText func(uint64) bool, cs *candidates) {
	o := env.Prog.Order
	if env.kprobesErr != nil {
		// The registered probes cannot all be read: a breakpoint anywhere
		// may be one of them.
		trap := func(_ uint64, b []byte) bool { return len(b) == 4 && o.Uint32(b) == ppcTrap }
		cs.add(&Candidate{Anywhere: true, Len: maxCandidateLen + 1, Match: func([]byte) bool { return false }, MatchAt: trap, Loose: true, Mech: MechKprobe,
			Why: "a trap where kprobes could not be read (" + env.kprobesErr.Error() + ")", Mirrors: "arch_arm_kprobe()"})
	}
	for _, k := range env.kprobes {
		if !inText(k.At) || k.Flags&(kprobeGone|kprobeFtrace) != 0 {
			continue
		}
		what := fmt.Sprintf("struct kprobe at %#x (%s)", k.Addr, k.Symbol)
		switch {
		case k.Flags&kprobeDisabled != 0:
			// disarmed: the original instruction, which is the .ko's
		case k.Flags&kprobeOptimized != 0:
			at := k.At
			cs.add(&Candidate{Addr: at, Len: 4, Loose: true, Mech: MechKprobe, Why: what + ": optimized, b to its detour buffer", Mirrors: "arch_optimize_kprobes()",
				Match: func(b []byte) bool { w := o.Uint32(b); return w>>26 == 18 && w&3 == 0 }})
		default:
			cs.add(&Candidate{Addr: k.At, Want: word(o, ppcTrap), Mech: MechKprobe, Why: what + ": armed, trap", Mirrors: "arch_arm_kprobe()"})
		}
	}
}

// optinsnCandidates: the detour buffers of optimized kprobes live in
// optinsn_slot, a reserve in .text (optprobes_head.S, "within 32MB of
// the probed address") that arch_prepare_optimized_kprobe() fills with
// optprobe_template copies; a slot keeps its bytes after the probe is
// gone, so any content is what the kernel may have written.
func optinsnCandidates(e *Env, cs *candidates) {
	p := e.Prog
	start, err1 := p.SymbolAddr("optinsn_slot")
	end, err2 := p.SymbolAddr("optprobe_template_entry")
	if err1 != nil || err2 != nil || end <= start || end-start > 1<<20 {
		return
	}
	opt := 0
	for _, k := range e.kprobes {
		if k.Flags&kprobeOptimized != 0 {
			opt++
		}
	}
	any := func([]byte) bool { return true }
	cs.add(&Candidate{Addr: start, Len: int(end - start), Match: any, MatchAt: func(uint64, []byte) bool { return true }, Loose: true, Mech: MechKprobe,
		Why: fmt.Sprintf("optinsn_slot: optimized-kprobe detour buffers (%d optimized probes registered now)", opt), Mirrors: "arch_prepare_optimized_kprobe()"})
}

// Armed says whether the probe's breakpoint is in the text now: not gone,
// disabled, optimized (a branch instead) or on ftrace (no text change).
func (k Kprobe) Armed() bool {
	return k.Flags&(kprobeGone|kprobeDisabled|kprobeOptimized|kprobeFtrace) == 0
}
