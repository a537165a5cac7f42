package ftrace

import (
	"fmt"

	"github.com/kdump-inspect/kdump-inspect/kernel"
)

// KlpFunc is one struct klp_func (include/linux/livepatch.h).
type KlpFunc struct {
	Addr       uint64
	OldName    string
	NewFunc    uint64
	OldSympos  uint64
	OldFunc    uint64
	OldSize    uint64
	NewSize    uint64
	Nop        bool
	Patched    bool
	Transition bool
}

// KlpObject is one struct klp_object: Name "" is the vmlinux (obj->name
// NULL).
type KlpObject struct {
	Addr    uint64
	Name    string
	Mod     uint64
	ModName string
	Dynamic bool
	Patched bool
	Funcs   []KlpFunc
}

// KlpPatch is one struct klp_patch of klp_patches.
type KlpPatch struct {
	Addr    uint64
	Mod     uint64
	ModName string
	Enabled bool
	Forced  bool
	Replace bool
	Objects []KlpObject
}

// KlpOps is one struct klp_ops of the static klp_ops list
// (kernel/livepatch/patch.h): the ftrace_ops shared by every klp_func with
// the same old_func, and its func_stack (the active klp_func first).
type KlpOps struct {
	Addr    uint64
	Fops    *Ops
	Stack   []uint64 // klp_func addresses, top first
	OldFunc uint64   // the top func's old_func (klp_find_ops)
}

// Livepatch is the livepatch state: klp_patches, klp_ops and the
// transition (kernel/livepatch/core.c, patch.c, transition.c).
type Livepatch struct {
	Patches []KlpPatch
	Ops     []KlpOps
	// TransitionPatch is klp_transition_patch (0 when idle), TargetState
	// klp_target_state (KLP_TRANSITION_IDLE -1, UNPATCHED 0, PATCHED 1).
	TransitionPatch uint64
	TargetState     int64
	HasTargetState  bool
	Warnings        []string
}

func (lp *Livepatch) warnf(format string, args ...any) {
	lp.Warnings = append(lp.Warnings, fmt.Sprintf(format, args...))
}

// maxKlp bounds each livepatch list walk.
const maxKlp = 1 << 14

// ReadLivepatch reads the livepatch state; nil with no error when the
// kernel has no klp_patches (no CONFIG_LIVEPATCH). modName names a struct
// module address ("" if unknown).
func ReadLivepatch(p *kernel.Program, ol OpsLayout, modName func(uint64) string) (*Livepatch, error) {
	head, err := p.SymbolAddr("klp_patches")
	if err != nil {
		return nil, nil
	}
	lp := &Livepatch{}
	ctx := *p.Context
	ctx.MaxList = maxKlp
	for po, err := range kernel.ListForEachEntry(&ctx, head, "struct klp_patch", "list") {
		if err != nil {
			lp.warnf("klp_patches: %v", err)
			break
		}
		kp := KlpPatch{Addr: po.Addr}
		kp.Mod = memberUint(po, "mod")
		kp.ModName = modName(kp.Mod)
		kp.Enabled = memberBool(po, "enabled")
		kp.Forced = memberBool(po, "forced")
		kp.Replace = memberBool(po, "replace")
		objs, err := po.Member("obj_list")
		if err != nil {
			lp.warnf("klp_patch %#x: %v", po.Addr, err)
		} else {
			kp.Objects = readKlpObjects(&ctx, lp, objs.Addr, modName)
		}
		lp.Patches = append(lp.Patches, kp)
	}
	if a, err := p.SymbolAddr("klp_transition_patch"); err == nil {
		if v, err := p.ReadU64(a); err == nil {
			lp.TransitionPatch = v
		}
	}
	if a, err := p.SymbolAddr("klp_target_state"); err == nil {
		if v, err := p.ReadU32(a); err == nil {
			lp.TargetState, lp.HasTargetState = int64(int32(v)), true
		}
	}
	if a, err := p.SymbolAddr("klp_ops"); err == nil {
		fopsOff, err := p.Types.Offsetof("struct klp_ops", "fops")
		if err != nil {
			lp.warnf("struct klp_ops: %v", err)
			return lp, nil
		}
		for ko, err := range kernel.ListForEachEntry(&ctx, a, "struct klp_ops", "node") {
			if err != nil {
				lp.warnf("klp_ops: %v", err)
				break
			}
			k := KlpOps{Addr: ko.Addr}
			if o, err := ReadOps(&ctx, ko.Addr+uint64(fopsOff), ol); err == nil {
				k.Fops = o
			} else {
				lp.warnf("klp_ops %#x: %v", ko.Addr, err)
			}
			if fs, err := ko.Member("func_stack"); err == nil {
				for fo, err := range kernel.ListForEachEntry(&ctx, fs.Addr, "struct klp_func", "stack_node") {
					if err != nil {
						lp.warnf("klp_ops %#x func_stack: %v", ko.Addr, err)
						break
					}
					if len(k.Stack) == 0 {
						k.OldFunc = memberUint(fo, "old_func")
					}
					k.Stack = append(k.Stack, fo.Addr)
				}
			}
			lp.Ops = append(lp.Ops, k)
		}
	}
	return lp, nil
}

func readKlpObjects(ctx *kernel.Context, lp *Livepatch, head uint64, modName func(uint64) string) []KlpObject {
	var out []KlpObject
	for oo, err := range kernel.ListForEachEntry(ctx, head, "struct klp_object", "node") {
		if err != nil {
			lp.warnf("klp obj_list: %v", err)
			break
		}
		o := KlpObject{Addr: oo.Addr}
		o.Name = memberString(oo, "name", 64)
		o.Mod = memberUint(oo, "mod")
		if o.Mod != 0 {
			o.ModName = modName(o.Mod)
		}
		o.Dynamic = memberBool(oo, "dynamic")
		o.Patched = memberBool(oo, "patched")
		fl, err := oo.Member("func_list")
		if err != nil {
			lp.warnf("klp_object %#x: %v", oo.Addr, err)
			out = append(out, o)
			continue
		}
		for fo, err := range kernel.ListForEachEntry(ctx, fl.Addr, "struct klp_func", "node") {
			if err != nil {
				lp.warnf("klp_object %#x func_list: %v", oo.Addr, err)
				break
			}
			o.Funcs = append(o.Funcs, KlpFunc{
				Addr:       fo.Addr,
				OldName:    memberString(fo, "old_name", 128),
				NewFunc:    memberUint(fo, "new_func"),
				OldSympos:  memberUint(fo, "old_sympos"),
				OldFunc:    memberUint(fo, "old_func"),
				OldSize:    memberUint(fo, "old_size"),
				NewSize:    memberUint(fo, "new_size"),
				Nop:        memberBool(fo, "nop"),
				Patched:    memberBool(fo, "patched"),
				Transition: memberBool(fo, "transition"),
			})
		}
		out = append(out, o)
	}
	return out
}

func memberUint(o kernel.Object, path string) uint64 {
	m, err := o.Member(path)
	if err != nil {
		return 0
	}
	v, _ := m.Uint()
	return v
}

func memberBool(o kernel.Object, path string) bool {
	return memberUint(o, path) != 0
}

// memberString reads a char * member ("" for NULL or unreadable).
func memberString(o kernel.Object, path string, max int) string {
	m, err := o.Member(path)
	if err != nil {
		return ""
	}
	if v, _ := m.Uint(); v == 0 {
		return ""
	}
	s, _ := m.CString(max)
	return s
}

// Body is one function body the livepatch consistency model checks task
// stacks against (klp_check_stack_func() in kernel/livepatch/transition.c).
type Body struct {
	Lo, Hi uint64 // [Lo, Hi)
	Func   string // the klp_func's old_name
	New    bool   // the replacement (new_func), else the original (old_func)
	Patch  string // the livepatch module
	// PatchAddr is the struct klp_patch.
	PatchAddr uint64
}

// Bodies lists the old and new body of every klp_func (nop functions have
// no new body).
func (lp *Livepatch) Bodies() []Body {
	var out []Body
	for _, p := range lp.Patches {
		for _, o := range p.Objects {
			for _, f := range o.Funcs {
				if f.OldFunc != 0 && f.OldSize != 0 {
					out = append(out, Body{f.OldFunc, f.OldFunc + f.OldSize, f.OldName, false, p.ModName, p.Addr})
				}
				if f.NewFunc != 0 && f.NewSize != 0 && !f.Nop {
					out = append(out, Body{f.NewFunc, f.NewFunc + f.NewSize, f.OldName, true, p.ModName, p.Addr})
				}
			}
		}
	}
	return out
}

// TransitionBodies are the bodies klp_check_stack_func()
// (kernel/livepatch/transition.c) refuses to switch a task over during the
// transition in progress, for each function of the transition patch: with
// klp_target_state UNPATCHED its new function; with PATCHED the function it
// replaces, which is the original old_func when it is alone on its klp_ops
// func_stack, else the new function of the klp_func below it there (the
// previous patch). Nil when no transition is in progress.
func (lp *Livepatch) TransitionBodies() []Body {
	if lp.TransitionPatch == 0 || !lp.HasTargetState {
		return nil
	}
	type fn struct {
		f     KlpFunc
		patch KlpPatch
	}
	byAddr := map[uint64]fn{}
	for _, p := range lp.Patches {
		for _, o := range p.Objects {
			for _, f := range o.Funcs {
				byAddr[f.Addr] = fn{f, p}
			}
		}
	}
	below := func(addr uint64) (fn, bool) {
		for _, k := range lp.Ops {
			for i, a := range k.Stack {
				if a == addr && i+1 < len(k.Stack) {
					g, ok := byAddr[k.Stack[i+1]]
					return g, ok
				}
			}
		}
		return fn{}, false
	}
	var out []Body
	for _, p := range lp.Patches {
		if p.Addr != lp.TransitionPatch {
			continue
		}
		for _, o := range p.Objects {
			for _, f := range o.Funcs {
				switch {
				case lp.TargetState == 0:
					if f.NewFunc != 0 && f.NewSize != 0 && !f.Nop {
						out = append(out, Body{f.NewFunc, f.NewFunc + f.NewSize, f.OldName, true, p.ModName, p.Addr})
					}
				default:
					if prev, ok := below(f.Addr); ok && prev.f.NewFunc != 0 {
						out = append(out, Body{prev.f.NewFunc, prev.f.NewFunc + prev.f.NewSize, prev.f.OldName, true, prev.patch.ModName, prev.patch.Addr})
					} else if f.OldFunc != 0 {
						out = append(out, Body{f.OldFunc, f.OldFunc + f.OldSize, f.OldName, false, p.ModName, p.Addr})
					}
				}
			}
		}
	}
	return out
}
