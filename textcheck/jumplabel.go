package textcheck

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/arch/ppc64"
	"github.com/kdump-inspect/kdump-inspect/kernel"
	"github.com/kdump-inspect/kdump-inspect/modules"
)

// JumpEntry is one struct jump_entry, made absolute.
type JumpEntry struct {
	Entry  uint64 // the entry's address
	Code   uint64 // jump_entry_code()
	Target uint64 // jump_entry_target()
	Key    uint64 // jump_entry_key()
	Branch bool   // jump_entry_is_branch()
}

// KeyState is a static_key's enabled count as read from the dump.
type KeyState struct {
	Enabled int32
	Err     error
}

// jumpLayout: struct jump_entry is {s32 code; s32 target; long key} with
// HAVE_ARCH_JUMP_LABEL_RELATIVE (16 bytes), else three longs.
type jumpLayout struct {
	size     int
	relative bool
	enabled  int64 // offsetof(struct static_key, enabled)
}

func detectJumpLayout(p *kernel.Program) (jumpLayout, error) {
	ts := typesOf(p)
	n, err := ts.Sizeof("struct jump_entry")
	if err != nil {
		return jumpLayout{}, fmt.Errorf("struct jump_entry: %w", err)
	}
	off, err := ts.Offsetof("struct static_key", "enabled")
	if err != nil {
		return jumpLayout{}, fmt.Errorf("struct static_key: %w", err)
	}
	switch n {
	case 16:
		return jumpLayout{size: 16, relative: true, enabled: off}, nil
	case 24:
		return jumpLayout{size: 24, enabled: off}, nil
	}
	return jumpLayout{}, fmt.Errorf("struct jump_entry of %d bytes: not a known layout", n)
}

// parseJumpTable reads a __jump_table's entries (relocated: the .ko's
// table with its relocations applied, or the vmlinux's own).
func parseJumpTable(l jumpLayout, o binary.ByteOrder, addr uint64, b []byte) []JumpEntry {
	var out []JumpEntry
	for off := 0; off+l.size <= len(b); off += l.size {
		e := b[off:]
		ent := addr + uint64(off)
		var j JumpEntry
		j.Entry = ent
		if l.relative {
			j.Code = ent + uint64(int64(int32(o.Uint32(e))))
			j.Target = ent + 4 + uint64(int64(int32(o.Uint32(e[4:]))))
			k := o.Uint64(e[8:])
			j.Branch = k&1 != 0
			j.Key = ent + 8 + (k &^ 3)
		} else {
			j.Code, j.Target = o.Uint64(e), o.Uint64(e[8:])
			k := o.Uint64(e[16:])
			j.Branch = k&1 != 0
			j.Key = k &^ 3
		}
		out = append(out, j)
	}
	return out
}

// jumpCandidates is arch_jump_label_transform() (ppc64) for each entry
// whose code lies in compared text: in the key's state, jump_label_type()
// = static_key_enabled(key) ^ jump_entry_is_branch(entry) says `b target`
// (JUMP_LABEL_JMP) or a nop. An enabled count of -1 is
// static_key_enable()'s transition: either is legal.
func jumpCandidates(env *Env, o binary.ByteOrder, entries []JumpEntry, inText func(uint64) bool, cs *candidates) {
	for _, j := range entries {
		if !inText(j.Code) {
			continue
		}
		ks := KeyState{Err: errKeyLayout}
		if env.jlErr == nil {
			ks = env.keyState(j.Key)
		}
		jmp, err := ppc64.EncodeBranch(j.Code, j.Target, false)
		if err != nil {
			continue
		}
		env.jumpLabelClaims(cs, j, ks, word(o, jmp), word(o, ppc64.PPC_RAW_NOP), "b", "arch_jump_label_transform()")
	}
}

// jumpLabelClaims claims a jump label site for what its key's state lets
// it hold, as each architecture's arch_jump_label_transform() writes it:
// jump_label_type() = static_key_enabled(key) ^
// jump_entry_is_branch(entry) says jmp (JUMP_LABEL_JMP, insn names its
// instruction) or nop; an enabled count of -1 is static_key_enable()'s
// transition, and a key that cannot be read allows either. It returns why
// the key could not be read, "" when it could.
func (e *Env) jumpLabelClaims(cs *candidates, j JumpEntry, ks KeyState, jmp, nop []byte, insn, mirrors string) string {
	keyName := e.name(j.Key)
	add := func(w []byte, why string, loose bool) {
		cs.add(&Candidate{Addr: j.Code, Want: w, Mech: MechJumpLabel, Why: why, Loose: loose, Mirrors: mirrors})
	}
	switch {
	case ks.Err != nil:
		why := fmt.Sprintf("key %s unreadable (%v): either state", keyName, ks.Err)
		add(jmp, why, true)
		add(nop, why, true)
		return why
	case ks.Enabled < 0:
		why := fmt.Sprintf("key %s enabled=%d (static_key_enable() in progress): either state", keyName, ks.Enabled)
		add(jmp, why, true)
		add(nop, why, true)
	case (ks.Enabled > 0) != j.Branch:
		add(jmp, fmt.Sprintf("key %s enabled=%d, branch=%v: JUMP_LABEL_JMP, %s %#x", keyName, ks.Enabled, j.Branch, insn, j.Target), false)
	default:
		add(nop, fmt.Sprintf("key %s enabled=%d, branch=%v: JUMP_LABEL_NOP", keyName, ks.Enabled, j.Branch), false)
	}
	return ""
}

// relativeJumpTable parses a module's __jump_table on an architecture of
// relative entries (arm64, x86_64) in the kernel's layout or, when the
// keys' layout is unknown, as 16-byte relative entries whose sites may
// hold either state.
func (e *Env) relativeJumpTable(o binary.ByteOrder, t *ImageSection, r *Result) []JumpEntry {
	l := e.jl
	if e.jlErr != nil {
		r.Incomplete = append(r.Incomplete, "jump labels: key states not modelled ("+e.jlErr.Error()+"): either state of each site accepted")
		l = jumpLayout{size: 16, relative: true}
	}
	return parseJumpTable(l, o, t.Addr, t.Want)
}

var errKeyLayout = errors.New("struct static_key's layout unknown")

// jumpLayoutFromKo infers the entry layout of a module's __jump_table from
// the relocations the .ko applies to it: relative entries (s32 code, s32
// target, long key: 16 bytes) are relocated at offsets 0, 4 and 8 of each
// entry, absolute ones (three longs) at 0, 8 and 16.
func jumpLayoutFromKo(a *modules.Analysis, t *ImageSection) (jumpLayout, bool) {
	if a.Debuginfo == nil {
		return jumpLayout{}, false
	}
	for _, rs := range a.Debuginfo.Image.Relas {
		if rs.Target != t.Index || len(rs.Relas) == 0 {
			continue
		}
		fits := func(size uint64, offs ...uint64) bool {
			if uint64(len(t.Want))%size != 0 {
				return false
			}
			for _, r := range rs.Relas {
				ok := false
				for _, o := range offs {
					ok = ok || r.Off%size == o
				}
				if !ok {
					return false
				}
			}
			return true
		}
		switch {
		case fits(16, 0, 4, 8):
			return jumpLayout{size: 16, relative: true}, true
		case fits(24, 0, 8, 16):
			return jumpLayout{size: 24}, true
		}
	}
	return jumpLayout{}, false
}
